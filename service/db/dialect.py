"""The few places where SQLite and PostgreSQL need different SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ARRAY, Column, ColumnElement, Connection, Insert, Table, Uuid, any_, bindparam
from sqlalchemy.dialects import postgresql, sqlite


def upsert(conn: Connection, table: Table) -> Insert:
    """The dialect's INSERT, which knows ``ON CONFLICT``."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


def id_in(conn: Connection, column: Column[Any], ids: Sequence[uuid.UUID]) -> ColumnElement[bool]:
    """``column`` is one of ``ids``.

    PostgreSQL gets ``= ANY(:array)``: one parameter whatever the batch size,
    and a plan that uses the index. SQLite gets an expanded ``IN (...)``.
    """
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Uuid)))
    return column.in_(list(ids))


def skip_locked(conn: Connection) -> dict[str, bool]:
    """``FOR UPDATE SKIP LOCKED`` where the database has it (SQLite holds its one
    write lock for the whole transaction instead)."""
    return {"skip_locked": True} if conn.dialect.name == "postgresql" else {}
