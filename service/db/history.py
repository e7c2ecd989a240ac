"""An account's transaction history in the database: its journal entries, newest
first, and the rows that describe them (deposits, trades, what moved to Available)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from service.db.dialect import id_in
from service.db.pagination import newest_first
from service.db.tables import deposits, holds, journal_entries, ledger_accounts, postings, trades
from service.domain.chart import Bucket


def entries_page(
    conn: Connection,
    account_id: uuid.UUID,
    *,
    types: Sequence[str],
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Any]:
    """Up to ``limit`` entries (id, type, posted_at) of ``types``, newest first,
    strictly older than ``after`` (posted_at, id) when given."""
    e = journal_entries
    query = select(e.c.id, e.c.type, e.c.posted_at).where(
        e.c.account_id == account_id, e.c.type.in_(types)
    )
    query = newest_first(query, e.c.posted_at, e.c.id, after=after, limit=limit)
    return list(conn.execute(query))


def deposits_of_entries(conn: Connection, entry_ids: list[uuid.UUID]) -> list[Any]:
    """The deposit rows written by these entries."""
    return list(conn.execute(select(deposits).where(id_in(conn, deposits.c.entry_id, entry_ids))))


def holds_of_deposits(conn: Connection, deposit_ids: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Deposit id -> its hold's id, for the deposits that have one."""
    query = select(holds.c.id, holds.c.deposit_id).where(
        id_in(conn, holds.c.deposit_id, deposit_ids)
    )
    return {row.deposit_id: row.id for row in conn.execute(query)}


def trades_of_entries(conn: Connection, entry_ids: list[uuid.UUID]) -> list[Any]:
    """The trade rows written by these entries."""
    return list(conn.execute(select(trades).where(id_in(conn, trades.c.entry_id, entry_ids))))


def moved_to_available(
    conn: Connection, entry_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[str, int]]]:
    """Per entry, (asset, what reached the customer's Available) by asset, in
    asset order; shown positive (customer money is credit-negative)."""
    available = select(ledger_accounts.c.id).where(
        ledger_accounts.c.bucket == Bucket.AVAILABLE.value
    )
    moved: dict[uuid.UUID, list[tuple[str, int]]] = defaultdict(list)
    query = (
        select(postings.c.entry_id, postings.c.asset, func.sum(postings.c.amount))
        .where(
            id_in(conn, postings.c.entry_id, entry_ids),
            postings.c.ledger_account_id.in_(available),
        )
        .group_by(postings.c.entry_id, postings.c.asset)
        .order_by(postings.c.entry_id, postings.c.asset)
    )
    for entry_id, asset, total in conn.execute(query):
        moved[entry_id].append((asset, -int(total)))
    return moved
