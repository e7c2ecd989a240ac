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
from typing import Any, NamedTuple

from sqlalchemy import Connection

from schemas.money import new_deposit_json
from service.config import Settings
from service.db import deposits as repo
from service.db import holds as holds_repo
from service.db import ledger, repositories
from service.domain.accounts import require_active
from service.domain.calendar import BusinessCalendar, CalendarRangeError
from service.domain.errors import Conflict, LedgerError, NotFound, ValidationFailed
from service.domain.holds import HoldStatus, Method, hold_days
from service.domain.ids import new_ids
from service.domain.money import Amount
from service.domain.posting import EntryType
from service.domain.rules import deposit_credit_account, deposit_debit_account, deposit_memo
from service.domain.timestamps import format_utc
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


class _Planned(NamedTuple):
    """A deposit that passed every check, with its ids: what it writes, its
    view and its JSON are all made from this (no domain objects per deposit:
    a settlement file plans a thousand)."""

    deposit_id: uuid.UUID
    entry_id: uuid.UUID
    hold_id: uuid.UUID | None
    account_id: uuid.UUID
    method: Method
    amount: Amount
    settled_at: datetime
    external_ref: str
    release_at: datetime | None
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
    planned, _ = _record(tx, cmds, settings=settings, now=now, batch=batch)
    return [_view(p, now) for p in planned]


def record_deposits_json(
    tx: Connection,
    cmds: Sequence[DepositCommand],
    *,
    settings: Settings,
    now: datetime,
    batch: bool = True,
) -> list[str]:
    """:func:`record_deposits`, answering with each deposit as the API returns
    it: the JSON text ``json.dumps`` writes of ``DepositSchema().dump`` of its
    view (:func:`schemas.money.new_deposit_json`, made together with the data
    of its ``deposit.settled`` event)."""
    return _record(tx, cmds, settings=settings, now=now, batch=batch)[1]


def _record(
    tx: Connection,
    cmds: Sequence[DepositCommand],
    *,
    settings: Settings,
    now: datetime,
    batch: bool,
) -> tuple[list[_Planned], list[str]]:
    found = repo.accounts_of(tx, {c.account_id for c in cmds})
    statuses, overrides, policies = found.statuses, found.overrides, found.policies
    calendar: BusinessCalendar | None = None
    # A settlement file's deposits mostly share one settlement time, amount
    # and asset: compute each (time, hold length) and each amount once.
    release_times: dict[tuple[datetime, int], datetime] = {}
    amounts: dict[tuple[str, str], Amount] = {}
    checks: list[tuple[DepositCommand, int, Amount, datetime, datetime | None]] = []
    errors: dict[str, Any] = {}
    seen: dict[tuple[str, str], int] = {}
    no_overrides: dict[str, int] = {}
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
            days = hold_days(cmd.method, policies, overrides.get(cmd.account_id, no_overrides))
            if days > 0 and calendar is None:
                calendar = reference.calendar(tx, settings, overrides=found.calendar)
            status = statuses.get(cmd.account_id)
            if status is None:
                raise NotFound(f"no account {cmd.account_id}", code="account_not_found")
            require_active(status)
            amount_key = (cmd.asset, str(cmd.amount))
            amount = amounts.get(amount_key)
            if amount is None:
                amount = amounts[amount_key] = reference.amount(tx, cmd.amount, cmd.asset)
            settled_at = cmd.settled_at or now
            if settled_at > now:
                raise ValidationFailed.field("settled_at", "must not be in the future")
            release_at = None
            if days > 0:
                assert calendar is not None
                release_at = release_times.get((settled_at, days))
                if release_at is None:
                    release_at = _release_at(calendar, settled_at, days, "settled_at")
                    release_times[(settled_at, days)] = release_at
            checks.append((cmd, days, amount, settled_at, release_at))
        except LedgerError as exc:
            if not batch or isinstance(exc, Conflict):
                raise
            errors[str(index)] = _as_field_errors(exc)
    if errors:
        raise ValidationFailed(errors)
    # Ids in the order one deposit at a time took them: deposit, hold, entry.
    ids = iter(new_ids(2 * len(checks) + sum(1 for c in checks if c[1] > 0)))
    planned = []
    for cmd, days, amount, settled_at, release_at in checks:
        deposit_id = next(ids)
        hold_id = next(ids) if days > 0 else None
        planned.append(
            _Planned(
                deposit_id,
                next(ids),
                hold_id,
                cmd.account_id,
                cmd.method,
                amount,
                settled_at,
                cmd.external_ref,
                release_at,
                days,
            )
        )
    responses, event_data = _texts(planned, now)
    _write(tx, planned, event_data, now)
    return planned, responses


def _as_field_errors(exc: LedgerError) -> dict[str, Any]:
    if isinstance(exc, ValidationFailed):
        return exc.errors
    return {"account_id": [exc.detail]}


def _view(p: _Planned, now: datetime) -> DepositView:
    amount, asset, method = p.amount, p.amount.asset.code, p.method.value
    hold: HoldView | None = None
    if p.hold_id is not None:
        assert p.release_at is not None
        hold = HoldView(
            id=p.hold_id,
            deposit_id=p.deposit_id,
            method=method,
            asset=asset,
            amount=amount,
            status=HoldStatus.ACTIVE.value,
            placed_at=now,
            release_at=p.release_at,
            released_at=None,
            lots=(LotView(asset, amount, HoldStatus.ACTIVE.value),),
        )
    return DepositView(
        id=p.deposit_id,
        account_id=p.account_id,
        method=method,
        asset=asset,
        amount=amount,
        status="settled",
        settled_at=p.settled_at,
        external_ref=p.external_ref,
        hold=hold,
    )


def _texts(planned: list[_Planned], now: datetime) -> tuple[list[str], list[str]]:
    """Each deposit's JSON for the response and for its event
    (:func:`schemas.money.new_deposit_json`), without the views
    (tests/unit/test_deposit_dump.py compares them with the views' dumps)."""
    texts: dict[Any, str] = {}

    def text(value: Any) -> str:
        found = texts.get(value)
        if found is None:
            found = texts[value] = str(value)
        return found

    placed_at = format_utc(now)
    responses = []
    event_data = []
    for p in planned:
        response, event = new_deposit_json(
            str(p.deposit_id),
            text(p.account_id),
            p.method.value,
            p.amount.asset.code,
            text(p.amount),
            format_utc(p.settled_at),
            p.external_ref,
            None if p.hold_id is None else str(p.hold_id),
            placed_at,
            None if p.release_at is None else format_utc(p.release_at),
        )
        responses.append(response)
        event_data.append(event)
    return responses, event_data


def _write(tx: Connection, planned: list[_Planned], event_data: list[str], now: datetime) -> None:
    """One statement on PostgreSQL (see :func:`service.db.deposits.write`); a
    clash on (method, external_ref) is named by :func:`_raise_duplicate`."""
    columns = _columns(planned, now)
    event_columns = events.deposit_rows(
        [(p.account_id, data) for p, data in zip(planned, event_data, strict=True)], now
    )
    if repo.write(tx, *columns, event_columns) < len(planned):
        _raise_duplicate(tx, planned)


def _columns(
    planned: list[_Planned], now: datetime
) -> tuple[repo.Columns, repo.Columns, repo.Columns, repo.Columns]:
    """The deposits', entries', holds' and postings' rows of ``planned``, by
    column (:data:`service.db.deposits.Columns`).

    The entry of each deposit is the posting rule's
    (:func:`service.domain.rules.deposit_entry`), written as rows directly
    (tests/unit/test_deposit_dump.py checks they are the rows
    :mod:`service.db.ledger` makes of that entry)."""
    n = len(planned)
    methods = [p.method.value for p in planned]
    assets = [p.amount.asset.code for p in planned]
    minors = [p.amount.minor for p in planned]
    account_ids = [p.account_id for p in planned]
    deposit_ids = [p.deposit_id for p in planned]
    entry_ids = [p.entry_id for p in planned]
    deposit_columns: repo.Columns = {
        "id": deposit_ids,
        "account_id": account_ids,
        "method": methods,
        "asset": assets,
        "amount": minors,
        "status": ["settled"] * n,
        "settled_at": [p.settled_at for p in planned],
        "external_ref": [p.external_ref for p in planned],
        "entry_id": entry_ids,
        "created_at": [now] * n,
    }
    entry_columns: repo.Columns = {
        "id": entry_ids,
        "type": [EntryType.DEPOSIT.value] * n,
        "posted_at": [now] * n,
        "reference": [f"{m}:{p.external_ref}" for m, p in zip(methods, planned, strict=True)],
        "memo": [deposit_memo(p.method) for p in planned],
        "account_id": account_ids,
    }
    held = [p for p in planned if p.hold_id is not None]
    hold_columns: repo.Columns = {
        "id": [p.hold_id for p in held],
        "account_id": [p.account_id for p in held],
        "deposit_id": [p.deposit_id for p in held],
        "method": [p.method.value for p in held],
        "asset": [p.amount.asset.code for p in held],
        "amount": [p.amount.minor for p in held],
        "business_days": [p.days for p in held],
        "status": [HoldStatus.ACTIVE.value] * len(held),
        "placed_at": [now] * len(held),
        "release_at": [p.release_at for p in held],
    }
    ledger_ids: dict[tuple[uuid.UUID, bool], uuid.UUID] = {}
    credits = []
    for p in planned:
        key = (p.account_id, p.hold_id is not None)
        credit = ledger_ids.get(key)
        if credit is None:
            credit = ledger_ids[key] = ledger.ledger_key(deposit_credit_account(*key))[0]
        credits.append(credit)
    debits = [ledger.ledger_key(deposit_debit_account(p.method))[0] for p in planned]
    # Two postings per entry, line 1 (the debit) then line 2 (the credit).
    posting_columns: repo.Columns = {
        "entry_id": [e for e in entry_ids for _ in (1, 2)],
        "line": [1, 2] * n,
        "ledger_account_id": [x for pair in zip(debits, credits, strict=True) for x in pair],
        "asset": [a for a in assets for _ in (1, 2)],
        "amount": [x for m in minors for x in (m, -m)],
        "account_id": [x for a in account_ids for x in (None, a)],
        "hold_id": [x for p in planned for x in (None, p.hold_id)],
    }
    return deposit_columns, entry_columns, hold_columns, posting_columns


def _raise_duplicate(tx: Connection, planned: list[_Planned]) -> None:
    """Some deposits clashed with earlier ones on (method, external_ref): name the first."""
    inserted = repo.existing(tx, [p.deposit_id for p in planned])
    for index, p in enumerate(planned):
        if p.deposit_id not in inserted:
            raise Conflict(
                f"a {p.method.value} deposit with external_ref {p.external_ref!r} exists",
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
