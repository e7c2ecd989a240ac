"""Trades in the database: the settled trade rows, unique per (account, external_ref)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from service.db.dialect import upsert
from service.db.tables import trades


def insert_trade(tx: Connection, **row: Any) -> bool:
    """Insert a trade row; False (nothing written) if the account already has a
    trade with that ``external_ref`` — the duplicate check is the unique key."""
    inserted = tx.execute(
        upsert(tx, trades)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["account_id", "external_ref"])
        .returning(trades.c.id)
    ).first()
    return inserted is not None
