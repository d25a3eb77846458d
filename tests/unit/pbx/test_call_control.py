"""The call-control interface's own logic: digit buffer, interruptible playback, hang-up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from ringfort.disposition import Disposition, HangupBy
from ringfort.pbx.call import Call, Leg, Side
from ringfort.pbx.control import BridgeOptions, BridgeResult, CallControl, CallGoneError


class Player:
    """Stands for the media engine: remembers what plays and lets the test finish it."""

    def __init__(self) -> None:
        self.playing: list[Any] = []
        self.done: Callable[[bool], None] | None = None
        self.stopped = 0

    def play(self, leg: Any, clips: Sequence[Any], *, on_done: Callable[[bool], None]) -> None:
        self.playing = list(clips)
        self.done = on_done

    def stop_playing(self, leg: Any) -> None:
        self.stopped += 1
        if self.done is not None:
            done, self.done = self.done, None
            done(False)

    def finish(self) -> None:
        assert self.done is not None
        done, self.done = self.done, None
        done(True)


class Driver:
    def __init__(self) -> None:
        self.answered = 0
        self.hangups: list[tuple[str, int]] = []
        self.bridges: list[str] = []
        self.joins: list[tuple[str, str]] = []
        self.result: asyncio.Future[BridgeResult] | None = None

    def answer_call(self, call: Call) -> None:
        self.answered += 1
        call.answer = datetime.now(UTC)

    def bridge_call(
        self, call: Call, numbers: Sequence[str], options: BridgeOptions
    ) -> asyncio.Future[BridgeResult]:
        self.bridges.append("&".join(numbers))
        self.options = options
        self.result = asyncio.get_running_loop().create_future()
        return self.result

    def hang_up_call(
        self, call: Call, cause: str, status: int, disposition: Disposition = Disposition.FAILED
    ) -> None:
        self.hangups.append((cause, status))

    def join_calls(self, call: Call, other: Call) -> asyncio.Future[BridgeResult]:
        self.joins.append((call.uniqueid, other.uniqueid))
        self.result = asyncio.get_running_loop().create_future()
        return self.result


def make_call() -> Call:
    return Call(
        uniqueid="u-1",
        src="101",
        dst="700",
        clid='"A" <101>',
        start=datetime.now(UTC),
        invite=None,  # type: ignore[arg-type]
        server=None,  # type: ignore[arg-type]
        caller=Leg(Side.CALLER, None, 1),  # type: ignore[arg-type]
        callee=Leg(Side.CALLEE, None, 2),  # type: ignore[arg-type]
    )


@pytest.fixture
async def parts() -> tuple[CallControl, Player, Driver]:
    player, driver = Player(), Driver()
    return CallControl(make_call(), driver, player), player, driver  # type: ignore[arg-type]


async def test_play_returns_when_the_clips_have_played(parts: Any) -> None:
    control, player, _ = parts
    task = asyncio.create_task(control.play(["a", "b"]))
    await asyncio.sleep(0)
    assert player.playing == ["a", "b"]
    player.finish()
    assert await task is None


async def test_a_digit_interrupts_playback_and_stays_for_collection(parts: Any) -> None:
    control, player, _ = parts
    task = asyncio.create_task(control.play(["greeting"], interruptible=True))
    await asyncio.sleep(0)
    control.on_digit("4", "rfc4733")
    assert await task == "4"
    assert player.stopped == 1
    control.on_digit("2", "info")
    assert await control.collect_digits(3, 0.5, interdigit_timeout=0.05) == "42"


async def test_a_waiting_digit_skips_interruptible_playback(parts: Any) -> None:
    control, player, _ = parts
    control.on_digit("9", "info")
    assert await control.play(["greeting"], interruptible=True) == "9"
    assert player.playing == []


async def test_collect_stops_at_the_terminator_and_at_max(parts: Any) -> None:
    control, _, _ = parts
    for digit in "12#34":
        control.on_digit(digit, "rfc4733")
    assert await control.collect_digits(5, 0.1) == "12"
    assert await control.collect_digits(1, 0.1) == "3"
    assert control.take_digits() == "4"


async def test_collect_returns_empty_after_the_first_timeout(parts: Any) -> None:
    control, _, _ = parts
    started = asyncio.get_running_loop().time()
    assert await control.collect_digits(4, 0.05) == ""
    assert asyncio.get_running_loop().time() - started >= 0.04


async def test_collect_waits_for_digits_that_come_later(parts: Any) -> None:
    control, _, _ = parts
    loop = asyncio.get_running_loop()
    loop.call_later(0.02, control.on_digit, "7", "inband")
    loop.call_later(0.04, control.on_digit, "8", "inband")
    assert await control.collect_digits(2, 1.0, interdigit_timeout=1.0) == "78"


async def test_hang_up_mid_playback_raises_call_gone(parts: Any) -> None:
    control, _, _ = parts
    task = asyncio.create_task(control.play(["long"]))
    await asyncio.sleep(0)
    control.ended()
    with pytest.raises(CallGoneError):
        await task
    with pytest.raises(CallGoneError):
        await control.collect_digits(1, 1.0)


async def test_answer_once_and_bridge_result_marks_bridged(parts: Any) -> None:
    control, _, driver = parts
    await control.answer()
    await control.answer()
    assert driver.answered == 1
    task = asyncio.create_task(control.bridge("102"))
    await asyncio.sleep(0)
    assert driver.bridges == ["102"]
    driver.result.set_result(BridgeResult(True, 200, Disposition.ANSWERED, "answered"))
    assert (await task).answered
    assert control.bridged


async def test_bridging_to_another_call_joins_the_two_callers(parts: Any) -> None:
    control, player, driver = parts
    other_call = make_call()
    other_call.uniqueid, other_call.src = "u-2", "102"
    other = CallControl(other_call, driver, player)
    task = asyncio.create_task(control.bridge(other))
    await asyncio.sleep(0)
    assert driver.joins == [("u-1", "u-2")]
    driver.result.set_result(
        BridgeResult(True, 200, Disposition.ANSWERED, "answered", "102", "u-2")
    )
    assert (await task).answered
    assert (control.bridged, other.bridged) == (True, True)
    assert (control.bridged_to, other.bridged_to) == ("102", "101")


async def test_a_join_that_fails_leaves_both_calls_as_they_were(parts: Any) -> None:
    control, player, driver = parts
    other = CallControl(make_call(), driver, player)
    task = asyncio.create_task(control.bridge(other))
    await asyncio.sleep(0)
    driver.result.set_result(BridgeResult(False, 488, Disposition.FAILED, "incompatible"))
    assert not (await task).answered
    assert (control.bridged, other.bridged) == (False, False)


async def test_a_caller_who_hangs_up_while_joining_raises_call_gone(parts: Any) -> None:
    control, player, driver = parts
    task = asyncio.create_task(control.bridge(CallControl(make_call(), driver, player)))
    await asyncio.sleep(0)
    control.ended(HangupBy.CALLER)
    with pytest.raises(CallGoneError):
        await task


async def test_hangup_asks_the_driver_unless_gone(parts: Any) -> None:
    control, _, driver = parts
    await control.hangup("done", status=486)
    assert driver.hangups == [("done", 486)]
    control.ended()
    await control.hangup()
    assert driver.hangups == [("done", 486)]
