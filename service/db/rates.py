"""USD reference rates: exact decimal text, one row per asset.

A rate is a price, not an amount of money: it has no scale of its own and
must never pass through a float, so it is stored as the decimal's text.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from service.db.dialect import upsert
from service.db.tables import rates


def set_rate(conn: Connection, asset: str, usd: str, *, now: datetime, actor: str) -> None:
    stmt: Any = upsert(conn, rates).values(asset=asset, usd=usd, updated_at=now, updated_by=actor)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["asset"], set_={"usd": usd, "updated_at": now, "updated_by": actor}
        )
    )


def rates_of(conn: Connection, assets: Iterable[str]) -> dict[str, Decimal]:
    wanted = sorted(set(assets))
    if not wanted:
        return {}
    query = select(rates.c.asset, rates.c.usd).where(rates.c.asset.in_(wanted))
    return {asset: Decimal(text) for asset, text in conn.execute(query)}


def all_rates(conn: Connection) -> list[tuple[str, str, datetime, str]]:
    query = select(rates.c.asset, rates.c.usd, rates.c.updated_at, rates.c.updated_by)
    return [(a, u, t, b) for a, u, t, b in conn.execute(query.order_by(rates.c.asset))]
