"""Account status, geofence flags, final withdrawals to archive, the audit log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from service.db.database import Database
from service.domain.roles import Role
from tests.api.test_chargebacks import account_status, charge_back, holds_of
from tests.api.test_deposits import assert_books_sound, balance, deposit
from tests.api.test_trades import trade
from tests.api.test_withdrawals import act, audit_actions, fund, history, withdraw
from tests.conftest import Api, Clock


def patch(
    api: Api,
    account: str,
    status: str,
    reason: str = "compliance decision",
    role: Role = Role.COMPLIANCE,
) -> Any:
    return api.client.patch(
        f"/v1/accounts/{account}",
        json={"status": status, "reason": reason},
        headers=api.headers(role, idem=None),
    )


def final_withdrawal(
    api: Api, account: str, asset: str, role: Role = Role.COMPLIANCE, **kw: Any
) -> Any:
    body = {"asset": asset, "destination": f"closing-{asset}", "reason": "account closure"}
    return api.post(f"/v1/accounts/{account}/final-withdrawal", body, role, **kw)


# -- status transitions ---------------------------------------------------------------------

ALLOWED = [
    ("active", "read_only"),
    ("read_only", "active"),
    ("active", "restricted"),
    ("read_only", "restricted"),
    ("restricted", "active"),
]
REFUSED = [
    ("active", "active"),
    ("active", "archived"),
    ("read_only", "read_only"),
    ("read_only", "archived"),
    ("restricted", "read_only"),
    ("restricted", "restricted"),
    ("restricted", "archived"),
]


def _reach(api: Api, account: str, status: str) -> None:
    if status != "active":
        assert patch(api, account, status).status_code == 200


@pytest.mark.parametrize(("source", "target"), ALLOWED)
def test_allowed_status_transitions(api: Api, source: str, target: str) -> None:
    account = api.open_account()
    _reach(api, account, source)
    response = patch(api, account, target, "customer asked")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == target
    assert api.get(f"/v1/accounts/{account}").get_json()["status"] == target
    entry = api.get(f"/v1/accounts/{account}/audit").get_json()["items"][0]
    assert (entry["action"], entry["actor"], entry["reason"]) == (
        "status_change",
        "test-compliance",
        "customer asked",
    )
    assert entry["details"] == {"from": source, "to": target}
    assert entry["at"] == "2026-11-20T20:00:00Z"


@pytest.mark.parametrize(("source", "target"), REFUSED)
def test_refused_status_transitions(api: Api, source: str, target: str) -> None:
    account = api.open_account()
    _reach(api, account, source)
    response = patch(api, account, target)
    assert response.status_code == 409
    assert response.get_json()["code"] == "invalid_status_transition"
    assert account_status(api, account) == source


def test_status_patch_input_and_roles(api: Api) -> None:
    account = api.open_account()
    assert patch(api, account, "closed").status_code == 422
    assert patch(api, account, "read_only", "").status_code == 422
    response = api.client.patch(
        f"/v1/accounts/{account}",
        json={"status": "read_only"},
        headers=api.headers(Role.COMPLIANCE, idem=None),
    )
    assert response.status_code == 422
    for role in (Role.TRADING, Role.PAYMENTS, Role.OPERATIONS, Role.ACCOUNTANT):
        assert patch(api, account, "read_only", role=role).status_code == 403
    missing = patch(api, str(uuid.uuid4()), "read_only")
    assert (missing.status_code, missing.get_json()["code"]) == (404, "account_not_found")
    assert patch(api, account, "read_only", role=Role.ADMIN).status_code == 200


def test_read_only_refuses_every_money_movement(api: Api, db: Database) -> None:
    account = api.open_account()
    fund(api, account, "100.00")
    pending = withdraw(api, account, "10.00").get_json()
    assert patch(api, account, "read_only").status_code == 200
    for response in (
        deposit(api, account, "1.00"),
        trade(api, account, ("1.00", "USD"), ("0.90", "EUR")),
        withdraw(api, account, "1.00"),
    ):
        assert (response.status_code, response.get_json()["code"]) == (403, "account_read_only")
    refused = final_withdrawal(api, account, "USD")
    assert (refused.status_code, refused.get_json()["code"]) == (409, "invalid_status_transition")
    # reads still work, and a payout already in flight is still settled
    assert balance(api, account)["available_to_withdraw"] == "90.00"
    assert act(api, pending["id"], "complete", {"txid": "t1"}).status_code == 200
    assert_books_sound(db)


def test_restricted_account_refuses_trades_withdrawals_and_deposits(api: Api, db: Database) -> None:
    """Restricted means support is required: no new money comes in or goes out
    except a chargeback (always) and a support-approved final withdrawal.
    A settled deposit for a restricted account is refused (403) so the payment
    integration hands it to support instead of crediting a frozen account."""
    account = api.open_account(tier="verified")
    fund(api, account, "100.00")
    in_flight = withdraw(api, account, "60.00").get_json()
    assert patch(api, account, "restricted", "fraud investigation").status_code == 200
    for response in (
        deposit(api, account, "1.00"),
        deposit(api, account, "1.00", method="bank_transfer"),
        trade(api, account, ("1.00", "USD"), ("0.90", "EUR")),
        withdraw(api, account, "1.00"),
    ):
        assert (response.status_code, response.get_json()["code"]) == (403, "account_restricted")
    # a payout already on its way can still fail back into the account
    assert act(api, in_flight["id"], "fail", {"reason": "returned"}).status_code == 200
    assert balance(api, account)["available_to_withdraw"] == "100.00"
    assert patch(api, account, "active", "cleared").status_code == 200
    assert withdraw(api, account, "1.00").status_code == 201
    assert_books_sound(db)


def test_standard_withdrawal_in_review_cannot_be_approved_once_not_active(
    api: Api, db: Database
) -> None:
    account = api.open_account(tier="verified")
    fund(api, account, "20000.00")
    pending = withdraw(api, account, "15000.00").get_json()
    assert pending["status"] == "review"
    assert patch(api, account, "read_only").status_code == 200
    refused = act(api, pending["id"], "approve")
    assert (refused.status_code, refused.get_json()["code"]) == (403, "account_read_only")
    assert act(api, pending["id"], "reject", {"reason": "account frozen"}).status_code == 200
    assert balance(api, account)["available_to_withdraw"] == "20000.00"
    assert_books_sound(db)


# -- geofence -----------------------------------------------------------------------------------


def test_withdrawal_from_a_blocked_country_flags_the_account(api: Api, db: Database) -> None:
    account = api.open_account()
    fund(api, account, "100.00")
    response = withdraw(api, account, "10.00", country="US")
    assert (response.status_code, response.get_json()["code"]) == (403, "jurisdiction_blocked")
    assert account_status(api, account) == "read_only"
    entry = api.get(f"/v1/accounts/{account}/audit").get_json()["items"][0]
    assert (entry["action"], entry["actor"]) == ("jurisdiction_flag", "test-trading")
    assert entry["details"]["country"] == "US"
    assert balance(api, account)["available_to_withdraw"] == "100.00"
    again = withdraw(api, account, "10.00")
    assert (again.status_code, again.get_json()["code"]) == (403, "account_read_only")
    no_country = withdraw(api, account, "10.00", country=None)
    assert (no_country.status_code, no_country.get_json()["code"]) == (400, "country_required")
    assert_books_sound(db)


def test_geofence_guards_every_money_route(api: Api, db: Database) -> None:
    account = api.open_account(tier="verified")
    dep = deposit(api, account, "100.00").get_json()
    fund(api, account, "20000.00")
    review = withdraw(api, account, "15000.00").get_json()
    pending = withdraw(api, account, "10.00").get_json()
    for response in (
        act(api, review["id"], "approve", country="US"),
        act(api, review["id"], "reject", {"reason": "r"}, country="US"),
        act(api, pending["id"], "complete", {"txid": "t"}, country="US"),
        act(api, pending["id"], "fail", {"reason": "r"}, country="US"),
        charge_back(api, dep["id"], country="US"),
        final_withdrawal(api, account, "USD", country="US"),
    ):
        assert (response.status_code, response.get_json()["code"]) == (403, "jurisdiction_blocked")
    # flagged once (the first refusal), nothing moved
    assert audit_actions(api, account) == ["jurisdiction_flag"]
    assert api.get(f"/v1/withdrawals/{review['id']}").get_json()["status"] == "review"
    assert api.get(f"/v1/withdrawals/{pending['id']}").get_json()["status"] == "pending"
    assert [i["status"] for i in history(api, account) if i["type"] == "deposit"] == [
        "settled",
        "settled",
    ]
    assert_books_sound(db)


# -- final withdrawal ------------------------------------------------------------------------


def test_final_withdrawal_of_a_charged_back_account_archives_it(
    api: Api, db: Database, clock: Clock
) -> None:
    account = api.open_account()
    fund(api, account, "100.00")
    first = deposit(api, account, "100.00").get_json()
    # held USD first: the BTC stays under the first hold
    assert trade(api, account, ("100.00", "USD"), ("0.00150000", "BTC")).status_code == 201
    second = deposit(api, account, "40.00", method="paypal").get_json()
    cb = charge_back(api, first["id"]).get_json()
    assert (cb["recovered"], cb["receivable"]) == ("100.00", "0.00")
    assert account_status(api, account) == "restricted"
    usd = balance(api, account)
    assert (usd["available_to_withdraw"], usd["temporary_holds"]) == ("0.00", "40.00")

    usd_out = final_withdrawal(api, account, "USD")
    assert usd_out.status_code == 201, usd_out.get_json()
    usd_w = usd_out.get_json()
    assert (usd_w["status"], usd_w["kind"], usd_w["amount"]) == ("review", "final", "40.00")
    nothing = final_withdrawal(api, account, "USD")
    assert (nothing.status_code, nothing.get_json()["code"]) == (409, "nothing_to_withdraw")
    btc_w = final_withdrawal(api, account, "BTC").get_json()
    assert (btc_w["status"], btc_w["amount"]) == ("review", "0.00150000")
    assert_books_sound(db)
    holds = holds_of(api, account)
    assert holds[second["id"]]["status"] == "released"  # support let it out early
    assert holds[second["id"]]["lots"] == [{"asset": "USD", "amount": "0.00", "status": "released"}]
    assert holds[first["id"]]["status"] == "reversed"  # frozen, now emptied
    assert {lot["asset"]: lot["amount"] for lot in holds[first["id"]]["lots"]} == {
        "BTC": "0.00000000",
        "USD": "0.00",
    }
    btc = balance(api, account, "BTC")
    assert (btc["temporary_holds"], btc["pending_withdrawals"]) == ("0.00000000", "0.00150000")

    assert (
        act(api, usd_w["id"], "complete", {"txid": "t"}).get_json()["code"]
        == "invalid_withdrawal_state"
    )
    for w in (usd_w, btc_w):
        approved = act(api, w["id"], "approve", {"reason": "closure reviewed"})
        assert approved.get_json()["status"] == "pending", approved.get_json()
    assert act(api, usd_w["id"], "complete", {"txid": "wire-9"}).status_code == 200
    assert account_status(api, account) == "restricted"  # BTC still on its way
    assert act(api, btc_w["id"], "complete", {"txid": "btc-9"}).status_code == 200
    assert account_status(api, account) == "archived"
    audit = api.get(f"/v1/accounts/{account}/audit").get_json()["items"]
    assert audit[0]["action"] == "status_change"
    assert audit[0]["details"]["to"] == "archived"
    assert audit[0]["actor"] == "test-payments"
    assert [a["action"] for a in audit].count("final_withdrawal") == 2
    assert [a["action"] for a in audit].count("withdrawal_completed") == 2
    assert_books_sound(db)

    # archived: history only
    for response in (
        deposit(api, account, "1.00", method="bank_transfer"),
        withdraw(api, account, "1.00"),
        trade(api, account, ("1.00", "USD"), ("0.90", "EUR")),
        final_withdrawal(api, account, "USD"),
    ):
        assert (response.status_code, response.get_json()["code"]) == (403, "account_archived")
    for status in ("active", "read_only", "restricted"):
        assert patch(api, account, status).get_json()["code"] == "invalid_status_transition"
    assert balance(api, account)["total"] == "0.00"
    assert len(history(api, account)) == 7
    # a late chargeback is still booked; the closed account stays closed
    late = charge_back(api, second["id"])
    assert (late.status_code, late.get_json()["receivable"]) == (201, "40.00")
    assert account_status(api, account) == "archived"
    assert balance(api, account)["total"] == "-40.00"  # the debt, on the closed account
    assert_books_sound(db)


def test_rejected_final_withdrawal_returns_funds_to_available(api: Api, db: Database) -> None:
    account = api.open_account()
    fund(api, account, "25.00")
    deposit(api, account, "75.00")
    assert patch(api, account, "restricted", "closing").status_code == 200
    w = final_withdrawal(api, account, "USD").get_json()
    assert w["amount"] == "100.00"
    rejected = act(api, w["id"], "reject", {"reason": "wrong destination"})
    assert rejected.get_json()["status"] == "rejected"
    usd = balance(api, account)
    assert (usd["available_to_withdraw"], usd["temporary_holds"]) == ("100.00", "0.00")
    assert account_status(api, account) == "restricted"
    again = final_withdrawal(api, account, "USD").get_json()
    assert act(api, again["id"], "approve").status_code == 200
    assert act(api, again["id"], "fail", {"reason": "bounced"}).status_code == 200
    assert account_status(api, account) == "restricted"
    assert_books_sound(db)


def test_final_withdrawal_requires_a_restricted_account(api: Api, db: Database) -> None:
    account = api.open_account()
    fund(api, account, "10.00")
    for status in ("active", "read_only"):
        _reach(api, account, status)
        refused = final_withdrawal(api, account, "USD")
        assert (refused.status_code, refused.get_json()["code"]) == (
            409,
            "invalid_status_transition",
        )
    assert patch(api, account, "restricted").status_code == 200
    for role in (Role.TRADING, Role.PAYMENTS):
        assert final_withdrawal(api, account, "USD", role=role).status_code == 403
    unknown = final_withdrawal(api, str(uuid.uuid4()), "USD")
    assert (unknown.status_code, unknown.get_json()["code"]) == (404, "account_not_found")
    assert final_withdrawal(api, account, "XYZ").get_json()["code"] == "unknown_asset"
    assert final_withdrawal(api, account, "USD", idem=None).status_code == 400
    ok = final_withdrawal(api, account, "USD", role=Role.ADMIN)
    assert ok.status_code == 201, ok.get_json()
    assert_books_sound(db)


# -- audit log ------------------------------------------------------------------------------------


def test_audit_log_pages_newest_first(api: Api, clock: Clock) -> None:
    account = api.open_account()
    for minute, status in enumerate(["read_only", "active", "restricted", "active"]):
        clock.now = datetime(2026, 11, 21, 10, minute, tzinfo=UTC)
        assert patch(api, account, status, f"step {minute}").status_code == 200
    page = api.get(f"/v1/accounts/{account}/audit?limit=3", Role.COMPLIANCE).get_json()
    assert [e["reason"] for e in page["items"]] == ["step 3", "step 2", "step 1"]
    assert page["items"][0]["at"] == "2026-11-21T10:03:00Z"
    assert set(page["items"][0]) == {"id", "at", "actor", "action", "reason", "details"}
    rest = api.get(
        f"/v1/accounts/{account}/audit?limit=3&cursor={page['next_cursor']}", Role.COMPLIANCE
    ).get_json()
    assert [e["reason"] for e in rest["items"]] == ["step 0"]
    assert rest["next_cursor"] is None
    for role in (Role.TRADING, Role.PAYMENTS, Role.OPERATIONS, Role.ACCOUNTANT):
        assert api.get(f"/v1/accounts/{account}/audit", role).status_code == 403
    assert api.get(f"/v1/accounts/{account}/audit", Role.ADMIN).status_code == 200
    missing = api.get(f"/v1/accounts/{uuid.uuid4()}/audit")
    assert (missing.status_code, missing.get_json()["code"]) == (404, "account_not_found")
    assert api.get(f"/v1/accounts/{account}/audit?cursor=bogus").status_code == 400


def test_an_account_in_debt_is_not_archived_by_its_final_withdrawals(
    api: Api, db: Database
) -> None:
    """A chargeback the customer could not cover leaves Available negative: paying
    out everything else does not close the account while the debt remains."""
    account = api.open_account()
    fund(api, account, "30.00")
    first = deposit(api, account, "100.00").get_json()
    assert trade(api, account, ("100.00", "USD"), ("0.00150000", "BTC")).status_code == 201
    cb = charge_back(api, first["id"]).get_json()
    assert (cb["recovered"], cb["receivable"]) == ("30.00", "70.00")
    assert balance(api, account)["total"] == "-70.00"
    assert final_withdrawal(api, account, "USD").get_json()["code"] == "nothing_to_withdraw"
    btc_w = final_withdrawal(api, account, "BTC").get_json()
    assert act(api, btc_w["id"], "approve", {"reason": "reviewed"}).status_code == 200
    assert act(api, btc_w["id"], "complete", {"txid": "btc-1"}).status_code == 200
    assert account_status(api, account) == "restricted"
    assert balance(api, account)["total"] == "-70.00"
    assert_books_sound(db)
