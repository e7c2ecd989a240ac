"""Webhooks: the endpoints API, and delivery to a real local receiver verified
with the ``standardwebhooks`` library as a consumer would."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from service.db.database import Database
from service.domain.roles import Role
from service.services.webhook_delivery import Deliverer, Outcome
from tests.api.test_deposits import deposit
from tests.api.test_events import all_events
from tests.conftest import Api
from tests.conftest import Clock as AppClock
from tests.webhook_receiver import Receiver, receiver


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as state:
        yield state


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def create(api: Api, url: str, role: Role = Role.OPERATIONS, **body: Any) -> Any:
    return api.post("/v1/webhook-endpoints", {"url": url, **body}, role, idem=None)


def endpoint(api: Api, url: str, **body: Any) -> dict[str, Any]:
    response = create(api, url, **body)
    assert response.status_code == 201, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def deliveries(api: Api, endpoint_id: str, **query: str) -> list[dict[str, Any]]:
    response = api.client.get(
        f"/v1/webhook-endpoints/{endpoint_id}/deliveries",
        query_string=query,
        headers=api.headers(Role.OPERATIONS, idem=None),
    )
    assert response.status_code == 200, response.get_json()
    items: list[dict[str, Any]] = response.get_json()["items"]
    return items


def ids(hook: Receiver) -> list[str]:
    return [r.headers["webhook-id"] for r in hook.requests]


def test_endpoints_api(api: Api, db: Database) -> None:
    created = create(api, "https://example.test/hook", event_types=["deposit.settled"])
    assert created.status_code == 201
    body = created.get_json()
    assert body["secret"].startswith("whsec_")
    assert (body["status"], body["event_types"], body["description"]) == (
        "enabled",
        ["deposit.settled"],
        "",
    )
    Webhook(body["secret"])  # a secret the library accepts
    listed = api.get("/v1/webhook-endpoints", Role.OPERATIONS).get_json()["items"]
    assert [e["id"] for e in listed] == [body["id"]]
    assert "secret" not in listed[0]
    path = f"/v1/webhook-endpoints/{body['id']}"
    one = api.get(path, Role.OPERATIONS).get_json()
    assert "secret" not in one
    headers = api.headers(Role.OPERATIONS, idem=None)
    patched = api.client.patch(
        path, json={"status": "disabled", "event_types": [], "description": "x"}, headers=headers
    )
    assert patched.status_code == 200
    assert (patched.get_json()["status"], patched.get_json()["event_types"]) == ("disabled", [])
    rotated = api.post(f"{path}/rotate-secret", {}, Role.OPERATIONS, idem=None)
    assert rotated.status_code == 200
    assert rotated.get_json()["secret"].startswith("whsec_")
    assert rotated.get_json()["secret"] != body["secret"]
    assert api.client.delete(path, headers=headers).status_code == 204
    assert api.get(path, Role.OPERATIONS).status_code == 404
    assert api.client.delete(path, headers=headers).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.test/x"},
        {"url": "/relative"},
        {"url": "https://"},
        {"url": "https://example.test", "event_types": ["no.such"]},
        {"url": "https://example.test", "event_types": "deposit.settled"},
        {"url": "https://example.test", "description": "x" * 501},
        {},
    ],
)
def test_bad_endpoint_input_is_422(api: Api, db: Database, body: dict[str, Any]) -> None:
    response = api.post("/v1/webhook-endpoints", body, Role.OPERATIONS, idem=None)
    assert response.status_code == 422, response.get_json()


def test_only_operations_and_admin_manage_endpoints(api: Api, db: Database) -> None:
    for role in (Role.TRADING, Role.PAYMENTS, Role.ACCOUNTANT, Role.COMPLIANCE):
        assert create(api, "https://example.test", role).status_code == 403
        assert api.get("/v1/webhook-endpoints", role).status_code == 403
    assert create(api, "https://example.test", Role.ADMIN).status_code == 201


def test_deliveries_are_signed_and_verify_with_the_library(
    api: Api, db: Database, hook: Receiver
) -> None:
    created = endpoint(api, hook.url)
    account = api.open_account()
    deposit(api, account, "12.00")
    summary = Deliverer(db).run_once()
    assert summary.delivered == 2
    feed = all_events(api)
    assert len(hook.requests) == 2
    for received, event in zip(hook.requests, feed, strict=True):
        payload = Webhook(created["secret"]).verify(received.body, received.headers)
        assert payload == event
        assert received.headers["webhook-id"] == event["id"]
        assert received.headers["content-type"] == "application/json"
        with pytest.raises(WebhookVerificationError):
            Webhook(created["secret"]).verify(received.body + " ", received.headers)
    logged = deliveries(api, created["id"])
    assert [d["status"] for d in logged] == ["delivered", "delivered"]
    assert [d["sequence"] for d in logged] == [e["sequence"] for e in reversed(feed)]
    assert logged[0]["last_status_code"] == 204
    assert Deliverer(db).run_once().delivered == 0  # nothing twice


def test_a_new_endpoint_gets_only_events_committed_after_it(
    api: Api, db: Database, hook: Receiver
) -> None:
    """On PostgreSQL an event is numbered by the sequencer after its commit: an
    event committed before the endpoint but not numbered yet is still older than
    the endpoint, and must not be sent to it (replay is there for older ones)."""
    account = api.open_account()
    deposit(api, account, "3.00")  # committed; no reader has run the sequencer
    created = endpoint(api, hook.url)
    deposit(api, account, "4.00")
    Deliverer(db).run_once()
    sent = [json.loads(r.body) for r in hook.requests]
    assert [(e["type"], e["data"].get("amount")) for e in sent] == [("deposit.settled", "4.00")]
    assert [d["status"] for d in deliveries(api, created["id"])] == ["delivered"]


def test_once_ends_under_a_steady_stream_of_new_events(api: Api, db: Database) -> None:
    """``ledger webhooks deliver --once`` sends what is due when it starts and
    exits, even if every send is followed by a new event (continuous load)."""
    endpoint(api, "https://hooks.example/ledger")
    for _ in range(2):
        api.open_account()
    at_start = [e["id"] for e in all_events(api)]
    sent: list[str] = []

    def send(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        if len(sent) >= 20:
            raise AssertionError("run_once keeps sending events that came after it started")
        sent.append(headers["webhook-id"])
        api.open_account()  # another event commits meanwhile
        return Outcome(204, None)

    summary = Deliverer(db, send=send).run_once()
    assert sent == at_start
    assert summary.delivered == 2
    assert Deliverer(db, send=send).run_once().delivered == 2  # the two that came meanwhile


def test_type_filter(api: Api, db: Database, hook: Receiver) -> None:
    endpoint(api, hook.url, event_types=["deposit.settled"])
    account = api.open_account()
    deposit(api, account, "1.00", method="bank_transfer")
    Deliverer(db).run_once()
    assert [json.loads(r.body)["type"] for r in hook.requests] == ["deposit.settled"]


def test_retries_back_off_and_keep_the_order(api: Api, db: Database, hook: Receiver) -> None:
    created = endpoint(api, hook.url)
    answers = iter([500, 503, 200, 200, 200])
    hook.answer = lambda _r: next(answers)
    for _ in range(3):
        api.open_account()
    clock = Clock()
    deliverer = Deliverer(db, clock=clock)
    deliverer.run_once()
    assert len(hook.requests) == 1  # the next event waits for a 2xx to this one
    pending = deliveries(api, created["id"], status="pending")
    first = pending[-1]
    assert (first["attempts"], first["last_status_code"]) == (1, 500)
    wait = datetime.fromisoformat(first["next_attempt_at"]) - clock.now
    assert timedelta(seconds=0.7) <= wait <= timedelta(seconds=1.3)
    deliverer.run_once()
    assert len(hook.requests) == 1  # not due yet
    clock.now += timedelta(seconds=2)
    deliverer.run_once()
    first = deliveries(api, created["id"])[-1]
    assert (first["attempts"], first["last_status_code"]) == (2, 503)
    wait = datetime.fromisoformat(first["next_attempt_at"]) - clock.now
    assert timedelta(seconds=1.4) <= wait <= timedelta(seconds=2.6)
    clock.now += timedelta(seconds=3)
    deliverer.run_once()
    sent = ids(hook)
    assert len(sent) == 5
    assert sent[0] == sent[1] == sent[2]
    assert sent[2:] == [e["id"] for e in all_events(api)]


def test_attempts_cap_fails_the_delivery_and_moves_on(
    api: Api, db: Database, hook: Receiver
) -> None:
    created = endpoint(api, hook.url)
    first, second = api.open_account(), api.open_account()
    hook.answer = lambda r: 500 if json.loads(r.body)["data"]["id"] == first else 204
    clock = Clock()
    deliverer = Deliverer(db, clock=clock, max_attempts=3)
    for _ in range(4):
        deliverer.run_once()
        clock.now += timedelta(hours=1)
    logged = deliveries(api, created["id"])
    assert [(d["status"], d["attempts"]) for d in logged] == [("delivered", 1), ("failed", 3)]
    assert [json.loads(r.body)["data"]["id"] for r in hook.requests] == [first] * 3 + [second]
    assert [d["status"] for d in deliveries(api, created["id"], status="failed")] == ["failed"]


def test_an_answer_410_disables_the_endpoint(api: Api, db: Database, hook: Receiver) -> None:
    created = endpoint(api, hook.url)
    hook.answer = lambda _r: 410
    api.open_account()
    api.open_account()
    Deliverer(db).run_once()
    assert len(hook.requests) == 1
    path = f"/v1/webhook-endpoints/{created['id']}"
    assert api.get(path, Role.OPERATIONS).get_json()["status"] == "disabled"
    assert Deliverer(db).run_once().delivered == 0
    assert len(hook.requests) == 1


def test_replay_sends_again(api: Api, db: Database, hook: Receiver) -> None:
    created = endpoint(api, hook.url, event_types=["account.opened"])
    for _ in range(3):
        api.open_account()
    Deliverer(db).run_once()
    feed = all_events(api)
    replay = api.post(
        f"/v1/webhook-endpoints/{created['id']}/replay",
        {"after": feed[0]["sequence"]},
        Role.OPERATIONS,
        idem=None,
    )
    assert (replay.status_code, replay.get_json()) == (202, {"queued": 2})
    Deliverer(db).run_once()
    assert ids(hook) == [e["id"] for e in feed] + [e["id"] for e in feed[1:]]
    bad = api.post(
        f"/v1/webhook-endpoints/{created['id']}/replay", {"after": -1}, Role.OPERATIONS, idem=None
    )
    assert bad.status_code == 422


def test_rotation_signs_with_both_secrets_for_24_hours(
    api: Api, db: Database, hook: Receiver, clock: AppClock
) -> None:
    created = endpoint(api, hook.url)
    rotated = api.post(
        f"/v1/webhook-endpoints/{created['id']}/rotate-secret", {}, Role.OPERATIONS, idem=None
    ).get_json()["secret"]
    api.open_account()
    Deliverer(db, clock=clock).run_once()
    during = hook.requests[-1]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(created["secret"]).verify(during.body, during.headers)
    Webhook(rotated).verify(during.body, during.headers)

    clock.now += timedelta(hours=25)
    api.open_account()
    Deliverer(db, clock=clock).run_once()
    after = hook.requests[-1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    Webhook(rotated).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(created["secret"]).verify(after.body, after.headers)


def test_several_deliverers_never_overlap_on_one_endpoint(
    api: Api, db: Database, hook: Receiver
) -> None:
    endpoint(api, hook.url)
    for _ in range(8):
        api.open_account()
    hook.delay = 0.05
    deliverers = [Deliverer(db) for _ in range(3)]
    threads = [threading.Thread(target=d.run_once) for d in deliverers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert hook.max_in_flight == 1
    assert ids(hook) == [e["id"] for e in all_events(api)]
