"""The few places where SQLite and PostgreSQL need different SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    Column,
    ColumnElement,
    Connection,
    Select,
    Table,
    Text,
    Uuid,
    any_,
    bindparam,
    cast,
    func,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

Upsert = postgresql.Insert | sqlite.Insert


def upsert(conn: Connection, table: Table) -> Upsert:
    """The dialect's INSERT, which knows ``ON CONFLICT``."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


@dataclass(frozen=True, slots=True)
class IdSet:
    """Ids the database picked (a claimed batch), to be named in later statements.

    They travel as a list and go back to PostgreSQL as ONE typed ``uuid[]``
    parameter (psycopg's binary array dumper), never as text cast in SQL: a
    ``CAST(:text AS uuid[])`` is re-parsed for every row when the planner picks
    a sequential scan (no statistics yet), which turned a 14 ms statement into
    58 s on 100,000 holds.
    """

    ids: list[uuid.UUID]

    @property
    def count(self) -> int:
        return len(self.ids)

    def __bool__(self) -> bool:
        return bool(self.ids)


def select_ids(conn: Connection, query: Select[Any]) -> IdSet:
    """Run ``query`` (one column of ids, locking clause allowed) into an :class:`IdSet`."""
    return IdSet([row[0] for row in conn.execute(query)])


def id_in(
    conn: Connection, column: Column[Any], ids: Sequence[uuid.UUID] | IdSet
) -> ColumnElement[bool]:
    """``column`` is one of ``ids``.

    PostgreSQL gets ``= ANY(:array)`` with the array a typed ``uuid[]``
    parameter: one parameter whatever the batch size, and a cheap filter
    whatever plan the statistics lead to. SQLite gets an expanded ``IN (...)``.
    """
    values = ids.ids if isinstance(ids, IdSet) else list(ids)
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(Uuid)))
    return column.in_(values)


def ids_param(dialect: str, column: Column[Any], name: str = "ids") -> ColumnElement[bool]:
    """Like :func:`id_in`, but with a named parameter bound at execution time, for
    statements built once and reused (``execute(stmt, {name: ids})``)."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(Uuid)))
    return column.in_(bindparam(name, expanding=True))


def uuid_text(conn: Connection, column: ColumnElement[Any]) -> ColumnElement[str]:
    """A UUID column as its canonical text (``8-4-4-4-12`` lowercase hex), for
    text columns filled in SQL (a release entry's reference names its hold).
    SQLite stores a UUID as 32 hex digits, so the hyphens are put back there."""
    if conn.dialect.name == "postgresql":
        return cast(column, Text)
    hexed = func.lower(cast(column, Text), type_=Text)
    parts = [func.substr(hexed, start, length, type_=Text) for start, length in _UUID_GROUPS]
    joined: ColumnElement[str] = parts[0]
    for part in parts[1:]:
        joined = joined + "-" + part
    return joined


_UUID_GROUPS = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))


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


def pg_type(column: Column[Any]) -> str:
    """The PostgreSQL type a parameter for ``column`` is cast to (arrays: add ``[]``)."""
    return _pg_array_type(column)


def _pg_array_type(column: Column[Any]) -> str:
    compiled = column.type.dialect_impl(_PG).compile(_PG)
    return _PG_ARRAY_TYPES[compiled.split("(")[0].split(" ")[0]]


def _sqlite_insert(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], conflict: tuple[str, ...]
) -> int:
    """SQLite's side of :func:`insert_together`: ``executemany`` (its triggers are
    per row anyway); with ``conflict``, clashing rows are skipped."""
    if not rows:
        return 0
    stmt = sqlite.insert(table)
    if conflict:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
    return int(conn.execute(stmt, list(rows)).rowcount)


#: One table's share of :func:`insert_together`: the table, its rows (all with the
#: same keys) and the unique key whose clashes are skipped (empty: none).
Part = tuple[Table, Sequence[dict[str, Any]], tuple[str, ...]]
#: What the statement of :func:`insert_together` depends on, per part: table,
#: columns, conflict key, and whether it is a single row (VALUES, not arrays).
_Shape = tuple[tuple[Table, tuple[str, ...], tuple[str, ...], bool], ...]


@lru_cache(maxsize=64)
def _pg_together_sql(shape: _Shape) -> Any:
    ctes: list[str] = []
    counts: list[str] = []
    for i, (table, columns, conflict, single) in enumerate(shape):
        if single:
            values = ", ".join(
                f"CAST(:p{i}_{name} AS {_pg_array_type(table.c[name])})" for name in columns
            )
            source = f"VALUES ({values})"
        else:
            arrays = ", ".join(
                f"CAST(:p{i}_{name} AS {_pg_array_type(table.c[name])}[])" for name in columns
            )
            source = f"SELECT * FROM unnest({arrays})"
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) {source}"
        if conflict:
            sql += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
        ctes.append(f"t{i} AS ({sql} RETURNING 1)")
        counts.append(f"(SELECT count(*) FROM t{i})")
    return text(f"WITH {', '.join(ctes)} SELECT {', '.join(counts)}")


def insert_together(conn: Connection, parts: Sequence[Part]) -> list[int]:
    """Insert into several tables in ONE round trip; return the rows inserted per part.

    PostgreSQL: one statement of data-modifying CTEs, each ``INSERT ... SELECT
    FROM unnest(arrays)`` (one parameter per column whatever the row count, so
    the statement is compiled once and cached) or, for a single row, ``VALUES``
    (arrays cost more than they save for one row). Foreign keys and the
    statement-level postings trigger run at the end of the statement, when every
    part's rows are in, so parts may refer to each other in any order, and the
    trigger sees all postings of an entry together.

    SQLite: one ``executemany`` per part, in the order given, so list referenced
    rows (entries, holds) before the rows naming them.

    A part with a conflict key skips rows that clash on it (``ON CONFLICT DO
    NOTHING``): compare its count with its rows.
    """
    if conn.dialect.name != "postgresql":
        return [_sqlite_insert(conn, t, rows, c) for t, rows, c in parts]
    present = [(i, part) for i, part in enumerate(parts) if part[1]]
    if not present:
        return [0] * len(parts)
    shape = tuple((t, tuple(rows[0]), c, len(rows) == 1) for _, (t, rows, c) in present)
    params: dict[str, Any] = {}
    for n, (_, (_table, rows, _conflict)) in enumerate(present):
        for name in rows[0]:
            values = [row[name] for row in rows]
            params[f"p{n}_{name}"] = values[0] if len(rows) == 1 else values
    counts = conn.execute(_pg_together_sql(shape), params).one()
    inserted = [0] * len(parts)
    for (i, _part), count in zip(present, counts, strict=True):
        inserted[i] = int(count)
    return inserted


def pg_uuid7(counter: str, tail: str) -> str:
    """SQL for the UUIDv7 of a reserved counter (``counter`` a bigint SQL
    expression; see :func:`service.domain.ids.reserve` and ``at``): the same
    layout as Python's, the high 8 bytes from the counter, the low 8 (variant
    and random bits) the ``bytea`` SQL expression ``tail``
    (:func:`service.domain.ids.tail`). PostgreSQL gives ``>>``, ``<<``, ``|``
    and ``&`` one precedence, left to right, hence every parenthesis."""
    high = f"(((({counter}) >> 12) << 16) | 28672 | (({counter}) & 4095))"
    return f"encode(int8send({high}) || {tail}, 'hex')::uuid"
