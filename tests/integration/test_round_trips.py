"""The hot paths' round trips to the database, counted: moving SQL between
modules must never add a statement to a deposit or a settlement file."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event

from service.config import Settings
from service.db.database import Database
from service.domain.accounts import Tier
from service.domain.holds import Method
from service.services.accounts import OpenAccount, open_account
from service.services.deposits import DepositCommand, record_deposit, record_deposits

SETTLED = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)


@contextmanager
def counted(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def _account(db: Database) -> uuid.UUID:
    with db.write() as tx:
        return open_account(
            tx,
            OpenAccount(f"rt-{uuid.uuid4().hex}", "GB", Tier.BASIC),
            client_country="GB",
            blocked=frozenset({"US"}),
            now=SETTLED,
        ).id


def _cmd(account: uuid.UUID, method: Method = Method.CARD) -> DepositCommand:
    return DepositCommand(
        account_id=account,
        method=method,
        asset="USD",
        amount=Decimal("100.00"),
        external_ref=f"rt-{uuid.uuid4().hex}",
        settled_at=SETTLED,
    )


#: Statements per deposit. PostgreSQL: accounts, policies and calendar in one
#: read; then entry, deposit, hold, postings and the deposit's event (outbox,
#: issue 14) in one write (issue 17 folded the two writes into one). SQLite
#: (no multi-statement inserts): its BEGIN IMMEDIATE, the accounts read, the
#: calendar read when a hold is placed, then one insert per table written.
_EXPECTED = {
    ("postgresql", Method.CARD): 2,
    ("postgresql", Method.BANK_TRANSFER): 2,
    ("sqlite", Method.CARD): 8,
    ("sqlite", Method.BANK_TRANSFER): 6,
}


@pytest.mark.parametrize("method", [Method.CARD, Method.BANK_TRANSFER])
def test_a_deposit_takes_a_fixed_number_of_statements(db: Database, method: Method) -> None:
    account = _account(db)
    settings = Settings(database_url=db.url)
    with db.write() as tx:  # warm the reference caches (assets, policies)
        record_deposit(tx, _cmd(account, method), settings=settings, now=NOW)
    with counted(db) as statements, db.write() as tx:
        record_deposit(tx, _cmd(account, method), settings=settings, now=NOW)
    assert len(statements) == _EXPECTED[db.engine.dialect.name, method], statements


def test_a_settlement_file_takes_as_many_statements_as_one_deposit(db: Database) -> None:
    accounts = [_account(db) for _ in range(5)]
    settings = Settings(database_url=db.url)
    with db.write() as tx:
        record_deposit(tx, _cmd(accounts[0]), settings=settings, now=NOW)
    with counted(db) as one, db.write() as tx:
        record_deposit(tx, _cmd(accounts[0]), settings=settings, now=NOW)
    with counted(db) as many, db.write() as tx:
        record_deposits(tx, [_cmd(a) for a in accounts * 20], settings=settings, now=NOW)
    assert len(many) == len(one), many
