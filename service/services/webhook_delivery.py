"""Sending webhooks: at least once, in sequence order per endpoint, never two
at a time to one endpoint (API.md, Webhooks).

A deliverer (``ledger webhooks deliver``, or the scheduler) works one
endpoint at a time under the endpoint's lease (a conditional UPDATE; no
transaction stays open while it waits for the network, so it never holds
back the event sequencer's cut). Holding the lease it queues the endpoint's
new events, then sends its oldest pending delivery, records the answer, and
only then looks at the next one: the next event waits for a 2xx to the one
before. Several deliverers on several hosts share the endpoints, never one
endpoint. The lease (``LEDGER_WEBHOOK_LEASE_SECONDS``, 60) must outlast the
10 s timeout; it is renewed before every send.

A crash between the send and its record leaves the delivery pending; the
next deliverer sends it again once the lease expired (at least once;
consumers deduplicate by ``webhook-id``). A failed attempt is retried after
about 1, 2, 4 ... seconds (jitter, at most an hour apart); after
``LEDGER_WEBHOOK_MAX_ATTEMPTS`` the delivery is ``failed`` and the endpoint
moves on; an answer 410 Gone disables the endpoint.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib import error, request

from standardwebhooks.webhooks import Webhook

from service.db import events as events_repo
from service.db import webhooks as repo
from service.db.database import Database
from service.domain.events import retry_delay
from service.domain.ids import new_id
from service.services import events

log = logging.getLogger("ledger.webhooks")

TIMEOUT_SECONDS = 10.0
#: Deliveries queued per endpoint at a time.
QUEUE_BATCH = 1000
#: Deliveries sent per endpoint before the deliverer lets others have a turn.
TURN = 100


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _NoRedirects(request.HTTPRedirectHandler):
    """A redirect is an answer, not a 2xx: never re-send the body elsewhere."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = request.build_opener(_NoRedirects())


def post(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST with the 10 s timeout; any failure becomes an :class:`Outcome`."""
    req = request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(req, timeout=TIMEOUT_SECONDS) as response:
            return Outcome(int(response.status), None)
    except error.HTTPError as exc:
        return Outcome(int(exc.code), f"HTTP {exc.code}")
    except (error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Outcome(None, f"{type(exc).__name__}: {reason}"[:1000])


def signature(secrets_: list[str], msg_id: str, timestamp: datetime, body: str) -> str:
    """``v1,<base64>`` per secret, space-separated (several during a rotation)."""
    return " ".join(Webhook(s).sign(msg_id, timestamp, body) for s in secrets_)


@dataclass
class DeliverySummary:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    endpoints: set[uuid.UUID] = field(default_factory=set)

    @property
    def attempts(self) -> int:
        return self.delivered + self.retried + self.failed

    def as_dict(self) -> dict[str, int]:
        return {
            "delivered": self.delivered,
            "retried": self.retried,
            "failed": self.failed,
            "endpoints": len(self.endpoints),
        }


class Deliverer:
    def __init__(
        self,
        db: Database,
        *,
        max_attempts: int = 20,
        lease_seconds: float = 60.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        send: Callable[[str, bytes, dict[str, str]], Outcome] = post,
    ) -> None:
        self.db = db
        self.max_attempts = max_attempts
        self.lease = timedelta(seconds=lease_seconds)
        self.clock = clock
        self.send = send
        self.owner = new_id()

    def run_once(self) -> DeliverySummary:
        """Send everything due when the call starts, endpoint by endpoint, then return.

        Bounded by the last event numbered at the start (``--once`` must end
        under a steady stream of new events: those are the next call's)."""
        summary = DeliverySummary()
        events.sequence(self.db)
        with self.db.read() as conn:
            through = events_repo.cursor(conn).last
        while True:
            with self.db.read() as conn:
                candidates = repo.endpoints_with_work(conn, self.clock())
            attempts = summary.attempts
            for endpoint_id in candidates:
                self._serve(endpoint_id, summary, through)
            if summary.attempts == attempts:
                return summary

    def _serve(self, endpoint_id: uuid.UUID, summary: DeliverySummary, through: int) -> None:
        """One turn at one endpoint, unless another deliverer holds it."""
        now = self.clock()
        with self.db.write() as tx:
            if not repo.take_lease(tx, endpoint_id, self.owner, now=now, until=now + self.lease):
                return
        try:
            for _ in range(TURN):
                if not self._send_next(endpoint_id, summary, through):
                    break
        finally:
            with self.db.write() as tx:
                repo.drop_lease(tx, endpoint_id, self.owner)

    def _send_next(self, endpoint_id: uuid.UUID, summary: DeliverySummary, through: int) -> bool:
        now = self.clock()
        with self.db.write() as tx:
            # Renew the lease first: if it was lost (this process stalled past
            # it), another deliverer owns the endpoint now, so stop.
            if not repo.take_lease(tx, endpoint_id, self.owner, now=now, until=now + self.lease):
                return False
            endpoint = repo.find_endpoint(tx, endpoint_id)
            if endpoint is None or endpoint.status != "enabled":
                return False
            delivery = repo.next_pending(tx, endpoint_id)
            if delivery is None:
                repo.queue_new_events(tx, endpoint, limit=QUEUE_BATCH, now=now)
                delivery = repo.next_pending(tx, endpoint_id)
            if delivery is None or delivery.sequence > through:
                return False
            if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
                return False  # the endpoint waits for this one's retry
            event = events_repo.by_ids(tx, [delivery.event_id]).get(delivery.event_id)
        summary.endpoints.add(endpoint_id)
        if event is None:  # purged (retention) before it could be sent
            with self.db.write() as tx:
                repo.record_attempt(
                    tx, delivery.id, {"status": "failed", "last_error": "event purged"}
                )
            summary.failed += 1
            return True
        body = events.event_json(event)
        sent_at = self.clock()
        keys = [endpoint.secret]
        if (
            endpoint.previous_secret
            and endpoint.previous_secret_until
            and (endpoint.previous_secret_until > sent_at)
        ):
            keys.append(endpoint.previous_secret)
        msg_id = str(event.id)
        # The header carries the wall clock (consumers refuse skewed
        # timestamps); ``self.clock`` schedules retries and rotations.
        timestamp = datetime.fromtimestamp(int(time.time()), UTC)
        headers = {
            "content-type": "application/json",
            "user-agent": "withdrawal-hold-ledger-webhooks",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": signature(keys, msg_id, timestamp, body),
        }
        outcome = self.send(endpoint.url, body.encode(), headers)
        self._record(endpoint, delivery, outcome, summary)
        return outcome.ok

    def _record(
        self,
        endpoint: repo.EndpointRow,
        delivery: repo.DeliveryRow,
        outcome: Outcome,
        summary: DeliverySummary,
    ) -> None:
        now = self.clock()
        attempts = delivery.attempts + 1
        values: dict[str, object] = {
            "attempts": attempts,
            "last_status_code": outcome.status_code,
            "last_error": outcome.error,
        }
        with self.db.write() as tx:
            if outcome.ok:
                values.update(status="delivered", delivered_at=now, next_attempt_at=None)
                summary.delivered += 1
            elif outcome.status_code == 410:
                values.update(status="failed", next_attempt_at=None)
                repo.update_endpoint(tx, endpoint.id, {"status": "disabled", "updated_at": now})
                log.warning("endpoint %s answered 410 Gone: disabled", endpoint.id)
                summary.failed += 1
            elif attempts >= self.max_attempts:
                values.update(status="failed", next_attempt_at=None)
                log.warning(
                    "delivery of event %s to %s failed after %d attempts",
                    delivery.event_id,
                    endpoint.id,
                    attempts,
                )
                summary.failed += 1
            else:
                values.update(next_attempt_at=now + retry_delay(attempts))
                summary.retried += 1
            repo.record_attempt(tx, delivery.id, values)
