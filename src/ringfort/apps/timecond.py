"""Time conditions: weekly hours and holidays in a time zone, choosing between two destinations.

Hours are wall-clock times in the condition's own zone, so "09:00-18:00" stays
09:00-18:00 local time across daylight-saving changes; on the day clocks go
forward an hour that does not exist is simply never reached, and on the day they
go back the repeated hour is inside or outside the hours both times it passes.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import zoneinfo
from dataclasses import dataclass

from ringfort.pbx.destination import Destination

__all__ = ["DAY_NAMES", "TimeCheck", "TimeCondition", "WeeklyRule", "zone"]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day names as rules write them; index 0 is Monday, as ``datetime.weekday()`` counts."""

_RULE = re.compile(r"(?P<days>.+?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_EXAMPLE = "'mon-fri 09:00-18:00' or 'sat,sun 10:00-14:00'"


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA time zone ``name``; ValueError naming it (and close matches) when it is unknown."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        pass
    close = difflib.get_close_matches(name, sorted(zoneinfo.available_timezones()), n=3)
    folded = [known for known in zoneinfo.available_timezones() if known.lower() == name.lower()]
    suggestions = folded or close
    hint = f"; did you mean {' or '.join(suggestions)}?" if suggestions else ""
    raise ValueError(
        f"unknown time zone {name!r}: use an IANA name such as Europe/Moscow or UTC{hint}"
    )


def _days(text: str) -> frozenset[int]:
    """``mon-fri``, ``sat,sun``, ``mon,wed-fri``; a range may wrap past Sunday (``fri-mon``)."""
    days: set[int] = set()
    for part in text.lower().split(","):
        first, dash, last = part.partition("-")
        try:
            start = DAY_NAMES.index(first)
            end = DAY_NAMES.index(last) if dash else start
        except ValueError:
            raise ValueError(
                f"{part!r} is not a day or a range of days; use mon, tue, wed, thu, fri, sat, sun,"
                f" ranges like mon-fri and lists like sat,sun"
            ) from None
        span = (end - start) % 7
        days.update((start + offset) % 7 for offset in range(span + 1))
    return frozenset(days)


def _clock(text: str, *, end: bool) -> dt.time | None:
    """``HH:MM``; ``24:00`` (None) only as an end."""
    match = _CLOCK.fullmatch(text)
    assert match is not None  # _RULE only lets HH:MM through
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour == 24 and minute == 0:
        if not end:
            raise ValueError("24:00 can only end hours; start the day with 00:00")
        return None
    if hour > 23 or minute > 59:
        raise ValueError(f"{text} is not a time of day (00:00 to 23:59, or 24:00 as an end)")
    return dt.time(hour, minute)


def _format_days(days: frozenset[int]) -> str:
    """In week order from Monday, runs of three or more as ranges: ``mon-fri``, ``mon,sat,sun``."""
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] + 1 == day:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts: list[str] = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}")
        else:
            parts.extend(DAY_NAMES[day] for day in run)
    return ",".join(parts)


@dataclass(frozen=True, slots=True)
class WeeklyRule:
    """Hours on some days of the week: ``mon-fri 09:00-18:00``.

    ``end`` None means midnight (written ``24:00``). An end before the start
    (``fri 22:00-06:00``) crosses midnight: the hours begin on each listed day and
    run on into the next day until ``end``, so that rule covers Friday 22:00 to
    Saturday 06:00.
    """

    days: frozenset[int]
    """0 = Monday ... 6 = Sunday: the days the hours begin on."""
    start: dt.time
    end: dt.time | None
    """None = until midnight; before ``start`` = until that time the next day."""

    def __post_init__(self) -> None:
        if not self.days or not self.days <= frozenset(range(7)):
            raise ValueError(f"days must be some of 0 (Monday) to 6 (Sunday), got {set(self.days)}")
        if self.end == self.start:
            raise ValueError("the hours must not start and end at the same time")

    @classmethod
    def parse(cls, text: str) -> WeeklyRule:
        """Read ``<days> HH:MM-HH:MM``; ValueError with an example when it does not fit.

        Days are ``mon`` .. ``sun``, ranges ``mon-fri`` and lists ``sat,sun``,
        in any letter case.
        """
        match = _RULE.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a rule; write days and hours, e.g. {_EXAMPLE}")
        try:
            days = _days("".join(match.group("days").split()))
            start = _clock(match.group("start"), end=False)
            end = _clock(match.group("end"), end=True)
        except ValueError as error:
            raise ValueError(f"{text!r}: {error}") from None
        assert start is not None  # _clock returns None only for an end
        if end == start:
            raise ValueError(
                f"{text!r}: the hours start and end at the same time; for a whole day write"
                f" 00:00-24:00"
            )
        return cls(days, start, end)

    def __str__(self) -> str:
        end = "24:00" if self.end is None else self.end.strftime("%H:%M")
        return f"{_format_days(self.days)} {self.start.strftime('%H:%M')}-{end}"

    @property
    def crosses_midnight(self) -> bool:
        """Whether the hours run on into the next day."""
        return self.end is not None and self.end < self.start

    def covers(self, local: dt.datetime) -> bool:
        """Whether the wall-clock time ``local`` (in the condition's zone) is in these hours."""
        day = local.weekday()
        clock = local.time().replace(tzinfo=None)
        if not self.crosses_midnight:
            return (
                day in self.days and clock >= self.start and (self.end is None or clock < self.end)
            )
        assert self.end is not None
        # The evening of a listed day, or the early hours of the day after one.
        return (day in self.days and clock >= self.start) or (
            (day - 1) % 7 in self.days and clock < self.end
        )


@dataclass(frozen=True, slots=True)
class TimeCheck:
    """What a time condition decided at one moment, and why."""

    local_time: dt.datetime
    """The moment in the condition's zone."""
    holiday: bool
    """The local date is one of the holidays (outside the hours all day)."""
    rule: WeeklyRule | None
    """The first rule whose hours contain the moment; None when outside the hours."""
    destination: Destination
    """Where a call goes at that moment."""

    @property
    def inside(self) -> bool:
        """Whether the moment is inside the hours."""
        return self.rule is not None

    def record(self, name: str) -> dict[str, object]:
        """The decision for condition ``name`` as the CLI's JSON and the API show it."""
        return {
            "name": name,
            "local_time": self.local_time.isoformat(),
            "inside": self.inside,
            "holiday": self.holiday,
            "rule": None if self.rule is None else str(self.rule),
            "destination": str(self.destination),
        }


@dataclass(frozen=True, slots=True)
class TimeCondition:
    """Chooses ``match_destination`` inside its hours, ``nomatch_destination`` outside them.

    Rules may overlap; a moment is inside the hours when any rule covers it.
    Holidays are whole local dates that count as outside the hours, including
    the early hours a midnight-crossing rule from the day before would cover.
    """

    name: str
    timezone: str
    """IANA zone name the hours and holidays are read in, e.g. ``Europe/Moscow``."""
    rules: tuple[WeeklyRule, ...]
    match_destination: Destination
    """Inside the hours."""
    nomatch_destination: Destination
    """Outside the hours, and on holidays."""
    holidays: tuple[dt.date, ...] = ()
    number: str | None = None
    """An internal number that reaches the condition directly."""

    def check(self, at: dt.datetime) -> TimeCheck:
        """The decision at the aware time ``at`` (any zone), with the local time and reason."""
        if at.tzinfo is None:
            raise ValueError(f"{at.isoformat()} has no time zone; a time condition needs one")
        local = at.astimezone(zone(self.timezone))
        holiday = local.date() in self.holidays
        rule = None if holiday else next((r for r in self.rules if r.covers(local)), None)
        destination = self.nomatch_destination if rule is None else self.match_destination
        return TimeCheck(local_time=local, holiday=holiday, rule=rule, destination=destination)

    def matches(self, at: dt.datetime) -> bool:
        """Whether the aware time ``at`` is inside the hours, judged in this condition's zone."""
        return self.check(at).inside

    def choose(self, at: dt.datetime) -> Destination:
        """The destination that applies at the aware time ``at``."""
        return self.check(at).destination

    def destinations(self) -> tuple[tuple[str, Destination], ...]:
        """Both places the condition can send a call, each with the field that names it."""
        return (("match", self.match_destination), ("nomatch", self.nomatch_destination))
