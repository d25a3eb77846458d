"""Numbers and times as the prompt names that say them (English word order).

``number_words(42)`` is ``["numbers/40", "digits/2"]``; ``when_words`` says when a
message came in the way a voicemail system does: "today at 3 oh 5 P M", "yesterday
at ...", a weekday within the last week, else the month and day.
"""

from __future__ import annotations

from datetime import datetime

__all__ = ["number_words", "when_words"]

_WEEK_DAYS = 7


def number_words(number: int) -> list[str]:
    """The prompts that say ``number`` (0 to 999 as words; larger ones digit by digit)."""
    if number < 0 or number > 999:
        return [f"digits/{digit}" for digit in str(abs(number))]
    if number < 10:
        return [f"digits/{number}"]
    if number < 20:
        return [f"numbers/{number}"]
    if number < 100:
        tens, units = divmod(number, 10)
        return [f"numbers/{tens * 10}", *([f"digits/{units}"] if units else [])]
    hundreds, rest = divmod(number, 100)
    return [f"digits/{hundreds}", "numbers/hundred", *(number_words(rest) if rest else [])]


def when_words(when: datetime, now: datetime) -> list[str]:
    """When ``when`` was, seen from ``now`` (both in the listener's time zone)."""
    days_ago = (now.date() - when.date()).days
    if days_ago == 0:
        day = ["today"]
    elif days_ago == 1:
        day = ["yesterday"]
    elif 1 < days_ago < _WEEK_DAYS:
        day = [f"days/{when.weekday()}"]
    else:
        day = [f"months/{when.month}", *number_words(when.day)]
    hour = when.hour % 12 or 12
    if when.minute == 0:
        minute = ["o-clock"]
    elif when.minute < 10:
        minute = ["oh", f"digits/{when.minute}"]
    else:
        minute = number_words(when.minute)
    return [*day, "at", *number_words(hour), *minute, "a-m" if when.hour < 12 else "p-m"]
