"""Withdrawals over REST: lifecycle, withdrawable funds, holds, limits, review, races."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from werkzeug.serving import make_server

from service.db.database import Database
from service.domain.roles import Role
from tests.api.test_deposits import assert_books_sound, balance, deposit
from tests.api.test_trades import trade
from tests.conftest import Api, Clock

# -- helpers (also used by the chargeback and compliance tests) -------------------------


def fund(api: Api, account: str, amount: str = "100.00", asset: str = "USD") -> None:
    """Credit Available at once (a bank transfer or crypto deposit has no hold)."""
    method = "bank_transfer" if asset in ("USD", "EUR", "GBP") else "crypto"
    response = deposit(api, account, amount, method=method, asset=asset)
    assert response.status_code == 201, response.get_json()


def withdraw(
    api: Api, account: str, amount: str, asset: str = "USD", destination: str = "dest-1", **kw: Any
) -> Any:
    body = {"account_id": account, "asset": asset, "amount": amount, "destination": destination}
    return api.post("/v1/withdrawals", body, kw.pop("role", Role.TRADING), **kw)


def act(
    api: Api,
    withdrawal_id: str,
    action: str,
    body: dict[str, Any] | None = None,
    role: Role | None = None,
    **kw: Any,
) -> Any:
    default = Role.COMPLIANCE if action in ("approve", "reject") else Role.PAYMENTS
    return api.post(f"/v1/withdrawals/{withdrawal_id}/{action}", body or {}, role or default, **kw)


def set_rate(api: Api, asset: str, usd: Any, role: Role = Role.COMPLIANCE) -> Any:
    return api.client.put(
        f"/v1/rates/{asset}", json={"usd": usd}, headers=api.headers(role, idem=None)
    )


def history(api: Api, account: str) -> list[dict[str, Any]]:
    response = api.get(f"/v1/accounts/{account}/transactions")
    assert response.status_code == 200, response.get_json()
    items: list[dict[str, Any]] = response.get_json()["items"]
    return items


def audit_actions(api: Api, account: str) -> list[str]:
    response = api.get(f"/v1/accounts/{account}/audit", Role.COMPLIANCE)
    assert response.status_code == 200, response.get_json()
    return [item["action"] for item in response.get_json()["items"]]


# -- lifecycle -------------------------------------------------------------------------------


def test_request_and_complete_a_withdrawal(api: Api, db: Database, clock: Clock) -> None:
    account = api.open_account()
    fund(api, account, "100.00")
    response = withdraw(api, account, "40.00", destination="GB00 BANK 1234")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    uuid.UUID(body["id"])
    assert body["status"] == "pending"
    assert body["account_id"] == account
    assert (body["asset"], body["amount"], body["destination"]) == (
        "USD",
        "40.00",
        "GB00 BANK 1234",
    )
    assert body["kind"] == "standard"
    assert body["txid"] is None
    assert body["reason"] is None
    assert body["created_at"] == body["updated_at"] == "2026-11-20T20:00:00Z"
    row = balance(api, account)
    assert (row["total"], row["available_to_withdraw"], row["pending_withdrawals"]) == (
        "100.00",
        "60.00",
        "40.00",
    )
    assert api.get(f"/v1/withdrawals/{body['id']}", Role.ACCOUNTANT).get_json() == body

    clock.now += timedelta(minutes=5)
    done = act(api, body["id"], "complete", {"txid": "0xabc"}, idem="complete-1")
    assert done.status_code == 200, done.get_json()
    completed = done.get_json()
    assert (completed["status"], completed["txid"]) == ("completed", "0xabc")
    assert completed["updated_at"] == "2026-11-20T20:05:00Z"
    replay = act(api, body["id"], "complete", {"txid": "0xabc"}, idem="complete-1")
    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.get_json() == completed
    row = balance(api, account)
    assert (row["total"], row["available_to_withdraw"], row["pending_withdrawals"]) == (
        "60.00",
        "60.00",
        "0.00",
    )
    items = history(api, account)
    assert [(i["type"], i["status"]) for i in items] == [
        ("withdrawal", "completed"),
        ("deposit", "settled"),
    ]
    assert (items[0]["id"], items[0]["amount"], items[0]["txid"]) == (body["id"], "40.00", "0xabc")
    assert_books_sound(db)


def test_failed_withdrawal_returns_funds_and_is_final(api: Api, db: Database) -> None:
    account = api.open_account()
    fund(api, account, "100.00")
    wid = withdraw(api, account, "100.00").get_json()["id"]
    assert balance(api, account)["available_to_withdraw"] == "0.00"
    failed = act(api, wid, "fail", {"reason": "beneficiary bank rejected"})
    assert failed.status_code == 200, failed.get_json()
    assert (failed.get_json()["status"], failed.get_json()["reason"]) == (
        "failed",
        "beneficiary bank rejected",
    )
    row = balance(api, account)
    assert (row["available_to_withdraw"], row["pending_withdrawals"]) == ("100.00", "0.00")
    for action, body in (
        ("complete", {"txid": "t"}),
        ("fail", {"reason": "again"}),
        ("approve", {}),
        ("reject", {}),
    ):
        response = act(api, wid, action, body)
        assert response.status_code == 409, action
        assert response.get_json()["code"] == "invalid_withdrawal_state"
    assert history(api, account)[0]["status"] == "failed"
    assert_books_sound(db)


def test_review_above_threshold_then_approve_or_reject(api: Api, db: Database) -> None:
    account = api.open_account(tier="verified")
    assert set_rate(api, "BTC", "50000.00").status_code == 200
    fund(api, account, "1.00000000", "BTC")
    at_threshold = withdraw(api, account, "0.20000000", "BTC")  # exactly 10,000 USD
    assert at_threshold.get_json()["status"] == "pending"
    big = withdraw(api, account, "0.20000002", "BTC").get_json()  # 10,000.001 USD
    assert big["status"] == "review"
    for action, body in (("complete", {"txid": "t"}), ("fail", {"reason": "r"})):
        response = act(api, big["id"], action, body)
        assert response.status_code == 409
        assert response.get_json()["code"] == "invalid_withdrawal_state"
    approved = act(api, big["id"], "approve", {"reason": "source of funds checked"})
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["status"] == "pending"
    again = act(api, big["id"], "approve")
    assert again.status_code == 409
    assert act(api, big["id"], "reject").get_json()["code"] == "invalid_withdrawal_state"
    assert act(api, big["id"], "complete", {"txid": "btc-tx"}).get_json()["status"] == "completed"

    other = withdraw(api, account, "0.30000000", "BTC").get_json()
    assert other["status"] == "review"
    rejected = act(api, other["id"], "reject", {"reason": "destination on a sanctions list"})
    assert rejected.status_code == 200, rejected.get_json()
    assert rejected.get_json()["status"] == "rejected"
    row = balance(api, account, "BTC")
    assert (row["available_to_withdraw"], row["pending_withdrawals"]) == (
        "0.59999998",
        "0.20000000",
    )
    actions = api.get(f"/v1/accounts/{account}/audit", Role.COMPLIANCE).get_json()["items"]
    assert [a["action"] for a in actions] == ["withdrawal_rejected", "withdrawal_approved"]
    assert actions[0]["actor"] == "test-compliance"
    assert actions[0]["reason"] == "destination on a sanctions list"
    assert actions[1]["details"]["withdrawal_id"] == big["id"]
    queue = api.get("/v1/withdrawals?status=pending").get_json()["items"]
    assert [w["id"] for w in queue] == [at_threshold.get_json()["id"]]
    assert_books_sound(db)


def test_roles_of_withdrawal_routes(api: Api, db: Database) -> None:
    account = api.open_account()
    fund(api, account, "100.00")
    for role in (Role.PAYMENTS, Role.COMPLIANCE, Role.OPERATIONS, Role.ACCOUNTANT):
        assert withdraw(api, account, "1.00", role=role).status_code == 403
    wid = withdraw(api, account, "1.00").get_json()["id"]
    for action, role in (
        ("complete", Role.COMPLIANCE),
        ("complete", Role.TRADING),
        ("fail", Role.COMPLIANCE),
        ("approve", Role.PAYMENTS),
        ("reject", Role.TRADING),
    ):
        body = {"txid": "t"} if action == "complete" else {"reason": "r"}
        response = act(api, wid, action, body, role)
        assert response.status_code == 403, (action, role)
        assert response.get_json()["code"] == "forbidden"
    assert act(api, wid, "complete", {"txid": "t"}, Role.ADMIN).status_code == 200
    assert_books_sound(db)


def test_bad_withdrawal_requests(api: Api, db: Database) -> None:
    account = api.open_account()
    fund(api, account, "100.00")
    for amount in ("1.001", "0", "0.00", "-1.00", "1e2", 5):
        response = withdraw(api, account, amount)  # type: ignore[arg-type]
        assert response.status_code == 422, amount
    assert withdraw(api, account, "1.00", "XYZ").get_json()["code"] == "unknown_asset"
    assert withdraw(api, account, "1.00", destination="").status_code == 422
    missing = withdraw(api, str(uuid.uuid4()), "1.00")
    assert (missing.status_code, missing.get_json()["code"]) == (404, "account_not_found")
    unknown = api.get(f"/v1/withdrawals/{uuid.uuid4()}")
    assert (unknown.status_code, unknown.get_json()["code"]) == (404, "withdrawal_not_found")
    assert act(api, str(uuid.uuid4()), "approve").status_code == 404
    assert act(api, str(uuid.uuid4()), "complete", {}).status_code == 422  # txid is required
    wid = withdraw(api, account, "1.00").get_json()["id"]
    assert act(api, wid, "fail", {}).status_code == 422  # reason is required
    no_key = withdraw(api, account, "1.00", idem=None)
    assert (no_key.status_code, no_key.get_json()["code"]) == (400, "idempotency_key_required")
    first = withdraw(api, account, "2.00", idem="same-key")
    assert first.status_code == 201
    replay = withdraw(api, account, "2.00", idem="same-key")
    assert replay.get_json() == first.get_json()
    reused = withdraw(api, account, "3.00", idem="same-key")
    assert (reused.status_code, reused.get_json()["code"]) == (409, "idempotency_key_reused")
    assert balance(api, account)["available_to_withdraw"] == "97.00"
    assert_books_sound(db)


# -- withdrawable funds and holds ----------------------------------------------------------


def test_insufficient_withdrawable_funds_names_holds(api: Api, db: Database) -> None:
    account = api.open_account()
    held = deposit(api, account, "100.00").get_json()
    fund(api, account, "10.00")
    response = withdraw(api, account, "10.01")
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    problem = response.get_json()
    assert problem["code"] == "insufficient_withdrawable_funds"
    assert problem["available_to_withdraw"] == "10.00"
    assert problem["temporary_holds"] == "100.00"
    assert problem["next_release_at"] == held["hold"]["release_at"]
    assert withdraw(api, account, "10.00").status_code == 201
    assert_books_sound(db)


def test_held_deposit_is_withdrawable_only_after_release(
    api: Api, db: Database, clock: Clock
) -> None:
    account = api.open_account()
    dep = deposit(api, account, "100.00").get_json()
    release_at = datetime.fromisoformat(dep["hold"]["release_at"])
    clock.now = release_at - timedelta(seconds=1)
    refused = withdraw(api, account, "100.00")
    assert refused.status_code == 409
    assert refused.get_json()["available_to_withdraw"] == "0.00"
    clock.now = release_at
    # No job ran: the withdrawal itself releases the due hold first.
    accepted = withdraw(api, account, "100.00")
    assert accepted.status_code == 201, accepted.get_json()
    holds = api.get(f"/v1/accounts/{account}/holds").get_json()["items"]
    assert holds[0]["status"] == "released"
    assert [i["type"] for i in history(api, account)] == ["withdrawal", "hold_release", "deposit"]
    assert_books_sound(db)


@pytest.mark.parametrize("rate", ["66000.00", None])
def test_btc_bought_with_held_usd_is_unwithdrawable_until_release(
    api: Api, db: Database, clock: Clock, rate: str | None
) -> None:
    """Funds are checked before limits: held BTC is refused as not withdrawable
    (naming the hold) whether or not BTC has a reference rate yet."""
    account = api.open_account()
    if rate is not None:
        set_rate(api, "BTC", rate)
    dep = deposit(api, account, "100.00").get_json()
    assert trade(api, account, ("100.00", "USD"), ("0.00150000", "BTC")).status_code == 201
    refused = withdraw(api, account, "0.00150000", "BTC")
    assert refused.status_code == 409
    problem = refused.get_json()
    assert problem["code"] == "insufficient_withdrawable_funds"
    assert problem["available_to_withdraw"] == "0.00000000"
    assert problem["temporary_holds"] == "0.00150000"
    assert problem["next_release_at"] == dep["hold"]["release_at"]
    assert withdraw(api, account, "0.00000001", "BTC").status_code == 409
    clock.now = datetime.fromisoformat(dep["hold"]["release_at"]) + timedelta(minutes=1)
    answer = withdraw(api, account, "0.00150000", "BTC")
    if rate is None:  # free now, but a limit needs a rate to value it
        assert (answer.status_code, answer.get_json()["code"]) == (409, "rate_unavailable")
    else:
        assert answer.status_code == 201, answer.get_json()
        assert balance(api, account, "BTC")["pending_withdrawals"] == "0.00150000"
    assert_books_sound(db)


# -- limits and rates ------------------------------------------------------------------------


def test_basic_daily_limit_over_a_rolling_window(api: Api, db: Database, clock: Clock) -> None:
    account = api.open_account(tier="basic")
    fund(api, account, "20000.00")
    fund(api, account, "1.00000000", "BTC")
    set_rate(api, "BTC", "50000.00")
    start = clock.now
    first = withdraw(api, account, "6000.00").get_json()
    assert first["status"] == "pending"
    clock.now = start + timedelta(hours=1)
    over = withdraw(api, account, "0.08000002", "BTC")  # 4,000.001 USD
    assert over.status_code == 409
    problem = over.get_json()
    assert problem["code"] == "daily_limit_exceeded"
    assert (problem["limit"], problem["used"]) == ("10000.00", "6000.00")
    assert withdraw(api, account, "0.08000000", "BTC").status_code == 201  # exactly the limit
    assert withdraw(api, account, "0.01").get_json()["used"] == "10000.00"
    # valued at the current rate: BTC doubling doubles what was used
    set_rate(api, "BTC", "100000.00")
    assert withdraw(api, account, "0.01").get_json()["used"] == "14000.00"
    set_rate(api, "BTC", "50000.00")
    clock.now = start + timedelta(hours=23, minutes=59)
    assert withdraw(api, account, "0.01").status_code == 409
    clock.now = start + timedelta(hours=24)  # the first withdrawal leaves the window
    assert withdraw(api, account, "6000.01").get_json()["used"] == "4000.00"
    assert withdraw(api, account, "6000.00").status_code == 201
    assert withdraw(api, account, "0.01").get_json()["used"] == "10000.00"
    assert_books_sound(db)


def test_limit_counts_failed_and_rejected_out(api: Api, db: Database) -> None:
    account = api.open_account()
    fund(api, account, "30000.00")
    big = withdraw(api, account, "10000.00").get_json()
    assert big["status"] == "pending"  # at the threshold, not above it
    assert withdraw(api, account, "0.01").get_json()["code"] == "daily_limit_exceeded"
    assert act(api, big["id"], "fail", {"reason": "r"}).status_code == 200
    assert withdraw(api, account, "10000.00").status_code == 201
    assert_books_sound(db)


def test_verified_tier_limit_and_review(api: Api, db: Database) -> None:
    account = api.open_account(tier="verified")
    fund(api, account, "2000000.00")
    first = withdraw(api, account, "15000.00").get_json()
    assert first["status"] == "review"  # above the review threshold, within the limit
    assert withdraw(api, account, "985000.00").status_code == 201
    over = withdraw(api, account, "0.01").get_json()
    assert (over["code"], over["limit"], over["used"]) == (
        "daily_limit_exceeded",
        "1000000.00",
        "1000000.00",
    )
    assert act(api, first["id"], "reject", {"reason": "r"}).status_code == 200
    assert withdraw(api, account, "0.01").status_code == 201
    assert_books_sound(db)


def test_asset_without_rate_cannot_be_withdrawn(api: Api, db: Database) -> None:
    account = api.open_account(tier="verified")
    fund(api, account, "1.00000000", "ETH")
    fund(api, account, "50.00", "USD")
    response = withdraw(api, account, "0.10000000", "ETH")
    assert response.status_code == 409
    assert (response.get_json()["code"], response.get_json()["asset"]) == (
        "rate_unavailable",
        "ETH",
    )
    assert withdraw(api, account, "10.00", "USD").status_code == 201  # USD is the unit
    assert set_rate(api, "ETH", "3000.123456789").status_code == 200
    accepted = withdraw(api, account, "0.10000000", "ETH")
    assert accepted.status_code == 201, accepted.get_json()
    assert_books_sound(db)


def test_reference_rates(api: Api, db: Database, clock: Clock) -> None:
    response = set_rate(api, "btc", "67000.00")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {
        "asset": "BTC",
        "usd": "67000.00",
        "updated_at": "2026-11-20T20:00:00Z",
        "updated_by": "test-compliance",
    }
    assert set_rate(api, "BTC", "68000.5").get_json()["usd"] == "68000.5"
    for bad in (67000, 67000.5, "0", "0.00", "-1", "1e5", "", "abc", None, True):
        bad_response = set_rate(api, "BTC", bad)
        assert bad_response.status_code == 422, bad
        assert "usd" in bad_response.get_json()["errors"]
    unknown = set_rate(api, "XYZ", "1.00")
    assert (unknown.status_code, unknown.get_json()["code"]) == (404, "unknown_asset")
    assert set_rate(api, "USD", "2.00").status_code == 422
    assert set_rate(api, "USD", "1.00").status_code == 200
    for role in (Role.TRADING, Role.PAYMENTS, Role.OPERATIONS, Role.ACCOUNTANT):
        assert set_rate(api, "BTC", "1.00", role).status_code == 403
    rates = api.get("/v1/rates", Role.TRADING).get_json()
    assert [(r["asset"], r["usd"]) for r in rates["items"]] == [("BTC", "68000.5"), ("USD", "1.00")]
    assert rates["next_cursor"] is None
    assert_books_sound(db)


# -- concurrency -------------------------------------------------------------------------------


def test_concurrent_withdrawals_never_overdraw(app: Any, api: Api, db: Database) -> None:
    """20 real HTTP requests on 20 threads against a threaded server: one wins."""
    account = api.open_account()
    fund(api, account, "100.00")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    url = f"http://127.0.0.1:{server.server_port}/v1/withdrawals"
    body = json.dumps(
        {"account_id": account, "asset": "USD", "amount": "60.00", "destination": "dest"}
    ).encode()
    start = threading.Barrier(20)
    results: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()

    def request(n: int) -> None:
        headers = {
            **api.headers(Role.TRADING, idem=f"race-{n}"),
            "Content-Type": "application/json",
        }
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        start.wait()
        try:
            with urllib.request.urlopen(req, timeout=120) as response:
                outcome = (response.status, json.load(response))
        except urllib.error.HTTPError as error:
            outcome = (error.code, json.load(error))
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=request, args=(n,)) for n in range(20)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.shutdown()
        serving.join()
        server.server_close()
    assert sorted(status for status, _ in results) == [201] + [409] * 19, results
    assert {body["code"] for status, body in results if status == 409} == {
        "insufficient_withdrawable_funds"
    }
    row = balance(api, account)
    assert (row["total"], row["available_to_withdraw"], row["pending_withdrawals"]) == (
        "100.00",
        "40.00",
        "60.00",
    )
    listed = api.get(f"/v1/withdrawals?account_id={account}").get_json()["items"]
    assert len(listed) == 1
    assert_books_sound(db)


def test_withdrawal_list_pages(api: Api, db: Database, clock: Clock) -> None:
    account = api.open_account()
    fund(api, account, "100.00")
    ids = []
    for n in range(5):
        clock.now = datetime(2026, 11, 20, 20, n, tzinfo=UTC)
        ids.append(withdraw(api, account, "1.00").get_json()["id"])
    page = api.get(f"/v1/withdrawals?account_id={account}&limit=2").get_json()
    seen = [w["id"] for w in page["items"]]
    while page["next_cursor"]:
        page = api.get(
            f"/v1/withdrawals?account_id={account}&limit=2&cursor={page['next_cursor']}"
        ).get_json()
        seen += [w["id"] for w in page["items"]]
    assert seen == ids[::-1]
    assert api.get("/v1/withdrawals?status=nope").status_code == 422
    assert_books_sound(db)


def test_rates_take_ascii_digits_only(api: Api, db: Database) -> None:
    """Other scripts' digits (Python's \\d matches them, Decimal reads them) are not
    the plain decimal the contract and the OpenAPI pattern describe."""
    for text in ("٣", "６７０００", "1.٥"):
        response = set_rate(api, "BTC", text)
        assert (response.status_code, response.get_json()["code"]) == (422, "validation_failed")
    assert api.get("/v1/rates").get_json()["items"] == []
