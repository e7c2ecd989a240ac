"""Deposits, holds and balances over REST."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from service.db.database import Database
from service.domain.roles import Role
from service.services.verify import verify
from tests.conftest import Api, Clock


def deposit(
    api: Api,
    account: str,
    amount: str = "100.00",
    method: str = "card",
    asset: str = "USD",
    **extra: Any,
) -> Any:
    body = {
        "account_id": account,
        "method": method,
        "asset": asset,
        "amount": amount,
        "external_ref": extra.pop("external_ref", f"ref-{api._n}-{method}-{amount}"),
        **extra,
    }
    return api.post("/v1/deposits", body, Role.PAYMENTS)


def balance(api: Api, account: str, asset: str = "USD") -> dict[str, Any]:
    response = api.get(f"/v1/accounts/{account}/balances", Role.TRADING)
    assert response.status_code == 200, response.get_json()
    rows = {row["asset"]: row for row in response.get_json()["balances"]}
    return rows.get(asset, {})


def assert_books_sound(db: Database) -> None:
    with db.read() as conn:
        assert verify(conn) == []


def test_card_deposit_friday_afternoon_is_held_until_wednesday(
    api: Api, clock: Clock, db: Database
) -> None:
    clock.now = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
    account = api.open_account()
    response = deposit(api, account, settled_at="2026-11-20T15:00:00-05:00")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "settled"
    assert body["amount"] == "100.00"
    assert body["settled_at"] == "2026-11-20T20:00:00Z"
    assert body["hold"]["release_at"] == "2026-11-25T20:00:00Z"
    assert body["hold"]["lots"] == [{"asset": "USD", "amount": "100.00", "status": "active"}]
    row = balance(api, account)
    assert row == {
        "asset": "USD",
        "total": "100.00",
        "available_to_trade": "100.00",
        "available_to_withdraw": "0.00",
        "temporary_holds": "100.00",
        "pending_withdrawals": "0.00",
        "next_release_at": "2026-11-25T20:00:00Z",
    }
    assert_books_sound(db)


@pytest.mark.parametrize("method", ["bank_transfer", "crypto"])
def test_unheld_methods_credit_available(api: Api, method: str, db: Database) -> None:
    account = api.open_account()
    response = deposit(api, account, "0.00150000", method=method, asset="BTC")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["hold"] is None
    row = balance(api, account, "BTC")
    assert row["available_to_withdraw"] == "0.00150000"
    assert row["temporary_holds"] == "0.00000000"
    assert row["next_release_at"] is None
    assert_books_sound(db)
