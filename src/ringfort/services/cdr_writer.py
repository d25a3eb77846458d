"""Write-behind of call detail records: one row per ended call, stored in batches.

The call core publishes :class:`~ringfort.pbx.call_events.CallEnded` and goes
on; this writer queues the record and commits it within a fraction of a second,
many calls to a transaction. Unlike a registration, a CDR is history nobody
repeats, so a record is never dropped because the database is away: the batch
waits and is retried until the database returns or the node stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from itertools import islice
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from ringfort.db.models import Cdr
from ringfort.errors import ValidationError
from ringfort.pbx.call_events import CallEnded
from ringfort.services.cdr import cdr_values
from ringfort.services.database import Database

_CDR_TABLE = cast(Table, Cdr.__table__)
"""Rows go in through Core: the ORM's bulk insert path costs the event loop more per row."""

log = logging.getLogger(__name__)

DEFAULT_MAX_BATCH = 500
"""Records per transaction; a burst larger than this is written in several."""
DEFAULT_STOP_TIMEOUT = 5.0
"""Seconds :meth:`CdrWriter.stop` keeps trying to store what is queued."""


def _describe(event: CallEnded) -> str:
    """The record in one log line, complete enough to enter it again by hand."""
    answer = "-" if event.answer is None else event.answer.isoformat()
    return (
        f"uniqueid={event.uniqueid} linkedid={event.linkedid} src={event.src!r}"
        f" dst={event.dst!r} clid={event.clid!r} start={event.start.isoformat()}"
        f" answer={answer} end={event.end.isoformat()} disposition={event.disposition}"
        f" hangup_by={event.hangup_by}"
    )


def _is_refusal(exc: DBAPIError) -> bool:
    """Whether the database refused the data itself, so retrying would fail the same way."""
    if isinstance(exc, IntegrityError | DataError):
        return True
    # SQLSTATE classes 22 (data exception) and 23 (integrity constraint
    # violation): asyncpg reports some, such as a NUL byte in text (22021), as
    # a bare DBAPIError.
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in {"22", "23"}


def _is_duplicate(exc: DBAPIError) -> bool:
    return isinstance(exc, IntegrityError) or getattr(exc.orig, "sqlstate", "") == "23505"


def _values_of(event: CallEnded) -> dict[str, Any] | None:
    """The record's column values, or None (logged) when ``event`` makes no valid record."""
    try:
        return cdr_values(
            uniqueid=event.uniqueid,
            linkedid=event.linkedid,
            src=event.src,
            dst=event.dst,
            clid=event.clid,
            start=event.start,
            answer=event.answer,
            end=event.end,
            disposition=event.disposition,
            hangup_by=event.hangup_by,
            recording=event.recording,
            answered_by=event.answered_by,
        )
    except ValidationError as exc:
        log.error("CDR refused (%s): %s", exc.message, _describe(event))
    except Exception:
        # A malformed event must not block the queue for good.
        log.exception("CDR could not be built: %r", event)
    return None


class CdrWriter:
    """Turns ended calls into CDR rows, batched, retried while the database is away.

    Subscribe :meth:`on_call_ended` to the bus, :meth:`start` once the
    database is open, and :meth:`stop` after the call core has drained, so the
    records of the calls it ended on the way down are stored too.
    """

    def __init__(
        self,
        *,
        db: Database,
        batch_delay: float = 0.2,
        retry_delay: float = 1.0,
        max_batch: int = DEFAULT_MAX_BATCH,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._db = db
        self._batch_delay = batch_delay
        self._retry_delay = retry_delay
        self._max_batch = max_batch
        self._stop_timeout = stop_timeout
        # Events leave the queue only once stored or refused, so a failed
        # commit leaves them where a retry finds them.
        self._queue: deque[tuple[CallEnded, dict[str, Any]]] = deque()
        self._wake = asyncio.Event()
        # Cuts the batch delay short: the batch is full or the node is stopping.
        self._hurry = asyncio.Event()
        # One writer at a time: the queue's head is the batch being written.
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stopped = False
        self._failing = False

    @property
    def pending(self) -> int:
        """Records queued and not stored yet."""
        return len(self._queue)

    def on_call_ended(self, event: CallEnded) -> None:
        """Queue the record of ``event``; the bus handler, so it neither blocks nor raises."""
        try:
            if self._stopped:
                # Nothing will write it any more; the log is its only copy.
                log.error(
                    "call ended after the CDR writer stopped, not stored: %s", _describe(event)
                )
                return
            values = _values_of(event)
            if values is None:
                return
            self._queue.append((event, values))
            self._wake.set()
            if len(self._queue) >= self._max_batch:
                self._hurry.set()
        except Exception:
            log.exception("could not queue the CDR of call %s", event.uniqueid)

    def start(self) -> None:
        """Start the background writer; needs a running event loop and an open database."""
        if self._task is not None:
            raise RuntimeError("CdrWriter is already started")
        self._stopping = self._stopped = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="cdr-writer")

    async def stop(self) -> None:
        """Store everything queued, retrying for up to ``stop_timeout`` seconds, and stop.

        Records still unwritten then are logged one per line at ERROR level, so
        they can be entered again; records published afterwards are logged the same way.
        """
        self._stopping = True
        self._hurry.set()
        self._wake.set()
        task, self._task = self._task, None
        try:
            # wait_for cancels the writing on timeout; what it did not commit stays queued.
            await asyncio.wait_for(self._run() if task is None else task, self._stop_timeout)
        except TimeoutError:
            pass
        except Exception:
            log.exception("the CDR writer failed while stopping")
        self._stopped = True
        if self._queue:
            log.error(
                "%d call detail record(s) could not be stored before stopping", len(self._queue)
            )
            for event, _ in self._queue:
                log.error("CDR not stored: %s", _describe(event))
            self._queue.clear()

    async def flush(self) -> None:
        """Store everything queued now.

        Duplicates and records the database refuses are logged and dropped
        (invalid ones never reach the queue). If the database
        is unavailable its error is raised, and the unstored records stay queued.
        """
        async with self._lock:
            while self._queue:
                batch = list(islice(self._queue, self._max_batch))
                await self._write(batch)

    async def _write(self, batch: list[tuple[CallEnded, dict[str, Any]]]) -> None:
        """Store ``batch``, the head of the queue, and take it off the queue."""
        try:
            async with self._db.session() as session:
                # One Core executemany: the ORM's unit of work would cost the event
                # loop ~0.2 ms per row, on the thread that carries the calls.
                await session.execute(insert(_CDR_TABLE), [values for _, values in batch])
                await session.commit()
        except DBAPIError as exc:
            if not _is_refusal(exc):
                raise
            # One bad row fails the whole transaction; find it by writing the
            # batch one row at a time, so its batch-mates are not lost.
            await self._write_one_by_one(batch)
            return
        for _ in batch:
            self._queue.popleft()

    async def _write_one_by_one(self, batch: list[tuple[CallEnded, dict[str, Any]]]) -> None:
        for event, values in batch:
            try:
                async with self._db.session() as session:
                    await session.execute(insert(_CDR_TABLE), [values])
                    await session.commit()
            except DBAPIError as exc:
                if not _is_refusal(exc):
                    # An outage: this record and the rest of the batch stay queued.
                    raise
                if _is_duplicate(exc):
                    # Also what a retried commit whose success was never
                    # confirmed looks like; the stored row is kept.
                    log.warning("CDR %s not stored: %s", event.uniqueid, exc.orig)
                else:
                    log.error("CDR refused by the database (%s): %s", exc.orig, _describe(event))
            self._queue.popleft()

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if not self._stopping and len(self._queue) < self._max_batch:
                # Let the calls ending together share one transaction.
                self._hurry.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), self._batch_delay)
            if not await self._try_flush():
                await asyncio.sleep(self._retry_delay)

    async def _try_flush(self) -> bool:
        try:
            await self.flush()
        except Exception:
            if not self._failing:
                self._failing = True
                log.warning(
                    "cannot store call detail records; %d queued, retrying every %g s",
                    len(self._queue),
                    self._retry_delay,
                    exc_info=True,
                )
            return False
        if self._failing:
            self._failing = False
            log.info("call detail records are being stored again")
        return True
