"""Platform balances spread over slots (migration 0005): concurrent movements
update different rows, a balance is the sum of its slots, and the funds-check
lock still sees every committed movement."""

from __future__ import annotations

import threading

from sqlalchemy import select, text

from service.db import ledger
from service.db.database import Database
from service.db.ledger import BalanceKey
from service.db.tables import balances
from service.domain.chart import Platform, ledger_account_id
from tests.integration.test_posting_engine import (
    _wait_for_a_blocked_writer,
    available,
    move,
    new_account,
    post,
    problems,
    usd,
)

PAYOUTS = BalanceKey(Platform.PAYOUTS.value, "USD")


def _slots(db: Database, name: str) -> dict[int, int]:
    with db.read() as conn:
        rows = conn.execute(
            select(balances.c.slot, balances.c.balance).where(
                balances.c.ledger_account_id == ledger_account_id(name), balances.c.asset == "USD"
            )
        )
        return {int(row.slot): int(row.balance) for row in rows}


def test_a_platform_balance_is_the_sum_of_its_slots(db: Database) -> None:
    alice = new_account(db)
    for _ in range(6):
        post(db, move(Platform.CLEARING_BANK.value, available(alice), usd("1.25"), account=alice))
    clearing = _slots(db, Platform.CLEARING_BANK.value)
    assert sum(clearing.values()) == 750
    if db.is_postgres:
        # One transaction per deposit: consecutive transaction ids, different slots.
        assert len(clearing) > 1
        assert set(clearing) <= set(range(16))
    else:
        assert set(clearing) == {0}  # SQLite's writers are serialized: one row
    assert _slots(db, available(alice)) == {0: -750}  # a customer's: one row, slot 0
    key = BalanceKey(Platform.CLEARING_BANK.value, "USD")
    with db.read() as conn:
        assert ledger.read_balances(conn, [key]) == {key: 750}
    with db.write() as tx:
        assert ledger.lock_balances(tx, [key]) == {key: 750}
    assert problems(db) == []


def test_the_balance_lock_sees_a_slot_created_while_it_waited(db: Database) -> None:
    """The first movement locks the key (its slot 0) and posts into its own slot,
    creating that row; the second waits for the lock. After the first commits,
    the second must read the new total, though its statement began before."""
    alice = new_account(db)
    post(db, move(available(alice), Platform.PAYOUTS.value, usd("10.00"), account=alice))
    seen: list[dict[BalanceKey, int]] = []
    with db.write() as first:
        assert ledger.lock_balances(first, [PAYOUTS]) == {PAYOUTS: -1000}
        ledger.post(
            first, move(available(alice), Platform.PAYOUTS.value, usd("5.00"), account=alice)
        )

        def second() -> None:
            with db.write() as tx:
                seen.append(ledger.lock_balances(tx, [PAYOUTS]))

        waiter = threading.Thread(target=second)
        waiter.start()
        _wait_for_a_blocked_writer(db, 0.2)
    waiter.join(30)
    assert seen == [{PAYOUTS: -1500}]
    assert problems(db) == []


def test_verify_reports_a_customer_balance_outside_slot_0(db: Database) -> None:
    alice = new_account(db)
    post(db, move(Platform.CLEARING_BANK.value, available(alice), usd("2.00"), account=alice))
    with db.write() as tx:
        if db.is_postgres:
            tx.execute(text("SET LOCAL session_replication_role = replica"))
        tx.execute(text("UPDATE balances SET slot = 3 WHERE account_id IS NOT NULL"))
    found = problems(db)
    assert any("has a row in slot 3" in line for line in found), found
