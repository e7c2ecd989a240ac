"""``ledger verify`` reconciles the business tables with the journal (issue 12,
item 4): an edit made behind the service's back to a deposit, hold, trade,
withdrawal or chargeback, or a balanced entry forged without its business
record, is reported; and PostgreSQL refuses such edits in the first place."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from service.db.database import Database
from service.domain.chart import Bucket, Platform, customer_account_name
from service.domain.posting import Entry, EntryType, Posting
from service.domain.roles import Role
from service.services.verify import verify
from tests.api.test_deposits import deposit
from tests.api.test_trades import trade
from tests.api.test_withdrawals import act, fund, withdraw
from tests.conftest import Api
from tests.integration.test_posting_engine import post, usd


@contextmanager
def behind_the_service(db: Database) -> Iterator[Connection]:
    """A database owner's session; on PostgreSQL with the triggers switched off
    (a superuser can), as an attacker with the owner's password would."""
    with db.engine.begin() as conn:
        if db.is_postgres:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        yield conn


def problems(db: Database) -> list[str]:
    with db.read() as conn:
        return verify(conn)


def scenario(api: Api) -> dict[str, Any]:
    account = api.open_account()
    fund(api, account, "500.00")
    dep = deposit(api, account, "100.00").get_json()
    traded = trade(api, account, ("10.00", "USD"), ("0.00010000", "BTC")).get_json()
    wd = withdraw(api, account, "50.00").get_json()
    assert act(api, wd["id"], "complete", {"txid": "0xabc"}).status_code == 200
    charged = deposit(api, account, "20.00").get_json()
    back = api.post(f"/v1/deposits/{charged['id']}/chargeback", {"reason": "fraud"}, Role.PAYMENTS)
    assert back.status_code == 201, back.get_json()
    return {"account": account, "deposit": dep, "trade": traded, "withdrawal": wd}


def test_the_scenario_reconciles(api: Api, db: Database) -> None:
    scenario(api)
    assert problems(db) == []


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        ("UPDATE deposits SET amount = amount * 10 WHERE id = :deposit", "deposit"),
        ("UPDATE holds SET amount = amount + 1 WHERE deposit_id = :deposit", "hold"),
        ("UPDATE trades SET sell_amount = sell_amount - 1 WHERE id = :trade", "trade"),
        ("UPDATE trades SET buy_amount = buy_amount + 1 WHERE id = :trade", "trade"),
        ("UPDATE withdrawals SET amount = amount - 100 WHERE id = :withdrawal", "withdrawal"),
        # Paid out, then shown as failed (funds "returned") with the payout entry behind it.
        ("UPDATE withdrawals SET status = 'failed' WHERE id = :withdrawal", "withdrawal"),
        ("UPDATE withdrawals SET status = 'pending' WHERE id = :withdrawal", "withdrawal"),
        ("UPDATE chargebacks SET receivable = receivable + 5", "chargeback"),
        ("DELETE FROM deposits WHERE id = :deposit", "entry"),
    ],
)
def test_an_edited_business_record_is_reported(
    api: Api, db: Database, edit: str, named: str
) -> None:
    found = scenario(api)
    if "DELETE FROM deposits" in edit:
        with behind_the_service(db) as conn:
            conn.execute(text("DELETE FROM holds WHERE deposit_id = :deposit"), _ids(db, found))
    with behind_the_service(db) as conn:
        assert conn.execute(text(edit), _ids(db, found)).rowcount >= 1
    report = problems(db)
    assert report, "verify found nothing"
    assert any(line.startswith(named) for line in report), report


def test_a_forged_balanced_deposit_entry_is_reported(api: Api, db: Database) -> None:
    """A balanced entry credits Available 999.99 with no deposit behind it."""
    account = uuid.UUID(api.open_account())
    entry = Entry(
        type=EntryType.DEPOSIT,
        posted_at=_now(),
        reference="forged",
        postings=(
            Posting(Platform.CLEARING_CARD.value, usd("999.99")),
            Posting(customer_account_name(account, Bucket.AVAILABLE), -usd("999.99")),
        ),
        account_id=account,
    )
    entry_id = post(db, entry)
    report = problems(db)
    assert any(str(entry_id) in line or entry_id.hex in line for line in report), report
    assert any("has no deposit record" in line for line in report), report


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE deposits SET amount = amount * 10 WHERE id = :deposit",
        "UPDATE holds SET amount = amount + 1 WHERE deposit_id = :deposit",
        "UPDATE trades SET sell_amount = sell_amount - 1 WHERE id = :trade",
        "UPDATE trades SET external_ref = 'x' WHERE id = :trade",
        "UPDATE withdrawals SET amount = amount - 100 WHERE id = :withdrawal",
        "UPDATE chargebacks SET receivable = receivable + 5",
    ],
)
def test_postgresql_refuses_changing_booked_money(api: Api, db: Database, edit: str) -> None:
    found = scenario(api)
    with pytest.raises(DBAPIError, match="cannot change"), db.engine.begin() as conn:
        conn.execute(text(edit), _ids(db, found))
    assert problems(db) == []


def _ids(db: Database, found: dict[str, Any]) -> dict[str, Any]:
    def as_db(value: str) -> Any:
        return uuid.UUID(value) if db.is_postgres else uuid.UUID(value).hex

    return {
        "deposit": as_db(found["deposit"]["id"]),
        "trade": as_db(found["trade"]["id"]),
        "withdrawal": as_db(found["withdrawal"]["id"]),
    }


def _now() -> Any:
    from tests.conftest import NOW

    return NOW
