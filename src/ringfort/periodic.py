"""A piece of background work run every so often, and at once when poked.

The message-waiting lamps and the voicemail e-mail each look at the store on a
period (so changes made by another process are seen) and sooner when this process
knows something changed; this runs such work, keeps one failure from stopping it,
and stops cleanly at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

__all__ = ["Periodic"]

log = logging.getLogger(__name__)


class Periodic:
    """Runs ``work`` every ``interval`` seconds, and soon after each `poke`."""

    def __init__(self, work: Callable[[], Awaitable[object]], interval: float, what: str) -> None:
        self._work = work
        self._interval = interval
        self._what = what
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        """Begin (the first run is at once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop, waiting for a run under way to be cancelled."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def poke(self) -> None:
        """Run again now rather than at the end of the interval."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._work()
            except Exception:
                log.exception("%s failed", self._what)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
