"""Deposits in the database: the accounts a batch names, and writing the batch.

The hot path of the service: a deposit (or a settlement file of up to 1,000)
takes one read and one write, whatever its size — see :func:`write`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, select, text

from service.db import events
from service.db import holds as holds_repo
from service.db.dialect import id_in, ids_param, insert_together, pg_type
from service.db.tables import (
    account_hold_policies,
    accounts,
    deposits,
    holds,
    journal_entries,
    postings,
)
from service.db.tables import events as event_table
from service.domain.accounts import AccountStatus


@lru_cache(maxsize=2)
def _accounts_statement(dialect: str) -> Any:
    policy = account_hold_policies
    columns = [
        accounts.c.id,
        accounts.c.status,
        policy.c.method,
        policy.c.business_days,
        holds_repo.policies_column(dialect),
    ]
    calendar = holds_repo.overrides_column(dialect)
    if calendar is not None:
        columns.append(calendar)
    return (
        select(*columns)
        .outerjoin(policy, policy.c.account_id == accounts.c.id)
        .where(ids_param(dialect, accounts.c.id))
    )


@dataclass(frozen=True, slots=True)
class DepositAccounts:
    """What a batch of deposits needs to know before it is planned."""

    statuses: dict[uuid.UUID, AccountStatus]
    #: Per-account hold-policy overrides.
    overrides: dict[uuid.UUID, dict[str, int]]
    #: The platform hold policies, as of this statement (never cached: a
    #: change holds for every deposit accepted after its response).
    policies: dict[str, int]
    #: The calendar overrides (PostgreSQL, under the calendar lock); ``None``:
    #: read them when needed.
    calendar: holds_repo.Overrides | None


def accounts_of(tx: Connection, ids: set[uuid.UUID]) -> DepositAccounts:
    """Status and hold-policy overrides of ``ids``, the platform hold policies
    and, on PostgreSQL, the calendar overrides, in one query."""
    statuses: dict[uuid.UUID, AccountStatus] = {}
    overrides: dict[uuid.UUID, dict[str, int]] = {}
    policies: dict[str, int] = {}
    calendar: holds_repo.Overrides | None = None
    query = _accounts_statement(tx.dialect.name)
    for account_id, status, method, days, platform, *rest in tx.execute(query, {"ids": list(ids)}):
        statuses[account_id] = AccountStatus(status)
        if method is not None:
            overrides.setdefault(account_id, {})[method] = days
        if not policies:
            policies = holds_repo.parse_policies(platform)
        if rest and calendar is None:
            calendar = holds_repo.parse_overrides(rest[0])
    return DepositAccounts(statuses, overrides, policies, calendar)


#: A table's new rows by column: each column's values, one per row, in row
#: order (a settlement file's rows are made and sent column by column; no dict
#: per row).
Columns = dict[str, list[Any]]


def as_rows(columns: Columns) -> list[dict[str, Any]]:
    """``columns`` as one dict per row."""
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _count(columns: Columns) -> int:
    return len(next(iter(columns.values()))) if columns else 0


def write(
    tx: Connection,
    deposit_columns: Columns,
    entry_columns: Columns,
    hold_columns: Columns,
    posting_columns: Columns,
    event_columns: Columns,
) -> int:
    """Write a batch of deposits, each table's rows given by column
    (:data:`Columns`); return how many deposit rows were inserted (fewer than
    given: a (method, external_ref) clash, and the caller must roll back).

    PostgreSQL: ONE statement, whatever the batch size. The deposits are
    inserted ``ON CONFLICT DO NOTHING`` and every other row (entry, hold,
    postings) is inserted only for a deposit that went in, so a clash leaves
    no hold without its deposit (which the foreign key would refuse with an
    error instead of the 409) and no postings without their entry; the
    events go in unconditionally (a clash rolls the transaction back). The
    postings trigger runs at the end of the statement, when the holds it
    checks are in. SQLite: the entries with the deposits, then, if none
    clashed, the holds, postings and events.
    """
    given = _count(deposit_columns)
    if tx.dialect.name != "postgresql":
        rows = as_rows(deposit_columns)
        _, inserted = insert_together(
            tx,
            [
                (journal_entries, as_rows(entry_columns), ()),
                (deposits, rows, ("method", "external_ref")),
            ],
        )
        if inserted == given:
            insert_together(
                tx,
                [
                    (holds, as_rows(hold_columns), ()),
                    (postings, as_rows(posting_columns), ()),
                    events.part(as_rows(event_columns) if event_columns else []),
                ],
            )
        return inserted
    # The deposits first: the other parts read what they inserted.
    parts: list[tuple[Table, Columns]] = [
        (deposits, deposit_columns),
        (journal_entries, entry_columns),
        (holds, hold_columns),
        (postings, posting_columns),
        (event_table, event_columns),
    ]
    present = [(table, columns) for table, columns in parts if _count(columns)]
    shape = []
    params: dict[str, Any] = {}
    for n, (table, columns) in enumerate(present):
        # A column with one value for every row (a settlement file's method,
        # asset, status, times, often its amount) is sent once, not as an
        # array: fewer values for psycopg to quote and PostgreSQL to parse.
        # The columns naming the deposit a row belongs to stay arrays.
        key = _BELONGS.get(table.name, ("id",))[0]
        described = []
        for name, values in columns.items():
            one = (
                len(values) > 1
                and name != key
                and values[-1] == values[0]  # most varying columns stop here
                and values.count(values[0]) == len(values)
            )
            params[f"p{n}_{name}"] = values[0] if one else values
            described.append((name, one))
        shape.append((table, tuple(described)))
    return int(tx.execute(_pg_write_sql(tuple(shape)), params).scalar_one())


#: Which inserted deposit each table's rows belong to: the column of the row
#: and the column of ``deposits`` it names (events: none, see :func:`write`).
_BELONGS = {
    "journal_entries": ("id", "entry_id"),
    "holds": ("deposit_id", "id"),
    "postings": ("entry_id", "entry_id"),
}


@lru_cache(maxsize=64)
def _pg_write_sql(shape: tuple[tuple[Table, tuple[tuple[str, bool], ...]], ...]) -> Any:
    """The statement for ``shape``: per table, its columns, each with whether
    it is one value for every row (a scalar parameter) or an array."""
    ctes: list[str] = []
    for i, (table, described) in enumerate(shape):
        columns = [c for c, _ in described]
        arrays = ", ".join(
            f"CAST(:p{i}_{c} AS {pg_type(table.c[c])}[])" for c, one in described if not one
        )
        unnested = [c for c, one in described if not one]
        selected = ", ".join(
            f"CAST(:p{i}_{c} AS {pg_type(table.c[c])})" if one else f"r.{c}" for c, one in described
        )
        source = f"SELECT {selected} FROM unnest({arrays}) AS r({', '.join(unnested)})"
        if table.name == "deposits":
            sql = (
                f"INSERT INTO deposits ({', '.join(columns)}) {source} "
                "ON CONFLICT (method, external_ref) DO NOTHING RETURNING id, entry_id"
            )
            ctes.append(f"d AS ({sql})")
            continue
        if table.name in _BELONGS:
            mine, theirs = _BELONGS[table.name]
            source += f" WHERE r.{mine} IN (SELECT {theirs} FROM d)"
        ctes.append(f"t{i} AS (INSERT INTO {table.name} ({', '.join(columns)}) {source})")
    return text(f"WITH {', '.join(ctes)} SELECT count(*) FROM d")


def existing(tx: Connection, deposit_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these deposit ids are in the table."""
    query = select(deposits.c.id).where(id_in(tx, deposits.c.id, deposit_ids))
    return {row[0] for row in tx.execute(query)}
