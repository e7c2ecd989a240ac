"""Idempotency-Key on money movements (API.md, Conventions): replay, reuse, scope,
in-flight requests, and failures that do not consume the key."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from service.db import idempotency, repositories
from service.db.database import Database
from service.db.tables import deposits, idempotency_keys, journal_entries, trades
from service.domain.roles import Role
from service.services import keys
from service.services.transaction import forget_old_responses
from tests.conftest import Api, Clock

DEPOSITS, TRADES = "/v1/deposits", "/v1/trades"


def _create_key(db: Database, role: Role, name: str) -> str:
    with db.write() as tx:
        return keys.create_key(tx, role, name, datetime.now(UTC))


def _forget(db: Database, now: datetime, retention_days: int) -> int:
    with db.write() as tx:
        return forget_old_responses(tx, now, retention_days)


def deposit_body(
    account: str,
    amount: str = "100.00",
    method: str = "card",
    ref: str | None = None,
    asset: str = "USD",
) -> dict[str, Any]:
    return {
        "account_id": account,
        "method": method,
        "asset": asset,
        "amount": amount,
        "external_ref": ref or f"ref-{uuid.uuid4().hex}",
    }


def trade_body(account: str, ref: str | None = None) -> dict[str, Any]:
    return {
        "account_id": account,
        "sell_asset": "USD",
        "sell_amount": "60.00",
        "buy_asset": "BTC",
        "buy_amount": "0.00090000",
        "external_ref": ref or f"fill-{uuid.uuid4().hex}",
    }


def post(
    api: Api, path: str, body: Any, key: str, role: Role | None = None, bearer: str | None = None
) -> Any:
    role = role or (Role.PAYMENTS if path == DEPOSITS else Role.TRADING)
    headers = api.headers(role, idem=key)
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    return api.client.post(path, json=body, headers=headers)


def usd(api: Api, account: str, asset: str = "USD") -> dict[str, Any]:
    response = api.get(f"/v1/accounts/{account}/balances", Role.ADMIN)
    assert response.status_code == 200
    return {row["asset"]: row for row in response.get_json()["balances"]}.get(asset, {})


def count(db: Database, table: Any) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_same_key_same_body_replays_the_original_response(api: Api, db: Database) -> None:
    account = api.open_account()
    body = deposit_body(account)
    first = post(api, DEPOSITS, body, "dep-1")
    assert first.status_code == 201, first.get_json()
    assert "Idempotent-Replayed" not in first.headers
    entries = count(db, journal_entries)

    for _ in range(2):
        again = post(api, DEPOSITS, body, "dep-1")
        assert again.status_code == 201
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.get_json() == first.get_json()
        assert again.content_type == "application/json"

    # key order in the body does not make it a different request
    reordered = dict(reversed(list(body.items())))
    assert post(api, DEPOSITS, reordered, "dep-1").get_json() == first.get_json()

    assert count(db, journal_entries) == entries
    assert count(db, deposits) == 1
    assert usd(api, account)["total"] == "100.00"
    history = api.get(f"/v1/accounts/{account}/transactions", Role.ADMIN).get_json()["items"]
    assert [item["type"] for item in history] == ["deposit"]


def test_trade_replay_debits_once(api: Api, db: Database) -> None:
    account = api.open_account()
    assert post(api, DEPOSITS, deposit_body(account), "fund").status_code == 201
    body = trade_body(account)
    first = post(api, TRADES, body, "trade-1")
    assert first.status_code == 201, first.get_json()
    again = post(api, TRADES, body, "trade-1")
    assert again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json()
    assert count(db, trades) == 1
    assert usd(api, account)["total"] == "40.00"
    assert usd(api, account, "BTC")["total"] == "0.00090000"


def test_same_key_different_body_is_409_reused(api: Api, db: Database) -> None:
    account = api.open_account()
    body = deposit_body(account)
    assert post(api, DEPOSITS, body, "dep-2").status_code == 201
    entries = count(db, journal_entries)
    for changed in (
        {**body, "amount": "100.01"},
        {**body, "external_ref": "other"},
        {**body, "method": "paypal"},
    ):
        response = post(api, DEPOSITS, changed, "dep-2")
        assert response.status_code == 409
        assert response.content_type == "application/problem+json"
        assert response.get_json()["code"] == "idempotency_key_reused"
        assert "Idempotent-Replayed" not in response.headers
    assert count(db, journal_entries) == entries
    assert usd(api, account)["total"] == "100.00"


def test_same_key_on_another_money_route_is_409_reused(api: Api, db: Database) -> None:
    """An admin key may use both routes; the key names one request, whatever the route."""
    account = api.open_account()
    assert post(api, DEPOSITS, deposit_body(account), "cross", role=Role.ADMIN).status_code == 201
    response = post(api, TRADES, trade_body(account), "cross", role=Role.ADMIN)
    assert response.status_code == 409
    assert response.get_json()["code"] == "idempotency_key_reused"
    assert count(db, trades) == 0
    assert usd(api, account)["total"] == "100.00"


def test_keys_are_scoped_per_api_key(api: Api, db: Database) -> None:
    account = api.open_account()
    other = _create_key(db, Role.PAYMENTS, "payments-two")
    first = post(api, DEPOSITS, deposit_body(account, "10.00"), "shared")
    assert first.status_code == 201
    # the other payments key may use the same key string for its own request
    second = post(api, DEPOSITS, deposit_body(account, "20.00"), "shared", bearer=other)
    assert second.status_code == 201, second.get_json()
    assert "Idempotent-Replayed" not in second.headers
    assert second.get_json()["id"] != first.get_json()["id"]
    # and a third key sending the first key's very request under the same key string
    # is not given the first key's stored response: it is a new, duplicate deposit
    third_key = _create_key(db, Role.PAYMENTS, "payments-three")
    same_as_first = deposit_body(account, "10.00", ref=first.get_json()["external_ref"])
    third = post(api, DEPOSITS, same_as_first, "shared", bearer=third_key)
    assert third.status_code == 409
    assert "Idempotent-Replayed" not in third.headers
    assert third.get_json()["code"] == "duplicate_deposit"
    assert usd(api, account)["total"] == "30.00"
    with db.read() as conn:
        stored = conn.execute(
            select(func.count())
            .select_from(idempotency_keys)
            .where(idempotency_keys.c.key == "shared")
        ).scalar_one()
    assert stored == 2


def test_duplicate_deposit_under_a_new_key_is_409(api: Api, db: Database) -> None:
    account = api.open_account()
    body = deposit_body(account, ref="psp-123")
    assert post(api, DEPOSITS, body, "first").status_code == 201
    entries = count(db, journal_entries)
    response = post(api, DEPOSITS, body, "second")
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    assert response.get_json()["code"] == "duplicate_deposit"
    assert count(db, journal_entries) == entries
    assert count(db, deposits) == 1
    assert usd(api, account)["total"] == "100.00"
    # unique per (method, external_ref): the same reference from another processor is new
    paypal = post(api, DEPOSITS, {**body, "method": "paypal"}, "third")
    assert paypal.status_code == 201, paypal.get_json()
    assert usd(api, account)["total"] == "200.00"


def test_a_failed_request_does_not_consume_the_key(api: Api, db: Database) -> None:
    account = api.open_account()
    body = trade_body(account)
    refused = post(api, TRADES, body, "retry-me")
    assert refused.status_code == 409
    assert refused.get_json()["code"] == "insufficient_funds"
    assert count(db, trades) == 0
    with db.read() as conn:
        assert (
            conn.execute(
                select(func.count())
                .select_from(idempotency_keys)
                .where(idempotency_keys.c.key == "retry-me")
            ).scalar_one()
            == 0
        )

    assert post(api, DEPOSITS, deposit_body(account), "fund").status_code == 201
    retried = post(api, TRADES, body, "retry-me")
    assert retried.status_code == 201, retried.get_json()
    assert "Idempotent-Replayed" not in retried.headers
    assert usd(api, account)["total"] == "40.00"
    replay = post(api, TRADES, body, "retry-me")
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.get_json() == retried.get_json()


def test_an_invalid_request_does_not_consume_the_key(api: Api, db: Database) -> None:
    account = api.open_account()
    bad = post(api, DEPOSITS, deposit_body(account, amount="1.001"), "fix-me")
    assert bad.status_code == 422
    good = post(api, DEPOSITS, deposit_body(account), "fix-me")
    assert good.status_code == 201, good.get_json()
    assert "Idempotent-Replayed" not in good.headers
    assert usd(api, account)["total"] == "100.00"


def _api_key_id(db: Database, key: str) -> uuid.UUID:
    with db.read() as conn:
        record = repositories.find_api_key(conn, keys.hash_key(key))
    assert record is not None
    return record.id


def test_request_in_flight_with_the_same_key(api: Api, db: Database) -> None:
    """PostgreSQL: while another transaction holds the key, a request with it gets
    409 idempotency_key_in_use, and once that transaction ends it goes through.
    SQLite serializes writers, so there a second request waits and then replays."""
    account = api.open_account()
    body = deposit_body(account)
    if db.is_postgres:
        key_id = _api_key_id(db, api.keys[Role.PAYMENTS])
        with db.write() as tx:
            locked, stored = idempotency.lock_and_find(tx, key_id, "in-flight")
            assert (locked, stored) == (True, None)
            busy = post(api, DEPOSITS, body, "in-flight")
            assert busy.status_code == 409
            assert busy.content_type == "application/problem+json"
            assert busy.get_json()["code"] == "idempotency_key_in_use"
            # another key string is not affected
            assert post(api, DEPOSITS, deposit_body(account, "1.00"), "other").status_code == 201
        assert count(db, deposits) == 1
        done = post(api, DEPOSITS, body, "in-flight")
        assert done.status_code == 201, done.get_json()
        assert "Idempotent-Replayed" not in done.headers
        assert usd(api, account)["total"] == "101.00"
        return
    done = post(api, DEPOSITS, body, "in-flight")
    assert done.status_code == 201
    replay = post(api, DEPOSITS, body, "in-flight")
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.get_json() == done.get_json()
    assert usd(api, account)["total"] == "100.00"


def test_concurrent_requests_with_the_same_key_move_money_once(
    api: Api, app: Any, db: Database
) -> None:
    account = api.open_account()
    body = deposit_body(account)
    headers = api.headers(Role.PAYMENTS, idem="race")
    workers = 6
    barrier = threading.Barrier(workers)
    responses: list[Any] = []
    lock = threading.Lock()

    def worker() -> None:
        client = app.test_client()
        barrier.wait(10)
        response = client.post(DEPOSITS, json=body, headers=headers)
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(responses) == workers
    originals = [
        r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    ]
    assert len(originals) == 1, [(r.status_code, r.get_json()) for r in responses]
    for r in responses:
        if r is originals[0]:
            continue
        if r.status_code == 201:
            assert r.headers.get("Idempotent-Replayed") == "true"
            assert r.get_json() == originals[0].get_json()
        else:
            assert db.is_postgres, "SQLite serializes writers: the others replay"
            assert r.status_code == 409
            assert r.get_json()["code"] == "idempotency_key_in_use"
    assert count(db, deposits) == 1
    assert usd(api, account)["total"] == "100.00"


def test_responses_are_kept_for_the_retention_period_then_forgotten(
    api: Api, db: Database, clock: Clock
) -> None:
    """Keys are kept at least 30 days (API.md); the scheduler forgets older ones,
    after which the same key is a new request."""
    account = api.open_account()
    body = deposit_body(account)
    first = post(api, DEPOSITS, body, "kept-30-days")
    assert first.status_code == 201
    now = clock.now
    assert _forget(db, now + timedelta(days=30), 30) == 0
    replay = post(api, DEPOSITS, body, "kept-30-days")
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert _forget(db, now + timedelta(days=30, seconds=1), 30) == 1
    again = post(api, DEPOSITS, body, "kept-30-days")
    # no longer remembered: processed afresh, and the deposit itself refuses a double credit
    assert again.status_code == 409
    assert again.get_json()["code"] == "duplicate_deposit"


def test_headers_are_refused_as_the_document_describes_them(api: Api, db: Database) -> None:
    """Idempotency-Key and the client country are checked against the patterns
    the OpenAPI document declares: a key with a space at either end (HTTP would
    strip it, so it could never be replayed as sent) and a padded country are
    refused before anything is written."""
    account = api.open_account()
    body = deposit_body(account)
    for key in (" leading", "trailing ", " "):
        refused = api.post(DEPOSITS, body, Role.PAYMENTS, idem=key)
        assert (refused.status_code, refused.get_json()["code"]) == (
            400,
            "invalid_idempotency_key",
        ), key
    for country in (" GB", "GB ", "G"):
        refused = api.post(DEPOSITS, body, Role.PAYMENTS, country=country)
        assert (refused.status_code, refused.get_json()["code"]) == (400, "country_required")
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(deposits)).scalar_one() == 0
    assert api.post(DEPOSITS, body, Role.PAYMENTS, idem="inner space ok").status_code == 201
