"""Time conditions: rule texts, hours in a zone, midnight-crossing rules, DST days, holidays.

Every moment is given as an aware datetime; nothing reads the clock.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringfort.apps.timecond import TimeCondition, WeeklyRule, zone
from ringfort.pbx.destination import Destination, DestinationKind

OPEN = Destination(DestinationKind.IVR, "day")
CLOSED = Destination(DestinationKind.EXTENSION, "101")
UTC = dt.UTC


def condition(
    *rules: str, tz: str = "Europe/Moscow", holidays: tuple[str, ...] = ()
) -> TimeCondition:
    return TimeCondition(
        name="office",
        timezone=tz,
        rules=tuple(WeeklyRule.parse(rule) for rule in rules),
        match_destination=OPEN,
        nomatch_destination=CLOSED,
        holidays=tuple(dt.date.fromisoformat(day) for day in holidays),
    )


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


# -- rules as text ------------------------------------------------------------------------------

WEEKDAYS = {0, 1, 2, 3, 4}


@pytest.mark.parametrize(
    ("text", "days", "start", "end", "written"),
    [
        ("mon-fri 09:00-18:00", WEEKDAYS, dt.time(9), dt.time(18), "mon-fri 09:00-18:00"),
        ("sat 10:00-14:30", {5}, dt.time(10), dt.time(14, 30), "sat 10:00-14:30"),
        ("sun,sat 0:00-24:00", {5, 6}, dt.time(0), None, "sat,sun 00:00-24:00"),
        ("fri-mon 22:00-06:00", {4, 5, 6, 0}, dt.time(22), dt.time(6), "mon,fri-sun 22:00-06:00"),
        ("MON, Wed 08:00 - 12:00", {0, 2}, dt.time(8), dt.time(12), "mon,wed 08:00-12:00"),
        ("mon - fri 9:05-17:55", WEEKDAYS, dt.time(9, 5), dt.time(17, 55), "mon-fri 09:05-17:55"),
        ("mon-sun 00:00-24:00", set(range(7)), dt.time(0), None, "mon-sun 00:00-24:00"),
        ("sun-sat 12:00-13:00", set(range(7)), dt.time(12), dt.time(13), "mon-sun 12:00-13:00"),
        ("tue,tue,wed 1:00-2:00", {1, 2}, dt.time(1), dt.time(2), "tue,wed 01:00-02:00"),
        ("  thu   23:00-01:00  ", {3}, dt.time(23), dt.time(1), "thu 23:00-01:00"),
    ],
)
def test_rules_parse_into_days_and_hours_and_write_back(
    text: str, days: set[int], start: dt.time, end: dt.time | None, written: str
) -> None:
    rule = WeeklyRule.parse(text)

    assert (rule.days, rule.start, rule.end) == (frozenset(days), start, end)
    assert str(rule) == written
    assert WeeklyRule.parse(str(rule)) == rule


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "not a rule; write days and hours, e.g. 'mon-fri 09:00-18:00'"),
        ("mon-fri", "not a rule"),
        ("09:00-18:00", "not a rule"),
        ("mon-fri 9-18", "not a rule"),
        ("mon-fri 09:00", "not a rule"),
        ("mon-fri 09:00-18:00 extra", "not a rule"),
        ("weekdays 09:00-18:00", "'weekdays' is not a day or a range of days; use mon, tue"),
        ("monday 09:00-18:00", "not a day"),
        ("mon-xyz 09:00-18:00", "not a day"),
        ("mon,,fri 09:00-18:00", "'' is not a day"),
        ("mon- 09:00-18:00", "not a day"),
        ("mon 25:00-26:00", "25:00 is not a time of day"),
        ("mon 09:60-10:00", "09:60 is not a time of day"),
        ("mon 24:00-24:00", "24:00 can only end hours"),
        ("mon 24:00-02:00", "24:00 can only end hours"),
        ("mon 24:30-23:00", "not a time of day"),
        ("mon 10:00-10:00", "start and end at the same time; for a whole day write 00:00-24:00"),
        ("mon 00:00-00:00", "same time"),
    ],
)
def test_bad_rules_say_what_is_wrong_and_how_to_write_it(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        WeeklyRule.parse(text)


def test_a_rule_built_by_hand_needs_days_and_distinct_times() -> None:
    with pytest.raises(ValueError, match="days"):
        WeeklyRule(frozenset(), dt.time(9), dt.time(17))
    with pytest.raises(ValueError, match="days"):
        WeeklyRule(frozenset({7}), dt.time(9), dt.time(17))
    with pytest.raises(ValueError, match="same time"):
        WeeklyRule(frozenset({0}), dt.time(9), dt.time(9))


@given(
    days=st.frozensets(st.integers(0, 6), min_size=1),
    start=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    end=st.none() | st.times().map(lambda t: t.replace(second=0, microsecond=0)),
)
def test_any_rule_writes_a_text_that_parses_back_to_it(
    days: frozenset[int], start: dt.time, end: dt.time | None
) -> None:
    if end == start:
        return
    rule = WeeklyRule(days, start, end)

    assert WeeklyRule.parse(str(rule)) == rule


def test_only_an_end_before_the_start_crosses_midnight() -> None:
    assert WeeklyRule.parse("fri 22:00-06:00").crosses_midnight
    assert not WeeklyRule.parse("fri 22:00-24:00").crosses_midnight
    assert not WeeklyRule.parse("fri 06:00-22:00").crosses_midnight


# -- hours in a zone ----------------------------------------------------------------------------


def test_hours_are_judged_on_the_conditions_own_clock() -> None:
    office = condition("mon-fri 09:00-18:00")
    # Monday 2026-11-23: 06:00 UTC is 09:00 in Moscow (UTC+3).
    assert office.matches(utc(2026, 11, 23, 6, 0))
    assert not office.matches(utc(2026, 11, 23, 5, 59, 59))
    assert office.matches(utc(2026, 11, 23, 14, 59, 59))
    assert not office.matches(utc(2026, 11, 23, 15, 0)), "18:00 is already closed"
    assert office.choose(utc(2026, 11, 28, 8, 0)) == CLOSED, "Saturday"
    assert office.choose(utc(2026, 11, 23, 8, 0)) == OPEN


def test_the_zone_of_the_given_time_does_not_change_the_answer() -> None:
    office = condition("mon-fri 09:00-18:00")
    moment = utc(2026, 11, 23, 6, 30)
    tokyo = moment.astimezone(zone("Asia/Tokyo"))
    los_angeles = moment.astimezone(zone("America/Los_Angeles"))

    assert office.matches(moment)
    assert office.matches(tokyo)
    assert office.matches(los_angeles)
    assert los_angeles.weekday() == 6, "Sunday evening in Los Angeles is Monday in Moscow"


def test_check_gives_the_local_time_and_the_rule_that_matched() -> None:
    office = condition("mon-fri 09:00-13:00", "mon 12:00-18:00")

    result = office.check(utc(2026, 11, 23, 12, 0))  # Monday 15:00 in Moscow

    assert result.inside
    assert not result.holiday
    assert result.rule == WeeklyRule.parse("mon 12:00-18:00")
    assert result.destination == OPEN
    assert result.local_time.hour == 15
    assert result.local_time.utcoffset() == dt.timedelta(hours=3)


def test_overlapping_rules_are_inside_when_any_covers_the_time() -> None:
    office = condition("mon-fri 09:00-13:00", "mon 12:00-18:00", "mon 10:00-11:00")

    assert office.check(utc(2026, 11, 23, 7, 30)).rule == WeeklyRule.parse("mon-fri 09:00-13:00")
    assert office.matches(utc(2026, 11, 23, 12, 0)), "Monday 15:00, second rule only"
    assert not office.matches(utc(2026, 11, 24, 12, 0)), "Tuesday 15:00"


def test_a_condition_without_rules_is_always_outside() -> None:
    assert not condition().matches(utc(2026, 11, 23, 9, 0))


# -- midnight -----------------------------------------------------------------------------------


def test_a_rule_crossing_midnight_runs_into_the_next_day() -> None:
    night = condition("fri 22:00-06:00", tz="UTC")

    assert night.matches(utc(2026, 11, 27, 22, 0)), "Friday 22:00"
    assert night.matches(utc(2026, 11, 27, 23, 59, 59))
    assert night.matches(utc(2026, 11, 28, 0, 0)), "Saturday midnight"
    assert night.matches(utc(2026, 11, 28, 5, 59, 59))
    assert not night.matches(utc(2026, 11, 28, 6, 0)), "Saturday 06:00"
    assert not night.matches(utc(2026, 11, 27, 5, 0)), "Friday morning: Thursday is not listed"
    assert not night.matches(utc(2026, 11, 28, 22, 30)), "Saturday night is not listed"


def test_a_sunday_night_rule_runs_into_monday() -> None:
    night = condition("sun 22:00-02:00", tz="UTC")

    assert night.matches(utc(2026, 11, 30, 1, 0)), "Monday 01:00"
    assert not night.matches(utc(2026, 11, 30, 2, 0))
    assert not night.matches(utc(2026, 11, 29, 1, 0)), "Sunday 01:00: Saturday is not listed"


def test_an_end_of_24_00_covers_the_last_second_of_the_day_only() -> None:
    late = condition("sun 20:00-24:00", tz="UTC")

    assert late.matches(utc(2026, 11, 29, 23, 59, 59, 999999))
    assert not late.matches(utc(2026, 11, 30, 0, 0)), "Monday 00:00"
    assert not late.matches(utc(2026, 11, 29, 19, 59))


# -- daylight saving ----------------------------------------------------------------------------


def test_office_hours_stay_local_across_a_daylight_saving_change() -> None:
    office = condition("mon-fri 09:00-17:00", tz="America/New_York")
    # Friday 2026-03-06 is EST (UTC-5); Monday 2026-03-09 is EDT (UTC-4).
    assert office.matches(utc(2026, 3, 6, 14, 0))
    assert not office.matches(utc(2026, 3, 6, 13, 59))
    assert office.matches(utc(2026, 3, 9, 13, 0))
    assert not office.matches(utc(2026, 3, 9, 12, 59))
    assert not office.matches(utc(2026, 3, 9, 21, 0)), "17:00 EDT"


def test_on_the_spring_change_the_skipped_hour_is_never_reached() -> None:
    # Berlin, Sunday 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00 UTC.
    skipped = condition("sun 02:00-03:00", tz="Europe/Berlin")
    around = condition("sun 01:00-04:00", tz="Europe/Berlin")
    minutes = [utc(2026, 3, 28, 23, 0) + dt.timedelta(minutes=m) for m in range(6 * 60)]

    assert not any(skipped.matches(moment) for moment in minutes)
    inside = [moment for moment in minutes if around.matches(moment)]
    assert (inside[0], inside[-1]) == (utc(2026, 3, 29, 0, 0), utc(2026, 3, 29, 1, 59))
    assert len(inside) == 120, "01:00-04:00 local is two real hours that day"


def test_on_the_autumn_change_the_repeated_hour_counts_both_times() -> None:
    # Berlin, Sunday 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC.
    repeated = condition("sun 02:00-03:00", tz="Europe/Berlin")
    minutes = [utc(2026, 10, 24, 23, 0) + dt.timedelta(minutes=m) for m in range(4 * 60)]

    inside = [moment for moment in minutes if repeated.matches(moment)]

    assert (inside[0], inside[-1]) == (utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 1, 59))
    assert len(inside) == 120, "02:00-03:00 local passes twice"


def test_a_night_rule_over_a_dst_change_ends_at_the_local_hour() -> None:
    night = condition("sat 22:00-06:00", tz="Europe/Berlin")

    assert night.matches(utc(2026, 3, 29, 3, 59)), "05:59 CEST"
    assert not night.matches(utc(2026, 3, 29, 4, 0)), "06:00 CEST"
    assert night.matches(utc(2026, 10, 25, 4, 59)), "05:59 CET"
    assert not night.matches(utc(2026, 10, 25, 5, 0)), "06:00 CET"


# -- holidays -----------------------------------------------------------------------------------


def test_holidays_are_outside_the_hours_for_the_whole_local_date() -> None:
    office = condition("mon-sun 00:00-24:00", holidays=("2026-12-31",))

    assert not office.matches(utc(2026, 12, 30, 21, 0)), "00:00 on the 31st in Moscow"
    assert office.matches(utc(2026, 12, 30, 20, 59, 59)), "23:59 on the 30th in Moscow"
    assert not office.matches(utc(2026, 12, 31, 20, 59, 59)), "23:59 on the 31st in Moscow"
    assert office.matches(utc(2026, 12, 31, 21, 0)), "the 1st of January"


def test_a_holiday_cuts_short_the_night_before_it() -> None:
    night = condition("fri 22:00-06:00", tz="UTC", holidays=("2026-11-28",))

    assert night.matches(utc(2026, 11, 27, 23, 0)), "Friday is no holiday"
    result = night.check(utc(2026, 11, 28, 1, 0))
    assert result.holiday
    assert not result.inside
    assert result.destination == CLOSED


def test_check_says_a_holiday_even_outside_the_hours() -> None:
    office = condition("mon-fri 09:00-18:00", holidays=("2026-12-31",))

    result = office.check(utc(2026, 12, 31, 22, 0))  # 01:00 on 1 January in Moscow

    assert not result.holiday, "the holiday is over in Moscow"
    assert office.check(utc(2026, 12, 31, 8, 0)).holiday


# -- errors -------------------------------------------------------------------------------------


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        condition("mon 09:00-10:00").matches(dt.datetime(2026, 1, 1, 9, 0))


@pytest.mark.parametrize(
    ("name", "suggests"),
    [
        ("Europe/Moskow", "did you mean Europe/Moscow"),
        ("europe/moscow", "did you mean Europe/Moscow\\?"),
        ("Mars/Olympus", "use an IANA name such as Europe/Moscow or UTC$"),
        ("", "unknown time zone ''"),
        ("/etc/passwd", "unknown time zone"),
        ("Europe", "unknown time zone"),
    ],
)
def test_an_unknown_zone_is_refused_with_the_names_meant(name: str, suggests: str) -> None:
    with pytest.raises(ValueError, match=suggests):
        zone(name)
    with pytest.raises(ValueError, match="unknown time zone"):
        condition("mon 09:00-10:00", tz=name).matches(utc(2026, 1, 5, 9, 0))


def test_a_time_condition_lists_both_of_its_destinations() -> None:
    assert condition("mon 09:00-10:00").destinations() == (("match", OPEN), ("nomatch", CLOSED))
