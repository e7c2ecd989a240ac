"""The scheduler: a separate long-running process for the periodic jobs.

Each run (every ``--interval``) releases due holds, forgets idempotency
responses past their retention (``LEDGER_IDEMPOTENCY_RETENTION_DAYS``, 30)
and purges events past theirs (``LEDGER_EVENT_RETENTION_DAYS``, 90). Beside
the runs, a thread delivers webhooks every second (numbering committed events
first), so a webhook does not wait for the next release run.

Never run inside web workers: with N gunicorn workers there would be N
schedulers, and a request-serving process should not stall on a batch job.
Several schedulers on several hosts are harmless (the release is
exactly-once, webhook endpoints are leased to one deliverer at a time), but
one is enough. SIGTERM or SIGINT stops it
between runs, or interrupts the wait; a run in progress finishes its current
batch transaction first.

It also seals the journal every ``seal_interval`` seconds
(``LEDGER_SEAL_INTERVAL_S``, 60): in its own transaction, beside the write
path, so deposits never wait for it; several schedulers seal in turn, never
twice the same entry (:mod:`service.services.seals`).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from service.db.database import Database
from service.services import events
from service.services.holds import release_due_holds
from service.services.seals import seal
from service.services.transaction import forget_old_responses
from service.services.webhook_delivery import Deliverer

log = logging.getLogger("ledger.scheduler")

#: Seconds between two looks of the webhook deliverer when nothing is due.
DELIVERY_INTERVAL = 1.0


def _loop(stop: threading.Event, name: str, interval: float, work: Callable[[], Any]) -> None:
    while not stop.is_set():
        try:
            work()
        except Exception:  # logged and retried at the next interval
            log.exception("%s failed", name)
        stop.wait(interval)


def run_until_stopped(name: str, interval: float, work: Callable[[], Any]) -> None:
    """Run ``work`` every ``interval`` seconds until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s stopping (signal %s)", name, signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("%s started, interval %.1fs", name, interval)
    _loop(stop, name, interval, work)
    log.info("%s stopped", name)


class Scheduler:
    def __init__(
        self,
        db: Database,
        *,
        interval: float,
        batch_size: int,
        retention_days: int = 30,
        seal_interval: float = 60.0,
        event_retention_days: int = 90,
        webhook_max_attempts: int = 20,
        webhook_lease_seconds: float = 60.0,
    ) -> None:
        self.db = db
        self.interval = interval
        self.batch_size = batch_size
        self.retention_days = retention_days
        self.seal_interval = seal_interval
        self.event_retention_days = event_retention_days
        self.deliverer = Deliverer(
            db, max_attempts=webhook_max_attempts, lease_seconds=webhook_lease_seconds
        )
        self._stop = threading.Event()

    def stop(self, signum: int | None = None, _frame: FrameType | None = None) -> None:
        log.info("stopping (signal %s)", signum)
        self._stop.set()

    def run_once(self) -> None:
        now = datetime.now(UTC)
        try:
            summary = release_due_holds(self.db, as_of=now, now=now, batch_size=self.batch_size)
            log.info("release run %s", json.dumps(summary.as_dict()))
            with self.db.write() as tx:
                forgotten = forget_old_responses(tx, now, self.retention_days)
            if forgotten:
                log.info(
                    "forgot %d idempotency responses older than %d days",
                    forgotten,
                    self.retention_days,
                )
            purged = events.purge(self.db, now, self.event_retention_days)
            if purged:
                log.info("purged %d events older than %d days", purged, self.event_retention_days)
        except Exception:  # a failed run is logged and retried at the next interval
            log.exception("release run failed")

    def seal_once(self) -> None:
        try:
            made = seal(self.db, datetime.now(UTC))
            if made is not None:
                log.info("sealed %s", json.dumps(made.as_dict()))
        except Exception:  # a failed seal is logged and retried at the next interval
            log.exception("seal failed")

    def deliver_once(self) -> None:
        summary = self.deliverer.run_once()
        if summary.endpoints:
            log.info("webhooks %s", json.dumps(summary.as_dict()))

    def run(self) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        log.info(
            "scheduler started, interval %.1fs, seal interval %.1fs",
            self.interval,
            self.seal_interval,
        )
        delivery = threading.Thread(
            target=_loop,
            args=(self._stop, "webhook delivery", DELIVERY_INTERVAL, self.deliver_once),
            name="webhook-delivery",
            daemon=True,
        )
        delivery.start()
        next_release = next_seal = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_release:
                self.run_once()
                next_release = time.monotonic() + self.interval
            if now >= next_seal:
                self.seal_once()
                next_seal = time.monotonic() + self.seal_interval
            self._stop.wait(max(0.0, min(next_release, next_seal) - time.monotonic()))
        delivery.join(30)
        log.info("scheduler stopped")
