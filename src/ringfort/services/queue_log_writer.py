"""Write-behind of the queue event log: the queue application publishes, this stores in batches.

Like call detail records, queue events are history nobody repeats: while the
database is away they wait in memory and are retried every second; at shutdown
what could not be stored is logged one line per event, in the queue_log text
format, so it can be put back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from itertools import islice
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.exc import SQLAlchemyError

from ringfort.apps.queue.events import QueueLogged
from ringfort.db.models import QUEUE_LOG_FIELD_LENGTH, QueueLogEntry
from ringfort.services.database import Database

_QUEUE_LOG_TABLE = cast(Table, QueueLogEntry.__table__)
"""Rows go in through Core: the ORM's bulk insert path costs the event loop more per row."""

__all__ = ["QueueLogWriter"]

log = logging.getLogger(__name__)

MAX_BATCH = 500
MAX_FIELDS = 5


def line_of(event: QueueLogged) -> str:
    """The event as a line of Asterisk's queue_log file."""
    fields = [str(int(event.time.timestamp())), event.callid, event.queue, event.agent]
    return "|".join([*fields, event.event, *event.data])


def _values(event: QueueLogged) -> dict[str, Any] | None:
    if len(event.data) > MAX_FIELDS:
        log.error("queue event with more than %d fields not stored: %s", MAX_FIELDS, line_of(event))
        return None
    data = [value[:QUEUE_LOG_FIELD_LENGTH] for value in event.data]
    data += [""] * (MAX_FIELDS - len(data))
    return {
        "time": event.time,
        "callid": event.callid,
        "queuename": event.queue,
        "agent": event.agent,
        "event": event.event,
        **{f"data{index + 1}": value for index, value in enumerate(data)},
    }


class QueueLogWriter:
    """Stores `QueueLogged` events, batched every ``batch_delay`` seconds, retried when failing."""

    def __init__(
        self,
        *,
        db: Database,
        batch_delay: float = 0.2,
        retry_delay: float = 1.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self._db = db
        self._batch_delay = batch_delay
        self._retry_delay = retry_delay
        self._stop_timeout = stop_timeout
        self._queue: deque[tuple[QueueLogged, dict[str, Any]]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def pending(self) -> int:
        """Events not stored yet."""
        return len(self._queue)

    def on_queue_logged(self, event: QueueLogged) -> None:
        """Queue ``event`` for storing (the bus handler: never blocks)."""
        if self._stopped:
            log.error("queue event after the writer stopped, not stored: %s", line_of(event))
            return
        values = _values(event)
        if values is not None:
            self._queue.append((event, values))
            self._wake.set()

    def start(self) -> None:
        """Start writing in the background."""
        self._stopped = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="queue-log-writer")

    async def stop(self) -> None:
        """Store what is queued (trying for ``stop_timeout`` seconds), then stop."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(TimeoutError, SQLAlchemyError, OSError):
            await asyncio.wait_for(self._drain(), self._stop_timeout)
        self._stopped = True
        for event, _ in self._queue:
            log.error("queue event not stored: %s", line_of(event))
        self._queue.clear()

    async def flush(self) -> None:
        """Store everything queued now; the database's error is raised if it is away."""
        while self._queue:
            batch = list(islice(self._queue, MAX_BATCH))
            async with self._db.session() as session:
                await session.execute(insert(_QUEUE_LOG_TABLE), [values for _, values in batch])
                await session.commit()
            for _ in batch:
                self._queue.popleft()

    async def _drain(self) -> None:
        while self._queue:
            try:
                await self.flush()
            except (SQLAlchemyError, OSError):
                await asyncio.sleep(self._retry_delay)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self._batch_delay)
            try:
                await self.flush()
            except (SQLAlchemyError, OSError):
                log.warning("queue log not stored yet (retrying): database unavailable")
                await asyncio.sleep(self._retry_delay)
                self._wake.set()
