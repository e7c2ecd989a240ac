"""Reference data every money movement needs: assets and the business calendar.

Assets are cached for the life of the process (they are only ever added; an
unknown code triggers one reload before being refused). The calendar is the
configured ``holidays`` calendar plus the overrides table, read inside the
caller's transaction: on PostgreSQL under a shared advisory lock that calendar
changes take exclusively (migration 0004), so a hold is never placed with a
calendar that a concurrent change is replacing (the change recomputes the
holds it can see; this lock makes sure it can see them all).
"""

from __future__ import annotations

from decimal import Decimal
from threading import Lock

from sqlalchemy import Connection

from service.config import Settings
from service.db import holds as holds_repo
from service.db.ledger import load_assets
from service.domain.calendar import BusinessCalendar
from service.domain.errors import ValidationFailed
from service.domain.money import Amount, AmountError, Asset

_assets: dict[str, Asset] = {}
_assets_lock = Lock()


def asset(conn: Connection, code: str, *, field: str = "asset") -> Asset:
    found = _assets.get(code)
    if found is None:
        with _assets_lock:
            _assets.update(load_assets(conn))
        found = _assets.get(code)
    if found is None:
        raise ValidationFailed.field(field, f"unknown asset {code!r}", code="unknown_asset")
    return found


def scale_of(conn: Connection, code: str) -> int:
    return asset(conn, code).scale


def amount(
    conn: Connection, value: object, code: str, *, field: str = "amount", asset_field: str = "asset"
) -> Amount:
    """``value`` (a Decimal from the schema) as an amount of ``code``, refusing
    more decimals than the asset's scale instead of rounding."""
    of = asset(conn, code, field=asset_field)
    if not isinstance(value, Decimal):
        raise ValidationFailed.field(field, "must be a decimal amount")
    try:
        return Amount.from_input(value, of)
    except AmountError as exc:
        raise ValidationFailed.field(field, str(exc)) from exc


def calendar(
    conn: Connection,
    settings: Settings,
    *,
    exclusive: bool = False,
    overrides: holds_repo.Overrides | None = None,
) -> BusinessCalendar:
    """The calendar with today's overrides, read under the calendar lock (one
    round trip), or built from ``overrides`` a statement of the caller has
    already read with :func:`service.db.holds.overrides_column`."""
    if overrides is None:
        overrides = holds_repo.overrides(conn, exclusive=exclusive)
    closures, openings = overrides
    key = (
        settings.calendar,
        settings.time_zone,
        tuple(sorted(closures.items())),
        tuple(sorted(openings.items())),
    )
    found = _calendars.get(key)
    if found is None:
        found = BusinessCalendar(
            name=settings.calendar,
            time_zone=settings.time_zone,
            closures=closures,
            openings=openings,
        )
        if len(_calendars) > 64:
            _calendars.clear()
        _calendars[key] = found
    return found


_calendars: dict[object, BusinessCalendar] = {}
