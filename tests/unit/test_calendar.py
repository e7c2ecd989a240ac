"""Unit tests of business-day calendars and the withdrawal-hold release time.

The Federal Reserve tables are typed in from the Fed's published rule (a Sunday holiday
moves to Monday, a Saturday holiday is not moved) and checked against an independent
implementation of that rule, so a change in the ``holidays`` package fails here first.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.domain.calendar import (
    HORIZON_LAST_YEAR,
    BusinessCalendar,
    CalendarRangeError,
    Holiday,
    UnknownCalendarError,
)

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
FED = BusinessCalendar()


def ny(year: int, month: int, day: int, hour: int = 0, minute: int = 0, fold: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK, fold=fold)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def closed_weekdays(calendar: BusinessCalendar, year: int) -> set[date]:
    day = date(year, 1, 1)
    closed: set[date] = set()
    while day.year == year:
        if day.weekday() < 5 and not calendar.is_business_day(day):
            closed.add(day)
        day += timedelta(days=1)
    return closed


def nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th (1-based) ``weekday`` of the month; n == -1 is the last one."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def fed_rule_closed_weekdays(year: int) -> set[date]:
    """The Fed's closed weekdays, computed from the published rule, not from the package."""
    monday, thursday = 0, 3
    closed = {
        nth_weekday(year, 1, monday, 3),  # Birthday of Martin Luther King, Jr.
        nth_weekday(year, 2, monday, 3),  # Washington's Birthday
        nth_weekday(year, 5, monday, -1),  # Memorial Day
        nth_weekday(year, 9, monday, 1),  # Labor Day
        nth_weekday(year, 10, monday, 2),  # Columbus Day
        nth_weekday(year, 11, thursday, 4),  # Thanksgiving Day
    }
    fixed = [(1, 1), (7, 4), (11, 11), (12, 25)] + ([(6, 19)] if year >= 2021 else [])
    for month, day_of_month in fixed:
        day = date(year, month, day_of_month)
        if day.weekday() == 6:
            closed.add(day + timedelta(days=1))
        elif day.weekday() < 5:
            closed.add(day)
    return closed


# --- The Federal Reserve calendar -------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "open_"),
    [
        (date(2026, 7, 3), True),  # Friday before Saturday July 4: not moved
        (date(2027, 6, 18), True),  # Friday before Saturday Juneteenth: not moved
        (date(2027, 7, 5), False),  # Sunday July 4 observed Monday
        (date(2029, 11, 12), False),  # Sunday Veterans Day observed Monday
        (date(2026, 11, 26), False),  # Thanksgiving
        (date(2026, 11, 27), True),  # the Friday after Thanksgiving is open
        (date(2027, 12, 24), True),  # Friday before Saturday Christmas: not moved
        (date(2027, 12, 31), True),  # Friday before Saturday New Year's Day: not moved
        (date(2026, 11, 21), False),  # an ordinary Saturday
        (date(2026, 11, 22), False),  # an ordinary Sunday
        (date(2026, 11, 23), True),  # an ordinary Monday
    ],
)
def test_fed_business_days(day: date, open_: bool) -> None:
    assert FED.is_business_day(day) is open_


def test_fed_2026_closed_weekdays_match_the_published_table() -> None:
    assert closed_weekdays(FED, 2026) == {
        date(2026, 1, 1),  # New Year's Day
        date(2026, 1, 19),  # Birthday of Martin Luther King, Jr.
        date(2026, 2, 16),  # Washington's Birthday
        date(2026, 5, 25),  # Memorial Day
        date(2026, 6, 19),  # Juneteenth (Friday)
        date(2026, 9, 7),  # Labor Day
        date(2026, 10, 12),  # Columbus Day
        date(2026, 11, 11),  # Veterans Day (Wednesday)
        date(2026, 11, 26),  # Thanksgiving Day
        date(2026, 12, 25),  # Christmas Day (Friday)
    }  # Independence Day is Saturday July 4: Friday July 3 stays open


def test_fed_2027_closed_weekdays_match_the_published_table() -> None:
    assert closed_weekdays(FED, 2027) == {
        date(2027, 1, 1),  # New Year's Day
        date(2027, 1, 18),  # Birthday of Martin Luther King, Jr.
        date(2027, 2, 15),  # Washington's Birthday
        date(2027, 5, 31),  # Memorial Day
        date(2027, 7, 5),  # Independence Day, Sunday July 4 observed Monday
        date(2027, 9, 6),  # Labor Day
        date(2027, 10, 11),  # Columbus Day
        date(2027, 11, 11),  # Veterans Day
        date(2027, 11, 25),  # Thanksgiving Day
    }  # Juneteenth (June 19) and Christmas (December 25) are Saturdays: not moved


@pytest.mark.parametrize("year", range(FED.first_year, FED.last_year + 1))
def test_fed_calendar_follows_the_published_rule_every_year(year: int) -> None:
    assert closed_weekdays(FED, year) == fed_rule_closed_weekdays(year)


def test_holidays_lists_the_named_days_of_the_year_including_saturday_ones() -> None:
    listed = FED.holidays(2027)
    assert [h.date for h in listed] == sorted(h.date for h in listed)
    assert {h.source for h in listed} == {"calendar"}
    assert Holiday(date(2027, 6, 19), "Juneteenth National Independence Day", "calendar") in listed
    assert {h.date for h in listed if h.date.weekday() < 5} == closed_weekdays(FED, 2027)


def test_default_data_range_comes_from_the_package_and_the_horizon() -> None:
    assert (FED.first_year, FED.last_year) == (1999, HORIZON_LAST_YEAR)
    assert HORIZON_LAST_YEAR == 2056
    assert BusinessCalendar("XNYS").first_year == 1863


# --- Business-day arithmetic ------------------------------------------------------------


def test_next_business_day_skips_weekends_and_holidays() -> None:
    assert FED.next_business_day(date(2026, 11, 20)) == date(2026, 11, 23)
    assert FED.next_business_day(date(2026, 11, 25)) == date(2026, 11, 27)
    assert FED.next_business_day(date(2026, 11, 23)) == date(2026, 11, 24)


def test_add_business_days() -> None:
    assert FED.add_business_days(date(2026, 11, 20), 3) == date(2026, 11, 25)
    assert FED.add_business_days(date(2026, 11, 23), 3) == date(2026, 11, 27)
    assert FED.add_business_days(date(2026, 11, 21), 1) == date(2026, 11, 23)
    assert FED.add_business_days(date(2026, 11, 20), 0) == date(2026, 11, 20)
    assert FED.add_business_days(date(2026, 11, 21), 0) == date(2026, 11, 23)
    assert FED.add_business_days(date(2026, 11, 26), 0) == date(2026, 11, 27)


def test_add_business_days_refuses_a_negative_count() -> None:
    with pytest.raises(ValueError, match="negative"):
        FED.add_business_days(date(2026, 11, 20), -1)


def test_business_days_is_inclusive() -> None:
    assert FED.business_days(date(2026, 11, 20), date(2026, 11, 30)) == [
        date(2026, 11, 20),
        date(2026, 11, 23),
        date(2026, 11, 24),
        date(2026, 11, 25),
        date(2026, 11, 27),
        date(2026, 11, 30),
    ]
    assert FED.business_days(date(2026, 11, 21), date(2026, 11, 22)) == []
    assert FED.business_days(date(2026, 11, 30), date(2026, 11, 20)) == []


# --- Release time -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settled_at", "days", "expected"),
    [
        # The required example: Friday 15:00 EST + 3 -> Wednesday 15:00 EST.
        (ny(2026, 11, 20, 15), 3, utc(2026, 11, 25, 20)),
        # Saturday: count from Monday 00:00; Thanksgiving is skipped -> Friday 00:00 EST.
        (ny(2026, 11, 21, 10), 3, utc(2026, 11, 27, 5)),
        # Sunday behaves like Saturday.
        (ny(2026, 11, 22, 23, 59), 3, utc(2026, 11, 27, 5)),
        # Deposit on the holiday itself: count from Friday 00:00 -> Wednesday 00:00.
        (ny(2026, 11, 26, 9), 3, utc(2026, 12, 2, 5)),
        # Wednesday before Thanksgiving: Thursday is skipped.
        (ny(2026, 11, 25, 9, 15), 1, utc(2026, 11, 27, 14, 15)),
        # Given in UTC, read in New York: 03:00Z Saturday is 22:00 Friday EST.
        (utc(2026, 11, 21, 3), 3, utc(2026, 11, 26, 3)),
        # Given in UTC on Monday 03:00Z, which is still Sunday 22:00 in New York.
        (utc(2026, 11, 23, 3), 1, utc(2026, 11, 24, 5)),
    ],
)
def test_release_time(settled_at: datetime, days: int, expected: datetime) -> None:
    released = FED.release_time(settled_at, days)
    assert released == expected
    assert released.tzinfo is UTC


def test_release_time_with_zero_days() -> None:
    assert FED.release_time(ny(2026, 11, 20, 15), 0) == utc(2026, 11, 20, 20)
    assert FED.release_time(ny(2026, 11, 21, 10), 0) == utc(2026, 11, 23, 5)
    assert FED.release_time(ny(2026, 11, 26, 10), 0) == utc(2026, 11, 27, 5)
    assert FED.release_time(ny(2026, 11, 20, 15), 0).tzinfo is UTC


def test_release_time_across_spring_forward_keeps_the_wall_clock_time() -> None:
    # Thursday 15:00 EST; Sunday 2027-03-14 springs forward; Tuesday 15:00 EDT.
    assert FED.release_time(ny(2027, 3, 11, 15), 3) == utc(2027, 3, 16, 19)


def test_release_time_across_fall_back_keeps_the_wall_clock_time() -> None:
    # Thursday 15:00 EDT; Sunday 2026-11-01 falls back; Monday 15:00 EST.
    assert FED.release_time(ny(2026, 10, 29, 15), 2) == utc(2026, 11, 2, 20)


def test_release_time_on_a_weekend_dst_day_counts_from_local_midnight() -> None:
    assert FED.release_time(ny(2027, 3, 14, 12), 1) == utc(2027, 3, 16, 4)
    assert FED.release_time(ny(2026, 11, 1, 12), 1) == utc(2026, 11, 3, 5)


def test_nonexistent_wall_time_resolves_forward() -> None:
    calendar = BusinessCalendar(openings={date(2027, 3, 14): "Drill"})
    # Friday 02:30 EST + 1 business day is Sunday 02:30, which does not exist: 03:30 EDT.
    released = calendar.release_time(ny(2027, 3, 12, 2, 30), 1)
    assert released == utc(2027, 3, 14, 7, 30)
    assert released.astimezone(NEW_YORK).replace(tzinfo=None) == datetime(2027, 3, 14, 3, 30)


def test_ambiguous_wall_time_takes_the_first_occurrence() -> None:
    calendar = BusinessCalendar(openings={date(2026, 11, 1): "Drill"})
    # Friday 01:30 EDT + 1 business day is Sunday 01:30, which happens twice: the EDT one.
    assert calendar.release_time(ny(2026, 10, 30, 1, 30), 1) == utc(2026, 11, 1, 5, 30)
    # Settled in the second 01:30 (EST): the first occurrence still wins the next day...
    assert calendar.release_time(ny(2026, 11, 1, 1, 30, fold=1), 1) == utc(2026, 11, 2, 6, 30)
    # ...and with zero days the settlement instant itself is kept, not re-resolved.
    assert calendar.release_time(ny(2026, 11, 1, 1, 30, fold=1), 0) == utc(2026, 11, 1, 6, 30)


def test_release_time_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FED.release_time(datetime(2026, 11, 20, 15), 3)


def test_release_time_refuses_a_negative_count() -> None:
    with pytest.raises(ValueError, match="negative"):
        FED.release_time(ny(2026, 11, 20, 15), -1)


# --- Overrides --------------------------------------------------------------------------


def test_a_closure_inside_the_window_pushes_the_release_one_business_day_later() -> None:
    settled = ny(2026, 12, 7, 15)  # Monday
    assert FED.release_time(settled, 3) == utc(2026, 12, 10, 20)
    closed = FED.with_overrides(closures={date(2026, 12, 8): "Day of mourning"}, openings={})
    assert not closed.is_business_day(date(2026, 12, 8))
    assert closed.release_time(settled, 3) == utc(2026, 12, 11, 20)


def test_an_opening_on_a_saturday_pulls_the_release_earlier() -> None:
    settled = ny(2026, 12, 11, 15)  # Friday
    assert FED.release_time(settled, 1) == utc(2026, 12, 14, 20)
    opened = FED.with_overrides(closures={}, openings={date(2026, 12, 12): "Catch-up day"})
    assert opened.is_business_day(date(2026, 12, 12))
    assert opened.release_time(settled, 1) == utc(2026, 12, 12, 20)


def test_an_opening_on_a_holiday_makes_it_a_business_day() -> None:
    opened = BusinessCalendar(openings={date(2026, 11, 26): "Open on Thanksgiving"})
    assert opened.is_business_day(date(2026, 11, 26))
    assert opened.release_time(ny(2026, 11, 25, 9), 1) == utc(2026, 11, 26, 14)


def test_a_closure_wins_over_an_opening_of_the_same_date() -> None:
    day = date(2026, 12, 12)
    both = BusinessCalendar(closures={day: "Closed"}, openings={day: "Open"})
    assert not both.is_business_day(day)
    assert not FED.with_overrides(closures={day: "Closed"}, openings={day: "Open"}).is_business_day(
        day
    )


def test_with_overrides_merges_and_the_newest_instruction_wins() -> None:
    day = date(2026, 12, 8)
    closed = FED.with_overrides(closures={day: "Closed"}, openings={})
    reopened = closed.with_overrides(closures={}, openings={day: "Reopened"})
    assert reopened.is_business_day(day)
    assert day not in reopened.closures
    more = closed.with_overrides(closures={date(2026, 12, 9): "Also closed"}, openings={})
    assert set(more.closures) == {day, date(2026, 12, 9)}
    assert FED.closures == {}
    assert (more.name, more.time_zone, more.first_year, more.last_year) == (
        FED.name,
        FED.time_zone,
        FED.first_year,
        FED.last_year,
    )


def test_holidays_shows_sources_and_applies_overrides() -> None:
    calendar = BusinessCalendar(
        closures={date(2026, 12, 24): "Christmas Eve", date(2026, 12, 25): "Christmas"},
        openings={date(2026, 11, 26): "Open on Thanksgiving"},
    )
    listed = calendar.holidays(2026)
    assert Holiday(date(2026, 12, 24), "Christmas Eve", "override") in listed
    assert Holiday(date(2026, 12, 25), "Christmas", "override") in listed
    assert Holiday(date(2026, 1, 1), "New Year's Day", "calendar") in listed
    assert date(2026, 11, 26) not in {h.date for h in listed}
    assert len({h.date for h in listed}) == len(listed)
    assert [h.date for h in listed] == sorted(h.date for h in listed)
    assert all(h.source == "calendar" for h in calendar.holidays(2027))


# --- Value-type behaviour ---------------------------------------------------------------


def test_calendar_is_immutable_and_hashable() -> None:
    source = {date(2026, 12, 8): "Closed"}
    calendar = BusinessCalendar(closures=source)
    source[date(2026, 12, 9)] = "Later edit"
    assert not calendar.is_business_day(date(2026, 12, 8))
    assert calendar.is_business_day(date(2026, 12, 9))
    with pytest.raises(dataclasses.FrozenInstanceError):
        calendar.name = "XNYS"  # type: ignore[misc]
    with pytest.raises(TypeError):
        calendar.closures[date(2026, 12, 10)] = "Sneaky"  # type: ignore[index]
    assert calendar == BusinessCalendar(closures={date(2026, 12, 8): "Closed"})
    assert hash(calendar) == hash(BusinessCalendar(closures={date(2026, 12, 8): "Closed"}))
    assert calendar.tz == NEW_YORK


def test_a_datetime_is_not_accepted_as_a_date() -> None:
    # A datetime never equals the date of a holiday, so it would look like a business day.
    with pytest.raises(TypeError):
        FED.is_business_day(datetime(2026, 11, 26, 12))
    with pytest.raises(TypeError):
        BusinessCalendar(closures={datetime(2026, 12, 8): "Closed"})


# --- Fail closed ------------------------------------------------------------------------


@pytest.mark.parametrize("day", [date(1998, 12, 31), date(HORIZON_LAST_YEAR + 1, 1, 1)])
def test_dates_outside_the_range_raise(day: date) -> None:
    with pytest.raises(CalendarRangeError):
        FED.is_business_day(day)
    with pytest.raises(CalendarRangeError):
        FED.next_business_day(day)
    with pytest.raises(CalendarRangeError):
        FED.add_business_days(day, 0)
    with pytest.raises(CalendarRangeError):
        FED.business_days(day, day)
    with pytest.raises(CalendarRangeError):
        FED.holidays(day.year)
    with pytest.raises(CalendarRangeError):
        FED.release_time(datetime(day.year, day.month, day.day, 12, tzinfo=NEW_YORK), 1)


def test_counting_past_the_end_of_the_range_raises() -> None:
    last = date(FED.last_year, 12, 31)
    with pytest.raises(CalendarRangeError):
        FED.add_business_days(last - timedelta(days=10), 20)
    with pytest.raises(CalendarRangeError):
        FED.next_business_day(last)
    with pytest.raises(CalendarRangeError):
        FED.release_time(datetime(last.year, 12, 30, 12, tzinfo=NEW_YORK), 5)
    with pytest.raises(CalendarRangeError):
        FED.business_days(date(FED.last_year, 12, 1), date(FED.last_year + 1, 1, 5))


def test_release_time_near_range_start_reads_the_local_date() -> None:
    # 03:00Z on 1999-01-01 is still 1998 in New York: outside the range.
    with pytest.raises(CalendarRangeError):
        FED.release_time(utc(1999, 1, 1, 3), 1)


def test_explicit_range_is_honoured_and_checked() -> None:
    narrow = BusinessCalendar(first_year=2026, last_year=2027)
    assert narrow.is_business_day(date(2027, 12, 31))
    with pytest.raises(CalendarRangeError):
        narrow.is_business_day(date(2025, 12, 31))
    with pytest.raises(CalendarRangeError):
        narrow.add_business_days(date(2027, 12, 30), 2)
    assert BusinessCalendar(last_year=2100).is_business_day(date(2100, 1, 4))
    with pytest.raises(CalendarRangeError):
        BusinessCalendar(last_year=2101)
    with pytest.raises(CalendarRangeError):
        BusinessCalendar(first_year=1998)
    with pytest.raises(CalendarRangeError):
        BusinessCalendar(first_year=2030, last_year=2029)
    with pytest.raises(CalendarRangeError):
        BusinessCalendar(closures={date(2060, 1, 2): "Too far"})


@pytest.mark.parametrize(
    ("name", "time_zone"),
    [
        ("NOPE", "America/New_York"),
        ("xfed", "America/New_York"),
        ("", "America/New_York"),
        ("XFED", "Mars/Olympus_Mons"),
        ("XFED", ""),
        ("XFED", "../etc/passwd"),
        ("XFED", "America"),
    ],
)
def test_unknown_calendar_or_zone_raises(name: str, time_zone: str) -> None:
    with pytest.raises(UnknownCalendarError):
        BusinessCalendar(name=name, time_zone=time_zone)


def test_errors_are_value_errors() -> None:
    assert issubclass(CalendarRangeError, ValueError)
    assert issubclass(UnknownCalendarError, ValueError)


# --- Another calendar -------------------------------------------------------------------


def test_ecb_target_calendar_in_berlin() -> None:
    ecb = BusinessCalendar(name="XECB", time_zone="Europe/Berlin")
    assert not ecb.is_business_day(date(2026, 4, 3))  # Good Friday
    assert not ecb.is_business_day(date(2026, 4, 6))  # Easter Monday
    assert not ecb.is_business_day(date(2026, 5, 1))  # Labour Day
    assert not ecb.is_business_day(date(2026, 12, 25))  # Christmas Day
    assert ecb.is_business_day(date(2026, 12, 24))
    assert ecb.is_business_day(date(2026, 12, 31))
    assert ecb.is_business_day(date(2026, 11, 26))  # US Thanksgiving is no TARGET holiday
    assert ecb.is_business_day(date(2027, 12, 27))  # Sunday 2027-12-26 is not moved to Monday
    assert [(h.date, h.name) for h in ecb.holidays(2026)] == [
        (date(2026, 1, 1), "New Year's Day"),
        (date(2026, 4, 3), "Good Friday"),
        (date(2026, 4, 6), "Easter Monday"),
        (date(2026, 5, 1), "Labour Day"),
        (date(2026, 12, 25), "Christmas Day"),
        (date(2026, 12, 26), "Christmas Holiday"),  # a Saturday in 2026
    ]
    # Thursday 10:00 CEST before Easter + 1 business day -> Tuesday 10:00 CEST.
    settled = datetime(2026, 4, 2, 10, tzinfo=BERLIN)
    assert ecb.release_time(settled, 1) == utc(2026, 4, 7, 8)
    assert ecb.tz == BERLIN


# --- Properties -------------------------------------------------------------------------

ZONES = [UTC, NEW_YORK, BERLIN, ZoneInfo("Asia/Tokyo"), ZoneInfo("Pacific/Auckland")]


@settings(max_examples=300, deadline=None)
@given(
    settled_at=st.datetimes(
        min_value=datetime(1999, 1, 3),
        max_value=datetime(HORIZON_LAST_YEAR, 11, 30),
        timezones=st.sampled_from(ZONES),
    ),
    days=st.integers(min_value=0, max_value=10),
)
def test_release_time_properties(settled_at: datetime, days: int) -> None:
    released = FED.release_time(settled_at, days)
    assert released.utcoffset() == timedelta(0)
    assert released >= settled_at

    settled_local = settled_at.astimezone(NEW_YORK)
    released_local = released.astimezone(NEW_YORK)
    settled_day, released_day = settled_local.date(), released_local.date()
    assert FED.is_business_day(released_day)

    if FED.is_business_day(settled_day):
        if days == 0:
            assert released == settled_at
        else:
            strictly_between = FED.business_days(
                settled_day + timedelta(days=1), released_day - timedelta(days=1)
            )
            assert len(strictly_between) == days - 1
            assert released_local.time() == settled_local.time().replace(fold=0)
    else:
        start_day = FED.next_business_day(settled_day)
        assert len(FED.business_days(start_day, released_day)) == days + 1
        assert released_local.time() == datetime.min.time()
