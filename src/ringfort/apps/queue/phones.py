"""Which phones are in a call right now, from the call events on the bus.

An agent's state follows their phone's real state, including calls that are not
from a queue: an agent dialling out, or rung directly, is not free for the queue.
Every call (and every bridge an application makes) publishes `CallStarted`,
`CallAnswered` and `CallEnded`; a phone is busy while it is the caller or one of
the numbers rung of any call that has started and not ended.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from ringfort.bus import EventBus
from ringfort.pbx.call_events import CallAnswered, CallEnded, CallStarted

__all__ = ["PhoneActivity", "PhoneState"]


class PhoneState(enum.Enum):
    """What a phone is doing."""

    IDLE = "idle"
    RINGING = "ringing"
    """It is being rung (and is in no answered call)."""
    BUSY = "busy"
    """It made a call, or is in an answered one."""


@dataclass(eq=False)
class _Call:
    caller: str
    rung: set[str] = field(default_factory=set)
    answered: bool = False


class PhoneActivity:
    """Counts each phone's calls; tells listeners when a phone becomes idle.

    ``on_idle(phone)`` is called (synchronously, in the bus handler) when a phone's
    last call ends, so a queue can offer that agent the next caller at once.
    """

    def __init__(self) -> None:
        self._calls: dict[str, _Call] = {}
        # How many calls each phone is in, kept with every event: whether a phone is
        # idle is then one look-up, not a walk over every call in progress (a call
        # ending used to cost O(calls up), which grew with the load it was measured at).
        self._in_calls: dict[str, int] = {}
        self._listeners: list[Callable[[str], None]] = []
        self._unsubscribe: list[Callable[[], None]] = []

    def attach(self, bus: EventBus) -> None:
        """Start following the calls published on ``bus``."""
        self._unsubscribe = [
            bus.subscribe(CallStarted, self.on_started),
            bus.subscribe(CallAnswered, self.on_answered),
            bus.subscribe(CallEnded, self.on_ended),
        ]

    def detach(self) -> None:
        """Stop following calls."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    def on_idle(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(phone)`` whenever a phone's last call ends."""
        self._listeners.append(listener)

    def state(self, phone: str) -> PhoneState:
        """What ``phone`` is doing now."""
        ringing = False
        for call in self._calls.values():
            if call.caller == phone or (call.answered and phone in call.rung):
                return PhoneState.BUSY
            if phone in call.rung:
                ringing = True
        return PhoneState.RINGING if ringing else PhoneState.IDLE

    def busy_phones(self) -> set[str]:
        """Every phone in at least one call (ringing or talking)."""
        return set(self._in_calls)

    # -- bus handlers -----------------------------------------------------------------------------

    def on_started(self, event: CallStarted) -> None:
        """A call (or a bridge) began: its caller is busy and its numbers ring."""
        call = _Call(event.src, set(event.dst.split("&")))
        previous = self._calls.get(event.uniqueid)
        self._calls[event.uniqueid] = call
        if previous is not None:
            self._leave(_phones_of(previous))
        self._join(_phones_of(call))

    def on_answered(self, event: CallAnswered) -> None:
        """Answered: of the numbers rung, only the one that answered is still in the call."""
        call = self._calls.get(event.uniqueid)
        if call is None:
            return
        released = call.rung - {event.dst}
        before = _phones_of(call)
        call.rung = {event.dst}
        call.answered = True
        after = _phones_of(call)
        self._join(after - before)
        self._leave(before - after)
        self._notify_idle(released)

    def on_ended(self, event: CallEnded) -> None:
        """The call is over: its phones may be idle now."""
        call = self._calls.pop(event.uniqueid, None)
        if call is not None:
            phones = _phones_of(call)
            self._leave(phones)
            self._notify_idle(phones)

    def _join(self, phones: set[str]) -> None:
        counts = self._in_calls
        for phone in phones:
            counts[phone] = counts.get(phone, 0) + 1

    def _leave(self, phones: set[str]) -> None:
        counts = self._in_calls
        for phone in phones:
            left = counts.get(phone, 0) - 1
            if left > 0:
                counts[phone] = left
            else:
                counts.pop(phone, None)

    def _notify_idle(self, phones: set[str]) -> None:
        if not phones or not self._listeners:
            return
        # Decided before any listener runs: a listener may start a call that rings another
        # of these phones, and that one is still told it went idle.
        idle = [phone for phone in phones if phone not in self._in_calls]
        for phone in idle:
            for listener in self._listeners:
                listener(phone)


def _phones_of(call: _Call) -> set[str]:
    """The phones a call keeps busy: its caller and every number it rings."""
    return {call.caller, *call.rung}
