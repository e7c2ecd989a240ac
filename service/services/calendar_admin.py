"""Calendar overrides and hold policies: operations' levers on hold lengths.

A calendar change (an extra closure or open day, or removing one) recomputes,
in the same transaction, the release time of every *active* hold whose window
it can touch, from the hold's own settlement time and business-day count, and
writes the change to the audit log — once globally and once per account whose
holds moved. Released and reversed holds are history and never change.

A policy change applies to new deposits only: a hold's length is fixed when
it is placed (the customer was shown that date).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection

from service.config import Settings
from service.db import events as event_repo
from service.db import holds as holds_repo
from service.db import repositories
from service.domain.calendar import BusinessCalendar, CalendarRangeError, Holiday
from service.domain.errors import NotFound, ValidationFailed
from service.domain.holds import MAX_HOLD_DAYS, Method
from service.services import events, reference

#: How far a hold's window is widened when looking for holds a date can touch:
#: a settlement late on the previous local day still counts from the next one.
_SLACK = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class OverrideChange:
    day: date
    business_day: bool | None
    name: str
    holds_recomputed: int


def _check_in_range(calendar: BusinessCalendar, day: date) -> None:
    try:
        calendar.is_business_day(day)
    except CalendarRangeError as exc:
        raise ValidationFailed.field("date", str(exc), code="outside_calendar") from exc


def set_override(
    tx: Connection,
    day: date,
    business_day: bool,
    name: str,
    *,
    settings: Settings,
    actor: str,
    now: datetime,
) -> OverrideChange:
    _check_in_range(reference.calendar(tx, settings, exclusive=True), day)
    holds_repo.set_override(tx, day, business_day, name)
    moved = _recompute(
        tx,
        day,
        settings=settings,
        actor=actor,
        now=now,
        action="calendar_override_set",
        reason=name,
    )
    events.calendar_changed(
        tx,
        day=day.isoformat(),
        business_day=business_day,
        name=name,
        holds_rescheduled=moved,
        now=now,
    )
    return OverrideChange(day, business_day, name, moved)


def delete_override(
    tx: Connection, day: date, *, settings: Settings, actor: str, now: datetime
) -> OverrideChange:
    reference.calendar(tx, settings, exclusive=True)
    name = holds_repo.delete_override(tx, day)
    if name is None:
        raise NotFound(f"no calendar override on {day.isoformat()}", code="override_not_found")
    moved = _recompute(
        tx,
        day,
        settings=settings,
        actor=actor,
        now=now,
        action="calendar_override_removed",
        reason=name,
    )
    events.calendar_changed(
        tx, day=day.isoformat(), business_day=None, name=name, holds_rescheduled=moved, now=now
    )
    return OverrideChange(day, None, name, moved)


def _recompute(
    tx: Connection,
    day: date,
    *,
    settings: Settings,
    actor: str,
    now: datetime,
    action: str,
    reason: str,
) -> int:
    calendar = reference.calendar(tx, settings)
    tz = calendar.tz
    day_start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    day_end = day_start + timedelta(days=1)
    locked = holds_repo.lock_active_holds_near(
        tx, settled_before=day_end + _SLACK, releasing_from=day_start - _SLACK
    )
    changes = []
    moved_holds: list[tuple[uuid.UUID, uuid.UUID, datetime, datetime]] = []
    per_account: dict[uuid.UUID, list[dict[str, str]]] = defaultdict(list)
    for hold_id, account_id, release_at, days, settled_at in locked:
        new_release = calendar.release_time(settled_at, days)
        if new_release != release_at:
            changes.append({"hold_id": hold_id, "release_at": new_release})
            moved_holds.append((hold_id, account_id, release_at, new_release))
            per_account[account_id].append(
                {
                    "hold_id": str(hold_id),
                    "from": release_at.isoformat(),
                    "to": new_release.isoformat(),
                }
            )
    holds_repo.set_release_times(tx, changes)
    event_repo.append_rows(tx, events.hold_rescheduled_rows(moved_holds, now))
    details = {"date": day.isoformat(), "holds_recomputed": len(changes)}
    repositories.audit(tx, at=now, actor=actor, action=action, reason=reason, details=details)
    for account_id, moved in per_account.items():
        repositories.audit(
            tx,
            at=now,
            actor=actor,
            action=action,
            reason=reason,
            account_id=account_id,
            details={**details, "holds": moved},
        )
    return len(changes)


def holidays(conn: Connection, year: int, settings: Settings) -> list[Holiday]:
    calendar = reference.calendar(conn, settings)
    try:
        return calendar.holidays(year)
    except CalendarRangeError as exc:
        raise ValidationFailed.field("year", str(exc), code="outside_calendar") from exc


def business_days(conn: Connection, start: date, end: date, settings: Settings) -> list[date]:
    if end < start:
        raise ValidationFailed.field("to", "must not be before from")
    if (end - start).days > 3660:
        raise ValidationFailed.field("to", "at most ten years at a time")
    calendar = reference.calendar(conn, settings)
    try:
        return calendar.business_days(start, end)
    except CalendarRangeError as exc:
        raise ValidationFailed.field("to", str(exc), code="outside_calendar") from exc


def policies(conn: Connection) -> dict[str, int]:
    """Hold length in business days per deposit method."""
    return holds_repo.all_policies(conn)


def set_policy(
    tx: Connection, method: Method, days: int, *, actor: str, now: datetime
) -> dict[str, int]:
    if not 0 <= days <= MAX_HOLD_DAYS:
        raise ValidationFailed.field("business_days", f"must be between 0 and {MAX_HOLD_DAYS}")
    before = holds_repo.all_policies(tx).get(method.value)
    holds_repo.set_policy(tx, method.value, days)
    repositories.audit(
        tx,
        at=now,
        actor=actor,
        action="hold_policy_set",
        reason=f"{method.value}: {before} -> {days} business days",
        details={"method": method.value, "from": before, "to": days},
    )
    return holds_repo.all_policies(tx)


def set_account_policy(
    tx: Connection,
    account_id: uuid.UUID,
    method: Method,
    days: int | None,
    *,
    actor: str,
    now: datetime,
) -> None:
    holds_repo.set_account_policy(tx, account_id, method.value, days)
    repositories.audit(
        tx,
        at=now,
        actor=actor,
        action="account_hold_policy_set",
        reason=f"{method.value}: {days} business days",
        account_id=account_id,
        details={"method": method.value, "business_days": days},
    )
