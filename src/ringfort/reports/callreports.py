"""The reports about queue calls: lists, per agent, per queue, service level, distribution, totals.

Each is a handful of SQL aggregates over `visits` (the outcome rows of the
period); Python only names, orders and divides what the database summed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, Subquery, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ringfort import queuelog as ql
from ringfort.db.expressions import seconds_of
from ringfort.db.models import Agent, Queue
from ringfort.reports.calls import LOG, caller_of, recording_of, visits
from ringfort.reports.model import DEFAULT_SERVICE_LEVEL, Column, Kind, Report, ReportQuery

__all__ = [
    "BUCKETS",
    "DISTRIBUTIONS",
    "agents_report",
    "answered_report",
    "distribution_report",
    "lost_report",
    "queues_report",
    "service_level_report",
    "totals_report",
]

BUCKETS = (5, 10, 15, 30, 45, 60, 90, 120, 300)
"""Upper bounds (seconds, inclusive) of the wait buckets of the service-level report."""

SLOT_SECONDS = 900
"""Calls are summed per quarter hour of UTC, then folded into local hours, days and months:
every time zone in use is a whole number of quarter hours from UTC."""


def _when(condition: ColumnElement[bool], value: ColumnElement[Any] | int = 1) -> Any:
    """The sum of ``value`` over the rows where ``condition`` holds (0 when none do)."""
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def _percent(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def _average(total: float, count: int) -> int:
    """Whole seconds, halves up (Python's round() would send 72.5 to 72)."""
    return int(total / count + 0.5) if count else 0


def _local(query: ReportQuery, epoch_seconds: int) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, query.zone)


ENDED_COLUMNS = (
    Column("by_caller", "BY CALLER", Kind.COUNT),
    Column("by_caller_pct", "%", Kind.PERCENT),
    Column("by_agent", "BY AGENT", Kind.COUNT),
    Column("by_agent_pct", "%", Kind.PERCENT),
    Column("transferred", "TRANSFERRED", Kind.COUNT),
    Column("transferred_pct", "%", Kind.PERCENT),
)

TIME_COLUMNS = (
    Column("wait_total", "WAIT", Kind.SECONDS),
    Column("wait_average", "AVG WAIT", Kind.SECONDS),
    Column("talk_total", "TALK", Kind.SECONDS),
    Column("talk_average", "AVG TALK", Kind.SECONDS),
)


async def answered_report(session: AsyncSession, query: ReportQuery) -> Report:
    """Answered calls, one row each: queue, agent, when, caller, wait, talk, who ended it."""
    stay = visits(query)
    statement = (
        select(
            stay.c.queue,
            Queue.number,
            stay.c.agent,
            Agent.name,
            stay.c.entered,
            caller_of(stay).label("caller"),
            stay.c.wait,
            stay.c.talk,
            stay.c.ended_by,
            recording_of(stay).label("recording"),
            stay.c.callid,
        )
        .outerjoin(Queue, Queue.name == stay.c.queue)
        .outerjoin(Agent, Agent.number == stay.c.agent)
        .where(stay.c.answered == 1)
        .order_by(stay.c.entered, stay.c.id)
    )
    rows = [
        {
            "queue_number": row.number or "",
            "queue": row.queue,
            "agent": row.agent,
            "agent_name": row.name or "",
            "time": _local(query, row.entered),
            "caller": row.caller or "",
            "wait": row.wait,
            "talk": row.talk,
            "ended_by": row.ended_by,
            "recording": row.recording or "",
            "callid": row.callid,
        }
        for row in await session.execute(_page(statement, query))
    ]
    summary = await _spreads(session, stay, stay.c.answered == 1, "answered", "wait", "talk")
    return Report(
        name="answered",
        title="Answered calls",
        query=query,
        columns=(
            Column("queue_number", "NUMBER"),
            Column("queue", "QUEUE"),
            Column("agent", "AGENT"),
            Column("agent_name", "NAME"),
            Column("time", "TIME", Kind.TIME),
            Column("caller", "CALLER"),
            Column("wait", "WAIT", Kind.SECONDS),
            Column("talk", "TALK", Kind.SECONDS),
            Column("ended_by", "ENDED BY"),
            Column("recording", "RECORDING"),
            Column("callid", "CALL"),
        ),
        rows=rows,
        summary_columns=_spread_columns("answered", "wait", "talk"),
        summary=summary,
    )


async def lost_report(session: AsyncSession, query: ReportQuery) -> Report:
    """Calls that ended without an agent: queue, when, caller, how long they waited, why."""
    stay = visits(query)
    statement = (
        select(
            stay.c.queue,
            Queue.number,
            stay.c.entered,
            caller_of(stay).label("caller"),
            stay.c.wait,
            stay.c.reason,
            stay.c.callid,
        )
        .outerjoin(Queue, Queue.name == stay.c.queue)
        .where(stay.c.answered == 0)
        .order_by(stay.c.entered, stay.c.id)
    )
    rows = [
        {
            "queue_number": row.number or "",
            "queue": row.queue,
            "time": _local(query, row.entered),
            "caller": row.caller or "",
            "wait": row.wait,
            "reason": row.reason,
            "callid": row.callid,
        }
        for row in await session.execute(_page(statement, query))
    ]
    summary = await _spreads(session, stay, stay.c.answered == 0, "lost", "wait")
    return Report(
        name="lost",
        title="Lost calls",
        query=query,
        columns=(
            Column("queue_number", "NUMBER"),
            Column("queue", "QUEUE"),
            Column("time", "TIME", Kind.TIME),
            Column("caller", "CALLER"),
            Column("wait", "WAIT", Kind.SECONDS),
            Column("reason", "REASON"),
            Column("callid", "CALL"),
        ),
        rows=rows,
        summary_columns=_spread_columns("lost", "wait"),
        summary=summary,
    )


def _spread_columns(count: str, *names: str) -> tuple[Column, ...]:
    columns = [Column(count, count.upper(), Kind.COUNT)]
    for name in names:
        columns += [
            Column(f"{name}_total", f"TOTAL {name.upper()}", Kind.SECONDS),
            Column(f"{name}_average", f"AVG {name.upper()}", Kind.SECONDS),
            Column(f"{name}_min", f"MIN {name.upper()}", Kind.SECONDS),
            Column(f"{name}_max", f"MAX {name.upper()}", Kind.SECONDS),
        ]
    return tuple(columns)


def _page(statement: Select[Any], query: ReportQuery) -> Select[Any]:
    """The query's page of a listing (all of it without a limit)."""
    if query.limit is None:
        return statement.offset(query.offset) if query.offset else statement
    return statement.limit(query.limit).offset(query.offset)


def _spread_sql(which: ColumnElement[bool], value: ColumnElement[Any]) -> list[Any]:
    """Total, shortest and longest of ``value`` over the rows ``which`` picks."""
    return [
        _when(which, value),
        func.min(case((which, value))),
        func.max(case((which, value))),
    ]


def _spread(name: str, count: int, summed: Any, low: Any, high: Any) -> dict[str, int]:
    """``name``'s total, average, min and max, from `_spread_sql`'s three sums."""
    return {
        f"{name}_total": int(summed),
        f"{name}_average": _average(int(summed), count),
        f"{name}_min": int(low or 0),
        f"{name}_max": int(high or 0),
    }


async def _spreads(
    session: AsyncSession,
    stay: Subquery,
    which: ColumnElement[bool],
    count: str,
    *names: str,
) -> dict[str, int]:
    """Count, and total/average/min/max of each of ``names``, over the rows ``which`` picks:
    the summary of a whole listing, whatever page of it is shown."""
    columns: list[Any] = [_when(which)]
    for name in names:
        columns += _spread_sql(which, stay.c[name])
    row = (await session.execute(select(*columns))).one()
    total = int(row[0])
    summary = {count: total}
    for index, name in enumerate(names):
        summary |= _spread(name, total, *row[1 + 3 * index : 4 + 3 * index])
    return summary


def _ended(row: Any, answered: int) -> dict[str, Any]:
    return {
        "by_caller": row.by_caller,
        "by_caller_pct": _percent(row.by_caller, answered),
        "by_agent": row.by_agent,
        "by_agent_pct": _percent(row.by_agent, answered),
        "transferred": row.transferred,
        "transferred_pct": _percent(row.transferred, answered),
    }


def _answered_sums(stay: Subquery) -> list[Any]:
    answered = stay.c.answered == 1
    return [
        _when(answered).label("answered"),
        _when(answered, stay.c.wait).label("wait"),
        _when(answered, stay.c.talk).label("talk"),
        _when(stay.c.ended_by == "caller").label("by_caller"),
        _when(stay.c.ended_by == "agent").label("by_agent"),
        _when(stay.c.transferred == 1).label("transferred"),
    ]


def _times(row: Any) -> dict[str, Any]:
    return {
        "wait_total": row.wait,
        "wait_average": _average(row.wait, row.answered),
        "talk_total": row.talk,
        "talk_average": _average(row.talk, row.answered),
    }


async def agents_report(session: AsyncSession, query: ReportQuery) -> Report:
    """Per agent: calls answered, wait and talk (total, average), and who ended the calls."""
    stay = visits(query)
    statement = (
        select(stay.c.agent, Agent.name, *_answered_sums(stay))
        .outerjoin(Agent, Agent.number == stay.c.agent)
        .where(stay.c.answered == 1)
        .group_by(stay.c.agent, Agent.name)
        .order_by(stay.c.agent)
    )
    rows = [
        {
            "agent": row.agent,
            "agent_name": row.name or "",
            "answered": row.answered,
            **_times(row),
            **_ended(row, row.answered),
        }
        for row in await session.execute(statement)
    ]
    columns = (
        Column("agent", "AGENT"),
        Column("agent_name", "NAME"),
        Column("answered", "ANSWERED", Kind.COUNT),
        *TIME_COLUMNS,
        *ENDED_COLUMNS,
    )
    return Report(
        name="agents",
        title="Calls per agent",
        query=query,
        columns=columns,
        rows=rows,
        summary_columns=columns[2:],
        summary=_column_totals(rows),
    )


def _column_totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answered = sum(row["answered"] for row in rows)
    total = {
        key: sum(row[key] for row in rows)
        for key in ("answered", "wait_total", "talk_total", "by_caller", "by_agent", "transferred")
    }
    total["wait_average"] = _average(total["wait_total"], answered)
    total["talk_average"] = _average(total["talk_total"], answered)
    for key in ("by_caller", "by_agent", "transferred"):
        total[f"{key}_pct"] = _percent(total[key], answered)
    return total


async def queues_report(session: AsyncSession, query: ReportQuery) -> Report:
    """Per queue: offered, answered, lost, wait and talk, and who ended the answered calls."""
    stay = visits(query)
    statement = (
        select(
            stay.c.queue,
            Queue.number,
            func.count().label("offered"),
            _when(stay.c.answered == 0, stay.c.wait).label("lost_wait"),
            *_answered_sums(stay),
        )
        .outerjoin(Queue, Queue.name == stay.c.queue)
        .group_by(stay.c.queue, Queue.number)
        .order_by(stay.c.queue)
    )
    rows = []
    for row in await session.execute(statement):
        lost = row.offered - row.answered
        rows.append(
            {
                "queue_number": row.number or "",
                "queue": row.queue,
                "offered": row.offered,
                "answered": row.answered,
                "answered_pct": _percent(row.answered, row.offered),
                "lost": lost,
                "lost_wait_average": _average(row.lost_wait, lost),
                **_times(row),
                **_ended(row, row.answered),
            }
        )
    columns = (
        Column("queue_number", "NUMBER"),
        Column("queue", "QUEUE"),
        Column("offered", "OFFERED", Kind.COUNT),
        Column("answered", "ANSWERED", Kind.COUNT),
        Column("answered_pct", "%", Kind.PERCENT),
        Column("lost", "LOST", Kind.COUNT),
        Column("lost_wait_average", "AVG LOST WAIT", Kind.SECONDS),
        *TIME_COLUMNS,
        *ENDED_COLUMNS,
    )
    return Report(name="queues", title="Calls per queue", query=query, columns=columns, rows=rows)


async def _service_level_of(session: AsyncSession, query: ReportQuery) -> int:
    if query.service_level is not None:
        return query.service_level
    if query.queue is not None:
        configured = await session.scalar(
            select(Queue.service_level).where(Queue.name == query.queue)
        )
        if configured:
            return int(configured)
    return DEFAULT_SERVICE_LEVEL


def _bucket_of(wait: ColumnElement[int]) -> Any:
    return case(*[(wait <= bound, bound) for bound in BUCKETS], else_=BUCKETS[-1] + 1)


async def service_level_report(session: AsyncSession, query: ReportQuery) -> Report:
    """Answered and lost calls by how long they waited, and the service level.

    ``service_level`` is Asterisk's ServicelevelPerf (answered within the
    threshold over answered); ``service_level_abandoned`` its ServicelevelPerf2
    (answered or abandoned within the threshold over answered and abandoned:
    a caller who gives up sooner than the target is not counted against it);
    ``service_level_offered`` counts every lost call against it.
    """
    threshold = await _service_level_of(session, query)
    stay = visits(query)
    bucket = _bucket_of(stay.c.wait).label("bucket")
    statement = select(
        bucket,
        _when(stay.c.answered == 1).label("answered"),
        _when(stay.c.answered == 0).label("lost"),
        _when((stay.c.answered == 1) & (stay.c.wait <= threshold)).label("answered_in"),
        _when((stay.c.reason == "abandon") & (stay.c.wait <= threshold)).label("abandoned_in"),
        _when(stay.c.reason == "abandon").label("abandoned"),
    ).group_by(bucket)
    counts: dict[int, tuple[int, int]] = {}
    answered_in = abandoned_in = abandoned = 0
    for row in await session.execute(statement):
        counts[int(row.bucket)] = (int(row.answered), int(row.lost))
        answered_in += int(row.answered_in)
        abandoned_in += int(row.abandoned_in)
        abandoned += int(row.abandoned)
    answered = sum(a for a, _ in counts.values())
    lost = sum(lost for _, lost in counts.values())
    rows = []
    running_answered = running_lost = 0
    for bound in (*BUCKETS, BUCKETS[-1] + 1):
        in_answered, in_lost = counts.get(bound, (0, 0))
        running_answered += in_answered
        running_lost += in_lost
        rows.append(
            {
                "wait": f"<= {bound}" if bound in BUCKETS else f"> {BUCKETS[-1]}",
                "answered": in_answered,
                "answered_pct": _percent(in_answered, answered),
                "answered_cumulative_pct": _percent(running_answered, answered),
                "lost": in_lost,
                "lost_pct": _percent(in_lost, lost),
                "lost_cumulative_pct": _percent(running_lost, lost),
            }
        )
    return Report(
        name="service-level",
        title="Service level",
        query=query,
        columns=(
            Column("wait", "WAIT (S)"),
            Column("answered", "ANSWERED", Kind.COUNT),
            Column("answered_pct", "%", Kind.PERCENT),
            Column("answered_cumulative_pct", "CUMULATIVE %", Kind.PERCENT),
            Column("lost", "LOST", Kind.COUNT),
            Column("lost_pct", "%", Kind.PERCENT),
            Column("lost_cumulative_pct", "CUMULATIVE %", Kind.PERCENT),
        ),
        rows=rows,
        summary_columns=(
            Column("threshold", "THRESHOLD (S)", Kind.COUNT),
            Column("answered", "ANSWERED", Kind.COUNT),
            Column("answered_within", "ANSWERED WITHIN", Kind.COUNT),
            Column("lost", "LOST", Kind.COUNT),
            Column("abandoned", "ABANDONED", Kind.COUNT),
            Column("abandoned_within", "ABANDONED WITHIN", Kind.COUNT),
            Column("service_level", "SERVICE LEVEL", Kind.PERCENT),
            Column("service_level_abandoned", "SERVICE LEVEL (ABANDONS IN TIME)", Kind.PERCENT),
            Column("service_level_offered", "SERVICE LEVEL (OF OFFERED)", Kind.PERCENT),
        ),
        summary={
            "threshold": threshold,
            "answered": answered,
            "answered_within": answered_in,
            "lost": lost,
            "abandoned": abandoned,
            "abandoned_within": abandoned_in,
            "service_level": _percent(answered_in, answered),
            "service_level_abandoned": _percent(answered_in + abandoned_in, answered + abandoned),
            "service_level_offered": _percent(answered_in, answered + lost),
        },
    )


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

DISTRIBUTIONS: dict[str, Callable[[datetime], str]] = {
    "hour": lambda moment: moment.strftime("%Y-%m-%d %H:00"),
    "hour-of-day": lambda moment: moment.strftime("%H:00"),
    "day": lambda moment: moment.strftime("%Y-%m-%d"),
    "weekday": lambda moment: f"{moment.isoweekday()} {WEEKDAYS[moment.weekday()]}",
    "month": lambda moment: moment.strftime("%Y-%m"),
}
"""How a call's local join time names its period, for each ``--by``."""


def _periods(query: ReportQuery, label: Callable[[datetime], str]) -> Iterator[str]:
    """Every period label the query covers, in order (so empty periods show as zeros)."""
    seen: set[str] = set()
    moment = query.start
    while moment < query.end:
        name = label(moment.astimezone(query.zone))
        if name not in seen:
            seen.add(name)
            yield name
        moment += timedelta(seconds=SLOT_SECONDS)


async def distribution_report(session: AsyncSession, query: ReportQuery) -> Report:
    """Offered, answered, transferred and lost calls per hour, day, weekday or month."""
    label = DISTRIBUTIONS[query.by]
    stay = visits(query)
    slot = (stay.c.entered // SLOT_SECONDS).label("slot")
    answered = stay.c.answered == 1
    transferred = stay.c.transferred == 1
    lost = stay.c.answered == 0
    statement = select(
        slot,
        func.count().label("offered"),
        _when(answered).label("answered"),
        _when(answered, stay.c.wait).label("wait"),
        _when(answered, stay.c.talk).label("talk"),
        _when(transferred).label("transferred"),
        _when(transferred, stay.c.wait).label("transferred_wait"),
        _when(transferred, stay.c.talk).label("transferred_talk"),
        _when(lost).label("lost"),
        _when(lost, stay.c.wait).label("lost_wait"),
    ).group_by(slot)
    keys = ("offered", "answered", "wait", "talk", "transferred", "transferred_wait",
            "transferred_talk", "lost", "lost_wait")  # fmt: skip
    sums: dict[str, dict[str, int]] = {
        name: dict.fromkeys(keys, 0) for name in _periods(query, label)
    }
    for row in await session.execute(statement):
        name = label(_local(query, int(row.slot) * SLOT_SECONDS))
        period = sums.setdefault(name, dict.fromkeys(keys, 0))
        for key in keys:
            period[key] += int(getattr(row, key))
    order = sorted(sums) if query.by in ("hour-of-day", "weekday") else list(sums)
    rows = []
    for name in order:
        s = sums[name]
        rows.append(
            {
                "period": name,
                "offered": s["offered"],
                "answered": s["answered"],
                "answered_pct": _percent(s["answered"], s["offered"]),
                "wait_average": _average(s["wait"], s["answered"]),
                "talk_average": _average(s["talk"], s["answered"]),
                "transferred": s["transferred"],
                "transferred_pct": _percent(s["transferred"], s["offered"]),
                "transferred_wait_average": _average(s["transferred_wait"], s["transferred"]),
                "transferred_talk_average": _average(s["transferred_talk"], s["transferred"]),
                "lost": s["lost"],
                "lost_pct": _percent(s["lost"], s["offered"]),
                "lost_wait_average": _average(s["lost_wait"], s["lost"]),
            }
        )
    return Report(
        name="distribution",
        title=f"Calls by {query.by.replace('-', ' ')}",
        query=query,
        columns=(
            Column("period", query.by.upper()),
            Column("offered", "OFFERED", Kind.COUNT),
            Column("answered", "ANSWERED", Kind.COUNT),
            Column("answered_pct", "%", Kind.PERCENT),
            Column("wait_average", "AVG WAIT", Kind.SECONDS),
            Column("talk_average", "AVG TALK", Kind.SECONDS),
            Column("transferred", "TRANSFERRED", Kind.COUNT),
            Column("transferred_pct", "%", Kind.PERCENT),
            Column("transferred_wait_average", "AVG WAIT", Kind.SECONDS),
            Column("transferred_talk_average", "AVG TALK", Kind.SECONDS),
            Column("lost", "LOST", Kind.COUNT),
            Column("lost_pct", "%", Kind.PERCENT),
            Column("lost_wait_average", "AVG WAIT", Kind.SECONDS),
        ),
        rows=rows,
    )


async def totals_report(session: AsyncSession, query: ReportQuery) -> Report:
    """The period in one row: offered, answered, lost, the most callers waiting at once,
    and talk and wait (total, average, shortest, longest)."""
    stay = visits(query)
    answered = stay.c.answered == 1
    lost = stay.c.answered == 0
    statement = select(
        func.count(),
        _when(answered),
        _when(stay.c.transferred == 1),
        *_spread_sql(answered, stay.c.talk),
        *_spread_sql(answered, stay.c.wait),
        *_spread_sql(lost, stay.c.wait),
    )
    offered, answered_count, transferred, *spreads = (await session.execute(statement)).one()
    conditions = [
        LOG.c.event == ql.ENTERQUEUE,
        LOG.c.time >= query.start,
        LOG.c.time < query.end,
    ]
    if query.queue is not None:
        conditions.append(LOG.c.queuename == query.queue)
    # The position a caller joined at counts everyone waiting, the caller too.
    most_waiting = await session.scalar(
        select(func.max(seconds_of(LOG.c.data3))).where(*conditions)
    )
    offered, answered_count = int(offered), int(answered_count)
    lost_count = offered - answered_count
    summary = {
        "offered": offered,
        "answered": answered_count,
        "answered_pct": _percent(answered_count, offered),
        "lost": lost_count,
        "lost_pct": _percent(lost_count, offered),
        "transferred": int(transferred),
        "max_waiting": int(most_waiting or 0),
        **_spread("talk", answered_count, *spreads[0:3]),
        **_spread("wait", answered_count, *spreads[3:6]),
        **_spread("lost_wait", lost_count, *spreads[6:9]),
    }
    return Report(
        name="totals",
        title="Totals",
        query=query,
        columns=(),
        rows=[],
        summary_columns=(
            Column("offered", "OFFERED", Kind.COUNT),
            Column("answered", "ANSWERED", Kind.COUNT),
            Column("answered_pct", "ANSWERED %", Kind.PERCENT),
            Column("lost", "LOST", Kind.COUNT),
            Column("lost_pct", "LOST %", Kind.PERCENT),
            Column("transferred", "TRANSFERRED", Kind.COUNT),
            Column("max_waiting", "MOST WAITING AT ONCE", Kind.COUNT),
            Column("talk_total", "TOTAL TALK", Kind.SECONDS),
            Column("talk_average", "AVG TALK", Kind.SECONDS),
            Column("talk_min", "MIN TALK", Kind.SECONDS),
            Column("talk_max", "MAX TALK", Kind.SECONDS),
            Column("wait_total", "TOTAL WAIT (ANSWERED)", Kind.SECONDS),
            Column("wait_average", "AVG WAIT (ANSWERED)", Kind.SECONDS),
            Column("wait_min", "MIN WAIT (ANSWERED)", Kind.SECONDS),
            Column("wait_max", "MAX WAIT (ANSWERED)", Kind.SECONDS),
            Column("lost_wait_total", "TOTAL WAIT (LOST)", Kind.SECONDS),
            Column("lost_wait_average", "AVG WAIT (LOST)", Kind.SECONDS),
            Column("lost_wait_min", "MIN WAIT (LOST)", Kind.SECONDS),
            Column("lost_wait_max", "MAX WAIT (LOST)", Kind.SECONDS),
        ),
        summary=summary,
    )
