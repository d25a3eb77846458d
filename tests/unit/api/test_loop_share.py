"""HTTP requests ready together run in turns of a few milliseconds, one turn per loop
iteration, so the sockets (the calls' media) are read between turns."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

from ringfort.api.loop_share import LoopShareMiddleware


class World:
    """A clock that the requests' work moves, and the loop's iterations counted."""

    def __init__(self) -> None:
        self.now = 0.0
        self.iteration = 0
        self.started: list[tuple[str, int]] = []

    async def count_iterations(self) -> None:
        while True:
            await asyncio.sleep(0)
            self.iteration += 1


async def test_requests_beyond_a_turn_wait_for_the_next_iteration() -> None:
    world = World()

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        world.started.append((scope["path"], world.iteration))
        world.now += 0.003  # each request is 3 ms of work

    share = LoopShareMiddleware(app, turn=0.004, clock=lambda: world.now)
    counter = asyncio.create_task(world.count_iterations())
    try:
        await asyncio.gather(
            *(share({"type": "http", "path": f"/{n}"}, None, None) for n in range(6))
        )
    finally:
        counter.cancel()
    paths = [path for path, _ in world.started]
    turns = [iteration for _, iteration in world.started]
    assert paths == [f"/{n}" for n in range(6)]  # in the order they came
    # Two requests fit in a 4 ms turn (the second starts at 3 ms); each later pair waits
    # for a later iteration.
    assert turns[0] == turns[1]
    assert turns[1] < turns[2] == turns[3] < turns[4] == turns[5]


async def test_other_connections_pass_without_waiting() -> None:
    seen = []

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    share = LoopShareMiddleware(app, turn=0.004, clock=lambda: 1000.0)  # a turn long over
    await share({"type": "lifespan"}, None, None)
    await share({"type": "websocket"}, None, None)
    assert seen == ["lifespan", "websocket"]
