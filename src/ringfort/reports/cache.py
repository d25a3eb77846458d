"""Reports made once and handed to everyone who asks for the same one until its data change.

A month's report costs a noticeable fraction of a second of database work, and a wall of
supervisors' screens asks for the same few over and over. A made report is kept with the
count of writes to the tables reports read (`Database.writes`); it is given out again
while no call, queue event or queue or agent change has been committed in this process
since, and for at most `MAX_AGE` seconds (writes from other processes, such as the CLI,
are not counted). Requests for a report being made wait for that one instead of making it
again, and at most ``at_once`` are made at the same time: their queries run in database
threads of this process, which compete for the CPU with the event loop that relays the
calls' media.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ringfort.reports.model import Report, ReportQuery

__all__ = ["MAX_AGE", "REPORT_TABLES", "ReportCache"]

REPORT_TABLES = frozenset({"queue_log", "cdr", "queues", "agents"})
"""The tables a report is made from."""

MAX_AGE = 30.0
"""Seconds a kept report is trusted at most, for the writes of other processes."""

KEPT = 64
"""Reports kept (the least recently asked for go first)."""

Key = tuple[str, ReportQuery]


@dataclass(slots=True)
class _Kept:
    report: Report
    writes: int
    made: float
    rendered: bytes | None = None


class ReportCache:
    """Makes reports with ``make`` and keeps them (see the module's text)."""

    def __init__(
        self,
        make: Callable[[str, ReportQuery], Awaitable[Report]],
        writes: Callable[[], int],
        *,
        at_once: int = 2,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make = make
        self._writes = writes
        self._at_once = asyncio.Semaphore(at_once)
        self._max_age = max_age
        self._clock = clock
        self._kept: OrderedDict[Key, _Kept] = OrderedDict()
        self._making: dict[Key, asyncio.Future[Report]] = {}

    async def get(self, name: str, query: ReportQuery) -> Report:
        """The report ``name`` for ``query``: kept, being made, or made now."""
        key = (name, query)
        kept = self._kept.get(key)
        if (
            kept is not None
            and kept.writes == self._writes()
            and self._clock() - kept.made < self._max_age
        ):
            self._kept.move_to_end(key)
            return kept.report
        making = self._making.get(key)
        if making is None:
            making = asyncio.ensure_future(self._made(key))
            self._making[key] = making
            making.add_done_callback(lambda done: self._finished(key, done))
        # Shielded: one asker giving up (a closed connection) does not stop the others'.
        return await asyncio.shield(making)

    async def rendered(
        self, name: str, query: ReportQuery, render: Callable[[Report], bytes]
    ) -> bytes:
        """The report as ``render`` makes it (the API's JSON), kept with the report: a big
        one takes longer to encode than to hand out."""
        report = await self.get(name, query)
        kept = self._kept.get((name, query))
        if kept is None or kept.report is not report:
            return render(report)
        if kept.rendered is None:
            kept.rendered = render(report)
        return kept.rendered

    def _finished(self, key: Key, done: asyncio.Future[Report]) -> None:
        self._making.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved: every asker may have gone, leaving it unread

    async def _made(self, key: Key) -> Report:
        async with self._at_once:
            writes, made = self._writes(), self._clock()
            report = await self._make(*key)
        self._kept[key] = _Kept(report, writes, made)
        self._kept.move_to_end(key)
        while len(self._kept) > KEPT:
            self._kept.popitem(last=False)
        return report
