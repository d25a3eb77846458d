"""What a report is: the question asked (period and filters) and the answer (columns and rows).

Every report has the same shape, so the command line, the REST API and the
CSV export draw all of them the same way: named columns with a kind that says
how a value reads (a count, seconds, a percentage, a local time), rows of
values keyed by column, and a summary of the same kind.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from ringfort.errors import ValidationError

__all__ = [
    "DEFAULT_SERVICE_LEVEL",
    "Column",
    "Kind",
    "Report",
    "ReportQuery",
]

DEFAULT_SERVICE_LEVEL = 20
"""Seconds a call may wait and still count as answered in time, when no queue says otherwise
(the common 80/20 target)."""

MAX_LIMIT = 100_000
"""The largest page a list report gives at once."""

MAX_PERIOD = timedelta(days=3 * 366)
"""A longer period is almost surely a typing mistake, and would read the whole log."""


class Kind(enum.StrEnum):
    """How a column's values read."""

    TEXT = "text"
    COUNT = "count"
    SECONDS = "seconds"
    """Whole seconds; tables print them as H:MM:SS, CSV and JSON as numbers."""
    PERCENT = "percent"
    """0-100, one decimal."""
    NUMBER = "number"
    """A ratio such as calls per hour, two decimals."""
    TIME = "time"
    """A local time (ISO 8601 with its offset in CSV and JSON)."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a report."""

    key: str
    """The field's name in JSON and the CSV header."""
    header: str
    """The column's title in a printed table."""
    kind: Kind = Kind.TEXT


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """A report's period and filters.

    The period is ``[start, end)``. A call belongs to the period in which it
    joined the queue; an agent's login and pause intervals are cut to it.
    """

    start: datetime
    end: datetime
    queue: str | None = None
    """A queue's name."""
    agent: str | None = None
    """An agent's number."""
    caller: str | None = None
    """The caller's number, exactly."""
    zone: tzinfo = UTC
    """Where hours, days and months begin, and how times are shown."""
    service_level: int | None = None
    """Seconds; None: the queue's own setting (with ``queue``), else `DEFAULT_SERVICE_LEVEL`."""
    by: str = "day"
    """For the distribution report: ``hour``, ``hour-of-day``, ``day``, ``weekday`` or
    ``month``."""
    limit: int | None = None
    """For the reports that list calls or intervals: at most this many rows (a page); the
    summary still covers the whole period."""
    offset: int = 0
    """Rows skipped before the page."""

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValidationError(f"{name} must be a timezone-aware time", field=name)
        if self.end <= self.start:
            raise ValidationError("the period must end after it starts", field="end")
        if self.end - self.start > MAX_PERIOD:
            raise ValidationError("the period may be at most three years", field="end")
        if self.limit is not None and not 1 <= self.limit <= MAX_LIMIT:
            raise ValidationError(f"limit must be 1 to {MAX_LIMIT}", field="limit")
        if self.offset < 0:
            raise ValidationError("offset must not be negative", field="offset")
        if self.service_level is not None and not 1 <= self.service_level <= 3600:
            raise ValidationError("service level must be 1 to 3600 seconds", field="service_level")

    def local(self, moment: datetime) -> datetime:
        """``moment`` in the report's zone."""
        return moment.astimezone(self.zone)

    def filters(self) -> dict[str, Any]:
        """The query as JSON-ready values, for a report's heading."""
        return {
            "from": self.local(self.start).isoformat(),
            "to": self.local(self.end).isoformat(),
            "queue": self.queue,
            "agent": self.agent,
            "caller": self.caller,
            "timezone": str(self.zone),
            "limit": self.limit,
            "offset": self.offset,
        }


@dataclass(slots=True)
class Report:
    """A report's answer: rows of values under columns, and a summary."""

    name: str
    title: str
    query: ReportQuery
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]]
    summary_columns: tuple[Column, ...] = ()
    summary: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The report as a JSON document: period and filters, columns, rows and summary."""
        return {
            "report": self.name,
            "title": self.title,
            **self.query.filters(),
            "columns": [
                {"key": c.key, "title": c.header, "kind": c.kind.value} for c in self.columns
            ],
            "rows": [
                {c.key: _json_value(row.get(c.key)) for c in self.columns} for row in self.rows
            ],
            "summary": {c.key: _json_value(self.summary.get(c.key)) for c in self.summary_columns},
        }


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 2)
    return value
