"""Parking and picking up through the call-control interface (the lot's own rules are in
tests/unit/apps/test_parking_lot.py; real phones in tests/integration/test_parking.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from test_call_control import Driver, Player, make_call

from ringfort.apps.parking import ParkingLot, run_parking
from ringfort.disposition import Disposition
from ringfort.media.prompts import SHIPPED_PROMPTS, PromptLibrary
from ringfort.pbx.control import BridgeResult, CallControl

PROMPTS = PromptLibrary([SHIPPED_PROMPTS])


async def until(condition: Callable[[], object]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("never happened")


def prompt_names(player: Player) -> list[str]:
    return [clip.name for clip in player.playing]


async def test_a_transferred_caller_is_parked_and_picked_up_by_a_caller_dialling_the_slot() -> None:
    player, driver = Player(), Driver()
    parked = CallControl(make_call(), driver, player)  # type: ignore[arg-type]
    await parked.answer()  # it was talking to the phone that transferred it here
    lot = ParkingLot(("701", "702"), timeout=60)
    parking = asyncio.create_task(run_parking(parked, lot, "701", PROMPTS, "en"))
    await until(lambda: player.done is not None)
    assert prompt_names(player) == ["parked", "digits/7", "digits/0", "digits/1"]
    player.finish()
    await until(lambda: lot.snapshot())
    assert [s["slot"] for s in lot.snapshot()] == ["701"]

    picker_call = make_call()
    picker_call.uniqueid, picker_call.src = "u-2", "4412"
    picker = CallControl(picker_call, driver, player)  # type: ignore[arg-type]
    pickup = asyncio.create_task(run_parking(picker, lot, "701", PROMPTS, "en"))
    await until(lambda: driver.joins)
    assert driver.joins == [("u-2", "u-1")]
    assert picker.answered
    assert driver.result is not None
    driver.result.set_result(
        BridgeResult(True, 200, Disposition.ANSWERED, "answered", "101", "u-1")
    )
    await asyncio.wait_for(pickup, 1)
    await asyncio.wait_for(parking, 1)  # the parked caller's wait is over
    assert parked.bridged
    assert picker.bridged
    assert lot.snapshot() == []


async def test_a_caller_parked_too_long_rings_the_phone_that_parked_them() -> None:
    player, driver = Player(), Driver()
    parked = CallControl(make_call(), driver, player)  # type: ignore[arg-type]
    await parked.answer()
    parked.bridged_to = "4411"  # the agent who transferred the caller to the slot
    lot = ParkingLot(("701",), timeout=0.05)
    parking = asyncio.create_task(run_parking(parked, lot, "701", PROMPTS, "en"))
    await until(lambda: player.done is not None)
    player.finish()
    await until(lambda: driver.bridges)
    assert driver.bridges == ["4411"]
    assert lot.snapshot() == []  # the slot is free again
    assert driver.result is not None
    driver.result.set_result(
        BridgeResult(True, 200, Disposition.ANSWERED, "answered", "4411", "b-2")
    )
    await asyncio.wait_for(parking, 1)
    assert parked.bridged


async def test_a_caller_the_parker_does_not_take_back_is_told_goodbye() -> None:
    player, driver = Player(), Driver()
    parked = CallControl(make_call(), driver, player)  # type: ignore[arg-type]
    await parked.answer()
    parked.bridged_to = "4411"
    lot = ParkingLot(("701",), timeout=0.05)
    parking = asyncio.create_task(run_parking(parked, lot, "701", PROMPTS, "en"))
    await until(lambda: player.done is not None)
    player.finish()
    await until(lambda: driver.bridges)
    assert driver.result is not None
    driver.result.set_result(BridgeResult(False, 480, Disposition.NO_ANSWER, "no-answer"))
    await until(lambda: player.done is not None)
    assert prompt_names(player) == ["not-available", "goodbye"]
    player.finish()
    await asyncio.wait_for(parking, 1)
    assert not parked.bridged
