"""Trades of held funds: held value stays held through any chain of trades."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from service.db.database import Database
from service.domain.roles import Role
from tests.api.test_deposits import assert_books_sound, balance, deposit
from tests.conftest import Api, Clock


def trade(api: Api, account: str, sell: tuple[str, str], buy: tuple[str, str], **extra: Any) -> Any:
    body = {
        "account_id": account,
        "sell_asset": sell[1],
        "sell_amount": sell[0],
        "buy_asset": buy[1],
        "buy_amount": buy[0],
        "external_ref": extra.pop("external_ref", f"fill-{api._n}"),
        **extra,
    }
    return api.post("/v1/trades", body, Role.TRADING)


def test_held_usd_bought_btc_stays_held_under_the_same_hold(api: Api, db: Database) -> None:
    account = api.open_account()
    dep = deposit(api, account, "100.00").get_json()
    response = trade(api, account, ("100.00", "USD"), ("0.00150000", "BTC"))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["held_part"] == {"sold": "100.00", "bought": "0.00150000"}
    btc = balance(api, account, "BTC")
    assert btc["temporary_holds"] == "0.00150000"
    assert btc["available_to_withdraw"] == "0.00000000"
    assert btc["available_to_trade"] == "0.00150000"
    assert btc["next_release_at"] == dep["hold"]["release_at"]
    holds = api.get(f"/v1/accounts/{account}/holds").get_json()["items"]
    assert len(holds) == 1
    assert {(lot["asset"], lot["amount"]) for lot in holds[0]["lots"]} == {
        ("USD", "0.00"),
        ("BTC", "0.00150000"),
    }
    assert_books_sound(db)


def test_mixed_spend_splits_proceeds_rounding_toward_held(api: Api, db: Database) -> None:
    account = api.open_account()
    deposit(api, account, "30.00")
    deposit(api, account, "70.00", method="bank_transfer")
    response = trade(api, account, ("100.00", "USD"), ("0.00100001", "BTC"))
    assert response.status_code == 201, response.get_json()
    # 30% of 0.00100001 is 0.000300003 -> rounded up to the held side
    assert response.get_json()["held_part"] == {"sold": "30.00", "bought": "0.00030001"}
    btc = balance(api, account, "BTC")
    assert btc["temporary_holds"] == "0.00030001"
    assert btc["available_to_withdraw"] == "0.00070000"
    assert_books_sound(db)


def test_partial_spend_takes_earliest_releasing_hold_first(
    api: Api, clock: Clock, db: Database
) -> None:
    account = api.open_account()
    first = deposit(api, account, "40.00", settled_at="2026-11-18T15:00:00Z").get_json()
    second = deposit(api, account, "40.00").get_json()
    response = trade(api, account, ("50.00", "USD"), ("500.00", "EUR"))
    assert response.status_code == 201
    holds = {h["id"]: h for h in api.get(f"/v1/accounts/{account}/holds").get_json()["items"]}
    lots_first = {lot["asset"]: lot["amount"] for lot in holds[first["hold"]["id"]]["lots"]}
    lots_second = {lot["asset"]: lot["amount"] for lot in holds[second["hold"]["id"]]["lots"]}
    assert lots_first == {"USD": "0.00", "EUR": "400.00"}
    assert lots_second == {"USD": "30.00", "EUR": "100.00"}
    assert_books_sound(db)


def test_release_frees_every_lot_including_one_a_trade_emptied(
    api: Api, clock: Clock, db: Database
) -> None:
    """Lots follow their hold into ``released``: the EUR lot bought with held USD is
    emptied by the release's posting, the USD lot the trade already emptied is
    marked by the job's last update. Either way, nothing stays ``active``."""
    account = api.open_account()
    dep = deposit(api, account, "40.00").get_json()
    assert trade(api, account, ("40.00", "USD"), ("400.00", "EUR")).status_code == 201
    clock.now = datetime.fromisoformat(dep["hold"]["release_at"])
    job = api.post("/v1/jobs/release-holds", {"as_of": dep["hold"]["release_at"]}, Role.OPERATIONS)
    assert job.get_json()["released"] == 1
    (hold,) = api.get(f"/v1/accounts/{account}/holds").get_json()["items"]
    assert hold["status"] == "released"
    assert {(lot["asset"], lot["amount"], lot["status"]) for lot in hold["lots"]} == {
        ("USD", "0.00", "released"),
        ("EUR", "0.00", "released"),
    }
    assert balance(api, account, "EUR")["available_to_withdraw"] == "400.00"
    assert_books_sound(db)


def test_chain_of_trades_never_frees_held_value(api: Api, db: Database) -> None:
    account = api.open_account()
    deposit(api, account, "100.00")
    assert trade(api, account, ("100.00", "USD"), ("0.00150000", "BTC")).status_code == 201
    assert trade(api, account, ("0.00150000", "BTC"), ("0.05", "ETH")).status_code == 201
    assert (
        trade(
            api, account, ("0.05", "ETH"), ("99.00", "EUR"), fee_asset="EUR", fee_amount="1.00"
        ).status_code
        == 201
    )
    for asset in ("USD", "BTC", "ETH", "EUR"):
        assert balance(api, account, asset)["available_to_withdraw"].strip("0.") == "", asset
    assert balance(api, account, "EUR")["temporary_holds"] == "98.00"
    assert_books_sound(db)


def test_insufficient_funds_and_bad_trades(api: Api, db: Database) -> None:
    account = api.open_account()
    deposit(api, account, "10.00")
    before = balance(api, account)
    response = trade(api, account, ("10.01", "USD"), ("1.00", "EUR"))
    assert response.status_code == 409
    assert response.get_json()["code"] == "insufficient_funds"
    same = trade(api, account, ("1.00", "USD"), ("1.00", "USD"))
    assert same.status_code == 422
    fee_asset = trade(
        api, account, ("1.00", "USD"), ("1.00", "EUR"), fee_asset="USD", fee_amount="0.10"
    )
    assert fee_asset.status_code == 422
    assert balance(api, account) == before
    assert_books_sound(db)


def test_release_after_trade_frees_the_bought_asset(api: Api, clock: Clock, db: Database) -> None:
    account = api.open_account()
    deposit(api, account, "100.00", settled_at="2026-11-20T20:00:00Z")
    trade(api, account, ("60.00", "USD"), ("0.00090000", "BTC"))
    clock.now = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
    btc = balance(api, account, "BTC")
    assert btc["available_to_withdraw"] == "0.00090000"
    assert btc["temporary_holds"] == "0.00000000"
    usd = balance(api, account, "USD")
    assert usd["available_to_withdraw"] == "40.00"
    history = api.get(f"/v1/accounts/{account}/transactions").get_json()["items"]
    assert [item["type"] for item in history] == ["hold_release", "trade", "deposit"]
    assert history[2]["status"] == "settled"
    assert history[2]["hold"]["status"] == "released"
    assert_books_sound(db)


def test_release_in_history_and_journal_names_its_hold_and_every_lot(
    api: Api, clock: Clock, db: Database
) -> None:
    """A hold whose lots are BTC and USD is released as one line that lists both
    lots, names the hold and the deposit, and headlines the deposit's asset; its
    journal entry's reference is the hold, not a fixed text."""
    account = api.open_account()
    dep = deposit(api, account, "300.00", settled_at="2026-11-20T20:00:00Z").get_json()
    assert trade(api, account, ("100.00", "USD"), ("0.00299000", "BTC")).status_code == 201
    clock.now = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)
    assert balance(api, account, "BTC")["available_to_withdraw"] == "0.00299000"
    items = api.get(f"/v1/accounts/{account}/transactions").get_json()["items"]
    release = items[0]
    assert release["type"] == "hold_release"
    assert release["hold_id"] == dep["hold"]["id"]
    assert release["deposit_id"] == dep["id"]
    assert (release["asset"], release["amount"]) == ("USD", "200.00")
    assert release["lots"] == [
        {"asset": "USD", "amount": "200.00"},
        {"asset": "BTC", "amount": "0.00299000"},
    ]
    journal = api.get("/v1/exports/journal.csv", Role.ACCOUNTANT).get_data(as_text=True)
    release_rows = [line for line in journal.splitlines() if ",hold_release," in line]
    assert len(release_rows) == 4
    assert {line.split(",")[3] for line in release_rows} == {f"hold:{dep['hold']['id']}"}
    assert_books_sound(db)
