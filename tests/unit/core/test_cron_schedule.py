"""Cron expressions (crontab(5)): parsing, and the next due minute, across months and DST."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from ringfort.cron import CronError, CronSchedule

BERLIN = ZoneInfo("Europe/Berlin")


def due(expression: str, after: datetime) -> datetime:
    return CronSchedule.parse(expression).next_after(after)


def test_fields_take_numbers_ranges_lists_steps_and_names() -> None:
    schedule = CronSchedule.parse("*/15 9-17/4 1,15 jan-mar mon-fri")
    assert schedule.minutes == {0, 15, 30, 45}
    assert schedule.hours == {9, 13, 17}
    assert schedule.days == {1, 15}
    assert schedule.months == {1, 2, 3}
    assert schedule.weekdays == {1, 2, 3, 4, 5}
    assert CronSchedule.parse("5/20 * * * *").minutes == {5, 25, 45}


def test_weekday_seven_is_sunday_like_zero() -> None:
    assert CronSchedule.parse("0 0 * * 7").weekdays == {0}
    assert CronSchedule.parse("0 0 * * 5-7").weekdays == {5, 6, 0}


def test_macros_stand_for_their_expressions() -> None:
    assert CronSchedule.parse("@daily").next_after(datetime(2026, 5, 1, 10, 0)) == datetime(
        2026, 5, 2, 0, 0
    )
    assert due("@hourly", datetime(2026, 5, 1, 10, 59)) == datetime(2026, 5, 1, 11, 0)


def test_nightly_backup_is_next_due_tomorrow_once_tonights_has_passed() -> None:
    assert due("30 3 * * *", datetime(2026, 5, 1, 2, 0)) == datetime(2026, 5, 1, 3, 30)
    assert due("30 3 * * *", datetime(2026, 5, 1, 3, 30)) == datetime(2026, 5, 2, 3, 30)
    assert due("30 3 * * *", datetime(2026, 12, 31, 10, 0)) == datetime(2027, 1, 1, 3, 30)


def test_seconds_of_now_do_not_make_the_same_minute_due_again() -> None:
    assert due("* * * * *", datetime(2026, 5, 1, 3, 30, 59)) == datetime(2026, 5, 1, 3, 31)


def test_weekdays_only() -> None:
    # 2026-05-01 is a Friday: the next working-day 09:00 is Monday the 4th.
    assert due("0 9 * * 1-5", datetime(2026, 5, 1, 9, 0)) == datetime(2026, 5, 4, 9, 0)


def test_both_day_fields_restricted_means_either_day() -> None:
    # crontab(5): "0 0 13 * 5" runs on every 13th and on every Friday.
    after = datetime(2026, 5, 9, 12, 0)  # a Saturday
    assert due("0 0 13 * 5", after) == datetime(2026, 5, 13, 0, 0)
    assert due("0 0 13 * 5", datetime(2026, 5, 13, 0, 0)) == datetime(2026, 5, 15, 0, 0)


def test_29_february_waits_for_a_leap_year() -> None:
    assert due("0 0 29 2 *", datetime(2026, 3, 1)) == datetime(2028, 2, 29, 0, 0)


def test_a_time_zone_is_kept_and_the_fields_are_its_wall_clock() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=BERLIN)
    found = due("30 3 * * *", now)
    assert found == datetime(2026, 5, 2, 3, 30, tzinfo=BERLIN)
    assert found.astimezone(UTC) == datetime(2026, 5, 2, 1, 30, tzinfo=UTC)


def test_a_time_skipped_by_daylight_saving_runs_after_the_change() -> None:
    # Berlin 2026-03-29: 02:00 CET becomes 03:00 CEST, so 02:30 never shows on the clock.
    found = due("30 2 * * *", datetime(2026, 3, 29, 1, 0, tzinfo=BERLIN))
    assert found.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST


def test_an_hour_the_clock_repeats_is_due_once() -> None:
    # Berlin 2026-10-25: 03:00 CEST becomes 02:00 CET, so 02:30 happens twice.
    first = due("30 2 * * *", datetime(2026, 10, 25, 1, 0, tzinfo=BERLIN))
    assert first.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert due("30 2 * * *", first).date() == datetime(2026, 10, 26).date()


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("30 3 * *", "five fields"),
        ("", "five fields"),
        ("60 3 * * *", "minute: 60 is outside 0-59"),
        ("0 24 * * *", "hour: 24 is outside 0-23"),
        ("0 0 0 * *", "day of month: 0 is outside 1-31"),
        ("0 0 * 13 *", "month: 13 is outside 1-12"),
        ("0 0 * * 8", "day of week: 8 is outside 0-7"),
        ("0 5-1 * * *", "hour: range '5-1' runs backwards"),
        ("*/0 * * * *", "minute: step '0' is not a positive number"),
        ("a * * * *", "minute: 'a' is not a number"),
        ("1,,2 * * * *", "minute: empty item"),
        ("0 0 * smarch *", "month: 'smarch' is not a number"),
        ("0 0 31 2 *", "no month it names has day 31"),
        ("0 0 30 feb,apr *", None),
    ],
)
def test_a_bad_expression_names_the_field_and_the_fault(expression: str, message: str) -> None:
    if message is None:
        CronSchedule.parse(expression)  # April has a 30th: valid
        return
    with pytest.raises(CronError, match=message):
        CronSchedule.parse(expression)
