"""Withdrawals, the account row lock, and the hold lots a final withdrawal takes.

Lock order of every use case of issue 5 (an extension of the posting
engine's order, see :mod:`service.db.ledger`):

1. the customer account row (:func:`lock_account`, ``FOR NO KEY UPDATE``):
   every withdrawal transition, final withdrawal, chargeback and status change
   of one account runs one at a time, so status checks, the daily limit and
   "no balance remains" are decided on figures nobody else is changing.
   ``NO KEY`` so that inserts elsewhere referencing the account (a trade or a
   deposit row: their foreign-key check takes ``KEY SHARE``) never wait for it;
2. hold rows, by id (``FOR UPDATE``);
3. balance rows, in one :func:`service.db.ledger.lock_balances` call.

Paths that do not lock the account row (trades, deposits, the release job)
only ever take steps 2 and 3, so no cycle can form. SQLite ignores ``FOR
UPDATE``; its writers are serialized by ``BEGIN IMMEDIATE`` instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from service.db.dialect import id_in
from service.db.pagination import newest_first
from service.db.repositories import find_account
from service.db.tables import balances, hold_lots, holds, withdrawals
from service.domain.accounts import AccountRecord
from service.domain.holds import HoldStatus
from service.domain.withdrawals import NOT_COUNTED, WithdrawalKind, WithdrawalStatus


@dataclass(frozen=True, slots=True)
class WithdrawalRow:
    id: uuid.UUID
    account_id: uuid.UUID
    kind: WithdrawalKind
    asset: str
    amount: int
    destination: str
    status: WithdrawalStatus
    txid: str | None
    reason: str | None
    entry_id: uuid.UUID
    settle_entry_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


def _row(row: Any) -> WithdrawalRow:
    return WithdrawalRow(
        id=row.id,
        account_id=row.account_id,
        kind=WithdrawalKind(row.kind),
        asset=row.asset,
        amount=row.amount,
        destination=row.destination,
        status=WithdrawalStatus(row.status),
        txid=row.txid,
        reason=row.reason,
        entry_id=row.entry_id,
        settle_entry_id=row.settle_entry_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# -- the account row ------------------------------------------------------------------


def lock_account(conn: Connection, account_id: uuid.UUID) -> AccountRecord | None:
    """Read the account under a row lock (step 1 of the lock order)."""
    return find_account(conn, account_id, lock=True)


def has_any_balance(conn: Connection, account_id: uuid.UUID) -> bool:
    """Whether any bucket of the account holds a non-zero amount of any asset."""
    query = (
        select(balances.c.asset)
        .where(balances.c.account_id == account_id, balances.c.balance != 0)
        .limit(1)
    )
    return conn.execute(query).first() is not None


# -- withdrawal rows --------------------------------------------------------------------


def insert_withdrawal(conn: Connection, row: WithdrawalRow) -> None:
    conn.execute(
        insert(withdrawals).values(
            id=row.id,
            account_id=row.account_id,
            kind=row.kind.value,
            asset=row.asset,
            amount=row.amount,
            destination=row.destination,
            status=row.status.value,
            txid=row.txid,
            reason=row.reason,
            entry_id=row.entry_id,
            settle_entry_id=row.settle_entry_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
    )


def find_withdrawal(conn: Connection, withdrawal_id: uuid.UUID) -> WithdrawalRow | None:
    row = conn.execute(select(withdrawals).where(withdrawals.c.id == withdrawal_id)).first()
    return None if row is None else _row(row)


def find_by_entries(conn: Connection, entry_ids: list[uuid.UUID]) -> list[WithdrawalRow]:
    query = select(withdrawals).where(id_in(conn, withdrawals.c.entry_id, entry_ids))
    return [_row(row) for row in conn.execute(query)]


def move_status(
    conn: Connection,
    withdrawal_id: uuid.UUID,
    *,
    source: WithdrawalStatus,
    target: WithdrawalStatus,
    now: datetime,
    txid: str | None = None,
    reason: str | None = None,
    settle_entry_id: uuid.UUID | None = None,
) -> bool:
    """Compare-and-set the status; False if it was no longer ``source``."""
    values: dict[str, Any] = {"status": target.value, "updated_at": now}
    if txid is not None:
        values["txid"] = txid
    if reason is not None:
        values["reason"] = reason
    if settle_entry_id is not None:
        values["settle_entry_id"] = settle_entry_id
    result = conn.execute(
        update(withdrawals)
        .where(withdrawals.c.id == withdrawal_id, withdrawals.c.status == source.value)
        .values(**values)
    )
    return result.rowcount == 1


def recent_totals(conn: Connection, account_id: uuid.UUID, since: datetime) -> dict[str, int]:
    """Per asset, the minor units of the account's withdrawals created after
    ``since`` that still count against the daily limit."""
    query = (
        select(withdrawals.c.asset, func.sum(withdrawals.c.amount))
        .where(
            withdrawals.c.account_id == account_id,
            withdrawals.c.created_at > since,
            withdrawals.c.status.not_in([s.value for s in NOT_COUNTED]),
        )
        .group_by(withdrawals.c.asset)
    )
    return {asset: int(total) for asset, total in conn.execute(query) if total}


def list_withdrawals(
    conn: Connection,
    *,
    account_id: uuid.UUID | None,
    status: WithdrawalStatus | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[WithdrawalRow]:
    """Newest first; ``before`` is the (created_at, id) of the last row served."""
    query = select(withdrawals)
    if account_id is not None:
        query = query.where(withdrawals.c.account_id == account_id)
    if status is not None:
        query = query.where(withdrawals.c.status == status.value)
    query = newest_first(
        query, withdrawals.c.created_at, withdrawals.c.id, after=before, limit=limit
    )
    return [_row(row) for row in conn.execute(query)]


# -- hold lots of a final withdrawal ------------------------------------------------------

#: Holds whose lots may still carry Temporary Holds: active ones, and holds
#: reversed by a chargeback (their lots in other assets stay, frozen, never
#: auto-released). ``frozen`` is kept for holds frozen as a whole.
_HOLDING = (HoldStatus.ACTIVE.value, HoldStatus.FROZEN.value, HoldStatus.REVERSED.value)


@dataclass(frozen=True, slots=True)
class HeldLot:
    hold_id: uuid.UUID
    hold_status: HoldStatus
    amount: int


def lock_held_lots(conn: Connection, account_id: uuid.UUID, asset: str) -> list[HeldLot]:
    """Lock (step 2) the active or frozen holds with a non-empty lot in ``asset``;
    return those lots, read after the lock so they stay true until commit."""
    candidates = (
        select(holds.c.id)
        .join(hold_lots, hold_lots.c.hold_id == holds.c.id)
        .where(
            holds.c.account_id == account_id,
            holds.c.status.in_(_HOLDING),
            hold_lots.c.asset == asset,
            hold_lots.c.amount > 0,
        )
    )
    ids = [row[0] for row in conn.execute(candidates)]
    if not ids:
        return []
    locked = [
        row[0]
        for row in conn.execute(
            select(holds.c.id)
            .where(id_in(conn, holds.c.id, ids), holds.c.status.in_(_HOLDING))
            .order_by(holds.c.id)
            .with_for_update()
        )
    ]
    if not locked:
        return []
    query = (
        select(hold_lots.c.hold_id, holds.c.status, hold_lots.c.amount)
        .join(holds, holds.c.id == hold_lots.c.hold_id)
        .where(
            id_in(conn, hold_lots.c.hold_id, locked),
            holds.c.status.in_(_HOLDING),
            hold_lots.c.asset == asset,
            hold_lots.c.amount > 0,
        )
        .order_by(holds.c.release_at, holds.c.id)
    )
    return [HeldLot(h, HoldStatus(s), a) for h, s, a in conn.execute(query)]


def settle_emptied_lots(
    conn: Connection, hold_ids: list[uuid.UUID], asset: str, now: datetime
) -> None:
    """After a final withdrawal emptied these holds' lots in ``asset``: mark the
    lots ``released`` (support let them out of Temporary Holds), and a hold
    with nothing left anywhere ``released`` if it was active (``released_at``
    now) or ``reversed`` if it was frozen (its deposit was charged back).

    Set-based, these are the statuses :func:`service.domain.holds.lot_status`
    gives (the holds export replays them from the journal with it)."""
    if not hold_ids:
        return
    conn.execute(
        update(hold_lots)
        .where(
            id_in(conn, hold_lots.c.hold_id, hold_ids),
            hold_lots.c.asset == asset,
            hold_lots.c.amount == 0,
        )
        .values(status=HoldStatus.RELEASED.value)
    )
    remaining = (
        select(hold_lots.c.hold_id)
        .where(hold_lots.c.hold_id == holds.c.id, hold_lots.c.amount != 0)
        .exists()
    )
    conn.execute(
        update(holds)
        .where(
            id_in(conn, holds.c.id, hold_ids), holds.c.status == HoldStatus.ACTIVE.value, ~remaining
        )
        .values(status=HoldStatus.RELEASED.value, released_at=now)
    )
    conn.execute(
        update(holds)
        .where(
            id_in(conn, holds.c.id, hold_ids), holds.c.status == HoldStatus.FROZEN.value, ~remaining
        )
        .values(status=HoldStatus.REVERSED.value)
    )
    # Emptied lots of a hold that is now over are over too.
    conn.execute(
        update(hold_lots)
        .where(
            id_in(conn, hold_lots.c.hold_id, hold_ids),
            hold_lots.c.amount == 0,
            hold_lots.c.status.in_(_HOLDING),
        )
        .values(status=HoldStatus.RELEASED.value)
        .where(
            ~select(holds.c.id)
            .where(holds.c.id == hold_lots.c.hold_id, holds.c.status.in_(_HOLDING))
            .exists()
        )
    )


def next_release(conn: Connection, account_id: uuid.UUID, asset: str) -> datetime | None:
    """The earliest release time of the account's active lots in ``asset``."""
    query = (
        select(func.min(holds.c.release_at))
        .join(hold_lots, hold_lots.c.hold_id == holds.c.id)
        .where(
            hold_lots.c.account_id == account_id,
            hold_lots.c.asset == asset,
            hold_lots.c.status == HoldStatus.ACTIVE.value,
            hold_lots.c.amount > 0,
            holds.c.status == HoldStatus.ACTIVE.value,
        )
    )
    value = conn.execute(query).scalar_one_or_none()
    assert value is None or isinstance(value, datetime)
    return value
