"""The event feed over REST: every change writes its event, on its real path;
filters, cursors, long polls, retention, bad input and roles."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from service.db.database import Database
from service.domain.roles import Role
from service.services import events as event_service
from tests.api.test_chargebacks import charge_back
from tests.api.test_compliance import final_withdrawal, patch
from tests.api.test_deposits import balance, deposit
from tests.api.test_trades import trade
from tests.api.test_withdrawals import act, fund, withdraw
from tests.conftest import Api, Clock


def feed(api: Api, after: int = 0, role: Role = Role.TRADING, **params: Any) -> Any:
    query = {"after": after, **params}
    return api.client.get("/v1/events", query_string=query, headers=api.headers(role, idem=None))


def all_events(api: Api, after: int = 0, **params: Any) -> list[dict[str, Any]]:
    """Follow ``next_after`` to the end."""
    found: list[dict[str, Any]] = []
    while True:
        response = feed(api, after, **params)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        found.extend(body["items"])
        if body["next_after"] == after:
            return found
        after = body["next_after"]


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def last_sequence(api: Api) -> int:
    return int(feed(api, 0, limit=1000).get_json()["next_after"])


def test_every_change_on_the_customer_path_writes_its_event(
    api: Api, db: Database, clock: Clock
) -> None:
    opened = api.client.post(
        "/v1/accounts",
        json={"external_id": "ev-1", "country": "GB"},
        headers=api.headers(Role.TRADING),
    )
    account = opened.get_json()["id"]
    settled = deposit(api, account, "100.00").get_json()
    traded = trade(api, account, ("10.00", "USD"), ("9.00", "EUR")).get_json()
    moved = api.client.put(
        "/v1/calendar/overrides/2026-11-23",
        json={"business_day": False, "name": "closed"},
        headers=api.headers(Role.OPERATIONS, idem=None),
    )
    assert moved.status_code == 200, moved.get_json()
    clock.now = datetime(2026, 12, 10, 15, 0, tzinfo=UTC)
    balance(api, account)  # the lazy release
    fund(api, account, "50.00")
    requested = withdraw(api, account, "20.00").get_json()
    completed = act(api, requested["id"], "complete", {"txid": "tx-1"}).get_json()
    second = withdraw(api, account, "5.00").get_json()
    failed = act(api, second["id"], "fail", {"reason": "bounced"}).get_json()
    assert patch(api, account, "read_only").status_code == 200
    assert patch(api, account, "active").status_code == 200

    found = all_events(api)
    assert types(found) == [
        "account.opened",
        "deposit.settled",
        "trade.settled",
        "hold.rescheduled",
        "calendar.changed",
        "hold.released",
        "deposit.settled",
        "withdrawal.requested",
        "withdrawal.completed",
        "withdrawal.requested",
        "withdrawal.failed",
        "account.status_changed",
        "account.status_changed",
    ]
    sequences = [e["sequence"] for e in found]
    assert sequences == sorted(sequences)
    assert len(set(sequences)) == len(sequences)
    by_type = {e["type"]: e for e in found}
    # payloads are what the REST API returned for the object
    assert found[0]["data"] == opened.get_json()
    assert found[1]["data"] == settled
    assert by_type["trade.settled"]["data"] == traded
    assert found[9]["data"] == second
    assert found[8]["data"] == completed
    assert by_type["withdrawal.failed"]["data"] == failed
    assert all(e["account_id"] == account for e in found if e["type"] != "calendar.changed")
    rescheduled = by_type["hold.rescheduled"]["data"]
    assert rescheduled["hold_id"] == settled["hold"]["id"]
    assert rescheduled["release_at_before"] == settled["hold"]["release_at"]
    assert rescheduled["release_at"] > rescheduled["release_at_before"]
    assert by_type["calendar.changed"]["data"] == {
        "date": "2026-11-23",
        "business_day": False,
        "name": "closed",
        "holds_rescheduled": 1,
    }
    assert by_type["calendar.changed"]["account_id"] is None
    released = by_type["hold.released"]["data"]
    assert released == {
        "hold_id": settled["hold"]["id"],
        "account_id": account,
        "deposit_id": settled["id"],
        "release_at": rescheduled["release_at"],
        "released_at": "2026-12-10T15:00:00Z",
        "lots": [{"asset": "EUR", "amount": "9.00"}, {"asset": "USD", "amount": "90.00"}],
    }
    restricted, reopened = found[-2]["data"], found[-1]["data"]
    assert restricted == {
        "account_id": account,
        "from": "active",
        "to": "read_only",
        "reason": "compliance decision",
        "actor": "test-compliance",
        "cancel_open_orders": True,
    }
    assert (reopened["to"], reopened["cancel_open_orders"]) == ("active", False)
    assert found[0]["occurred_at"] == "2026-11-20T20:00:00Z"


def test_chargeback_review_and_final_withdrawal_events(api: Api, db: Database) -> None:
    account = api.open_account()
    held = deposit(api, account, "100.00").get_json()
    fund(api, account, "30.00")
    start = last_sequence(api)
    reversed_ = charge_back(api, held["id"]).get_json()
    rejected = final_withdrawal(api, account, "USD").get_json()
    act(api, rejected["id"], "reject", {"reason": "no"})
    final = final_withdrawal(api, account, "USD").get_json()
    act(api, final["id"], "approve", {"reason": "ok"})
    act(api, final["id"], "complete", {"txid": "wire"})

    found = all_events(api, start)
    assert types(found) == [
        "deposit.reversed",
        "account.status_changed",
        "withdrawal.requested",
        "withdrawal.rejected",
        "withdrawal.requested",
        "withdrawal.approved",
        "withdrawal.completed",
        "account.status_changed",
    ]
    assert found[0]["data"] == {
        "deposit_id": held["id"],
        "account_id": account,
        "recovered": reversed_["recovered"],
        "receivable": reversed_["receivable"],
        "reason": "fraudulent card",
    }
    assert (found[1]["data"]["to"], found[1]["data"]["cancel_open_orders"]) == ("restricted", True)
    assert found[3]["data"]["status"] == "rejected"
    assert found[-1]["data"]["to"] == "archived"
    assert found[-1]["data"]["cancel_open_orders"] is True


def test_release_job_and_batch_deposits_write_one_event_each(
    api: Api, db: Database, clock: Clock
) -> None:
    accounts = [api.open_account() for _ in range(3)]
    start = last_sequence(api)
    body = {
        "deposits": [
            {
                "account_id": a,
                "method": "paypal",
                "asset": "USD",
                "amount": f"{i + 1}.00",
                "external_ref": f"batch-{i}",
            }
            for i, a in enumerate(accounts)
        ]
    }
    created = api.post("/v1/deposits/batch", body, Role.PAYMENTS).get_json()["deposits"]
    clock.now = datetime(2026, 12, 10, tzinfo=UTC)
    job = api.post("/v1/jobs/release-holds", {}, Role.OPERATIONS, idem=None)
    assert job.get_json()["released"] == 3
    found = all_events(api, start)
    assert types(found) == ["deposit.settled"] * 3 + ["hold.released"] * 3
    assert [e["data"] for e in found[:3]] == created
    assert {e["data"]["hold_id"] for e in found[3:]} == {d["hold"]["id"] for d in created}


def test_geofence_flag_writes_its_event_and_the_refused_deposit_none(
    api: Api, db: Database
) -> None:
    account = api.open_account()
    start = last_sequence(api)
    body = {
        "account_id": account,
        "method": "card",
        "asset": "USD",
        "amount": "10.00",
        "external_ref": "from-us",
    }
    refused = api.post("/v1/deposits", body, Role.PAYMENTS, country="US")
    assert refused.status_code == 403
    found = all_events(api, start)
    assert types(found) == ["account.status_changed"]
    assert found[0]["data"]["to"] == "read_only"
    assert found[0]["data"]["cancel_open_orders"] is True


def test_a_refused_change_leaves_no_event(api: Api, db: Database) -> None:
    account = api.open_account()
    deposit(api, account, "10.00", method="bank_transfer", external_ref="once")
    start = last_sequence(api)
    assert (
        deposit(api, account, "10.00", method="bank_transfer", external_ref="once").status_code
        == 409
    )
    assert withdraw(api, account, "500.00").status_code == 409
    assert trade(api, account, ("500.00", "USD"), ("1.00", "EUR")).status_code == 409
    bad_batch = {
        "deposits": [
            {
                "account_id": account,
                "method": "card",
                "asset": "USD",
                "amount": "1.00",
                "external_ref": "ok-1",
            },
            {
                "account_id": account,
                "method": "card",
                "asset": "USD",
                "amount": "1.001",
                "external_ref": "bad-2",
            },
        ]
    }
    assert api.post("/v1/deposits/batch", bad_batch, Role.PAYMENTS).status_code == 422
    assert patch(api, account, "archived").status_code == 409
    assert all_events(api, start) == []


def test_filters_and_next_after(api: Api, db: Database) -> None:
    first, second = api.open_account(), api.open_account()
    for account in (first, second):
        deposit(api, account, "1.00", method="bank_transfer")
    everything = all_events(api)
    assert types(everything) == ["account.opened"] * 2 + ["deposit.settled"] * 2
    last = everything[-1]["sequence"]

    only = feed(api, 0, type="deposit.settled", account_id=first).get_json()
    assert [e["data"]["account_id"] for e in only["items"]] == [first]
    assert only["next_after"] == last  # moved past what the filters skipped
    both = feed(api, 0, type=["account.opened", "deposit.settled"], limit=3).get_json()
    assert [e["sequence"] for e in both["items"]] == [e["sequence"] for e in everything[:3]]
    assert both["next_after"] == everything[2]["sequence"]
    mine = feed(api, 0, account_id=second).get_json()
    assert {e["account_id"] for e in mine["items"]} == {second}
    caught_up = feed(api, last).get_json()
    assert caught_up == {"items": [], "next_after": last}


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"wait": 31},
        {"wait": -1},
        {"wait": "nan"},
        {"after": -1},
        {"after": "x"},
        {"type": "deposit.unknown"},
        {"account_id": "not-a-uuid"},
    ],
)
def test_bad_feed_parameters_are_422(api: Api, db: Database, params: dict[str, Any]) -> None:
    response = api.client.get(
        "/v1/events", query_string=params, headers=api.headers(Role.TRADING, idem=None)
    )
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"


def test_every_role_may_read_the_feed(api: Api, db: Database) -> None:
    api.open_account()
    for role in Role:
        response = feed(api, 0, role=role)
        assert response.status_code == 200
        assert types(response.get_json()["items"]) == ["account.opened"]
    assert api.client.get("/v1/events").status_code == 401


def test_cursor_behind_the_retention_is_410(api: Api, db: Database, clock: Clock) -> None:
    clock.now = datetime.now(UTC) - timedelta(days=100)
    api.open_account()
    api.open_account()
    clock.now = datetime.now(UTC)
    recent = api.open_account()
    assert event_service.purge(db, datetime.now(UTC), 90) == 2
    expired = feed(api, 0)
    assert expired.status_code == 410
    assert expired.get_json()["code"] == "cursor_expired"
    assert expired.get_json()["oldest_after"] == 2
    left = feed(api, 2).get_json()
    assert [e["data"]["id"] for e in left["items"]] == [recent]
    assert event_service.purge(db, datetime.now(UTC), 90) == 0


def test_long_poll_answers_when_an_event_commits(api: Api, app: Any, db: Database) -> None:
    rt = app.extensions["ledger"]
    if db.is_postgres:  # no polling to speak of: the LISTEN thread must wake it
        rt.settings = dataclasses.replace(rt.settings, event_poll_seconds=15.0)
    start = last_sequence(api)
    answer: dict[str, Any] = {}
    client = app.test_client()
    headers = api.headers(Role.TRADING, idem=None)

    def wait() -> None:
        began = time.monotonic()
        response = client.get(
            "/v1/events", query_string={"after": start, "wait": 20}, headers=headers
        )
        answer["seconds"] = time.monotonic() - began
        answer["body"] = response.get_json()

    reader = threading.Thread(target=wait)
    reader.start()
    time.sleep(0.5)
    assert reader.is_alive()  # waiting: nothing new yet
    account = api.open_account()
    reader.join(10)
    assert not reader.is_alive()
    assert [e["data"]["id"] for e in answer["body"]["items"]] == [account]
    assert answer["seconds"] < 3


def test_long_poll_times_out_empty(api: Api, db: Database) -> None:
    start = last_sequence(api)
    began = time.monotonic()
    response = feed(api, start, wait=0.6)
    took = time.monotonic() - began
    assert response.get_json() == {"items": [], "next_after": start}
    assert 0.6 <= took < 5


def test_long_poll_with_a_filter_waits_for_a_matching_event(
    api: Api, app: Any, db: Database
) -> None:
    account = api.open_account()
    start = last_sequence(api)
    answer: dict[str, Any] = {}
    client = app.test_client()
    headers = api.headers(Role.TRADING, idem=None)

    def wait() -> None:
        response = client.get(
            "/v1/events",
            query_string={"after": start, "wait": 20, "type": "deposit.settled"},
            headers=headers,
        )
        answer["body"] = response.get_json()

    reader = threading.Thread(target=wait)
    reader.start()
    api.open_account()  # does not match: the reader keeps waiting
    time.sleep(1.0)
    assert reader.is_alive()
    deposit(api, account, "3.00", method="bank_transfer")
    reader.join(10)
    assert types(answer["body"]["items"]) == ["deposit.settled"]
