"""Deposits: settled at once, held when the method's policy says so.

A deposit is final (there is no cancel); a chargeback is a new entry.
``(method, external_ref)`` is unique: a payment processor redelivering the
same settlement gets 409 ``duplicate_deposit``, never a second credit.

One code path serves the single endpoint and settlement files
(``POST /v1/deposits/batch``, up to 1,000 deposits): a single deposit is a
batch of one. A batch is all or nothing; it is validated item by item first,
then written with one multi-row statement per table, so a thousand deposits
cost the same handful of round trips as one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, select

from service.config import Settings
from service.db import holds as holds_repo
from service.db import ledger, repositories
from service.db.dialect import id_in, ids_param, insert_together
from service.db.tables import account_hold_policies, accounts, deposits, holds
from service.domain.accounts import AccountStatus, require_active
from service.domain.calendar import BusinessCalendar, CalendarRangeError
from service.domain.errors import Conflict, LedgerError, NotFound, ValidationFailed
from service.domain.holds import HoldStatus, Method, hold_days
from service.domain.ids import new_id
from service.domain.money import Amount
from service.domain.posting import Entry
from service.domain.rules import deposit_entry
from service.services import reference
from service.services.views import DepositView, HoldView, LotView, QuoteView

MAX_BATCH = 1000


@dataclass(frozen=True, slots=True)
class DepositCommand:
    account_id: uuid.UUID
    method: Method
    asset: str
    amount: Decimal
    external_ref: str
    settled_at: datetime | None = None


def _release_at(calendar: BusinessCalendar, at: datetime, days: int, field: str) -> datetime:
    try:
        return calendar.release_time(at, days)
    except CalendarRangeError as exc:
        raise ValidationFailed.field(field, str(exc), code="outside_calendar") from exc


@dataclass(frozen=True, slots=True)
class _Planned:
    view: DepositView
    entry: Entry
    days: int


def record_deposit(
    tx: Connection, cmd: DepositCommand, *, settings: Settings, now: datetime
) -> DepositView:
    return record_deposits(tx, [cmd], settings=settings, now=now, batch=False)[0]


def record_deposits(
    tx: Connection,
    cmds: Sequence[DepositCommand],
    *,
    settings: Settings,
    now: datetime,
    batch: bool = True,
) -> list[DepositView]:
    """Record ``cmds`` all or nothing, in order.

    In batch mode an invalid item is reported as a 422 keyed by its index, and a
    duplicate names its ``index``; a single deposit keeps the single endpoint's
    errors (404 unknown account, 403 inactive account, 422 by field).
    """
    statuses, overrides, calendar_overrides = _accounts(tx, {c.account_id for c in cmds})
    policies = reference.hold_policies(tx)
    calendar: BusinessCalendar | None = None
    # A settlement file's deposits mostly share one settlement time: compute
    # each (time, hold length) once.
    release_times: dict[tuple[datetime, int], datetime] = {}
    planned: list[_Planned] = []
    errors: dict[str, Any] = {}
    seen: dict[tuple[str, str], int] = {}
    for index, cmd in enumerate(cmds):
        try:
            key = (cmd.method.value, cmd.external_ref)
            if key in seen:
                raise Conflict(
                    f"items {seen[key]} and {index} are the same {cmd.method.value} deposit "
                    f"{cmd.external_ref!r}",
                    code="duplicate_deposit",
                    index=index,
                )
            seen[key] = index
            days = hold_days(cmd.method, policies, overrides.get(cmd.account_id, {}))
            if days > 0 and calendar is None:
                calendar = reference.calendar(tx, settings, overrides=calendar_overrides)
            planned.append(_plan(tx, cmd, statuses, days, calendar, now, release_times))
        except LedgerError as exc:
            if not batch or isinstance(exc, Conflict):
                raise
            errors[str(index)] = _as_field_errors(exc)
    if errors:
        raise ValidationFailed(errors)
    _write(tx, planned, now)
    return [p.view for p in planned]


def _as_field_errors(exc: LedgerError) -> dict[str, Any]:
    if isinstance(exc, ValidationFailed):
        return exc.errors
    return {"account_id": [exc.detail]}


@lru_cache(maxsize=2)
def _accounts_statement(dialect: str) -> Any:
    policy = account_hold_policies
    columns = [accounts.c.id, accounts.c.status, policy.c.method, policy.c.business_days]
    calendar = holds_repo.overrides_column(dialect)
    if calendar is not None:
        columns.append(calendar)
    return (
        select(*columns)
        .outerjoin(policy, policy.c.account_id == accounts.c.id)
        .where(ids_param(dialect, accounts.c.id))
    )


def _accounts(
    tx: Connection, ids: set[uuid.UUID]
) -> tuple[
    dict[uuid.UUID, AccountStatus], dict[uuid.UUID, dict[str, int]], holds_repo.Overrides | None
]:
    """Status and per-account hold-policy overrides of ``ids`` and, on
    PostgreSQL, the calendar overrides (under the calendar lock), in one query.
    ``None`` for the calendar: read it when it is needed."""
    statuses: dict[uuid.UUID, AccountStatus] = {}
    overrides: dict[uuid.UUID, dict[str, int]] = {}
    calendar: holds_repo.Overrides | None = None
    query = _accounts_statement(tx.dialect.name)
    for account_id, status, method, days, *rest in tx.execute(query, {"ids": list(ids)}):
        statuses[account_id] = AccountStatus(status)
        if method is not None:
            overrides.setdefault(account_id, {})[method] = days
        if rest and calendar is None:
            calendar = holds_repo.parse_overrides(rest[0])
    return statuses, overrides, calendar


def _plan(
    tx: Connection,
    cmd: DepositCommand,
    statuses: dict[uuid.UUID, AccountStatus],
    days: int,
    calendar: BusinessCalendar | None,
    now: datetime,
    release_times: dict[tuple[datetime, int], datetime],
) -> _Planned:
    status = statuses.get(cmd.account_id)
    if status is None:
        raise NotFound(f"no account {cmd.account_id}", code="account_not_found")
    require_active(status)
    amount = reference.amount(tx, cmd.amount, cmd.asset)
    settled_at = cmd.settled_at or now
    if settled_at > now:
        raise ValidationFailed.field("settled_at", "must not be in the future")
    deposit_id = new_id()
    hold: HoldView | None = None
    if days > 0:
        assert calendar is not None
        release_at = release_times.get((settled_at, days))
        if release_at is None:
            release_at = _release_at(calendar, settled_at, days, "settled_at")
            release_times[(settled_at, days)] = release_at
        hold = HoldView(
            id=new_id(),
            deposit_id=deposit_id,
            method=cmd.method.value,
            asset=amount.asset.code,
            amount=amount,
            status=HoldStatus.ACTIVE.value,
            placed_at=now,
            release_at=release_at,
            released_at=None,
            lots=(LotView(amount.asset.code, amount, HoldStatus.ACTIVE.value),),
        )
    entry = deposit_entry(
        account_id=cmd.account_id,
        method=cmd.method,
        amount=amount,
        hold_id=hold.id if hold else None,
        reference=f"{cmd.method.value}:{cmd.external_ref}",
        posted_at=now,
        entry_id=new_id(),
    )
    view = DepositView(
        id=deposit_id,
        account_id=cmd.account_id,
        method=cmd.method.value,
        asset=amount.asset.code,
        amount=amount,
        status="settled",
        settled_at=settled_at,
        external_ref=cmd.external_ref,
        hold=hold,
    )
    return _Planned(view, entry, days)


def _write(tx: Connection, planned: list[_Planned], now: datetime) -> None:
    """Two round trips: entries with deposits (whose count tells a duplicate),
    then holds with postings (whose trigger needs the holds)."""
    entries = [p.entry for p in planned]
    rows = [
        {
            "id": p.view.id,
            "account_id": p.view.account_id,
            "method": p.view.method,
            "asset": p.view.asset,
            "amount": p.view.amount.minor,
            "status": "settled",
            "settled_at": p.view.settled_at,
            "external_ref": p.view.external_ref,
            "entry_id": p.entry.id,
            "created_at": now,
        }
        for p in planned
    ]
    _, inserted = insert_together(
        tx,
        [
            ledger.entries_part(entries),
            (deposits, rows, ("method", "external_ref")),
        ],
    )
    if inserted < len(rows):
        _raise_duplicate(tx, planned)
    hold_rows = [
        {
            "id": p.view.hold.id,
            "account_id": p.view.account_id,
            "deposit_id": p.view.id,
            "method": p.view.method,
            "asset": p.view.asset,
            "amount": p.view.amount.minor,
            "business_days": p.days,
            "status": HoldStatus.ACTIVE.value,
            "placed_at": now,
            "release_at": p.view.hold.release_at,
        }
        for p in planned
        if p.view.hold is not None
    ]
    insert_together(tx, [(holds, hold_rows, ()), ledger.postings_part(entries)])


def _raise_duplicate(tx: Connection, planned: list[_Planned]) -> None:
    """Some deposits clashed with earlier ones on (method, external_ref): name the first."""
    query = select(deposits.c.id).where(id_in(tx, deposits.c.id, [p.view.id for p in planned]))
    inserted = {row[0] for row in tx.execute(query)}
    for index, p in enumerate(planned):
        if p.view.id not in inserted:
            raise Conflict(
                f"a {p.view.method} deposit with external_ref {p.view.external_ref!r} exists",
                code="duplicate_deposit",
                index=index,
            )


def quote(
    conn: Connection,
    *,
    account_id: uuid.UUID,
    method: Method,
    asset: str,
    amount: Decimal,
    at: datetime,
    settings: Settings,
) -> QuoteView:
    """ "Available to trade: instantly; available to send: after <date>". Changes nothing."""
    if repositories.find_account(conn, account_id) is None:
        raise NotFound(f"no account {account_id}", code="account_not_found")
    value: Amount = reference.amount(conn, amount, asset)
    days = holds_repo.policy_days(conn, account_id, method.value)
    withdraw_at = at
    if days > 0:
        withdraw_at = _release_at(reference.calendar(conn, settings), at, days, "at")
    return QuoteView(
        method=method.value,
        asset=value.asset.code,
        amount=value,
        hold_business_days=days,
        available_to_trade_at=at,
        available_to_withdraw_at=withdraw_at,
    )
