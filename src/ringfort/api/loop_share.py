"""HTTP requests take the event loop in short turns, so the calls' media is never kept waiting.

The node's one event loop relays RTP and answers HTTP. A loop iteration runs every task
that is ready; fifty requests arriving together would run back to back, and packets that
arrived meanwhile would wait for all of them (under bench/api_load.sh, tens of
milliseconds: late packets). Here a request starts only while the current turn of HTTP
work is under `TURN_SECONDS`; past it, requests wait for the next iteration, which first
reads the sockets and relays what came in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["TURN_SECONDS", "LoopShareMiddleware"]

TURN_SECONDS = 0.004
"""HTTP work started in one loop iteration, at most (a request started runs to its end)."""

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class LoopShareMiddleware:
    """Outermost ASGI middleware: each HTTP request waits for its turn (see the module)."""

    def __init__(
        self,
        app: App,
        turn: float = TURN_SECONDS,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._app = app
        self._turn = turn
        self._clock = clock
        self._turn_started = clock()
        self._renewing = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            while self._clock() - self._turn_started > self._turn:
                if not self._renewing:
                    # Scheduled before the waiters' wake-ups: the next iteration polls the
                    # sockets, then opens a new turn, then lets the waiters in, in order.
                    self._renewing = True
                    asyncio.get_running_loop().call_soon(self._renew)
                await asyncio.sleep(0)
        await self._app(scope, receive, send)

    def _renew(self) -> None:
        self._renewing = False
        self._turn_started = self._clock()
