"""Background work on a period: runs at once, again when poked, and survives a failure."""

from __future__ import annotations

import asyncio

from ringfort.periodic import Periodic


async def test_runs_at_start_on_poke_and_after_a_failure() -> None:
    runs: list[int] = []

    async def work() -> None:
        runs.append(len(runs))
        if len(runs) == 2:
            raise RuntimeError("the store is away")

    periodic = Periodic(work, interval=60, what="test work")
    periodic.start()
    for _ in range(50):
        await asyncio.sleep(0.01)
        if runs:
            break
    assert runs == [0]  # at once, not after the interval
    periodic.poke()
    await asyncio.sleep(0.05)
    periodic.poke()  # the failed run did not stop it
    await asyncio.sleep(0.05)
    assert runs == [0, 1, 2]
    await periodic.close()
    periodic.poke()
    await asyncio.sleep(0.05)
    assert runs == [0, 1, 2]  # closed: no more runs
