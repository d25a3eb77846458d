"""Agents' working time from the queue log: login and pause intervals, and what they did in them.

An interval runs from a login (``AGENTLOGIN``, ``ADDMEMBER``) to the next
login or logout of the same agent in the same queue; a pause from ``PAUSE``
to the next event of that agent and queue (``UNPAUSE``, a logout, a new
pause). The database pairs them with a window function (``LEAD``), so the
log is read once in SQL; intervals that began before the period are found
through the ``(event, time)`` index and cut to the period, as are those
still open (cut at the period's end or now, whichever is first).

The caller filter does not apply here: sessions belong to agents.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ringfort import queuelog as ql
from ringfort.db.models import Agent
from ringfort.reports.calls import LOG, visits
from ringfort.reports.model import Column, Kind, Report, ReportQuery

__all__ = ["activity_report", "sessions_report"]

LOGINS = (ql.AGENTLOGIN, ql.ADDMEMBER)
LOGOUTS = (ql.AGENTLOGOFF, ql.REMOVEMEMBER)
PAUSES = (ql.PAUSE, ql.UNPAUSE)

LOGGED_IN = "logged-in"
PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class Interval:
    """A stretch of an agent's time in a queue, cut to the report's period."""

    agent: str
    queue: str
    state: str
    """``logged-in`` or ``paused``."""
    reason: str
    start: datetime
    end: datetime
    open: bool
    """Still going on: no event has ended it yet."""

    @property
    def seconds(self) -> int:
        return round((self.end - self.start).total_seconds())


def _filters(query: ReportQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [LOG.c.time < query.end]
    if query.queue is not None:
        conditions.append(LOG.c.queuename == query.queue)
    if query.agent is not None:
        conditions.append(LOG.c.agent == query.agent)
    return conditions


async def _intervals(
    session: AsyncSession,
    query: ReportQuery,
    *,
    starts: tuple[str, ...],
    ends: tuple[str, ...],
    state: str,
    now: datetime,
) -> list[Interval]:
    paired = (
        select(
            LOG.c.agent,
            LOG.c.queuename,
            LOG.c.event,
            LOG.c.time,
            LOG.c.data1,
            func.lead(LOG.c.time, type_=LOG.c.time.type)
            .over(partition_by=(LOG.c.agent, LOG.c.queuename), order_by=(LOG.c.time, LOG.c.id))
            .label("next_time"),
        )
        .where(LOG.c.event.in_(starts + ends), *_filters(query))
        .subquery()
    )
    statement = select(paired).where(
        paired.c.event.in_(starts),
        (paired.c.next_time.is_(None)) | (paired.c.next_time > query.start),
    )
    cut_off = min(query.end, now)
    intervals = []
    for row in await session.execute(statement):
        # Both times come back aware in UTC: the lead() is typed as the column it reads.
        began = max(row.time, query.start)
        ended = cut_off if row.next_time is None else min(row.next_time, query.end)
        if ended <= began:
            continue
        intervals.append(
            Interval(
                agent=row.agent,
                queue=row.queuename,
                state=state,
                reason=row.data1 if state == PAUSED else "",
                start=began,
                end=ended,
                open=row.next_time is None,
            )
        )
    return intervals


async def agent_intervals(
    session: AsyncSession, query: ReportQuery, now: datetime | None = None
) -> list[Interval]:
    """Login and pause intervals of the query's agents and queues, in time order."""
    now = now or datetime.now(UTC)
    logins = await _intervals(
        session, query, starts=LOGINS, ends=LOGINS + LOGOUTS, state=LOGGED_IN, now=now
    )
    pauses = await _intervals(
        session, query, starts=(ql.PAUSE,), ends=LOGINS + LOGOUTS + PAUSES, state=PAUSED, now=now
    )
    return sorted([*logins, *pauses], key=lambda i: (i.start, i.agent, i.queue, i.state))


def _paged(intervals: list[Interval], query: ReportQuery) -> list[Interval]:
    end = None if query.limit is None else query.offset + query.limit
    return intervals[query.offset : end]


async def _names(session: AsyncSession, numbers: set[str]) -> dict[str, str]:
    if not numbers:
        return {}
    rows = await session.execute(select(Agent.number, Agent.name).where(Agent.number.in_(numbers)))
    return {row.number: row.name for row in rows}


async def sessions_report(
    session: AsyncSession, query: ReportQuery, now: datetime | None = None
) -> Report:
    """Each login and pause interval of the period: agent, queue, from, to, how long, why.

    ``to`` is None for an interval still going on; its seconds run to the period's end
    or now, whichever is first.
    """
    intervals = await agent_intervals(session, query, now)
    names = await _names(session, {i.agent for i in intervals})
    summary = {"intervals": len(intervals)}
    rows = [
        {
            "agent": i.agent,
            "agent_name": names.get(i.agent, ""),
            "queue": i.queue,
            "state": i.state,
            "reason": i.reason,
            "from": query.local(i.start),
            "to": None if i.open else query.local(i.end),
            "seconds": i.seconds,
        }
        for i in _paged(intervals, query)
    ]
    return Report(
        name="sessions",
        title="Agent sessions",
        query=query,
        columns=(
            Column("agent", "AGENT"),
            Column("agent_name", "NAME"),
            Column("queue", "QUEUE"),
            Column("state", "STATE"),
            Column("reason", "REASON"),
            Column("from", "FROM", Kind.TIME),
            Column("to", "TO", Kind.TIME),
            Column("seconds", "TIME", Kind.SECONDS),
        ),
        rows=rows,
        summary_columns=(Column("intervals", "INTERVALS", Kind.COUNT),),
        summary=summary,
    )


async def activity_report(
    session: AsyncSession, query: ReportQuery, now: datetime | None = None
) -> Report:
    """Per agent and queue: logged-in and paused time (by reason), calls answered and missed,
    calls per logged-in hour, and occupancy (talk over logged-in time not paused)."""
    query = replace(query, caller=None)
    intervals = await agent_intervals(session, query, now)
    stay = visits(query)
    answered = (
        select(
            stay.c.agent,
            stay.c.queue,
            func.count().label("answered"),
            func.sum(stay.c.talk).label("talk"),
            func.count(stay.c.ended_by).filter(stay.c.ended_by == "caller").label("by_caller"),
        )
        .where(stay.c.answered == 1)
        .group_by(stay.c.agent, stay.c.queue)
    )
    missed_conditions = [
        LOG.c.event == ql.RINGNOANSWER,
        LOG.c.time >= query.start,
        *_filters(query),
    ]
    missed = (
        select(LOG.c.agent, LOG.c.queuename, func.count().label("missed"))
        .where(*missed_conditions)
        .group_by(LOG.c.agent, LOG.c.queuename)
    )

    table: dict[tuple[str, str], dict[str, Any]] = {}

    def entry(agent: str, queue: str) -> dict[str, Any]:
        return table.setdefault(
            (agent, queue),
            {"logged_in": 0, "paused": 0, "reasons": {}, "answered": 0, "talk": 0,
             "by_caller": 0, "missed": 0},
        )  # fmt: skip

    for interval in intervals:
        row = entry(interval.agent, interval.queue)
        if interval.state == LOGGED_IN:
            row["logged_in"] += interval.seconds
        else:
            row["paused"] += interval.seconds
            reasons = row["reasons"]
            reasons[interval.reason] = reasons.get(interval.reason, 0) + interval.seconds
    for result in await session.execute(answered):
        row = entry(result.agent, result.queue)
        row["answered"] = int(result.answered)
        row["talk"] = int(result.talk or 0)
        row["by_caller"] = int(result.by_caller)
    for result in await session.execute(missed):
        entry(result.agent, result.queuename)["missed"] = int(result.missed)

    names = await _names(session, {agent for agent, _ in table})
    rows = []
    for (agent, queue), row in sorted(table.items()):
        working = max(row["logged_in"] - row["paused"], 0)
        rows.append(
            {
                "agent": agent,
                "agent_name": names.get(agent, ""),
                "queue": queue,
                "logged_in": row["logged_in"],
                "paused": row["paused"],
                "paused_by_reason": dict(sorted(row["reasons"].items())),
                "answered": row["answered"],
                "missed": row["missed"],
                "by_caller": row["by_caller"],
                "talk": row["talk"],
                "calls_per_hour": (
                    round(row["answered"] * 3600 / row["logged_in"], 2) if row["logged_in"] else 0.0
                ),
                "occupancy_pct": round(100.0 * row["talk"] / working, 1) if working else 0.0,
            }
        )
    return Report(
        name="activity",
        title="Agent activity",
        query=query,
        columns=(
            Column("agent", "AGENT"),
            Column("agent_name", "NAME"),
            Column("queue", "QUEUE"),
            Column("logged_in", "LOGGED IN", Kind.SECONDS),
            Column("paused", "PAUSED", Kind.SECONDS),
            Column("paused_by_reason", "PAUSED BY REASON"),
            Column("answered", "ANSWERED", Kind.COUNT),
            Column("missed", "MISSED", Kind.COUNT),
            Column("by_caller", "ENDED BY CALLER", Kind.COUNT),
            Column("talk", "TALK", Kind.SECONDS),
            Column("calls_per_hour", "CALLS/HOUR", Kind.NUMBER),
            Column("occupancy_pct", "OCCUPANCY", Kind.PERCENT),
        ),
        rows=rows,
    )
