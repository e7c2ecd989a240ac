"""Chargebacks over REST: during the hold, after trading it, after release and withdrawal."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from service.db import ledger
from service.db.database import Database
from service.domain.chart import Platform
from service.domain.roles import Role
from tests.api.test_deposits import assert_books_sound, balance, deposit
from tests.api.test_trades import trade
from tests.api.test_withdrawals import act, audit_actions, fund, history, withdraw
from tests.conftest import Api, Clock


def charge_back(
    api: Api,
    deposit_id: str,
    reason: str = "fraudulent card",
    role: Role = Role.PAYMENTS,
    **kw: Any,
) -> Any:
    return api.post(f"/v1/deposits/{deposit_id}/chargeback", {"reason": reason}, role, **kw)


def ledger_balance(db: Database, account: str, asset: str) -> int:
    """A platform account's balance in minor units (debit positive), all slots."""
    key = ledger.BalanceKey(account, asset)
    with db.read() as conn:
        return ledger.read_balances(conn, [key])[key]


def holds_of(api: Api, account: str) -> dict[str, dict[str, Any]]:
    items = api.get(f"/v1/accounts/{account}/holds").get_json()["items"]
    return {hold["deposit_id"]: hold for hold in items}


def account_status(api: Api, account: str) -> str:
    status: str = api.get(f"/v1/accounts/{account}").get_json()["status"]
    return status


def test_chargeback_during_the_hold_takes_the_untouched_funds(api: Api, db: Database) -> None:
    account = api.open_account()
    dep = deposit(api, account, "100.00").get_json()
    response = charge_back(api, dep["id"], idem="cb-1")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert {k: body[k] for k in ("deposit_id", "status", "recovered", "receivable")} == {
        "deposit_id": dep["id"],
        "status": "reversed",
        "recovered": "100.00",
        "receivable": "0.00",
    }
    assert (body["amount"], body["hold_status"]) == ("100.00", "reversed")
    replay = charge_back(api, dep["id"], idem="cb-1")
    assert (replay.status_code, replay.get_json()) == (201, body)
    assert replay.headers["Idempotent-Replayed"] == "true"
    twice = charge_back(api, dep["id"])
    assert (twice.status_code, twice.get_json()["code"]) == (409, "already_reversed")

    row = balance(api, account)
    assert (row["total"], row["temporary_holds"], row["next_release_at"]) == ("0.00", "0.00", None)
    hold = holds_of(api, account)[dep["id"]]
    assert hold["status"] == "reversed"
    assert hold["lots"] == [{"asset": "USD", "amount": "0.00", "status": "reversed"}]
    assert ledger_balance(db, Platform.CLEARING_CARD.value, "USD") == 0
    assert ledger_balance(db, Platform.CHARGEBACK_RECEIVABLES.value, "USD") == 0
    assert account_status(api, account) == "restricted"
    items = history(api, account)
    assert [(i["type"], i["status"]) for i in items] == [
        ("chargeback", "completed"),
        ("deposit", "reversed"),
    ]
    assert (items[0]["amount"], items[0]["deposit_id"]) == ("100.00", dep["id"])
    assert items[1]["hold"]["status"] == "reversed"
    audit = api.get(f"/v1/accounts/{account}/audit", Role.COMPLIANCE).get_json()["items"]
    assert [a["action"] for a in audit] == ["status_change", "chargeback"]
    assert audit[0]["details"] == {"from": "active", "to": "restricted", "deposit_id": dep["id"]}
    assert (audit[1]["actor"], audit[1]["reason"]) == ("test-payments", "fraudulent card")
    assert audit[1]["details"]["receivable"] == "0.00"
    assert_books_sound(db)


def test_chargeback_after_the_held_funds_were_traded(api: Api, db: Database, clock: Clock) -> None:
    account = api.open_account()
    dep = deposit(api, account, "100.00").get_json()
    assert trade(api, account, ("100.00", "USD"), ("0.00150000", "BTC")).status_code == 201
    body = charge_back(api, dep["id"]).get_json()
    assert (body["recovered"], body["receivable"], body["hold_status"]) == (
        "0.00",
        "100.00",
        "reversed",
    )
    # the missing 100.00 is the customer's debt: Available goes negative, same entry
    usd = balance(api, account)
    assert (usd["total"], usd["available_to_trade"], usd["available_to_withdraw"]) == (
        "-100.00",
        "0.00",
        "0.00",
    )
    assert ledger_balance(db, Platform.CLEARING_CARD.value, "USD") == 0
    assert account_status(api, account) == "restricted"
    hold = holds_of(api, account)[dep["id"]]
    assert hold["status"] == "reversed"
    assert sorted((lot["asset"], lot["amount"], lot["status"]) for lot in hold["lots"]) == [
        ("BTC", "0.00150000", "frozen"),
        ("USD", "0.00", "reversed"),
    ]
    btc = balance(api, account, "BTC")
    assert (btc["temporary_holds"], btc["available_to_withdraw"], btc["next_release_at"]) == (
        "0.00150000",
        "0.00000000",
        None,
    )
    reversed_holds = api.get(f"/v1/accounts/{account}/holds?status=reversed").get_json()
    assert [h["id"] for h in reversed_holds["items"]] == [hold["id"]]
    # A frozen lot is never released, by the lazy release or by the job.
    clock.now = datetime.fromisoformat(dep["hold"]["release_at"]) + timedelta(days=30)
    job = api.post("/v1/jobs/release-holds", {}, Role.OPERATIONS)
    assert job.status_code == 200, job.get_json()
    assert job.get_json()["released"] == 0
    assert balance(api, account, "BTC")["temporary_holds"] == "0.00150000"
    # a restricted account can no longer trade nor withdraw
    refused = trade(api, account, ("0.00150000", "BTC"), ("100.00", "USD"))
    assert (refused.status_code, refused.get_json()["code"]) == (403, "account_restricted")
    refused = withdraw(api, account, "0.00100000", "BTC")
    assert (refused.status_code, refused.get_json()["code"]) == (403, "account_restricted")
    assert_books_sound(db)


def test_chargeback_takes_lot_then_available_then_receivable(api: Api, db: Database) -> None:
    account = api.open_account()
    dep = deposit(api, account, "100.00").get_json()
    fund(api, account, "30.00")
    # 60.00 of the held USD is traded away (held funds are spent first): lot USD 40.00
    assert trade(api, account, ("60.00", "USD"), ("0.00090000", "BTC")).status_code == 201
    body = charge_back(api, dep["id"]).get_json()
    assert (body["recovered"], body["receivable"]) == ("70.00", "30.00")
    usd = balance(api, account)
    assert (usd["total"], usd["available_to_withdraw"], usd["temporary_holds"]) == (
        "-30.00",
        "0.00",
        "0.00",
    )
    lots = {lot["asset"]: lot for lot in holds_of(api, account)[dep["id"]]["lots"]}
    assert (lots["USD"]["amount"], lots["USD"]["status"]) == ("0.00", "reversed")
    assert (lots["BTC"]["amount"], lots["BTC"]["status"]) == ("0.00090000", "frozen")
    assert_books_sound(db)


def test_chargeback_after_release_and_withdrawal(api: Api, db: Database, clock: Clock) -> None:
    account = api.open_account()
    dep = deposit(api, account, "100.00").get_json()
    clock.now = datetime.fromisoformat(dep["hold"]["release_at"]) + timedelta(hours=1)
    wid = withdraw(api, account, "100.00").get_json()["id"]
    assert act(api, wid, "complete", {"txid": "wire-1"}).status_code == 200
    body = charge_back(api, dep["id"], "cardholder dispute").get_json()
    assert (body["recovered"], body["receivable"], body["hold_status"]) == (
        "0.00",
        "100.00",
        "reversed",
    )
    # The customer has nothing left to take: the whole amount is a debt, a
    # negative Available that no withdrawal can touch and the next deposit repays.
    usd = balance(api, account)
    assert (usd["total"], usd["available_to_withdraw"]) == ("-100.00", "0.00")
    assert ledger_balance(db, Platform.PAYOUTS.value, "USD") == -10000
    hold = holds_of(api, account)[dep["id"]]
    assert (hold["status"], hold["lots"][0]["status"]) == ("reversed", "reversed")
    assert hold["released_at"] is not None
    assert [i["type"] for i in history(api, account)] == [
        "chargeback",
        "withdrawal",
        "hold_release",
        "deposit",
    ]
    assert history(api, account)[-1]["status"] == "reversed"
    assert account_status(api, account) == "restricted"
    assert_books_sound(db)


def test_chargeback_after_release_recovers_from_available(
    api: Api, db: Database, clock: Clock
) -> None:
    account = api.open_account()
    dep = deposit(api, account, "100.00").get_json()
    clock.now = datetime.fromisoformat(dep["hold"]["release_at"])
    assert balance(api, account)["available_to_withdraw"] == "100.00"  # released lazily
    body = charge_back(api, dep["id"]).get_json()
    assert (body["recovered"], body["receivable"]) == ("100.00", "0.00")
    assert balance(api, account)["total"] == "0.00"
    assert_books_sound(db)


def test_chargeback_of_a_deposit_without_hold(api: Api, db: Database) -> None:
    account = api.open_account()
    dep = deposit(api, account, "100.00", method="bank_transfer").get_json()
    assert dep["hold"] is None
    pending = withdraw(api, account, "70.00").get_json()
    body = charge_back(api, dep["id"], "recalled by the bank").get_json()
    assert (body["recovered"], body["receivable"], body["hold_id"]) == ("30.00", "70.00", None)
    assert ledger_balance(db, Platform.CLEARING_BANK.value, "USD") == 0
    # the payout in flight is untouched: it still completes or fails
    usd = balance(api, account)
    assert (usd["pending_withdrawals"], usd["total"]) == ("70.00", "0.00")
    assert act(api, pending["id"], "fail", {"reason": "stopped"}).status_code == 200
    # the returned 70.00 repays the debt: nothing is left to withdraw
    assert balance(api, account)["available_to_withdraw"] == "0.00"
    assert_books_sound(db)


def test_chargeback_is_accepted_whatever_the_account_status(api: Api, db: Database) -> None:
    account = api.open_account()
    first = deposit(api, account, "10.00").get_json()
    second = deposit(api, account, "20.00", method="paypal").get_json()
    patched = api.client.patch(
        f"/v1/accounts/{account}",
        json={"status": "read_only", "reason": "kyc review"},
        headers=api.headers(Role.COMPLIANCE, idem=None),
    )
    assert patched.status_code == 200
    assert charge_back(api, first["id"]).status_code == 201
    assert account_status(api, account) == "restricted"
    again = charge_back(api, second["id"])
    assert again.status_code == 201, again.get_json()
    assert again.get_json()["recovered"] == "20.00"
    assert ledger_balance(db, Platform.CLEARING_PAYPAL.value, "USD") == 0
    assert audit_actions(api, account) == [
        "chargeback",
        "status_change",
        "chargeback",
        "status_change",
    ]
    assert_books_sound(db)


def test_chargeback_errors(api: Api, db: Database) -> None:
    account = api.open_account()
    dep = deposit(api, account, "10.00").get_json()
    unknown = charge_back(api, str(uuid.uuid4()))
    assert (unknown.status_code, unknown.get_json()["code"]) == (404, "deposit_not_found")
    for role in (Role.TRADING, Role.COMPLIANCE, Role.OPERATIONS, Role.ACCOUNTANT):
        assert charge_back(api, dep["id"], role=role).status_code == 403
    assert charge_back(api, dep["id"], "").status_code == 422
    no_reason = api.post(f"/v1/deposits/{dep['id']}/chargeback", {}, Role.PAYMENTS)
    assert no_reason.status_code == 422
    no_key = charge_back(api, dep["id"], idem=None)
    assert (no_key.status_code, no_key.get_json()["code"]) == (400, "idempotency_key_required")
    assert balance(api, account)["temporary_holds"] == "10.00"
    assert account_status(api, account) == "active"
    assert_books_sound(db)


def test_chargeback_when_the_lot_grew_above_the_deposit(api: Api, db: Database) -> None:
    """Held USD traded to BTC and back at a profit: the USD lot (150.00) exceeds
    the deposit (100.00). The chargeback takes 100.00 from it; the 50.00 left
    stays held under the hold, frozen, never auto-released."""
    account = api.open_account()
    dep = deposit(api, account, "100.00").get_json()
    assert trade(api, account, ("100.00", "USD"), ("0.00150000", "BTC")).status_code == 201
    assert trade(api, account, ("0.00150000", "BTC"), ("150.00", "USD")).status_code == 201
    body = charge_back(api, dep["id"]).get_json()
    assert (body["recovered"], body["receivable"], body["hold_status"]) == (
        "100.00",
        "0.00",
        "reversed",
    )
    lots = {lot["asset"]: lot for lot in holds_of(api, account)[dep["id"]]["lots"]}
    assert (lots["USD"]["amount"], lots["USD"]["status"]) == ("50.00", "frozen")
    assert lots["BTC"]["amount"] == "0.00000000"
    assert lots["BTC"]["status"] == "reversed"
    usd = balance(api, account)
    assert (usd["temporary_holds"], usd["available_to_withdraw"]) == ("50.00", "0.00")
    assert_books_sound(db)
