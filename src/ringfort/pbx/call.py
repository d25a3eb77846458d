"""A call between two extensions as the B2BUA holds it: its state, its two legs, its forks.

Only data and the decisions that need no I/O live here (the state machine's
allowed moves, how callee failures map to what the caller hears); the B2BUA
in ``b2bua.py`` drives it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from ringfort.disposition import Disposition, HangupBy
from ringfort.errors import LocalProtocolError
from ringfort.fast_enum import FastEnum
from ringfort.media.engine import LegMedia
from ringfort.pbx.ports import Binding
from ringfort.sdp.offer_answer import EndpointFormat
from ringfort.sdp.session import Origin
from ringfort.sip.address import Peer
from ringfort.sip.dialog import Dialog
from ringfort.sip.events import ClientHandle, ServerHandle
from ringfort.sip.message import Request, Response

if TYPE_CHECKING:
    from ringfort.pbx.control import BridgeResult, CallControl
    from ringfort.pbx.recording import ActiveRecording


class CallState(FastEnum):
    """Where a call is in its life; moves only forward (see ``Call.move``)."""

    SETUP = "setup"
    """INVITEs are out to the callee's phones; none rings yet."""
    RINGING = "ringing"
    """A phone of the callee rings (or plays early media)."""
    ANSWERED = "answered"
    """A phone answered; the call is up."""
    ENDED = "ended"


_MOVES: dict[CallState, frozenset[CallState]] = {
    CallState.SETUP: frozenset({CallState.RINGING, CallState.ANSWERED, CallState.ENDED}),
    CallState.RINGING: frozenset({CallState.ANSWERED, CallState.ENDED}),
    CallState.ANSWERED: frozenset({CallState.ENDED}),
    CallState.ENDED: frozenset(),
}


class Side(FastEnum):
    """The two ends of a call."""

    CALLER = "caller"
    CALLEE = "callee"

    @property
    def other(self) -> Side:
        """The opposite end."""
        return Side.CALLEE if self is Side.CALLER else Side.CALLER

    @property
    def party(self) -> HangupBy:
        """This side as a CDR ``hangup_by`` value."""
        return HangupBy.CALLER if self is Side.CALLER else HangupBy.CALLEE


@dataclass(eq=False)
class Leg:
    """One end of the call: its dialog, where its phone is, and the media anchored for it."""

    side: Side
    media: LegMedia
    session_id: int
    """Our SDP ``o=`` session id towards this leg; the version rises on each change."""
    peer: Peer | None = None
    dialog: Dialog | None = None
    session_version: int = 0
    last_sdp: bytes | None = None
    pending_2xx: Response | None = None
    """A 2xx we sent this leg and retransmit until its ACK comes (RFC 3261 §13.3.1.4)."""
    retransmit: asyncio.TimerHandle | None = None
    last_ack: Request | None = None
    """The ACK we sent for this leg's latest 2xx, sent again if the 2xx is (§13.2.2.4)."""
    answer_in_ack: bool = False
    """We offered in a 2xx to this leg's SDP-less re-INVITE; its ACK holds the answer."""

    def origin(self, address: str, body_changes: bool) -> Origin:
        """Our ``o=`` line for the next SDP to this leg; next version if changed (RFC 3264 §8)."""
        if body_changes:
            self.session_version += 1
        return Origin(
            "ringfort", self.session_id, self.session_version, "IN", _addrtype(address), address
        )


def _addrtype(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


@dataclass(eq=False)
class Fork:
    """One INVITE to one registered phone of the callee."""

    binding: Binding
    peer: Peer
    invite: Request
    handle: ClientHandle
    provisional: bool = False
    """A 1xx came: a CANCEL may be sent now (RFC 3261 §9.1)."""
    cancel_wanted: bool = False
    """We want it cancelled, but no 1xx came yet; CANCEL goes out with the first one."""
    final: int | None = None
    """The final status it ended with; 408 for no answer at all."""
    dialog: Dialog | None = None


@dataclass(eq=False)
class Relay:
    """An in-dialog request from one leg, passed on to the other and awaiting its answer."""

    call: Call
    source: Side
    server: ServerHandle
    request: Request
    held: bool | None
    """For an SDP offer: whether it puts the call on hold."""


@dataclass(eq=False)
class Bridge:
    """An application connecting its (answered) caller to a number: a call of its own in the CDR."""

    uniqueid: str
    dst: str
    """The numbers rung (``a&b`` for several); the one that answered once one has."""
    start: datetime
    result: asyncio.Future[BridgeResult]
    """Resolved when the number answers or every attempt failed."""
    answer: datetime | None = None
    rang: bool = False
    ringback: bool = True
    """Whether the caller hears ringback (else what played before, such as music, goes on)."""

    @property
    def dialling(self) -> bool:
        """Whether the number is still being rung."""
        return self.answer is None and not self.result.done()


@dataclass(eq=False)
class Call:
    """A call from an extension to an extension, anchored through the B2BUA."""

    uniqueid: str
    src: str
    dst: str
    clid: str
    start: datetime
    invite: Request
    """The caller's INVITE."""
    server: ServerHandle
    caller: Leg
    callee: Leg
    state: CallState = CallState.SETUP
    answer: datetime | None = None
    forks: list[Fork] = field(default_factory=list)
    ring_timer: asyncio.TimerHandle | None = None
    relays: list[Relay] = field(default_factory=list)
    held_by: Side | None = None
    late_offer: bool = False
    """The caller's INVITE had no SDP (RFC 3261 §13.2.1): the callee offers in its 2xx
    and the caller answers in its ACK."""
    callee_ack_cseq: int | None = None
    """Set while the callee's 2xx waits for its ACK, which must carry the caller's answer."""
    counted: tuple[str, ...] = ()
    """The extensions whose per-extension call limit this call counts against."""
    app: CallControl | None = None
    """The application that owns the caller's leg (a menu, ...), if the call was routed to one."""
    caller_format: EndpointFormat | None = None
    """Set when we answered the caller ourselves (an application's call)."""
    bridge: Bridge | None = None
    connected: asyncio.Future[BridgeResult] | None = None
    """An application's not-yet-answered call put through to a number: told how that went."""
    answered_by: str | None = None
    """The extension whose phone answered the call (for one put through by an application
    or forwarded, not always ``dst``, the number dialled)."""
    record: bool = False
    """Whether a recording rule covers this call: it is recorded from its answer."""
    recording: ActiveRecording | None = None
    """The recording in progress (by rule or the toggle key)."""
    hold_music: bool = False
    """Whether the party put on hold hears our music now."""
    failover: frozenset[str] = frozenset()
    """The failures (causes) that do not end the call: a call to an extension with a
    mailbox goes there, an application's caller put through to an extension with a
    forward or a mailbox for that failure goes back to the application."""
    row_ended: bool = False
    """The call's own CDR row needs no writing when it ends: written already (its
    conversation ended in a blind transfer), or a bridge of the same uniqueid stands for it
    (a call between two phones taken over for an attended transfer). What follows is
    recorded by its bridges' rows."""
    joined: Call | None = None
    """Another application's call whose caller this call's caller talks to (see
    `CallControl.bridge` with a call): each call's media is ours, relayed between them."""

    @property
    def dialling(self) -> bool:
        """Whether phones are being rung for this call (its own callee, or a bridge's)."""
        if self.state in (CallState.SETUP, CallState.RINGING):
            return self.app is None or bool(self.forks)
        return self.bridge is not None and self.bridge.dialling

    def move(self, state: CallState) -> None:
        """Change state; a move the machine does not allow is a bug and raises."""
        if state not in _MOVES[self.state]:
            raise LocalProtocolError(f"call {self.uniqueid}: {self.state.value} -> {state.value}")
        self.state = state

    def leg(self, side: Side) -> Leg:
        """The leg on ``side``."""
        return self.caller if side is Side.CALLER else self.callee

    @property
    def ended(self) -> bool:
        """Whether the call is over."""
        return self.state is CallState.ENDED

    @property
    def answered(self) -> bool:
        """Whether a phone answered and the call is not over."""
        return self.state is CallState.ANSWERED


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the caller is told when nobody answered, and how the CDR records it."""

    status: int
    disposition: Disposition
    hangup_by: HangupBy
    cause: str


TIMED_OUT = 408
"""The status a fork that never answered stands for (RFC 3261 §8.1.3.1)."""


def failure_outcome(statuses: list[int]) -> Outcome:
    """The answer for the caller when every fork failed with ``statuses``.

    Like a forking proxy (RFC 3261 §16.7), a global refusal (6xx) wins, then busy
    before other refusals, before unavailability, before silence. What the caller
    hears is mapped to a status a phone understands; a callee's 503 is not passed on,
    as it would tell the caller that Ringfort itself is overloaded (§16.7 step 6).
    """
    return min((_outcome(status) for status in statuses), key=_rank, default=_NOBODY)


_NOBODY = Outcome(480, Disposition.FAILED, HangupBy.SYSTEM, "unavailable")


def _outcome(status: int) -> Outcome:
    if status in (486, 600):
        return Outcome(486, Disposition.BUSY, HangupBy.CALLEE, "busy")
    if status == 603:
        return Outcome(603, Disposition.BUSY, HangupBy.CALLEE, "declined")
    if status in (488, 606):
        return Outcome(488, Disposition.FAILED, HangupBy.SYSTEM, "incompatible")
    if status in (480, 487):
        return Outcome(480, Disposition.NO_ANSWER, HangupBy.CALLEE, "no-answer")
    if status == TIMED_OUT:
        return Outcome(480, Disposition.NO_ANSWER, HangupBy.SYSTEM, "no-answer")
    return Outcome(480, Disposition.FAILED, HangupBy.SYSTEM, f"callee-{status}")


_RANKS = {"declined": 0, "busy": 1, "incompatible": 2, "no-answer": 3}


def _rank(outcome: Outcome) -> tuple[int, int]:
    return (_RANKS.get(outcome.cause, 4), 0 if outcome.hangup_by is HangupBy.CALLEE else 1)
