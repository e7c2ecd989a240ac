"""The few places where SQLite and PostgreSQL need different SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    Column,
    ColumnElement,
    Connection,
    Table,
    Uuid,
    any_,
    bindparam,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

Upsert = postgresql.Insert | sqlite.Insert


def upsert(conn: Connection, table: Table) -> Upsert:
    """The dialect's INSERT, which knows ``ON CONFLICT``."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def id_in(conn: Connection, column: Column[Any], ids: Sequence[uuid.UUID]) -> ColumnElement[bool]:
    """``column`` is one of ``ids``.

    PostgreSQL gets ``= ANY(:array)``: one parameter whatever the batch size,
    and a plan that uses the index. SQLite gets an expanded ``IN (...)``.
    """
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Uuid)))
    return column.in_(list(ids))


def ids_param(dialect: str, column: Column[Any], name: str = "ids") -> ColumnElement[bool]:
    """Like :func:`id_in`, but with a named parameter bound at execution time, for
    statements built once and reused (``execute(stmt, {name: ids})``)."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(Uuid)))
    return column.in_(bindparam(name, expanding=True))


def skip_locked(conn: Connection) -> dict[str, bool]:
    """``FOR UPDATE SKIP LOCKED`` where the database has it (SQLite holds its one
    write lock for the whole transaction instead)."""
    return {"skip_locked": True} if conn.dialect.name == "postgresql" else {}


_PG_ARRAY_TYPES = {
    "UUID": "uuid",
    "VARCHAR": "text",
    "TEXT": "text",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamptz",
}


_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def _pg_array_type(column: Column[Any]) -> str:
    compiled = column.type.dialect_impl(_PG).compile(_PG)
    return _PG_ARRAY_TYPES[compiled.split("(")[0].split(" ")[0]]


@lru_cache(maxsize=64)
def _pg_bulk_sql(table: Table, columns: tuple[str, ...], conflict: tuple[str, ...]) -> Any:
    arrays = ", ".join(f"CAST(:{name} AS {_pg_array_type(table.c[name])}[])" for name in columns)
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"
    if conflict:
        sql += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    return text(sql)


@lru_cache(maxsize=64)
def _single_insert(dialect: str, table: Table, conflict: tuple[str, ...]) -> Upsert:
    stmt = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return stmt.on_conflict_do_nothing(index_elements=list(conflict)) if conflict else stmt


def bulk_insert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    skip_conflicts_on: tuple[str, ...] = (),
) -> int:
    """Insert ``rows`` (all with the same keys) as ONE statement; return rows inserted.

    PostgreSQL: ``INSERT ... SELECT * FROM unnest(array, ...)`` — one parameter
    per column whatever the row count, so the statement is compiled once and
    cached, and statement-level triggers see every row together (the postings
    trigger needs whole entries in one statement). SQLite: ``executemany`` (its
    triggers are per row). With ``skip_conflicts_on``, rows clashing on that
    unique key are skipped (``ON CONFLICT DO NOTHING``): compare the count.
    """
    if not rows:
        return 0
    columns = tuple(rows[0])
    if len(rows) == 1:
        # A single row (one deposit): a cached INSERT ... VALUES beats shipping
        # arrays, whose per-element type inspection costs more than it saves.
        stmt = _single_insert(conn.dialect.name, table, skip_conflicts_on)
        return int(conn.execute(stmt, rows[0]).rowcount)
    if conn.dialect.name == "postgresql":
        params = {name: [row[name] for row in rows] for name in columns}
        return int(conn.execute(_pg_bulk_sql(table, columns, skip_conflicts_on), params).rowcount)
    stmt = sqlite.insert(table)
    if skip_conflicts_on:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(skip_conflicts_on))
    return int(conn.execute(stmt, list(rows)).rowcount)
