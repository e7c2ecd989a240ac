"""Chargebacks in the database: the deposit and hold they reverse, and their rows.

The deposit's status moves ``settled`` -> ``reversed`` by compare-and-set and
``chargebacks.deposit_id`` is unique, so a deposit is charged back at most
once even if two requests race past the service's own check.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from service.db.dialect import id_in
from service.db.tables import chargebacks, deposits, hold_lots, holds


@dataclass(frozen=True, slots=True)
class DepositRow:
    id: uuid.UUID
    account_id: uuid.UUID
    method: str
    asset: str
    amount: int
    status: str


@dataclass(frozen=True, slots=True)
class LotRow:
    asset: str
    amount: int
    status: str


@dataclass(frozen=True, slots=True)
class LockedHold:
    id: uuid.UUID
    status: str
    released_at: datetime | None
    lots: tuple[LotRow, ...]


@dataclass(frozen=True, slots=True)
class ChargebackRow:
    id: uuid.UUID
    account_id: uuid.UUID
    deposit_id: uuid.UUID
    asset: str
    amount: int
    recovered: int
    receivable: int
    reason: str
    entry_id: uuid.UUID
    created_at: datetime


def find_deposit(conn: Connection, deposit_id: uuid.UUID) -> DepositRow | None:
    row = conn.execute(
        select(
            deposits.c.id,
            deposits.c.account_id,
            deposits.c.method,
            deposits.c.asset,
            deposits.c.amount,
            deposits.c.status,
        ).where(deposits.c.id == deposit_id)
    ).first()
    return None if row is None else DepositRow(*row)


def mark_reversed(conn: Connection, deposit_id: uuid.UUID) -> bool:
    """``settled`` -> ``reversed``; False if it was not settled any more."""
    result = conn.execute(
        update(deposits)
        .where(deposits.c.id == deposit_id, deposits.c.status == "settled")
        .values(status="reversed")
    )
    return result.rowcount == 1


def lock_hold_of_deposit(conn: Connection, deposit_id: uuid.UUID) -> LockedHold | None:
    """The deposit's hold, row-locked whatever its status, with its lots read after the lock."""
    row = conn.execute(
        select(holds.c.id, holds.c.status, holds.c.released_at)
        .where(holds.c.deposit_id == deposit_id)
        .with_for_update()
    ).first()
    if row is None:
        return None
    lots = conn.execute(
        select(hold_lots.c.asset, hold_lots.c.amount, hold_lots.c.status)
        .where(hold_lots.c.hold_id == row.id)
        .order_by(hold_lots.c.asset)
    )
    return LockedHold(row.id, row.status, row.released_at, tuple(LotRow(*lot) for lot in lots))


def set_lot_status(conn: Connection, hold_id: uuid.UUID, asset: str, status: str) -> None:
    conn.execute(
        update(hold_lots)
        .where(hold_lots.c.hold_id == hold_id, hold_lots.c.asset == asset)
        .values(status=status)
    )


def set_hold_status(conn: Connection, hold_id: uuid.UUID, status: str) -> None:
    conn.execute(update(holds).where(holds.c.id == hold_id).values(status=status))


def insert_chargeback(conn: Connection, row: ChargebackRow) -> None:
    """The row's fields are the table's columns, one for one."""
    conn.execute(insert(chargebacks).values(**asdict(row)))


def _chargeback(row: Any) -> ChargebackRow:
    return ChargebackRow(**{f.name: getattr(row, f.name) for f in fields(ChargebackRow)})


def find_by_entries(conn: Connection, entry_ids: list[uuid.UUID]) -> list[ChargebackRow]:
    query = select(chargebacks).where(id_in(conn, chargebacks.c.entry_id, entry_ids))
    return [_chargeback(row) for row in conn.execute(query)]
