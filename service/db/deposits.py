"""Deposits in the database: the accounts a batch names, and writing the batch.

The hot path of the service: a deposit (or a settlement file of up to 1,000)
takes one read and two writes, whatever its size — see :func:`write_entries`
and :func:`write_holds`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, select

from service.db import events, ledger
from service.db import holds as holds_repo
from service.db.dialect import id_in, ids_param, insert_together
from service.db.tables import account_hold_policies, accounts, deposits, holds
from service.domain.accounts import AccountStatus
from service.domain.posting import Entry


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


def write_entries(tx: Connection, entries: list[Entry], rows: list[dict[str, Any]]) -> int:
    """Round trip 1: the journal entries with the deposit rows; returns how many
    deposits were inserted (fewer than ``rows``: a (method, external_ref) clash)."""
    _, inserted = insert_together(
        tx,
        [ledger.entries_part(entries), (deposits, rows, ("method", "external_ref"))],
    )
    return inserted


def write_holds(
    tx: Connection,
    entries: list[Entry],
    hold_rows: list[dict[str, Any]],
    event_rows: list[dict[str, Any]],
) -> None:
    """Round trip 2: the hold rows with the postings (whose trigger needs the
    holds) and the deposits' events (the outbox costs no round trip)."""
    insert_together(
        tx, [(holds, hold_rows, ()), ledger.postings_part(entries), events.part(event_rows)]
    )


def existing(tx: Connection, deposit_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these deposit ids are in the table."""
    query = select(deposits.c.id).where(id_in(tx, deposits.c.id, deposit_ids))
    return {row[0] for row in tx.execute(query)}
