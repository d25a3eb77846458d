"""The parking lot, the slot range setting, and how a call to a slot is routed."""

from __future__ import annotations

from typing import Any

import pytest

from ringfort.apps.features import FeatureCodes
from ringfort.apps.parking import ParkingLot
from ringfort.pbx.destination import Destination, DestinationKind
from ringfort.settings import MAX_PARKING_SLOTS, ParkingSettings, parking_slots


class Caller:
    """The little of a CallControl the lot reads."""

    def __init__(self, number: str) -> None:
        self.caller = number
        self.gone = False


def lot(*slots: str) -> ParkingLot:
    clock = iter(range(100, 200))
    return ParkingLot(slots or ("701", "702", "703"), timeout=60, clock=lambda: next(clock))


async def test_a_caller_is_parked_at_the_slot_asked_for_and_taken_from_it() -> None:
    parking, first = lot(), Caller("4511")
    parked = parking.park("702", first)  # type: ignore[arg-type]
    assert parked is not None
    assert parked.slot == "702"
    assert parking.snapshot() == [{"slot": "702", "caller": "4511", "parked": 1}]
    assert parking.take("702") is parked
    assert parking.take("702") is None
    assert parking.snapshot() == []


async def test_a_taken_slot_sends_the_caller_to_the_next_free_one_then_round() -> None:
    parking = lot()
    callers = [Caller(str(n)) for n in range(4)]
    slots = [parking.park("702", c) for c in callers]  # type: ignore[arg-type]
    assert [p.slot if p else None for p in slots] == ["702", "703", "701", None]


async def test_a_caller_who_hung_up_is_not_handed_out() -> None:
    parking, first = lot(), Caller("4511")
    parking.park("701", first)  # type: ignore[arg-type]
    first.gone = True
    assert parking.snapshot() == []
    assert parking.take("701") is None


async def test_a_failed_pick_up_puts_the_caller_back_unless_the_slot_was_taken() -> None:
    parking, first, second = lot(), Caller("1"), Caller("2")
    parked = parking.park("701", first)  # type: ignore[arg-type]
    assert parked is not None
    assert parking.take("701") is parked
    parking.put_back(parked)
    assert parking.take("701") is parked
    parking.park("701", second)  # type: ignore[arg-type]
    parking.put_back(parked)  # the slot is someone else's now
    taken = parking.take("701")
    assert taken is not None
    assert taken.call is second


async def test_leaving_frees_only_ones_own_slot() -> None:
    parking, first, second = lot(), Caller("1"), Caller("2")
    parked = parking.park("701", first)  # type: ignore[arg-type]
    assert parked is not None
    parking.take("701")
    parking.park("701", second)  # type: ignore[arg-type]
    parking.leave(parked)  # the first caller's visit ends late: the second stays
    assert [s["caller"] for s in parking.snapshot()] == ["2"]


@pytest.mark.parametrize(
    ("text", "slots"),
    [
        ("701-703", ("701", "702", "703")),
        (" 08 - 10 ", ("08", "09", "10")),
        ("700", ("700",)),
        ("", ()),
    ],
)
def test_the_slot_range(text: str, slots: tuple[str, ...]) -> None:
    assert parking_slots(text) == slots
    assert ParkingSettings(slots=text).numbers == slots


@pytest.mark.parametrize(
    "text", ["701-", "a-b", "9-10", "720-701", f"1000-{1000 + MAX_PARKING_SLOTS}", "70-7O"]
)
def test_a_slot_range_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="parking slots"):
        parking_slots(text)


class Plan:
    async def resolve(self, number: str) -> Destination | None:
        return Destination(DestinationKind.IVR, "main") if number in ("800", "701") else None


async def test_a_slot_number_is_a_feature_unless_the_dial_plan_uses_it() -> None:
    codes: Any = FeatureCodes(Plan(), parking=lot())
    assert await codes.resolve("702") == Destination(DestinationKind.FEATURE, "702")
    assert await codes.resolve("*45500") == Destination(DestinationKind.FEATURE, "*45500")
    assert await codes.resolve("800") == Destination(DestinationKind.IVR, "main")
    # A menu numbered 701 keeps its number: the slot is shadowed.
    assert await codes.resolve("701") == Destination(DestinationKind.IVR, "main")
    assert await codes.resolve("704") is None
    # The caller's own mailbox depends on who calls; the main number is a destination.
    assert await codes.resolve("*97") == Destination(DestinationKind.FEATURE, "*97")
    assert await codes.resolve("*98") == Destination(DestinationKind.VOICEMAIL)
