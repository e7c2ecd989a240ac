"""Rules of the accountant exports that need no database (API.md, Exports).

Periods. ``from`` / ``to`` / ``as_of`` take either an ISO date (``2026-11-20``)
or an ISO date-time *with* an offset (``2026-11-20T15:00:00-05:00``). A date is a
whole calendar day in the calendar's time zone (America/New_York by default):
``from=D`` starts at 00:00 local on D, ``to=D`` and ``as_of=D`` end at 24:00
local on D (the day is included). A date-time is an instant and is inclusive on
both sides. Every bound is turned into a half-open UTC interval
``[start, end)``: an inclusive instant ``T`` becomes ``end = T + 1 µs``, which
is exact because both databases store times to the microsecond. A missing
``from`` is the beginning of the books; a missing ``to`` / ``as_of`` is now.

Spreadsheet formula injection. A text field that begins with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return is prefixed with ``'`` so a spreadsheet
shows it as text instead of evaluating it. Amount columns are numbers and are
never prefixed (a negative balance stays ``-100.00``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from service.domain.errors import ValidationFailed
from service.domain.posting import EntryType
from service.domain.timestamps import parse_aware

#: First characters a spreadsheet may treat as the start of a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ONE_MICROSECOND = timedelta(microseconds=1)
#: Earliest instant any export considers ("the beginning of the books").
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
#: Latest instant any export considers.
END_OF_TIME = datetime(9000, 1, 1, tzinfo=UTC)


def escape_text(value: str) -> str:
    """``value`` made safe for a spreadsheet (see the module docstring)."""
    if value and value[0] in FORMULA_PREFIXES:
        return "'" + value
    return value


_NEEDS_QUOTES = re.compile(r'[",\r\n]')


def csv_field(value: str) -> str:
    """One CSV field per RFC 4180, as :mod:`csv` writes it (``QUOTE_MINIMAL``):
    quoted, with quotes doubled, when it holds a comma, a quote or a line break."""
    if _NEEDS_QUOTES.search(value):
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_text(value: str) -> str:
    """A free-text field: formula-escaped, then CSV-quoted as needed."""
    return csv_field(escape_text(value))


def uuid_text(value: str) -> str:
    """A UUID as canonical text (``8-4-4-4-12``), from the canonical form or from
    32 bare hex digits (how SQLite stores one)."""
    if len(value) == 32:
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return value


def iso_from_utc_text(text: str) -> str:
    """A UTC time as the export queries return it — ``YYYY-MM-DD HH:MM:SS``
    with an optional fraction of up to six digits — as the API writes times:
    ISO 8601 with ``Z``, six-digit microseconds only when not zero; exactly
    :func:`~service.domain.timestamps.format_utc`'s output."""
    fraction = text[20:26].ljust(6, "0")
    if fraction == "000000":
        return f"{text[:10]}T{text[11:19]}Z"
    return f"{text[:10]}T{text[11:19]}.{fraction}Z"


@dataclass(frozen=True, slots=True)
class Moment:
    """A parsed ``from`` / ``to`` / ``as_of`` value: a local date or a UTC instant."""

    day: date | None = None
    instant: datetime | None = None


def parse_moment(text: str, field: str) -> Moment:
    """Parse an ISO date or an ISO date-time with offset; 422 otherwise."""
    value = text.strip()
    if _DATE.match(value):
        try:
            return Moment(day=date.fromisoformat(value))
        except ValueError as exc:
            raise ValidationFailed.field(field, f"{value!r} is not a valid date") from exc
    try:
        return Moment(instant=parse_aware(value))
    except ValueError as exc:
        raise ValidationFailed.field(
            field,
            "must be an ISO date (2026-11-20) or an ISO date-time with a time zone offset "
            "(2026-11-20T15:00:00Z)",
        ) from exc


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # a configuration error, not input
        raise RuntimeError(f"unknown time zone {name!r}") from exc


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """00:00 local on ``day`` as a UTC instant. Where midnight does not exist (a
    DST change at 00:00) this is the instant the day actually starts."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def start_of(moment: Moment, tz: ZoneInfo) -> datetime:
    """The first instant a ``from`` bound includes."""
    if moment.day is not None:
        return local_midnight(moment.day, tz)
    assert moment.instant is not None
    return moment.instant


def end_of(moment: Moment, tz: ZoneInfo) -> datetime:
    """The first instant a ``to`` / ``as_of`` bound no longer includes."""
    if moment.day is not None:
        return local_midnight(moment.day + timedelta(days=1), tz)
    assert moment.instant is not None
    return moment.instant + _ONE_MICROSECOND


def release_as_of(moment: Moment, tz: ZoneInfo) -> datetime:
    """The instant a release ``--as-of`` names: a date means every hold due by
    the end of that day (as an export's ``as_of`` date includes the whole day)."""
    return end_of(moment, tz) - _ONE_MICROSECOND


@dataclass(frozen=True, slots=True)
class Period:
    """The half-open UTC interval ``[start, end)`` an export covers."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("period bounds must be aware")


def _bound(text: str, field: str, tz: ZoneInfo, *, end: bool) -> datetime:
    try:
        moment = parse_moment(text, field)
        return end_of(moment, tz) if end else start_of(moment, tz)
    except OverflowError as exc:  # e.g. to=9999-12-31: the next day does not exist
        raise ValidationFailed.field(field, "is out of range") from exc


def _clamped(start: datetime, end: datetime) -> Period:
    """Bounds kept within the years the books can hold (1970 to 9000): nothing is
    posted outside, and every bound stays a four-digit-year time on both databases."""
    return Period(min(max(start, BEGINNING), END_OF_TIME), min(max(end, BEGINNING), END_OF_TIME))


def period(from_text: str | None, to_text: str | None, *, tz_name: str, now: datetime) -> Period:
    """``from`` / ``to`` as a period; 422 when unparsable or when ``from`` is after ``to``."""
    tz = zone(tz_name)
    start = BEGINNING if from_text is None else _bound(from_text, "from", tz, end=False)
    end = now + _ONE_MICROSECOND if to_text is None else _bound(to_text, "to", tz, end=True)
    if start >= end:
        raise ValidationFailed.field("from", "must not be after to", code="invalid_period")
    return _clamped(start, end)


def as_of(text: str | None, *, tz_name: str, now: datetime) -> Period:
    """``as_of`` as the period from the beginning of the books to it (inclusive)."""
    tz = zone(tz_name)
    end = now + _ONE_MICROSECOND if text is None else _bound(text, "as_of", tz, end=True)
    return _clamped(BEGINNING, end)


def ledger_commodity(code: str) -> str:
    """An asset code as a hledger / ledger-cli commodity symbol: letters only are
    written bare; anything else (``1INCH``) is double-quoted, as both tools require."""
    return code if code.isalpha() else f'"{code}"'


_LEDGER_UNSAFE = re.compile(r"[\r\n\t;]+")


def ledger_text(value: str) -> str:
    """Free text for one line of a plain-text journal: no line breaks, tabs, or
    ``;`` (which would start a comment); runs of spaces collapsed (two spaces end
    an account name or description in these formats)."""
    return re.sub(r" {2,}", " ", _LEDGER_UNSAFE.sub(" ", value)).strip()


class RollColumn(StrEnum):
    """The movement columns of the hold roll-forward."""

    PLACED = "placed"
    RELEASED = "released"
    REVERSED = "reversed"
    TRADED_IN = "traded_in"
    TRADED_OUT = "traded_out"


_DECREASES: dict[str, RollColumn] = {
    EntryType.HOLD_RELEASE.value: RollColumn.RELEASED,
    EntryType.CHARGEBACK.value: RollColumn.REVERSED,
    EntryType.TRADE.value: RollColumn.TRADED_OUT,
}
_INCREASES: dict[str, RollColumn] = {
    EntryType.DEPOSIT.value: RollColumn.PLACED,
    EntryType.TRADE.value: RollColumn.TRADED_IN,
}


def rollforward_column(entry_type: str, decreases_held: bool) -> RollColumn:
    """Where a posting to a customer's ``Held`` bucket goes in the roll-forward.

    By entry type: ``deposit`` → placed, ``hold_release`` → released,
    ``chargeback`` → reversed, ``trade`` → traded_in (credit to Held) or
    traded_out (debit to Held). Any other entry type is classified by the
    direction of the posting: money leaving Held (a support-approved final
    withdrawal, type ``withdrawal``, which pays held funds out before their
    hold ends) counts as **released** — freed from the hold by other means than
    a chargeback — and money entering Held counts as **placed**. Every posting
    lands in exactly one column, so ``opening + placed - released - reversed +
    traded_in - traded_out = closing`` holds exactly whatever entries exist.
    """
    if decreases_held:
        return _DECREASES.get(entry_type, RollColumn.RELEASED)
    return _INCREASES.get(entry_type, RollColumn.PLACED)
