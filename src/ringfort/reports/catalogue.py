"""Every report by name, the period as people type it, and running one against the store."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from ringfort.clock import local_zone
from ringfort.errors import ValidationError
from ringfort.reports.callreports import (
    DISTRIBUTIONS,
    agents_report,
    answered_report,
    distribution_report,
    lost_report,
    queues_report,
    service_level_report,
    totals_report,
)
from ringfort.reports.model import Report, ReportQuery
from ringfort.reports.sessions import activity_report, sessions_report
from ringfort.services.database import Database

__all__ = [
    "REPORTS",
    "ReportSpec",
    "check_by",
    "parse_period",
    "parse_zone",
    "run_report",
    "typed_query",
]


@dataclass(frozen=True, slots=True)
class ReportSpec:
    """A report's name, what it shows, and how it is made."""

    name: str
    summary: str
    make: Callable[[AsyncSession, ReportQuery], Awaitable[Report]]


REPORTS: dict[str, ReportSpec] = {
    spec.name: spec
    for spec in (
        ReportSpec("answered", "answered calls: queue, agent, time, caller, wait, talk, "
                   "who hung up, recording", answered_report),
        ReportSpec("lost", "lost calls: queue, time, caller, wait, why (abandon, timeout, "
                   "empty, key, full)", lost_report),
        ReportSpec("agents", "per agent: answered, wait and talk, ended by caller/agent/"
                   "transfer", agents_report),
        ReportSpec("queues", "per queue: offered, answered, lost, wait and talk, ended by",
                   queues_report),
        ReportSpec("service-level", "answered and lost calls by wait (5 s to 300 s), "
                   "service level %", service_level_report),
        ReportSpec("distribution", "offered, answered, transferred, lost per hour, "
                   "hour of day, day, weekday or month (--by)", distribution_report),
        ReportSpec("sessions", "agents' login and pause intervals", sessions_report),
        ReportSpec("activity", "per agent and queue: logged-in and paused time, answered, "
                   "missed, calls per hour, occupancy", activity_report),
        ReportSpec("totals", "offered, answered, lost, most waiting at once, talk and wait",
                   totals_report),
    )
}  # fmt: skip
"""The reports, by the name the command line and the REST API use."""


def parse_zone(name: str | None) -> tzinfo:
    """An IANA time zone (``Europe/Moscow``); ``UTC`` is UTC, None the machine's own zone."""
    if name is None:
        return local_zone()
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin", field="tz"
        ) from None


_YEAR = re.compile(r"^\d{4}$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _bound(text: str, zone: tzinfo, *, end: bool, field: str) -> datetime:
    """A period bound: a year, month or date (whole, so an end one is included) or a time."""
    text = text.strip()
    try:
        if _YEAR.match(text):
            first = date(int(text), 1, 1)
            day = date(first.year + 1, 1, 1) if end else first
        elif match := _MONTH.match(text):
            first = date(int(match[1]), int(match[2]), 1)
            following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            day = following if end else first
        elif len(text) == 10:
            day = date.fromisoformat(text) + (timedelta(days=1) if end else timedelta())
        else:
            moment = datetime.fromisoformat(text)
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
    except ValueError:
        raise ValidationError(
            f"{field}: expected a year (2026), month (2026-05), date (2026-05-31) or time"
            f" (2026-05-31T08:00), got {text!r}",
            field=field,
        ) from None
    return datetime.combine(day, time(), tzinfo=zone)


def parse_period(
    start: str | None, end: str | None, zone: tzinfo, *, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """``[start, end)`` from what a person types, in ``zone`` unless a time has an offset.

    A year, month or date given as the end is included whole (``--from 2026-05-01 --to
    2026-05-31`` is all of May); a time is the exclusive end. Without a start the
    period is today; without an end it runs to the end of the start's day, month or
    year (so ``--from 2026-05`` is May).
    """
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    first = _bound(start, zone, end=False, field="from") if start else None
    if first is None:
        first = datetime.combine(today, time(), tzinfo=zone)
    if end is not None:
        last = _bound(end, zone, end=True, field="to")
    elif start is not None and (_YEAR.match(start.strip()) or _MONTH.match(start.strip())):
        last = _bound(start, zone, end=True, field="from")
    else:
        last = datetime.combine(first.astimezone(zone).date() + timedelta(days=1), time(),
                                tzinfo=zone)  # fmt: skip
    return first, last


def typed_query(start: str | None, end: str | None, tz: str | None, **filters: Any) -> ReportQuery:
    """A report's query from what a person typed: the period and zone as text (see
    `parse_period`, `parse_zone`), the filters as `ReportQuery` takes them."""
    zone = parse_zone(tz)
    first, last = parse_period(start, end, zone)
    return ReportQuery(start=first, end=last, zone=zone, **filters)


def check_by(by: str) -> str:
    """The distribution's grouping, checked."""
    if by not in DISTRIBUTIONS:
        raise ValidationError(
            f"by must be one of {', '.join(DISTRIBUTIONS)}, got {by!r}", field="by"
        )
    return by


async def run_report(db: Database, name: str, query: ReportQuery) -> Report:
    """Make the report ``name`` for ``query`` (one read-only session)."""
    spec = REPORTS.get(name)
    if spec is None:
        raise ValidationError(
            f"no report {name!r}; the reports are {', '.join(REPORTS)}", field="report"
        )
    check_by(query.by)
    async with db.session() as session:
        return await spec.make(session, query)
