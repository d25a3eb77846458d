"""Cron expressions: when a scheduled job (the nightly backup) is due.

The five fields of crontab(5), ``minute hour day-of-month month day-of-week``,
each ``*``, a number, a range ``a-b``, a step ``*/n`` or ``a-b/n`` (``a/n`` means
``a-max/n``), or a comma list of those; months and weekdays also by their
English three-letter names; weekday 0 and 7 are both Sunday. ``@yearly``,
``@monthly``, ``@weekly``, ``@daily`` (``@midnight``) and ``@hourly`` stand for
their usual expressions. As in Vixie cron, when both day fields are restricted a
day matching either is due.

Pure: the caller says what time it is, and gets the next due time back.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["CronError", "CronSchedule"]


class CronError(ValueError):
    """An expression that is not a valid schedule; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    """Names of the values from ``low`` up, when the field has them."""


_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DAY = _Field("day of month", 1, 31)
_MONTH = _Field("month", 1, 12, tuple(name.lower() for name in calendar.month_abbr[1:]))
# 7 is Sunday too (crontab(5)); it is folded onto 0 after parsing.
_WEEKDAY = _Field("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat"))

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# Far enough to reach the rarest day a valid schedule can name (29 February on a
# given weekday recurs within 28 years); a search past it means a bug, not a wait.
_SEARCH_YEARS = 30

# The longest each month can be, so "31 in February" is refused when parsed
# instead of searched for forever.
_LONGEST_MONTH = dict(enumerate((31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31), start=1))


def _value(text: str, field: _Field) -> int:
    lowered = text.lower()
    if lowered in field.names:
        return field.low + field.names.index(lowered)
    if not text.isdigit():
        raise CronError(f"{field.name}: {text!r} is not a number")
    number = int(text)
    if not field.low <= number <= field.high:
        raise CronError(f"{field.name}: {number} is outside {field.low}-{field.high}")
    return number


def _parse_field(text: str, field: _Field) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        span, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{field.name}: step {step_text!r} is not a positive number")
            step = int(step_text)
        if span == "*":
            low, high = field.low, field.high
        elif "-" in span:
            first, _, last = span.partition("-")
            low, high = _value(first, field), _value(last, field)
            if high < low:
                raise CronError(f"{field.name}: range {span!r} runs backwards")
        elif span:
            low = _value(span, field)
            # crontab(5): "a/n" is "a-max/n"; a bare "a" is just a.
            high = field.high if slash else low
        else:
            raise CronError(f"{field.name}: empty item in {text!r}")
        values.update(range(low, high + 1, step))
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A parsed five-field cron expression; :meth:`next_after` says when it is next due."""

    expression: str
    """The text it was parsed from."""
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    """Days of the month, 1-31."""
    months: frozenset[int]
    weekdays: frozenset[int]
    """0 (Sunday) to 6 (Saturday)."""
    days_restricted: bool
    """False when the day-of-month field was ``*`` (see the module's note on the day fields)."""
    weekdays_restricted: bool

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        """Parse ``expression``; :class:`CronError` naming the field at fault."""
        text = " ".join(expression.split())
        fields = _MACROS.get(text.lower(), text).split(" ")
        if len(fields) != 5:
            raise CronError(
                f"{expression!r}: expected five fields (minute hour day month weekday),"
                f" e.g. '30 3 * * *', got {len(fields) if text else 0}"
            )
        minute, hour, day, month, weekday = fields
        weekdays = frozenset(value % 7 for value in _parse_field(weekday, _WEEKDAY))
        schedule = cls(
            expression=expression.strip(),
            minutes=_parse_field(minute, _MINUTE),
            hours=_parse_field(hour, _HOUR),
            days=_parse_field(day, _DAY),
            months=_parse_field(month, _MONTH),
            weekdays=weekdays,
            days_restricted=not day.startswith("*"),
            weekdays_restricted=not weekday.startswith("*"),
        )
        if schedule.days_restricted and not schedule.weekdays_restricted:
            longest = max(_LONGEST_MONTH[month] for month in schedule.months)
            if min(schedule.days) > longest:
                raise CronError(f"{expression!r}: no month it names has day {min(schedule.days)}")
        return schedule

    def _day_matches(self, moment: datetime) -> bool:
        in_days = moment.day in self.days
        # Python counts Monday as 0, cron counts Sunday as 0.
        in_weekdays = (moment.weekday() + 1) % 7 in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays

    def _next_wall_time(self, start: datetime) -> datetime:
        """The first matching minute at or after ``start`` (naive wall-clock time)."""
        moment = start
        give_up = start + timedelta(days=366 * _SEARCH_YEARS)
        while moment < give_up:
            if moment.month not in self.months:
                year, month = divmod(moment.year * 12 + moment.month, 12)
                moment = datetime(year, month + 1, 1)
            elif not self._day_matches(moment):
                moment = datetime(moment.year, moment.month, moment.day) + timedelta(days=1)
            elif moment.hour not in self.hours:
                moment = moment.replace(minute=0) + timedelta(hours=1)
            elif moment.minute not in self.minutes:
                moment += timedelta(minutes=1)
            else:
                return moment
        raise CronError(f"{self.expression!r} is never due")

    def next_after(self, now: datetime) -> datetime:
        """The first due minute strictly after ``now``, in ``now``'s time zone.

        Fields are matched against the wall clock of ``now``'s zone. A time that
        a daylight-saving change skips is due at the same wall-clock reading after
        the change (Python's fold=0 rule); an hour the clock repeats is due once.
        """
        zone = now.tzinfo
        wall = now.replace(tzinfo=None, second=0, microsecond=0) + timedelta(minutes=1)
        while True:
            due = self._next_wall_time(wall).replace(tzinfo=zone)
            if zone is None or due.timestamp() > now.timestamp():
                return due
            wall = due.replace(tzinfo=None) + timedelta(minutes=1)

    def __str__(self) -> str:
        return self.expression
