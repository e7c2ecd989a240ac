"""Deposits: settled at once, held when the method's policy says so.

A deposit is final (there is no cancel); a chargeback is a new entry.
``(method, external_ref)`` is unique: a payment processor redelivering the
same settlement gets 409 ``duplicate_deposit``, never a second credit.

One code path serves the single endpoint and settlement files
(``POST /v1/deposits/batch``, up to 1,000 deposits): a single deposit is a
batch of one. A batch is all or nothing; it is validated item by item first,
then written with multi-row inserts (on PostgreSQL one statement for every
table), so a thousand deposits cost the same handful of round trips as one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from service.config import Settings
from service.db import deposits as repo
from service.db import holds as holds_repo
from service.db import repositories
from service.domain.accounts import AccountStatus, require_active
from service.domain.calendar import BusinessCalendar, CalendarRangeError
from service.domain.errors import Conflict, LedgerError, NotFound, ValidationFailed
from service.domain.holds import HoldStatus, Method, hold_days
from service.domain.ids import new_id
from service.domain.money import Amount
from service.domain.posting import Entry
from service.domain.rules import deposit_entry
from service.services import events, reference
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
    found = repo.accounts_of(tx, {c.account_id for c in cmds})
    statuses, overrides, policies = found.statuses, found.overrides, found.policies
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
                calendar = reference.calendar(tx, settings, overrides=found.calendar)
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
    """One statement on PostgreSQL (see :func:`service.db.deposits.write`); a
    clash on (method, external_ref) is named by :func:`_raise_duplicate`."""
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
    event_rows = events.deposit_rows([p.view for p in planned], now)
    if repo.write(tx, entries, rows, hold_rows, event_rows) < len(rows):
        _raise_duplicate(tx, planned)


def _raise_duplicate(tx: Connection, planned: list[_Planned]) -> None:
    """Some deposits clashed with earlier ones on (method, external_ref): name the first."""
    inserted = repo.existing(tx, [p.view.id for p in planned])
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
