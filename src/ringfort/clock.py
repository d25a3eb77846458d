"""Where time comes from.

Protocol code takes ``now`` as an argument; the adapters read it here so a
test can hand in a fake clock.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class Clock(Protocol):
    """A source of monotonic time (for timers) and wall time (for records)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    def wall(self) -> float:
        """Seconds since the Unix epoch."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


def local_zone() -> tzinfo:
    """The machine's own time zone by its IANA name (``TZ``, else /etc/localtime), else UTC.

    A name, not today's offset: a year's report crosses daylight-saving changes.
    """
    name = os.environ.get("TZ", "").lstrip(":")
    if not name:
        try:
            target = os.readlink("/etc/localtime")
        except OSError:
            return UTC
        name = target.partition("zoneinfo/")[2]
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC
