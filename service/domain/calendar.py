"""Business-day calendars and the release time of a withdrawal hold.

The model:

* A :class:`BusinessCalendar` names a financial calendar of the ``holidays`` package
  (``"XFED"`` by default, the US Federal Reserve Banks) and an IANA time zone
  (``"America/New_York"`` by default). A *business day* is a Monday to Friday that is
  not a holiday of that calendar.
* Operations can correct the published data with *overrides*: ``closures`` (extra
  closed days, e.g. a national day of mourning) and ``openings`` (extra open days).
  An override beats the calendar, including weekends: an opening on a Saturday makes
  that Saturday a business day. When the same date is both a closure and an opening,
  the closure wins, because a day wrongly treated as closed only makes a hold longer,
  while a day wrongly treated as open releases funds early.
* The calendar has a data range, ``first_year`` to ``last_year`` inclusive. The
  ``holidays`` package silently returns *no* holidays for a year it has no data for,
  which would make every weekday look open. So every question about a date outside the
  range raises :class:`CalendarRangeError`; the calendar fails closed and never answers
  "business day" for a date it knows nothing about.

The release-time rule (why this module exists):

    A hold on funds settled at ``settled_at`` for ``N`` business days ends as follows.
    ``settled_at`` must be timezone-aware and is taken in the calendar's time zone.
    If that local date is a business day, the hold ends ``N`` business days later at
    the same local wall-clock time (for ``N == 0``: at ``settled_at`` itself).
    Otherwise counting starts at 00:00 local of the next business day, and the hold
    ends ``N`` business days after that day at 00:00 local (for ``N == 0``: at the
    start itself). A wall-clock time that does not exist because of a daylight-saving
    change resolves forward (02:30 on a spring-forward day is 03:30 local, the instant
    02:30 denotes under the old offset); a repeated wall-clock time takes its first
    occurrence (``fold=0``). The result is an aware UTC datetime.

Holding the *wall-clock* time rather than a number of elapsed hours is deliberate:
customers and operations read a hold as "three business days, same time of day", so a
hold that spans a daylight-saving change is one hour shorter or longer in elapsed time.

The Federal Reserve rule: the Reserve Banks are closed on a Sunday holiday's following
Monday, but a Saturday holiday is *not* moved to Friday (the Banks are open that
Friday). ``holidays`` 0.109 implements exactly this for ``XFED`` (e.g. Friday
2026-07-03 and Friday 2027-06-18 are open, Monday 2027-07-05 and Monday 2029-11-12 are
closed), so this module applies no correction; the unit tests compare the package
against an independent implementation of the rule so an upgrade that changes it fails.

Data range: ``first_year`` defaults to the package's ``start_year`` for the calendar
(1999 for ``XFED``). The package's ``end_year`` is mostly a generic cap (2100), not a
statement about published data, and future years are projections of today's statutes
(Juneteenth was signed into law on 17 June 2021, the day before its first observance).
So ``last_year`` defaults to the smaller of the package's ``end_year`` and a fixed
horizon, :data:`HORIZON_LAST_YEAR` (2026 + 30), derived from a constant rather than
today's date so behaviour does not drift with the clock. Both bounds may be narrowed, or widened up
to the package's own range, explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_package

#: The year the default horizon is counted from. A constant, not ``date.today()``,
#: so the same inputs give the same answer whenever the code runs.
HORIZON_REFERENCE_YEAR: Final = 2026
#: How many years past the reference year the default data range reaches.
HORIZON_YEARS: Final = 30
#: The default last year of every calendar's data range (unless the package's own
#: ``end_year`` for the calendar is earlier).
HORIZON_LAST_YEAR: Final = HORIZON_REFERENCE_YEAR + HORIZON_YEARS

#: ``Holiday.source`` of a day taken from the ``holidays`` package.
SOURCE_CALENDAR: Final = "calendar"
#: ``Holiday.source`` of a day added by an override closure.
SOURCE_OVERRIDE: Final = "override"

#: Sentinel for ``first_year``/``last_year``: take the bound from the package.
#: Year 0 cannot be a ``date`` year, so it never collides with a real bound.
_FROM_PACKAGE: Final = 0

_SATURDAY: Final = 5
_ONE_DAY: Final = timedelta(days=1)


class CalendarRangeError(ValueError):
    """A date (or a data range) outside what the calendar has data for.

    Raised instead of answering, because the ``holidays`` package reports "no holidays"
    for a year it does not cover and a guess would release funds early.
    """


class UnknownCalendarError(ValueError):
    """A financial calendar name the ``holidays`` package lacks, or an unknown time zone."""


@dataclass(frozen=True, slots=True)
class Holiday:
    """A closed day of a calendar, with where the closure comes from.

    ``source`` is :data:`SOURCE_CALENDAR` for a day of the ``holidays`` package and
    :data:`SOURCE_OVERRIDE` for an override closure, so an operator can see which
    closures are local decisions.
    """

    date: date
    name: str
    source: str


@lru_cache(maxsize=64)
def _package_range(name: str) -> tuple[int, int]:
    """The ``(start_year, end_year)`` the package has for calendar ``name``.

    Raises :class:`UnknownCalendarError` for a name the package does not know.
    """
    try:
        calendar = holidays_package.financial_holidays(name)
    except NotImplementedError as exc:
        raise UnknownCalendarError(f"unknown financial calendar {name!r}") from exc
    return int(calendar.start_year), int(calendar.end_year)


@lru_cache(maxsize=1024)
def _package_holidays(name: str, year: int) -> Mapping[date, str]:
    """The package's holidays of calendar ``name`` dated in ``year``, cached.

    The neighbouring years are loaded too because some calendars move a holiday across
    the year boundary (a Saturday 1 January observed on Friday 31 December), and the
    package files such a day under the holiday's own year.
    """
    table = holidays_package.financial_holidays(name, years=(year - 1, year, year + 1))
    return MappingProxyType(
        {day: str(label) for day, label in sorted(table.items()) if day.year == year}
    )


@lru_cache(maxsize=64)
def _zone(key: str) -> ZoneInfo:
    """The time zone ``key``; raises :class:`UnknownCalendarError` when it does not exist."""
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise UnknownCalendarError(f"unknown time zone {key!r}") from exc


def _frozen_overrides(overrides: Mapping[date, str], what: str) -> Mapping[date, str]:
    """A read-only copy of ``overrides``, refusing keys that are not plain dates.

    A ``datetime`` key is refused because it never equals the ``date`` it is looked up
    with, so the override would silently do nothing.
    """
    copy: dict[date, str] = {}
    for day, label in overrides.items():
        if isinstance(day, datetime) or not isinstance(day, date):
            raise TypeError(f"{what} keys must be dates, got {day!r}")
        copy[day] = str(label)
    return MappingProxyType(dict(sorted(copy.items())))


@dataclass(frozen=True)
class BusinessCalendar:
    """Which days are business days, and when a hold on settled funds ends.

    Rules:

    * A business day is a weekday that is not a holiday of the ``holidays`` financial
      calendar ``name`` and not in ``closures``; a day in ``openings`` is a business day
      even on a weekend or holiday. A date in both ``closures`` and ``openings`` is
      closed (the safe direction for a hold).
    * Every date asked about must lie in ``first_year``..``last_year``; otherwise
      :class:`CalendarRangeError`. Counting that would run past the range also raises.
    * An unknown calendar ``name`` or ``time_zone`` raises
      :class:`UnknownCalendarError` on construction.

    Instances are immutable and hashable; the override mappings are stored as read-only
    copies.
    """

    name: str = "XFED"
    time_zone: str = "America/New_York"
    closures: Mapping[date, str] = field(default_factory=dict)
    openings: Mapping[date, str] = field(default_factory=dict)
    first_year: int = _FROM_PACKAGE
    last_year: int = _FROM_PACKAGE

    def __post_init__(self) -> None:
        package_first, package_last = _package_range(self.name)
        _zone(self.time_zone)
        first = package_first if self.first_year == _FROM_PACKAGE else self.first_year
        last = (
            min(package_last, HORIZON_LAST_YEAR)
            if self.last_year == _FROM_PACKAGE
            else self.last_year
        )
        if not package_first <= first <= last <= package_last:
            raise CalendarRangeError(
                f"data range {first}..{last} of calendar {self.name!r} must be a non-empty "
                f"part of the package's range {package_first}..{package_last}"
            )
        object.__setattr__(self, "first_year", first)
        object.__setattr__(self, "last_year", last)
        closures = _frozen_overrides(self.closures, "closures")
        openings = _frozen_overrides(self.openings, "openings")
        for day in (*closures, *openings):
            self._require_in_range(day)
        object.__setattr__(self, "closures", closures)
        object.__setattr__(self, "openings", openings)

    def __hash__(self) -> int:
        return hash(
            (
                self.name,
                self.time_zone,
                frozenset(self.closures.items()),
                frozenset(self.openings.items()),
                self.first_year,
                self.last_year,
            )
        )

    @property
    def tz(self) -> ZoneInfo:
        """The calendar's time zone, in which dates and wall-clock times are read."""
        return _zone(self.time_zone)

    def with_overrides(
        self, closures: Mapping[date, str], openings: Mapping[date, str]
    ) -> BusinessCalendar:
        """A copy with more overrides; for each date the newest instruction wins.

        The new overrides are merged into the existing ones: a new closure replaces an
        existing opening of the same date and vice versa, so overrides can be applied in
        the order they were decided. Within this one call a date given as both a
        closure and an opening is closed, as everywhere.
        """
        merged_closures = {d: n for d, n in self.closures.items() if d not in openings}
        merged_openings = {d: n for d, n in self.openings.items() if d not in closures}
        merged_closures.update(closures)
        merged_openings.update(openings)
        return replace(self, closures=merged_closures, openings=merged_openings)

    def is_business_day(self, day: date) -> bool:
        """Whether ``day`` is a business day; raises outside the data range."""
        self._require_in_range(day)
        if day in self.closures:
            return False
        if day in self.openings:
            return True
        if day.weekday() >= _SATURDAY:
            return False
        return day not in _package_holidays(self.name, day.year)

    def next_business_day(self, day: date) -> date:
        """The first business day strictly after ``day``.

        Raises :class:`CalendarRangeError` when there is none before the end of the range.
        """
        self._require_in_range(day)
        candidate = day + _ONE_DAY
        while not self.is_business_day(candidate):
            candidate += _ONE_DAY
        return candidate

    def add_business_days(self, day: date, n: int) -> date:
        """The ``n``-th business day strictly after ``day``.

        ``n == 0`` gives ``day`` itself when it is a business day, otherwise the next
        business day: "zero business days" never lands on a closed day. ``n`` must not
        be negative. Raises :class:`CalendarRangeError` when counting runs past the range.
        """
        if n < 0:
            raise ValueError(f"number of business days must not be negative, got {n}")
        if n == 0:
            return day if self.is_business_day(day) else self.next_business_day(day)
        current = day
        for _ in range(n):
            current = self.next_business_day(current)
        return current

    def business_days(self, start: date, end: date) -> list[date]:
        """The business days from ``start`` to ``end``, both inclusive, in order.

        Empty when ``start`` is after ``end``; both ends must lie in the data range.
        """
        self._require_in_range(start)
        self._require_in_range(end)
        days: list[date] = []
        current = start
        while current <= end:
            if self.is_business_day(current):
                days.append(current)
            current += _ONE_DAY
        return days

    def holidays(self, year: int) -> list[Holiday]:
        """The named closed days of ``year``, sorted by date.

        These are the package's holidays of the calendar (source ``"calendar"``),
        including those that fall on a weekend as the Fed's own table lists them, plus
        the override closures (source ``"override"``, replacing a calendar entry of the
        same date), minus the override openings that are not also closures. Ordinary
        weekends are not listed; :meth:`is_business_day` is the authority on whether a
        day is open.
        """
        if not self.first_year <= year <= self.last_year:
            raise CalendarRangeError(self._range_message(f"year {year}"))
        entries = {
            day: Holiday(day, label, SOURCE_CALENDAR)
            for day, label in _package_holidays(self.name, year).items()
            if day not in self.openings
        }
        for day, label in self.closures.items():
            if day.year == year:
                entries[day] = Holiday(day, label, SOURCE_OVERRIDE)
        return [entries[day] for day in sorted(entries)]

    def release_time(self, settled_at: datetime, business_days: int) -> datetime:
        """When a hold on funds settled at ``settled_at`` ends, as an aware UTC datetime.

        Applies the release-time rule of the module docstring: same local wall-clock
        time ``business_days`` business days later when the local settlement date is a
        business day, otherwise 00:00 local counted from the next business day;
        nonexistent wall times resolve forward and repeated ones to the first
        occurrence. Raises ``ValueError`` for a naive ``settled_at`` or a negative count,
        and :class:`CalendarRangeError` outside the data range.
        """
        if settled_at.tzinfo is None or settled_at.utcoffset() is None:
            raise ValueError("settled_at must be timezone-aware")
        if business_days < 0:
            raise ValueError(f"number of business days must not be negative, got {business_days}")
        tz = self.tz
        local = settled_at.astimezone(tz)
        settled_day = local.date()
        if self.is_business_day(settled_day):
            if business_days == 0:
                return settled_at.astimezone(UTC)
            release_day = self.add_business_days(settled_day, business_days)
            wall_time = local.time()
        else:
            start_day = self.next_business_day(settled_day)
            release_day = self.add_business_days(start_day, business_days)
            wall_time = time(0)
        return _resolve_wall_time(release_day, wall_time, tz)

    def _require_in_range(self, day: date) -> None:
        """Refuse a date the calendar has no data for (and a ``datetime`` posing as one)."""
        if isinstance(day, datetime):
            raise TypeError(f"expected a date, got the datetime {day!r}")
        if not self.first_year <= day.year <= self.last_year:
            raise CalendarRangeError(self._range_message(f"date {day.isoformat()}"))

    def _range_message(self, subject: str) -> str:
        return (
            f"{subject} is outside the data range {self.first_year}..{self.last_year} "
            f"of calendar {self.name!r}"
        )


def _resolve_wall_time(day: date, wall_time: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock ``wall_time`` on ``day`` in ``tz``.

    ``fold=0`` gives both resolution rules at once (PEP 495): in a gap the time is read
    with the offset in force before the transition, which lands after the gap (02:30 ->
    03:30 on a spring-forward day), and in an overlap it picks the first occurrence.
    """
    wall = datetime.combine(day, wall_time.replace(fold=0), tzinfo=tz)
    return wall.astimezone(UTC)
