"""Queue calls as SQL over the queue log: one row per caller's stay in a queue.

A stay ends with exactly one outcome event, and Asterisk puts in it what a
report needs: the wait, the talk time and how it ended (``COMPLETECALLER``,
``COMPLETEAGENT``, a transfer; or ``ABANDON``, ``EXITWITHTIMEOUT``,
``EXITEMPTY``, ``EXITWITHKEY``; ``JOINEMPTY`` and ``FULL`` for callers turned
away at the door). Reports therefore read the outcome rows of a period through
the ``(event, time)`` index and never the whole log; the caller's number and
the recording are looked up per row only by the reports that list calls.

A call belongs to the period in which it joined the queue: the outcome's
time less the wait and the talk. Outcomes are read up to `SLACK` past the
period's end to find the calls that joined before it ended.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, Subquery, case, func, or_, select, true

from ringfort import queuelog as ql
from ringfort.db.expressions import epoch, seconds_of
from ringfort.db.models import Cdr, QueueLogEntry
from ringfort.reports.model import ReportQuery

__all__ = [
    "LOG",
    "SLACK",
    "caller_of",
    "entry_filter",
    "recording_of",
    "visits",
]

LOG = QueueLogEntry.__table__

SLACK = timedelta(days=1)
"""How long a stay in a queue (wait and talk) may last and still be found."""

ENTRY_MARGIN = timedelta(minutes=1)
"""Whole-second rounding of the logged times moves a computed join time by a second or two."""


def _int_seconds(moment: Any) -> int:
    return int(moment.timestamp())


def entry_filter(query: ReportQuery) -> ColumnElement[bool]:
    """Calls of ``query.caller``: by the number they joined with, or their call record."""
    if query.caller is None:
        return true()
    entries = select(LOG.c.callid).where(
        LOG.c.event == ql.ENTERQUEUE,
        LOG.c.data2 == query.caller,
        LOG.c.time >= query.start - ENTRY_MARGIN,
        LOG.c.time < query.end + ENTRY_MARGIN,
    )
    # Callers turned away (JOINEMPTY, FULL) never joined, so only their call record names them.
    records = select(Cdr.uniqueid).where(
        Cdr.src == query.caller,
        Cdr.start >= query.start - ENTRY_MARGIN,
        Cdr.start < query.end + ENTRY_MARGIN,
    )
    return or_(LOG.c.callid.in_(entries), LOG.c.callid.in_(records))


def visits(query: ReportQuery) -> Subquery:
    """The stays in a queue that began in the query's period, one row each.

    Columns: ``id`` (of the outcome event), ``callid``, ``queue``, ``agent``,
    ``event``, ``wait`` and ``talk`` (seconds), ``entered`` (epoch seconds),
    ``answered`` and ``transferred`` (1 or 0), ``ended_by`` (``caller``,
    ``agent``, ``transfer``; None when lost) and ``reason`` (``abandon``,
    ``timeout``, ``empty``, ``key``, ``full``; None when answered).
    """
    event = LOG.c.event
    # JOINEMPTY and FULL have no wait: data3 is 0 or empty there, which reads as 0.
    wait = case(
        (event.in_(ql.COMPLETED), seconds_of(LOG.c.data1)),
        (event == ql.EXITWITHKEY, seconds_of(LOG.c.data4)),
        else_=seconds_of(LOG.c.data3),
    )
    talk = case(
        (event.in_(ql.COMPLETED), seconds_of(LOG.c.data2)),
        (event.in_(ql.TRANSFERRED), seconds_of(LOG.c.data4)),
        else_=0,
    )
    ended_by = case(
        (event == ql.COMPLETECALLER, "caller"),
        (event == ql.COMPLETEAGENT, "agent"),
        (event.in_(ql.TRANSFERRED), "transfer"),
        else_=None,
    )
    reason = case(
        (event == ql.ABANDON, "abandon"),
        (event == ql.EXITWITHTIMEOUT, "timeout"),
        (event.in_((ql.EXITEMPTY, ql.JOINEMPTY)), "empty"),
        (event == ql.EXITWITHKEY, "key"),
        (event == ql.FULL, "full"),
        else_=None,
    )
    conditions: list[ColumnElement[bool]] = [
        event.in_(ql.OUTCOMES),
        LOG.c.time >= query.start,
        LOG.c.time < query.end + SLACK,
    ]
    if query.queue is not None:
        conditions.append(LOG.c.queuename == query.queue)
    if query.agent is not None:
        conditions.append(LOG.c.agent == query.agent)
    if query.caller is not None:
        conditions.append(entry_filter(query))
    entered = epoch(LOG.c.time) - wait - talk
    # Only calls near the period's edges need their join time worked out: the rest
    # ended more than a day after the start and before the end. Short-circuiting
    # the test keeps the decoding out of most rows (four times faster on SQLite).
    conditions += [
        or_(LOG.c.time >= query.start + SLACK, entered >= _int_seconds(query.start)),
        or_(LOG.c.time < query.end, entered < _int_seconds(query.end)),
    ]
    return (
        select(
            LOG.c.id,
            LOG.c.callid,
            LOG.c.queuename.label("queue"),
            LOG.c.agent,
            event.label("event"),
            wait.label("wait"),
            talk.label("talk"),
            entered.label("entered"),
            case((event.in_(ql.ANSWERED_OUTCOMES), 1), else_=0).label("answered"),
            case((event.in_(ql.TRANSFERRED), 1), else_=0).label("transferred"),
            ended_by.label("ended_by"),
            reason.label("reason"),
        )
        .where(*conditions)
        .subquery("visits")
    )


def caller_of(stay: Subquery) -> ColumnElement[Any]:
    """The caller's number: the one they joined with, else their call record's ``src``."""
    entry = LOG.alias("entry")
    joined = (
        select(entry.c.data2)
        .where(
            entry.c.callid == stay.c.callid,
            entry.c.queuename == stay.c.queue,
            entry.c.event == ql.ENTERQUEUE,
            entry.c.id < stay.c.id,
        )
        .order_by(entry.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    record = select(Cdr.src).where(Cdr.uniqueid == stay.c.callid).limit(1).scalar_subquery()
    return func.coalesce(joined, record)


def recording_of(stay: Subquery) -> ColumnElement[Any]:
    """The recording's id (the ``uniqueid`` of the agent's call record), if it was recorded."""
    connect = LOG.alias("connect")
    return (
        select(Cdr.uniqueid)
        .select_from(connect)
        .join(Cdr, Cdr.uniqueid == connect.c.data2)
        .where(
            connect.c.callid == stay.c.callid,
            connect.c.queuename == stay.c.queue,
            connect.c.agent == stay.c.agent,
            connect.c.event == ql.CONNECT,
            connect.c.id < stay.c.id,
            Cdr.recording.is_not(None),
        )
        .order_by(connect.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
