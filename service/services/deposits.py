"""Deposits: settled at once, held when the method's policy says so.

A deposit is final (there is no cancel); a chargeback is a new entry.
``(method, external_ref)`` is unique: a payment processor redelivering the
same settlement gets 409 ``duplicate_deposit``, never a second credit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, select

from service.config import Settings
from service.db import holds as holds_repo
from service.db import ledger, repositories
from service.db.dialect import upsert
from service.db.tables import deposits
from service.domain.accounts import require_active
from service.domain.calendar import BusinessCalendar, CalendarRangeError
from service.domain.errors import Conflict, NotFound, ValidationFailed
from service.domain.holds import HoldStatus, Method
from service.domain.ids import new_id
from service.domain.money import Amount
from service.domain.rules import deposit_entry
from service.services import reference
from service.services.views import DepositView, HoldView, LotView, QuoteView


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


def record_deposit(
    tx: Connection, cmd: DepositCommand, *, settings: Settings, now: datetime
) -> DepositView:
    account = repositories.find_account(tx, cmd.account_id)
    if account is None:
        raise NotFound(f"no account {cmd.account_id}", code="account_not_found")
    require_active(account.status)
    amount = reference.amount(tx, cmd.amount, cmd.asset)
    settled_at = cmd.settled_at or now
    if settled_at > now:
        raise ValidationFailed.field("settled_at", "must not be in the future")
    days = holds_repo.policy_days(tx, cmd.account_id, cmd.method.value)
    deposit_id, entry_id = new_id(), new_id()
    hold: HoldView | None = None
    if days > 0:
        calendar = reference.calendar(tx, settings)
        hold = HoldView(
            id=new_id(),
            deposit_id=deposit_id,
            method=cmd.method.value,
            asset=amount.asset.code,
            amount=amount,
            status=HoldStatus.ACTIVE.value,
            placed_at=now,
            release_at=_release_at(calendar, settled_at, days, "settled_at"),
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
        entry_id=entry_id,
    )
    ledger.insert_entry(tx, entry)
    inserted = tx.execute(
        upsert(tx, deposits)
        .values(
            id=deposit_id,
            account_id=cmd.account_id,
            method=cmd.method.value,
            asset=amount.asset.code,
            amount=amount.minor,
            status="settled",
            settled_at=settled_at,
            external_ref=cmd.external_ref,
            entry_id=entry_id,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["method", "external_ref"])
        .returning(deposits.c.id)
    ).first()
    if inserted is None:
        raise Conflict(
            f"a {cmd.method.value} deposit with external_ref {cmd.external_ref!r} exists",
            code="duplicate_deposit",
        )
    if hold is not None:
        holds_repo.insert_hold(
            tx,
            holds_repo.HoldRow(
                id=hold.id,
                account_id=cmd.account_id,
                deposit_id=deposit_id,
                method=cmd.method.value,
                asset=amount.asset.code,
                amount=amount.minor,
                business_days=days,
                status=HoldStatus.ACTIVE.value,
                placed_at=now,
                release_at=hold.release_at,
                released_at=None,
            ),
        )
    ledger.insert_postings(tx, entry_id, entry)
    return DepositView(
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
    """"Available to trade: instantly; available to send: after <date>". Changes nothing."""
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


def get_deposit(conn: Connection, deposit_id: uuid.UUID) -> tuple[uuid.UUID, str, int, str]:
    row = conn.execute(
        select(deposits.c.account_id, deposits.c.asset, deposits.c.amount, deposits.c.status)
        .where(deposits.c.id == deposit_id)
    ).first()
    if row is None:
        raise NotFound(f"no deposit {deposit_id}", code="deposit_not_found")
    return row[0], row[1], row[2], row[3]
