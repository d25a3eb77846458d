"""Call parking: a caller waits at a numbered slot, with music, until a phone picks them up.

A phone parks its caller by transferring them to a slot (``701``: the phone's
transfer button, a blind SIP REFER); the caller hears the slot's number and then
music. Any phone dials the slot to pick the caller up, which connects the two
(`CallControl.bridge` with the parked call). A caller parked longer than the lot's
timeout rings the phone that parked them again, and is told goodbye if nobody
answers there.

Which of the two a call to a slot means follows from the call itself: a caller who
arrives already answered was transferred there (park), one who dials the slot
from a phone is not answered yet (pick up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ringfort.apps.ivr.menu import clips_for
from ringfort.media.prompts import PromptLibrary
from ringfort.pbx.control import CallControl

__all__ = ["ParkedCall", "ParkingLot", "run_parking"]

log = logging.getLogger(__name__)

RING_BACK_SECONDS = 30.0
"""How long the phone that parked a caller rings when the parking time is up."""


@dataclass(eq=False)
class ParkedCall:
    """A caller waiting at a slot."""

    slot: str
    call: CallControl
    since: float
    """Monotonic seconds when the caller was parked."""
    picked: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    """Resolved when a phone picked the caller up (the two are connected)."""


class ParkingLot:
    """The slots of this node and who waits at each."""

    def __init__(
        self,
        slots: Sequence[str],
        *,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slots: dict[str, ParkedCall | None] = dict.fromkeys(slots)
        self.timeout = timeout
        self._clock = clock

    def __contains__(self, number: object) -> bool:
        return number in self._slots

    def park(self, slot: str, call: CallControl) -> ParkedCall | None:
        """Park ``call`` at ``slot``, or at the first free slot after it if that one is taken
        (then the first free from the start); None when the lot is full."""
        order = list(self._slots)
        start = order.index(slot)
        for number in order[start:] + order[:start]:
            if self._slots[number] is None:
                parked = ParkedCall(number, call, self._clock())
                self._slots[number] = parked
                return parked
        return None

    def take(self, slot: str) -> ParkedCall | None:
        """Remove and return the caller waiting at ``slot``, if any is still there."""
        parked = self._slots.get(slot)
        if parked is None:
            return None
        self._slots[slot] = None
        return None if parked.call.gone else parked

    def put_back(self, parked: ParkedCall) -> None:
        """Return a caller whose pick-up failed to their slot (if it is still free)."""
        if self._slots.get(parked.slot) is None and not parked.call.gone:
            self._slots[parked.slot] = parked

    def leave(self, parked: ParkedCall) -> None:
        """The caller is no longer parked (picked up, timed out or gone)."""
        if self._slots.get(parked.slot) is parked:
            self._slots[parked.slot] = None

    def snapshot(self) -> list[dict[str, object]]:
        """The occupied slots: slot, caller, seconds parked."""
        now = self._clock()
        return [
            {"slot": slot, "caller": parked.call.caller, "parked": round(now - parked.since)}
            for slot, parked in self._slots.items()
            if parked is not None and not parked.call.gone
        ]


async def run_parking(
    call: CallControl, lot: ParkingLot, slot: str, prompts: PromptLibrary, language: str
) -> None:
    """A call reached ``slot``: park the caller if they were transferred here (answered),
    else pick up whoever waits there."""
    if call.answered:
        await _park(call, lot, slot, prompts, language)
    else:
        await _pick_up(call, lot, slot, prompts, language)


async def _park(
    call: CallControl, lot: ParkingLot, slot: str, prompts: PromptLibrary, language: str
) -> None:
    parked = lot.park(slot, call)
    if parked is None:
        log.info("call %s: no parking slot free", call.uniqueid)
        await call.play(clips_for(prompts, ("not-available", "goodbye"), language))
        return
    log.info("call %s from %s: parked at %s", call.uniqueid, call.caller, parked.slot)
    gone = asyncio.ensure_future(call.wait_gone())
    try:
        # Whoever parked the caller may be telling a colleague the slot: say it here too.
        digits = tuple(f"digits/{digit}" for digit in parked.slot)
        await call.play(clips_for(prompts, ("parked", *digits), language))
        if not parked.picked.done():
            await call.start_music()
        await asyncio.wait(
            (parked.picked, gone), timeout=lot.timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        lot.leave(parked)
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gone
    if parked.picked.done() or call.gone:
        return  # picked up: the launcher follows the conversation
    parker = call.bridged_to
    log.info("call %s: parked too long at %s; ringing %s", call.uniqueid, parked.slot, parker)
    if parker is not None:
        result = await call.bridge(parker, ring_timeout=RING_BACK_SECONDS, ringback=False)
        if result.answered:
            return
    await call.play(clips_for(prompts, ("not-available", "goodbye"), language))


async def _pick_up(
    call: CallControl, lot: ParkingLot, slot: str, prompts: PromptLibrary, language: str
) -> None:
    parked = lot.take(slot)
    await call.answer()
    if parked is None:
        await call.play(clips_for(prompts, ("parking-empty", "goodbye"), language))
        return
    result = await call.bridge(parked.call)
    if not result.answered:
        log.info("call %s: picking up %s failed (%s)", call.uniqueid, slot, result.cause)
        lot.put_back(parked)
        await call.play(clips_for(prompts, ("not-available", "goodbye"), language))
        return
    log.info("call %s from %s: picked up %s at %s", call.uniqueid, call.caller,
             parked.call.caller, slot)  # fmt: skip
    if not parked.picked.done():
        parked.picked.set_result(None)
