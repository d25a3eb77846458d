"""A caller in a queue, driven through CallControl: music, announcements, attempts, the ways out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from test_queue_centre import Directory, Rig

from ringfort.apps.queue.caller import run_queue
from ringfort.apps.queue.config import QueueConfig
from ringfort.apps.queue.strategy import Strategy
from ringfort.disposition import Disposition, HangupBy
from ringfort.media.prompts import SHIPPED_PROMPTS, PromptLibrary
from ringfort.pbx.call import Call, Leg, Side
from ringfort.pbx.control import (
    BridgeOptions,
    BridgeResult,
    CallControl,
    Transfer,
    TransferRequested,
)
from ringfort.pbx.destination import Destination, DestinationKind

PROMPTS = PromptLibrary([SHIPPED_PROMPTS])
OVERFLOW = Destination(DestinationKind.EXTENSION, "199")


class Media:
    """The media engine as CallControl uses it: what plays on the caller's leg."""

    def __init__(self) -> None:
        self.history: list[list[str]] = []
        self.done: Callable[[bool], None] | None = None

    def play(
        self,
        leg: Any,
        clips: Sequence[Any],
        *,
        loop: bool = False,
        on_done: Callable[[bool], None] | None = None,
    ) -> None:
        self._end(False)
        self.history.append([getattr(clip, "name", str(clip)) for clip in clips])
        self.done = on_done
        if not loop:
            # Prompts "play" at once, so tests do not wait for speech.
            asyncio.get_running_loop().call_soon(self._end, True)

    def stop_playing(self, leg: Any) -> None:
        self._end(False)

    def _end(self, completed: bool) -> None:
        done, self.done = self.done, None
        if done is not None:
            done(completed)


class Music:
    async def clips(self) -> list[str]:
        return ["music"]


class Driver:
    def __init__(self) -> None:
        self.bridges: list[tuple[tuple[str, ...], BridgeOptions]] = []
        self.results: asyncio.Queue[asyncio.Future[BridgeResult]] = asyncio.Queue()

    def answer_call(self, call: Call) -> None:
        call.answer = datetime.now(UTC)

    def bridge_call(
        self, call: Call, numbers: Sequence[str], options: BridgeOptions
    ) -> asyncio.Future[BridgeResult]:
        self.bridges.append((tuple(numbers), options))
        result: asyncio.Future[BridgeResult] = asyncio.get_running_loop().create_future()
        self.results.put_nowait(result)
        return result

    def hang_up_call(
        self, call: Call, cause: str, status: int, disposition: Disposition = Disposition.FAILED
    ) -> None:
        pass


def a_call(uniqueid: str = "c-1") -> Call:
    return Call(
        uniqueid=uniqueid,
        src="205",
        dst="500",
        clid='"" <205>',
        start=datetime.now(UTC),
        invite=None,  # type: ignore[arg-type]
        server=None,  # type: ignore[arg-type]
        caller=Leg(Side.CALLER, None, 1),  # type: ignore[arg-type]
        callee=Leg(Side.CALLEE, None, 2),  # type: ignore[arg-type]
    )


class Scene:
    def __init__(self, config: QueueConfig, *agents: str) -> None:
        self.directory = Directory(config)
        for number in agents:
            self.directory.add(config.name, number, f"10{number}")
        self.config = config
        self.rig = Rig(self.directory)
        self.media, self.driver = Media(), Driver()
        self.control = CallControl(a_call(), self.driver, self.media, music=Music())  # type: ignore[arg-type]

    async def run(self, priority: int = 0) -> asyncio.Task[Destination | None]:
        await self.rig.start()
        task = asyncio.create_task(
            run_queue(self.control, self.config, self.rig.centre, PROMPTS, "en", priority=priority)
        )
        await asyncio.sleep(0.01)
        return task

    def played(self) -> list[str]:
        return [name for clips in self.media.history for name in clips]


def config(**kwargs: Any) -> QueueConfig:
    return QueueConfig("sales", number="500", overflow=OVERFLOW, **kwargs)


async def test_the_caller_waits_with_music_and_is_put_through_without_ringback() -> None:
    scene = Scene(config(record=True), "1")
    task = await scene.run()
    assert scene.media.history[0] == ["music"]
    bridge = await asyncio.wait_for(scene.driver.results.get(), 1)
    numbers, options = scene.driver.bridges[0]
    assert numbers == ("101",)
    assert (options.ringback, options.record) == (False, True)
    bridge.set_result(BridgeResult(True, 200, Disposition.ANSWERED, "answered", "101", "b-1"))
    await asyncio.sleep(0.01)
    scene.control.ended(HangupBy.CALLER)
    assert await asyncio.wait_for(task, 1) is None
    assert [event for _, event, _ in scene.rig.events()] == [
        "ENTERQUEUE",
        "CONNECT",
        "COMPLETECALLER",
    ]


async def test_an_unanswered_agent_is_logged_and_the_next_one_rung_after_the_retry_delay() -> None:
    scene = Scene(config(strategy=Strategy.LINEAR, retry_delay=0.1), "1", "2")
    task = await scene.run()
    first = await asyncio.wait_for(scene.driver.results.get(), 1)
    first.set_result(BridgeResult(False, 480, Disposition.NO_ANSWER, "no-answer", uniqueid="b-1"))
    loop = asyncio.get_running_loop()
    before = loop.time()
    second = await asyncio.wait_for(scene.driver.results.get(), 1)
    assert loop.time() - before >= 0.09
    assert [numbers for numbers, _ in scene.driver.bridges] == [("101",), ("102",)]
    second.set_result(BridgeResult(True, 200, Disposition.ANSWERED, "answered", "102", "b-2"))
    await asyncio.sleep(0.01)
    scene.control.ended(HangupBy.CALLEE)
    await asyncio.wait_for(task, 1)
    assert [(agent, event) for agent, event, _ in scene.rig.events()] == [
        ("NONE", "ENTERQUEUE"),
        ("1", "RINGNOANSWER"),
        ("2", "CONNECT"),
        ("2", "COMPLETEAGENT"),
    ]


async def test_the_maximum_wait_sends_the_caller_to_the_overflow() -> None:
    scene = Scene(config(max_wait=0.3))
    task = await scene.run()
    assert await asyncio.wait_for(task, 2) == OVERFLOW
    (_, exit_) = scene.rig.events()
    assert exit_[1] == "EXITWITHTIMEOUT"
    assert exit_[2][:2] == ("1", "1")


async def test_the_exit_key_takes_the_caller_to_the_exit_destination() -> None:
    out = Destination(DestinationKind.EXTENSION, "150")
    scene = Scene(config(exit_key="1", exit_destination=out))
    task = await scene.run()
    scene.control.on_digit("5", "rfc4733")
    await asyncio.sleep(0.05)
    assert not task.done()
    scene.control.on_digit("1", "rfc4733")
    assert await asyncio.wait_for(task, 1) == out
    assert scene.rig.events()[-1][1:] == ("EXITWITHKEY", ("1", "1", "1", "0"))


async def test_position_is_announced_after_the_first_delay_then_music_again() -> None:
    scene = Scene(config(announce_position=True, announce_first=0.1, announce_every=0))
    task = await scene.run()
    # Polled rather than slept: on a busy machine the announcement may start late.
    for _ in range(200):
        await asyncio.sleep(0.01)
        if scene.played()[-1:] == ["music"] and len(scene.played()) > 1:
            break
    assert scene.played() == [
        "music",
        "queue-position",
        "digits/1",
        "queue-in-line",
        "music",
    ]
    scene.control.ended(HangupBy.CALLER)
    assert await asyncio.wait_for(task, 1) is None
    assert scene.rig.events()[-1][1] == "ABANDON"


async def test_a_caller_who_hangs_up_while_an_agent_rings_abandons_and_the_ring_is_cancelled() -> (
    None
):
    scene = Scene(config(autopause=1), "1")
    task = await scene.run()
    await asyncio.wait_for(scene.driver.results.get(), 1)
    scene.control.ended(HangupBy.CALLER)
    assert await asyncio.wait_for(task, 1) is None
    assert [(agent, event) for agent, event, _ in scene.rig.events()] == [
        ("NONE", "ENTERQUEUE"),
        ("1", "RINGCANCELED"),
        ("NONE", "ABANDON"),
    ]
    assert scene.directory.paused == []


async def test_a_full_queue_turns_the_caller_away_unanswered() -> None:
    scene = Scene(config(max_length=1))
    first = await scene.run()
    second = CallControl(a_call("c-2"), scene.driver, scene.media, music=Music())  # type: ignore[arg-type]
    assert await run_queue(second, scene.config, scene.rig.centre, PROMPTS, "en") == OVERFLOW
    assert not second.answered
    assert scene.rig.events()[-1][1] == "FULL"
    first.cancel()


async def answered_by_agent_1() -> tuple[Scene, asyncio.Task[Destination | None]]:
    """A caller in a queue with agent 1, whose phone 101 answered; the queue watches for a
    transfer."""
    scene = Scene(config(), "1")
    task = await scene.run()
    bridge = await asyncio.wait_for(scene.driver.results.get(), 1)
    bridge.set_result(BridgeResult(True, 200, Disposition.ANSWERED, "answered", "101", "b-1"))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if scene.control.takes_transfers:
            break
    assert scene.control.takes_transfers
    return scene, task


async def test_an_agent_who_transfers_the_caller_is_logged_as_a_blind_transfer() -> None:
    scene, task = await answered_by_agent_1()
    scene.control.transferred(Transfer("150"))
    with pytest.raises(TransferRequested) as caught:
        await asyncio.wait_for(task, 1)
    assert caught.value.number == "150"
    (_, _, transfer) = scene.rig.events()
    assert transfer[:2] == ("1", "BLINDTRANSFER")
    assert transfer[2][:2] == ("150", "default")
    assert transfer[2][4] == "1"  # original position
    # The agent is free again (no wrap-up here), as after any other call.
    assert [e for _, e, _ in scene.rig.events()] == ["ENTERQUEUE", "CONNECT", "BLINDTRANSFER"]


async def test_an_attended_transfer_is_logged_with_the_new_conversations_id() -> None:
    scene, task = await answered_by_agent_1()
    # The agent talked to 150 and joined the caller to them: the queue's part is over,
    # and the caller is still connected (to 150 now).
    scene.control.transferred(Transfer("150", attended=True, uniqueid="b-2"))
    assert await asyncio.wait_for(task, 1) is None
    assert scene.control.bridged
    events = scene.rig.events()
    assert [e for _, e, _ in events] == ["ENTERQUEUE", "CONNECT", "ATTENDEDTRANSFER"]
    (_, _, transfer) = events
    assert transfer[0] == "1"
    assert transfer[2][:2] == ("BRIDGE", "b-2")
    assert transfer[2][4] == "1"  # original position


async def test_the_priority_the_destination_gives_goes_with_the_caller() -> None:
    scene = Scene(config())
    task = await scene.run(priority=7)
    (sales,) = scene.rig.centre.snapshot()["queues"]
    assert [w["priority"] for w in sales["waiting"]] == [7]
    scene.control.ended(HangupBy.CALLER)
    assert await asyncio.wait_for(task, 1) is None
