"""The queue log as Asterisk's ``queue_log`` text file, for QueueMetrics, Asternic and the like.

One line per event: ``epoch|callid|queue|agent|EVENT|data1|...``, trailing
empty fields left off, as Asterisk writes them. Agents are written
``Agent/<number>``, the member name those tools expect; ``NONE`` stays as it is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import select

from ringfort.reports.calls import LOG
from ringfort.services.database import Database

__all__ = ["PAGE", "export_lines", "line_of_row"]

PAGE = 5000
"""Rows read per query: a year's log is streamed, never held whole in memory."""

NONE = "NONE"


def line_of_row(
    time: datetime, callid: str, queue: str, agent: str, event: str, data: tuple[str, ...]
) -> str:
    """One stored event as a line of the file (without the newline)."""
    fields = list(data)
    while fields and fields[-1] == "":
        fields.pop()
    member = agent if agent == NONE else f"Agent/{agent}"
    return "|".join([str(int(time.timestamp())), callid, queue, member, event, *fields])


async def export_lines(
    db: Database,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    queue: str | None = None,
) -> AsyncIterator[str]:
    """The events of ``[start, end)`` (all when None) as lines ending in a newline, in order."""
    conditions = []
    if start is not None:
        conditions.append(LOG.c.time >= start)
    if end is not None:
        conditions.append(LOG.c.time < end)
    if queue is not None:
        conditions.append(LOG.c.queuename == queue)
    last = 0
    while True:
        statement = select(LOG).where(LOG.c.id > last, *conditions).order_by(LOG.c.id).limit(PAGE)
        async with db.session() as session:
            rows = (await session.execute(statement)).all()
        for row in rows:
            data = (row.data1, row.data2, row.data3, row.data4, row.data5)
            yield (
                line_of_row(row.time, row.callid, row.queuename, row.agent, row.event, data) + "\n"
            )
        if len(rows) < PAGE:
            return
        last = rows[-1].id
