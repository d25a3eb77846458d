"""The back-to-back user agent: calls between extensions, with media anchored on the relay.

Each call is two dialogs: the caller's INVITE is answered by us (the caller
leg), and we send our own INVITE to every registered phone of the callee (the
forks; the one that answers becomes the callee leg). Every SDP crossing is
rewritten to point at the media engine, so RTP flows phone -> Ringfort ->
phone. In-dialog requests (re-INVITE, UPDATE, INFO, BYE) are passed from one
leg to the other. Progress is published on the event bus.

The transaction layer below does retransmissions of requests and failure
responses; this module does what RFC 3261 leaves to the transaction user:
retransmitting our 2xx until its ACK (§13.3.1.4), ACKing every 2xx we receive
(§13.2.2.4), and cancelling forks (§9.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from ringfort import randomness
from ringfort.bus import EventBus
from ringfort.disposition import Disposition, HangupBy
from ringfort.errors import RemoteProtocolError
from ringfort.media.engine import LegFormat, LegMedia, MediaEngine
from ringfort.pbx.call import (
    TIMED_OUT,
    Bridge,
    Call,
    CallState,
    Fork,
    Leg,
    Outcome,
    Relay,
    Side,
    failure_outcome,
)
from ringfort.pbx.call_events import (
    CallAnswered,
    CallEnded,
    CallHeld,
    CallResumed,
    CallRinging,
    CallStarted,
)
from ringfort.pbx.control import (
    AppLauncher,
    BridgeOptions,
    BridgeResult,
    CallControl,
    CallGoneError,
    Transfer,
)
from ringfort.pbx.destination import Destination, DestinationKind, mailbox_after
from ringfort.pbx.dtmf_info import digits_of_info
from ringfort.pbx.forwarding import FAILOVER_CAUSES, NO_FORWARDING
from ringfort.pbx.location import LocationService, reachable_peer
from ringfort.pbx.outgoing import bracket, our_contact, our_via
from ringfort.pbx.ports import Binding, DialPlan, ExtensionDirectory, MusicSource
from ringfort.pbx.recording import HOLD, TOGGLE, CallRecorder, ToggleKeys
from ringfort.pbx.registrar import ALLOW, Authorizer
from ringfort.pbx.transfer import Replaces, parse_refer_to
from ringfort.rtp.tones import BEEP, RINGBACK_EUROPE
from ringfort.sdp.offer_answer import (
    DEFAULT_CODECS,
    PCMA,
    PCMU,
    TELEPHONE_EVENT,
    EndpointFormat,
    endpoint_answer,
    endpoint_format,
    endpoint_offer,
    has_live_audio,
    is_hold,
    relayed,
)
from ringfort.sdp.session import SessionDescription
from ringfort.sip.address import Peer
from ringfort.sip.dialog import Dialog, DialogKey, incoming_key
from ringfort.sip.events import ClientHandle, ServerHandle
from ringfort.sip.headers import NameAddr, Via
from ringfort.sip.message import REASONS, Headers, Request, Response, make_response
from ringfort.sip.timers import T1, T2
from ringfort.sip.uri import URI
from ringfort.transport.rtp import PortsExhaustedError

log = logging.getLogger(__name__)

SDP = "application/sdp"
RETRY_AFTER = "5"
_BEEP_SECONDS = 0.2
"""How long the beep that marks a recording switched on or off by key lasts."""
_CDR_DST_ROOM = 80
"""The CDR ``dst`` column's width."""
_G711 = ((0, PCMU), (8, PCMA))
"""The voice formats our own media speaks, with their static payload types (RFC 3551)."""


@dataclass(eq=False)
class _Joining:
    """An attended transfer waiting for the target to take the transferee's codec."""

    app_call: Call
    """The application's call, its caller (the transferee) bridged to the transferor."""
    bridge: Bridge
    """That call's bridge to the transferor when the REFER came."""
    consult: Call
    """The transferor's call with the target."""
    target_side: Side
    """The target's side of ``consult``."""
    referrer_call: Call
    referrer: Leg
    """The leg the REFER came on: it hears how the transfer went."""


class CallSender(Protocol):
    """What the B2BUA needs from the SIP stack."""

    def send_response(self, handle: ServerHandle, response: Response) -> None:
        """Answer a request on its server transaction."""
        ...

    def send_request(self, request: Request, peer: Peer) -> ClientHandle:
        """Start a client transaction; its responses come back through ``on_response``."""
        ...

    def send_stateless(self, message: Request | Response, peer: Peer) -> None:
        """Transmit outside any transaction (an ACK of a 2xx, a 2xx retransmission)."""
        ...

    def sent_by(self) -> tuple[str, int]:
        """Our host and port for Via and Contact."""
        ...

    def flow_open(self, peer: Peer) -> bool:
        """Whether ``peer`` can still be reached the way it reached us."""
        ...

    def find_invite_server(self, cancel: Request) -> ServerHandle | None:
        """The INVITE server transaction a CANCEL names, if it still exists."""
        ...


@dataclass(frozen=True, slots=True)
class CallLimits:
    """How many calls may be up at once, and how long one may ring."""

    ring_timeout: float
    max_calls: int
    max_calls_per_extension: int


class B2bua:
    """Sets up, relays and tears down calls between extensions."""

    def __init__(
        self,
        *,
        sender: CallSender,
        authorizer: Authorizer,
        directory: ExtensionDirectory,
        location: LocationService,
        media: MediaEngine,
        bus: EventBus,
        limits: CallLimits,
        media_address: str | None = None,
        wall_clock: Callable[[], float] = time.time,
        server_header: str = "Ringfort",
        node_id: str | None = None,
        dial_plan: DialPlan | None = None,
        launcher: AppLauncher | None = None,
        recorder: CallRecorder | None = None,
        inband_dtmf: bool = False,
        music: MusicSource | None = None,
        music_on_hold: bool = True,
        voicemail: bool = False,
    ) -> None:
        self._sender = sender
        self._authorizer = authorizer
        self._directory = directory
        self._location = location
        self._media = media
        self._bus = bus
        self._limits = limits
        self._media_address = media_address
        self._wall = wall_clock
        self._server_header = server_header
        self._dial_plan = dial_plan
        self._launcher = launcher
        self._recorder = recorder
        self._inband_dtmf = inband_dtmf
        self._music = music
        self._music_on_hold = music_on_hold and music is not None
        self._voicemail = voicemail and launcher is not None
        self._sequence = itertools.count(1)
        # Asterisk's uniqueid is "[systemname-]epoch.sequence"; the sequence restarts with
        # the process, so a per-process name keeps ids unique across restarts and nodes.
        self._node_id = node_id or secrets.token_hex(3)
        self._calls: dict[str, Call] = {}
        self._per_extension: dict[str, int] = {}
        self._reserved = 0
        """Calls counted against the limits: in progress, or having their media allocated."""
        self._by_server: dict[ServerHandle, Call] = {}
        self._ended_invites: set[ServerHandle] = set()
        """Callers' INVITE transactions of calls that ended, until the transactions do."""
        self._by_fork: dict[ClientHandle, tuple[Call, Fork]] = {}
        self._relays: dict[ClientHandle, Relay] = {}
        self._reinvites: dict[
            ClientHandle, tuple[Leg, Callable[[int, SessionDescription | None], None]]
        ] = {}
        """Our own re-INVITEs (a transfer's), with what to do with the answer."""
        self._by_dialog: dict[DialogKey, tuple[Call, Side]] = {}
        self._by_media: dict[str, Call] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # -- inspection ---------------------------------------------------------------------------

    @property
    def active(self) -> int:
        """How many calls are in progress."""
        return len(self._calls)

    def calls(self) -> list[Call]:
        """The calls in progress."""
        return list(self._calls.values())

    def hang_up(self, uniqueid: str, *, cause: str = "administrator") -> bool:
        """End the call ``uniqueid`` from the PBX (BYE, or 487 before an answer), as an
        administrator asks; False when no such call is in progress."""
        call = self._calls.get(uniqueid)
        if call is None or call.ended:
            return False
        self._hang_up(call, by=HangupBy.SYSTEM, cause=cause)
        return True

    # -- entry points from the SIP core ---------------------------------------------------------

    def on_invite(self, handle: ServerHandle, request: Request, peer: Peer) -> None:
        """A new INVITE (no To tag): authenticate, route, fork."""
        # Every call starts with this challenge (RFC 3261 §22.3); it needs no lookup,
        # so it is answered at once rather than from a task of its own.
        challenge = self._authorizer.challenge_if_anonymous(request, self._wall(), proxy=True)
        if challenge is not None:
            self._reply(handle, challenge)
            return
        self._spawn(self._setup(handle, request, peer))

    def on_in_dialog(self, handle: ServerHandle, request: Request, peer: Peer) -> None:
        """A request with a To tag: BYE, re-INVITE, UPDATE, INFO, ..."""
        key = incoming_key(request)
        found = self._by_dialog.get(key) if key is not None else None
        if found is None:
            # RFC 3261 §12.2.2: a request for a dialog we do not know.
            self._reply(handle, make_response(request, 481, "Call/Transaction Does Not Exist"))
            return
        call, side = found
        leg = call.leg(side)
        assert leg.dialog is not None
        if not leg.dialog.accept(request):
            self._reply(handle, make_response(request, 500, "Out of order CSeq"))
            return
        method = request.method
        if method == "BYE":
            self._reply(handle, make_response(request, 200))
            self._hang_up(call, by=side.party, cause="normal")
        elif method == "OPTIONS":
            response = make_response(request, 200)
            response.headers.set("Allow", ALLOW)
            self._reply(handle, response)
        elif method == "REFER":
            self._refer(call, side, handle, request)
        elif not call.answered:
            # Early dialog requests (UPDATE before answer, PRACK) are not relayed yet.
            self._reply(handle, make_response(request, 491 if method == "INVITE" else 403))
        elif call.app is not None and call.callee.dialog is None:
            self._app_request(call, handle, request)
        else:
            self._relay(call, side, handle, request)

    def on_ack(self, request: Request) -> None:
        """The ACK of a 2xx we sent: stop retransmitting it."""
        key = incoming_key(request)
        found = self._by_dialog.get(key) if key is not None else None
        if found is None:
            return
        call, side = found
        leg = call.leg(side)
        pending = leg.pending_2xx
        if pending is not None and pending.cseq.number == request.cseq.number:
            self._stop_retransmit(leg)
            if leg.answer_in_ack:
                leg.answer_in_ack = False
                if (answer := _sdp_of(request)) is not None:
                    self._take_remote(leg, answer)
                    if call.app is not None and call.callee.dialog is None:
                        self._take_caller_answer(call, answer)
            if side is Side.CALLER and call.callee_ack_cseq is not None and call.answered:
                self._late_answer(call, request)

    def on_cancel(self, handle: ServerHandle, request: Request) -> None:
        """A CANCEL: if it names a call still ringing, end it (RFC 3261 §9.2)."""
        invite = self._sender.find_invite_server(request)
        call = self._by_server.get(invite) if invite is not None else None
        if call is None and invite in self._ended_invites:
            # RFC 3261 §9.2: the INVITE was answered already; the CANCEL has no effect.
            self._reply(handle, make_response(request, 200))
            return
        if call is None or invite is None:
            self._reply(handle, make_response(request, 481, "Call/Transaction Does Not Exist"))
            return
        self._reply(handle, make_response(request, 200))
        if call.ended or call.answered:
            return  # too late: a final response went out already
        self._respond_to_caller(call, 487)
        self._cancel_forks(call)
        self._end(call, Disposition.CANCELLED, HangupBy.CALLER, "cancelled", 487)

    def on_response(self, handle: ClientHandle, response: Response) -> None:
        """A response to a request we sent."""
        if (fork_entry := self._by_fork.get(handle)) is not None:
            call, fork = fork_entry
            self._fork_response(call, fork, response)
        elif (relay := self._relays.get(handle)) is not None:
            self._relay_response(handle, relay, response)
        elif handle in self._reinvites:
            self._reinvite_response(handle, response)

    def on_stray_response(self, response: Response) -> None:
        """A 2xx retransmission after its transaction ended: our ACK was lost; send it again."""
        if not 200 <= response.status < 300 or response.cseq.method != "INVITE":
            return
        key = (response.call_id, response.from_tag or "", response.to_tag or "")
        found = self._by_dialog.get(key)
        if found is None:
            return
        leg = found[0].leg(found[1])
        if leg.last_ack is not None and leg.peer is not None:
            self._sender.send_stateless(leg.last_ack, leg.peer)

    def on_client_failure(self, handle: ClientHandle, status: int) -> None:
        """A request we sent got no answer (408) or could not be sent (503)."""
        if (fork_entry := self._by_fork.get(handle)) is not None and handle.method == "INVITE":
            call, fork = fork_entry
            if fork.final is None:
                fork.final = TIMED_OUT if status == 408 else status
                self._fork_failed(call)
        elif (relay := self._relays.pop(handle, None)) is not None:
            with contextlib.suppress(ValueError):
                relay.call.relays.remove(relay)
            if not relay.call.ended:
                self._reply(relay.server, make_response(relay.request, 408))
        elif (reinvite := self._reinvites.pop(handle, None)) is not None:
            reinvite[1](status, None)

    def on_terminated(self, handle: ClientHandle) -> None:
        """A client transaction is gone: forget it."""
        self._by_fork.pop(handle, None)
        self._reinvites.pop(handle, None)
        if (relay := self._relays.pop(handle, None)) is not None:
            with contextlib.suppress(ValueError):
                relay.call.relays.remove(relay)

    def on_server_terminated(self, handle: ServerHandle) -> None:
        """The caller's INVITE transaction is gone."""
        self._by_server.pop(handle, None)
        self._ended_invites.discard(handle)

    def check_media(self, now: float) -> int:
        """Hang up answered calls whose RTP stopped (``now`` on the media engine's clock).

        Returns how many calls were ended.
        """
        ended = 0
        for media in self._media.idle_legs(now):
            call = self._by_media.get(media.leg_id)
            # A held phone sends nothing (recvonly or inactive), for as long as the
            # hold lasts: silence then is no sign of a vanished phone.
            if call is None or not call.answered or call.held_by is not None:
                continue
            callee = call.callee
            if callee.dialog is None and media.leg_id == callee.media.leg_id:
                # No phone on that leg now: the one there left (a transfer) and the next
                # has not answered. The caller, still there, is watched on its own leg.
                continue
            log.info(
                "call %s: no RTP from the %s for too long", call.uniqueid, _side_of(call, media)
            )
            self._hang_up(call, by=HangupBy.SYSTEM, cause="rtp-timeout")
            ended += 1
        return ended

    async def close(self) -> None:
        """Hang up every call (at shutdown) and wait for their media to be released."""
        for call in list(self._calls.values()):
            if call.answered:
                self._hang_up(call, by=HangupBy.SYSTEM, cause="shutdown")
            else:
                self._respond_to_caller(call, 503, retry_after=True)
                self._cancel_forks(call)
                self._end(call, Disposition.FAILED, HangupBy.SYSTEM, "shutdown", 503)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- set-up ---------------------------------------------------------------------------------

    async def _setup(self, handle: ServerHandle, request: Request, peer: Peer) -> None:
        try:
            await self._try_setup(handle, request, peer)
        except Exception:
            log.exception("INVITE from %s:%s failed", peer.host, peer.port)
            # Every INVITE must get a final answer, or the caller rings forever.
            call = self._by_server.get(handle)
            if call is not None and not call.ended:
                self._respond_to_caller(call, 500)
                self._cancel_forks(call)
                self._end(call, Disposition.FAILED, HangupBy.SYSTEM, "error", 500)
            elif call is None and handle not in self._ended_invites:
                # No call was opened (an ended one was answered already).
                with contextlib.suppress(Exception):
                    self._reply(handle, make_response(request, 500, to_tag=_new_tag()))

    async def _try_setup(self, handle: ServerHandle, request: Request, peer: Peer) -> None:
        username, refusal = await self._authorizer.authenticate(
            request, peer, self._wall(), proxy=True
        )
        if refusal is not None:
            self._reply(handle, refusal)
            return
        assert username is not None
        target = request.uri.unescaped_user if request.uri.scheme in ("sip", "sips") else None
        start = self._now()
        caller = await self._directory.credentials(username)
        clid = _caller_id(request, username, caller.name if caller is not None else "")
        uniqueid = self._new_uniqueid(start)
        refused = functools.partial(
            self._refuse, handle, request, uniqueid, username, target or "", clid, start
        )
        if not target:
            refused(404, "Not Found")
            return
        destination: Destination | None = None
        callee = await self._directory.credentials(target)
        if callee is None:
            if self._dial_plan is not None and self._launcher is not None:
                destination = await self._dial_plan.resolve(target)
            if destination is None:
                refused(404, "Not Found")
                return
        forwarded = (
            destination is None
            and callee is not None
            and callee.forwarding.active
            and self._launcher is not None
        )
        if forwarded:
            # Forwards and do-not-disturb are followed in one place, the applications
            # (chains and loops included): the call is put through to the extension there.
            destination = Destination(DestinationKind.EXTENSION, target)
        reachable = self._reachable_bindings(target) if destination is None else []
        voicemail = self._voicemail and callee is not None and callee.voicemail
        if destination is None and voicemail and not reachable:
            # No phone to ring: straight to the mailbox.
            destination = Destination(DestinationKind.VOICEMAIL, target)
        problem: tuple[int, str] | None = None
        offer: SessionDescription | None = None
        if destination is None and not reachable:
            problem = (480, "Temporarily Unavailable")
        elif not request.body:
            pass  # a late offer (RFC 3261 §13.2.1): the callee will make it
        elif not _carries_sdp(request):
            problem = (415, "Unsupported Media Type")
        else:
            try:
                offer = SessionDescription.parse(request.body)
            except RemoteProtocolError as error:
                problem = (400, f"Bad SDP: {error}")
        record = (
            (destination is None or forwarded)
            and problem is None
            and self._recorder is not None
            and await self._recorder.wanted(username, target)
        )
        # An application's number is not an extension: only the caller's limit applies.
        counted = (username,) if destination is not None else (username, target)
        if problem is None and not self._reserve(counted):
            problem = (503, "Too many calls")
        if problem is not None:
            refused(*problem)
            return
        # From here the call counts against the limits; every exit must give it back.
        call = await self._open_call(handle, request, peer, uniqueid, username, target, clid, start)
        if call is None:
            self._release_reservation(counted)
            refused(503, "No media ports")
            return
        call.counted = counted
        call.record = record
        call.failover = FAILOVER_CAUSES if voicemail else frozenset()
        if offer is not None:
            self._take_remote(call.caller, offer)
        # No 100 Trying of our own: the INVITE server transaction sends one if the
        # caller has heard nothing 200 ms after its INVITE (RFC 3261 §17.2.1), and a
        # callee that rings at once spares both sides a message.
        self._publish(CallStarted(uniqueid, uniqueid, call.src, call.dst, clid, start))
        if destination is not None:
            self._start_app(call, destination)
        else:
            ring = callee.ring_seconds if callee is not None else None
            self._dial(call, reachable, offer, ring or self._limits.ring_timeout)

    async def _open_call(
        self,
        handle: ServerHandle,
        request: Request,
        peer: Peer,
        uniqueid: str,
        src: str,
        dst: str,
        clid: str,
        start: datetime,
    ) -> Call | None:
        """Allocate a new call's media and make it known; None when no media ports are left."""
        try:
            caller_media = await self._media.allocate_leg(uniqueid)
        except (PortsExhaustedError, OSError):
            return None
        try:
            callee_media = await self._media.allocate_leg(uniqueid)
        except (PortsExhaustedError, OSError):
            await self._media.release(caller_media)
            return None
        call = Call(
            uniqueid=uniqueid,
            src=src,
            dst=dst,
            clid=clid,
            start=start,
            invite=request,
            server=handle,
            caller=Leg(Side.CALLER, caller_media, _session_id(), peer=peer),
            callee=Leg(Side.CALLEE, callee_media, _session_id()),
        )
        self._register(call)
        caller_dialog = Dialog.as_uas(request, _new_tag())
        call.caller.dialog = caller_dialog
        self._by_dialog[caller_dialog.key] = (call, Side.CALLER)
        return call

    def _dial(
        self,
        call: Call,
        reachable: list[tuple[Binding, Peer]],
        offer: SessionDescription | None,
        ring_timeout: float,
    ) -> None:
        """Ring every phone in ``reachable`` with the caller's offer (an ordinary call)."""
        if offer is None:
            call.late_offer = True
            outgoing = b""
        else:
            rewritten = self._rewrite(call.callee, offer)
            if rewritten is None:
                self._respond_to_caller(call, 488)
                self._end(call, Disposition.FAILED, HangupBy.SYSTEM, "incompatible", 488)
                return
            outgoing = rewritten
        self._ring(call, reachable, outgoing, ring_timeout)

    def _ring(
        self,
        call: Call,
        reachable: list[tuple[Binding, Peer]],
        offer: bytes,
        ring_timeout: float,
    ) -> None:
        """INVITE every phone in ``reachable`` (of one number or several) at once."""
        call.forks = []
        for binding, fork_peer in reachable:
            invite = self._fork_invite(
                call, binding.number, URI.parse(binding.contact), fork_peer, offer
            )
            fork_handle = self._sender.send_request(invite, fork_peer)
            fork = Fork(binding, fork_peer, invite, fork_handle)
            call.forks.append(fork)
            self._by_fork[fork_handle] = (call, fork)
        call.ring_timer = asyncio.get_running_loop().call_later(
            ring_timeout, self._ring_timeout, call
        )

    def _reachable_bindings(self, number: str) -> list[tuple[Binding, Peer]]:
        return [
            (binding, where)
            for binding in self._location.bindings(number, self._wall())
            if (where := self._reachable(binding)) is not None
        ]

    def _new_uniqueid(self, start: datetime) -> str:
        return f"{self._node_id}-{int(start.timestamp())}.{next(self._sequence)}"

    def _reachable(self, binding: Binding) -> Peer | None:
        """Where a phone can be reached now, or None if it cannot until it registers again."""
        return reachable_peer(binding, self._sender.flow_open)

    def _refuse(
        self,
        handle: ServerHandle,
        request: Request,
        uniqueid: str,
        src: str,
        dst: str,
        clid: str,
        start: datetime,
        status: int,
        reason: str,
    ) -> None:
        """Answer a call that never started, and record it as FAILED."""
        response = make_response(request, status, reason, to_tag=_new_tag())
        if status == 503:
            response.headers.set("Retry-After", RETRY_AFTER)
        self._reply(handle, response)
        log.info("call from %s to %s refused: %d %s", src, dst or "?", status, reason)
        self._publish(
            CallEnded(
                uniqueid,
                uniqueid,
                src,
                dst,
                clid=clid,
                start=start,
                answer=None,
                end=self._now(),
                disposition=Disposition.FAILED,
                hangup_by=HangupBy.SYSTEM,
                cause=reason.lower(),
                status=status,
            )
        )

    def _fork_invite(
        self, call: Call, number: str, contact: URI, peer: Peer, offer: bytes
    ) -> Request:
        host, port = self._sender.sent_by()
        caller_from = call.invite.from_
        local = NameAddr(
            caller_from.display_name,
            URI(scheme="sip", user=call.src, host=host, port=port),
            {"tag": _new_tag()},
        )
        remote = NameAddr(None, URI(scheme="sip", user=number, host=host, port=port))
        headers = Headers(
            [
                ("Via", str(self._via(peer))),
                ("Max-Forwards", "70"),
                ("From", str(local)),
                ("To", str(remote)),
                ("Call-ID", f"{randomness.token_hex(12)}@{bracket(host)}"),
                ("CSeq", "1 INVITE"),
                ("Contact", self._contact(peer)),
                ("Allow", ALLOW),
                ("User-Agent", self._server_header),
            ]
        )
        if offer:
            headers.add("Content-Type", SDP)
        return Request("INVITE", contact, headers, offer)

    # -- applications -----------------------------------------------------------------------------

    def _start_app(self, call: Call, destination: Destination) -> None:
        """Hand the caller's leg to the application ``destination`` names."""
        assert self._launcher is not None
        control = CallControl(call, self, self._media, music=self._music)
        call.app = control
        self._spawn(self._run_app(call, control, destination))

    async def _run_app(
        self, call: Call, control: CallControl, destination: Destination | None
    ) -> None:
        assert self._launcher is not None
        try:
            await self._launcher.run(control, destination)
        except CallGoneError:
            pass
        except Exception:
            log.exception("call %s: the application for %s failed", call.uniqueid, destination)
        if not call.ended and not control.bridged and not call.dialling:
            # An application that returns without connecting the caller is done with it.
            self.hang_up_call(call, "application-done", 480)

    def answer_call(self, call: Call) -> None:
        """Answer an application's caller with our own media (ControlDriver)."""
        if call.ended or call.answered:
            return
        caller = call.caller
        address = self._sdp_address(caller.media)
        offer = _sdp_of(call.invite)
        if offer is None:
            # A late offer (RFC 3261 §13.2.1): we offer in the 2xx, the ACK answers.
            body = endpoint_offer(
                address=address,
                port=caller.media.rtp_port,
                rtcp_port=caller.media.rtcp_port,
                origin=caller.origin(address, body_changes=False),
                formats=(*_G711, (101, TELEPHONE_EVENT)),
            ).serialize()
            caller.answer_in_ack = True
        else:
            answered = endpoint_answer(
                offer,
                address=address,
                port=caller.media.rtp_port,
                rtcp_port=caller.media.rtcp_port,
                origin=caller.origin(address, body_changes=False),
            )
            if answered is None:
                self._respond_to_caller(call, 488)
                self._end(call, Disposition.FAILED, HangupBy.SYSTEM, "incompatible", 488)
                return
            body = answered.sdp.serialize()
            self._set_caller_format(call, answered.format)
        caller.last_sdp = body
        self._listen_for_keys(call)
        call.move(CallState.ANSWERED)
        call.answer = self._now()
        self._respond_to_caller(call, 200, body=body)
        self._publish(CallAnswered(call.uniqueid, call.uniqueid, call.src, call.dst, call.answer))

    def _take_caller_answer(self, call: Call, answer: SessionDescription) -> None:
        """The caller's answer (in an ACK) to the offer we made in our 2xx."""
        media_format = endpoint_format(answer)
        if media_format is None:
            log.warning("call %s: the caller's answer has no codec we offered", call.uniqueid)
            self._hang_up(call, by=HangupBy.SYSTEM, cause="incompatible")
            return
        self._set_caller_format(call, media_format)
        if call.bridge is None and call.joined is None:
            self._listen_for_keys(call)

    def _listen_for_keys(self, call: Call) -> None:
        """The application hears the caller's keys: RFC 4733 events always, and DTMF tones
        in the audio when configured, or when the caller's phone cannot send events."""
        assert call.app is not None
        media_format = call.caller_format
        inband = self._inband_dtmf or (
            media_format is not None and media_format.event_payload_type is None
        )
        self._media.set_listener(call.caller.media, call.app, inband=inband)

    def _set_caller_format(self, call: Call, media_format: EndpointFormat) -> None:
        call.caller_format = media_format
        self._media.set_format(
            call.caller.media,
            LegFormat(media_format.payload_type, media_format.event_payload_type),
        )

    def bridge_call(
        self, call: Call, numbers: Sequence[str], options: BridgeOptions
    ) -> asyncio.Future[BridgeResult]:
        """Ring ``numbers`` at once for an application's caller and connect the first to answer
        (ControlDriver)."""
        result: asyncio.Future[BridgeResult] = asyncio.get_running_loop().create_future()
        if call.ended:
            result.set_exception(CallGoneError(f"call {call.uniqueid} is over"))
        elif call.dialling or call.bridge is not None or call.joined is not None:
            result.set_result(BridgeResult(False, 491, Disposition.FAILED, "busy-bridging"))
        else:
            self._spawn(self._connect(call, tuple(numbers), options, result))
        return result

    def join_calls(self, call: Call, other: Call) -> asyncio.Future[BridgeResult]:
        """Connect the callers of two applications' answered calls to each other
        (ControlDriver).

        Each caller keeps the media we answered it with; we relay between the two. If
        their codecs differ, ``other``'s caller is first offered ``call``'s codec in a
        re-INVITE (we do not transcode). When either call ends, the other is hung up.
        """
        result: asyncio.Future[BridgeResult] = asyncio.get_running_loop().create_future()
        if call.ended:
            result.set_exception(CallGoneError(f"call {call.uniqueid} is over"))
            return result
        problem = _join_problem(call, other)
        if problem is not None:
            result.set_result(BridgeResult(False, problem[0], Disposition.FAILED, problem[1]))
            return result
        wanted, theirs = call.caller_format, other.caller_format
        assert wanted is not None
        assert theirs is not None
        if wanted.codec == theirs.codec:
            self._join_callers(call, other, result)
            return result

        def answered(status: int, answer: SessionDescription | None) -> None:
            agreed = endpoint_format(answer) if answer is not None else None
            if agreed is not None and 200 <= status < 300:
                self._set_caller_format(other, agreed)
            if result.done():
                return
            if call.ended:
                result.set_exception(CallGoneError(f"call {call.uniqueid} is over"))
            elif agreed is None or agreed.codec != wanted.codec or not 200 <= status < 300:
                result.set_result(BridgeResult(False, 488, Disposition.FAILED, "incompatible"))
            elif (again := _join_problem(call, other)) is not None:
                result.set_result(BridgeResult(False, again[0], Disposition.FAILED, again[1]))
            else:
                self._join_callers(call, other, result)

        self._reinvite(other.caller, self._offer(other.caller, wanted), answered)
        return result

    def _join_callers(self, call: Call, other: Call, result: asyncio.Future[BridgeResult]) -> None:
        for one, two in ((call, other), (other, call)):
            with contextlib.suppress(Exception):
                self._media.stop_playing(one.caller.media)
            # Keys pass to the other phone as they do in any conversation.
            self._media.set_listener(one.caller.media, None)
            one.joined = two
        self._media.connect(call.caller.media, other.caller.media)
        log.info("call %s (%s) joined to call %s (%s)", call.uniqueid, call.src,
                 other.uniqueid, other.src)  # fmt: skip
        result.set_result(
            BridgeResult(True, 200, Disposition.ANSWERED, "answered", other.src, other.uniqueid)
        )

    async def _connect(
        self,
        call: Call,
        numbers: tuple[str, ...],
        options: BridgeOptions,
        result: asyncio.Future[BridgeResult],
    ) -> None:
        known = False
        reachable: list[tuple[Binding, Peer]] = []
        # The application's ring time wins; else the longest the extensions ask for.
        ring_timeout = options.ring_timeout
        mailbox = False
        forwarding = NO_FORWARDING
        for number in numbers:
            credentials = await self._directory.credentials(number)
            if credentials is not None:
                known = True
                mailbox = credentials.voicemail
                forwarding = credentials.forwarding
                reachable += self._reachable_bindings(number)
                if options.ring_timeout is None and credentials.ring_seconds:
                    ring_timeout = max(ring_timeout or 0.0, credentials.ring_seconds)
        ring_timeout = ring_timeout or self._limits.ring_timeout
        if call.ended:
            return
        if not call.answered:
            # Not answered yet: it becomes an ordinary call to the numbers; when the one
            # number has a forward or a mailbox for a failure, that failure is the
            # application's to send there.
            call.connected = result
            call.failover = (
                forwarding.failover(mailbox=self._voicemail and mailbox)
                if len(numbers) == 1
                else frozenset()
            )
            if not reachable:
                status = 480 if known else 404
                if "unavailable" in call.failover:
                    self._failure_for_app(call, status, Disposition.FAILED, "unavailable")
                    return
                self._respond_to_caller(call, status)
                self._end(call, Disposition.FAILED, HangupBy.SYSTEM, "unavailable", status)
                return
            self._media.set_listener(call.caller.media, None)
            self._dial(call, reachable, _sdp_of(call.invite), ring_timeout)
            return
        if options.record:
            call.record = True
        elif self._recorder is not None and not call.record:
            for number in numbers:
                call.record = call.record or await self._recorder.wanted(call.src, number)
            if call.ended:
                return
        now = self._now()
        bridge = Bridge(
            self._new_uniqueid(now), _joined(numbers), now, result, ringback=options.ringback
        )
        call.bridge = bridge
        self._publish(
            CallStarted(bridge.uniqueid, call.uniqueid, call.src, bridge.dst, call.clid, now)
        )
        if not reachable or call.caller_format is None:
            self._bridge_failed(
                call,
                Outcome(480 if known else 404, Disposition.FAILED, HangupBy.SYSTEM, "unavailable"),
            )
            return
        offer = self._offer(call.callee, call.caller_format)
        if options.ringback:
            self._media.play_tone(call.caller.media, RINGBACK_EUROPE, None)
        self._ring(call, reachable, offer, ring_timeout)

    def _offer(self, leg: Leg, media_format: EndpointFormat, *, either_g711: bool = False) -> bytes:
        """Our offer to ``leg`` from its anchor: one codec (and telephone-event), as the
        phone at the other end of the relay uses them, since we do not transcode; with
        ``either_g711``, the other G.711 codec after it (for a leg our own media serves)."""
        address = self._sdp_address(leg.media)
        formats = [(media_format.payload_type, media_format.codec)]
        if either_g711:
            formats += [(pt, codec) for pt, codec in _G711 if codec != media_format.codec]
        if media_format.event_payload_type is not None:
            formats.append((media_format.event_payload_type, TELEPHONE_EVENT))
        body = endpoint_offer(
            address=address,
            port=leg.media.rtp_port,
            rtcp_port=leg.media.rtcp_port,
            origin=leg.origin(address, body_changes=leg.last_sdp is not None),
            formats=formats,
        ).serialize()
        leg.last_sdp = body
        return body

    def _bridge_early(self, call: Call, response: Response) -> None:
        bridge = call.bridge
        assert bridge is not None
        answer = _sdp_of(response)
        if bridge.ringback and answer is not None and has_live_audio(answer):
            # Early media (a 183): the caller hears the phone's own ringback instead of ours
            # (not instead of music: a queue's caller keeps their music until an agent answers).
            self._take_remote(call.callee, answer)
            self._media.stop_playing(call.caller.media)
            self._media.connect(call.caller.media, call.callee.media)
        if not bridge.rang:
            bridge.rang = True
            self._publish(
                CallRinging(bridge.uniqueid, call.uniqueid, call.src, bridge.dst, self._now())
            )

    def _bridge_answered(self, call: Call, fork: Fork, response: Response) -> None:
        bridge = call.bridge
        assert bridge is not None
        bridge.dst = fork.binding.number
        callee = call.callee
        answer = _sdp_of(response)
        agreed = endpoint_format(answer) if answer is not None else None
        wanted = call.caller_format
        if agreed is None or wanted is None or agreed.codec != wanted.codec:
            # Without transcoding, the phone must take the codec the caller already uses.
            log.warning("call %s: %s answered without usable SDP", call.uniqueid, bridge.dst)
            assert callee.dialog is not None
            assert callee.peer is not None
            self._sender.send_request(
                callee.dialog.request("BYE", self._via(callee.peer)), callee.peer
            )
            self._forget_callee(call)
            self._bridge_failed(
                call, Outcome(488, Disposition.FAILED, HangupBy.SYSTEM, "incompatible")
            )
            return
        assert answer is not None
        self._take_remote(callee, answer)
        self._media.set_listener(call.caller.media, None)
        self._media.stop_playing(call.caller.media)
        self._media.connect(call.caller.media, callee.media)
        self._cancel_ring_timer(call)
        self._cancel_forks(call)
        bridge.answer = self._now()
        self._publish(
            CallAnswered(bridge.uniqueid, call.uniqueid, call.src, bridge.dst, bridge.answer)
        )
        self._conversation_begins(call, bridge.uniqueid, bridge.dst, agreed, wanted)
        bridge.result.set_result(
            BridgeResult(True, 200, Disposition.ANSWERED, "answered", bridge.dst, bridge.uniqueid)
        )

    # -- recording ------------------------------------------------------------------------------

    def _conversation_begins(
        self,
        call: Call,
        uniqueid: str,
        dst: str,
        callee_format: EndpointFormat | None,
        caller_format: EndpointFormat | None,
    ) -> None:
        """Two phones now talk: record them if a rule says so, and watch for the toggle key."""
        recorder = self._recorder
        if recorder is None:
            return
        if call.record:
            self._start_recording(call, uniqueid, dst)
        if not recorder.toggle_code or callee_format is None:
            return
        # The relayed legs learn their formats so their keys can be read (and a beep
        # played); relaying itself is unchanged.
        mine = caller_format or callee_format
        for leg, own in ((call.caller, mine), (call.callee, callee_format)):
            events = own.event_payload_type or callee_format.event_payload_type
            self._media.set_format(leg.media, LegFormat(callee_format.payload_type, events))
            keys = ToggleKeys(
                recorder.toggle_code,
                functools.partial(self._toggle_recording, call, uniqueid, dst),
                time.monotonic,
            )
            self._media.set_listener(leg.media, keys)

    def _finish_recording(self, call: Call) -> tuple[str, str] | None:
        """Close the call's recording, if any: (the CDR uniqueid it belongs to, its file)."""
        recording, call.recording = call.recording, None
        if recording is None or self._recorder is None:
            return None
        return recording.uniqueid, self._recorder.finish(recording)

    def _start_recording(self, call: Call, uniqueid: str, dst: str) -> None:
        assert self._recorder is not None
        call.recording = self._recorder.start(
            uniqueid=uniqueid,
            linkedid=call.uniqueid,
            src=call.src,
            dst=dst,
            legs=(call.caller.media, call.callee.media),
            held=call.held_by is not None,
        )

    def _toggle_recording(self, call: Call, uniqueid: str, dst: str) -> None:
        """The toggle key: start recording, or pause it, or resume it."""
        if call.ended or call.state is not CallState.ANSWERED:
            return
        active = call.recording
        if active is None:
            self._start_recording(call, uniqueid, dst)
            if call.recording is None:
                return
        elif active.toggled_off:
            active.recording.resume(TOGGLE)
        else:
            active.recording.pause(TOGGLE)
        log.info(
            "call %s: recording %s by key",
            uniqueid,
            "paused" if call.recording is not None and call.recording.toggled_off else "on",
        )
        # Both hear that the recording changed: a short beep each (not over the hold
        # music, which the beep would end).
        for leg in (call.caller, call.callee):
            if call.hold_music and call.held_by is not None and leg is call.leg(call.held_by.other):
                continue
            with contextlib.suppress(Exception):
                self._media.play_tone(leg.media, BEEP, _BEEP_SECONDS)

    def _bridge_failed(self, call: Call, outcome: Outcome) -> None:
        """Nobody took the bridged call: the caller stays with the application."""
        bridge = call.bridge
        assert bridge is not None
        call.bridge = None
        self._cancel_ring_timer(call)
        self._cancel_forks(call)
        if not call.ended and bridge.ringback:
            # Our ringback stops; music the application plays goes on.
            with contextlib.suppress(Exception):
                self._media.stop_playing(call.caller.media)
        self._publish_ended(
            call,
            bridge.uniqueid,
            bridge.dst,
            bridge.start,
            None,
            outcome.disposition,
            outcome.hangup_by,
            outcome.cause,
            outcome.status,
        )
        if not bridge.result.done():
            bridge.result.set_result(
                BridgeResult(
                    False,
                    outcome.status,
                    outcome.disposition,
                    outcome.cause,
                    uniqueid=bridge.uniqueid,
                )
            )

    def _forget_callee(self, call: Call) -> None:
        callee = call.callee
        if callee.dialog is not None:
            self._by_dialog.pop(callee.dialog.key, None)
        callee.dialog = None
        callee.peer = None
        callee.last_ack = None

    def hang_up_call(
        self, call: Call, cause: str, status: int, disposition: Disposition = Disposition.FAILED
    ) -> None:
        """End an application's call (ControlDriver)."""
        if call.ended:
            return
        if call.answered:
            self._hang_up(call, by=HangupBy.SYSTEM, cause=cause)
            return
        self._respond_to_caller(call, status)
        self._cancel_forks(call)
        self._end(call, disposition, HangupBy.SYSTEM, cause, status)

    def _app_request(self, call: Call, handle: ServerHandle, request: Request) -> None:
        """An in-dialog request from a caller whose media an application terminates."""
        method = request.method
        caller = call.caller
        assert caller.dialog is not None
        assert caller.peer is not None
        if method == "INFO":
            digit = digits_of_info(request.content_type, request.body)
            self._reply(handle, make_response(request, 200 if digit is not None else 415))
            if digit is not None and call.app is not None:
                call.app.on_digit(digit, "info")
            return
        if method not in ("INVITE", "UPDATE"):
            self._reply(handle, make_response(request, 501))
            return
        caller.dialog.refresh_target(request)
        response = make_response(request, 200)
        response.headers.set("Contact", self._contact(caller.peer))
        response.headers.set("Content-Type", SDP)
        if not request.body:
            # RFC 3264 §4: asked for an offer; ours is the description we gave last.
            response.body = caller.last_sdp or b""
            caller.answer_in_ack = method == "INVITE"
        else:
            offer = _sdp_of(request)
            address = self._sdp_address(caller.media)
            answered = (
                endpoint_answer(
                    offer,
                    address=address,
                    port=caller.media.rtp_port,
                    rtcp_port=caller.media.rtcp_port,
                    origin=caller.origin(address, body_changes=True),
                )
                if offer is not None
                else None
            )
            if offer is None or answered is None:
                self._reply(handle, make_response(request, 488))
                return
            self._take_remote(caller, offer)
            self._set_caller_format(call, answered.format)
            response.body = answered.sdp.serialize()
            caller.last_sdp = response.body
        self._reply(handle, response)
        if method == "INVITE":
            self._start_retransmit(caller, response)

    # -- transfers ------------------------------------------------------------------------------

    def _refer(self, call: Call, side: Side, handle: ServerHandle, request: Request) -> None:
        """REFER (RFC 3515) from a phone in a call: a transfer of the other party.

        Handled when the referrer is the phone an application bridged its caller to (a
        queue's agent, an extension reached from a menu). A blind transfer (Refer-To names
        a number) ends the referrer's leg and gives the caller back to the application
        with the number, which takes them on as if they had dialled it. An attended one
        (Refer-To carries a Replaces naming the referrer's other call) joins the caller to
        that call's far party (see `_attended`). The referrer hears how it went in NOTIFYs
        (``message/sipfrag``). In a call between two phones, a blind transfer by either
        phone hands the other to the number (see `_blind_direct`), and an attended one
        takes the call over first (see `_attended_direct`).
        """
        refer_to = parse_refer_to(request.headers.get("Refer-To"))
        if refer_to is None:
            self._reply(handle, make_response(request, 400, "Bad Refer-To"))
            return
        if refer_to.replaces is not None:
            self._attended(call, side, handle, request, refer_to.replaces)
            return
        target = refer_to.number
        if call.app is None and target is not None:
            self._spawn(self._blind_direct(call, side, handle, request, target))
            return
        bridge = call.bridge
        if not self._transferable(call, side) or target is None or bridge is None:
            self._reply(handle, make_response(request, 501, "Transfer Not Supported Here"))
            return
        assert call.app is not None
        self._reply(handle, make_response(request, 202, "Accepted"))
        self._notify_refer(call.callee, "SIP/2.0 200 OK")
        callee = call.callee
        assert callee.dialog is not None
        assert callee.peer is not None
        self._sender.send_request(callee.dialog.request("BYE", self._via(callee.peer)), callee.peer)
        log.info("call %s: %s transferred the caller to %s", call.uniqueid, bridge.dst, target)
        self._bridge_over(call, HangupBy.CALLEE, "transfer")
        call.app.transferred(Transfer(target))

    async def _blind_direct(
        self, call: Call, side: Side, handle: ServerHandle, request: Request, number: str
    ) -> None:
        """A blind transfer in a call between two phones: the phone on ``side`` (the
        transferor) sends the other (the transferee) on to ``number``, as if the
        transferee had dialled it.

        The number is looked up first: one nobody has gets a 404 and the call goes on as
        it was. Otherwise the transferor hears 202 and a final NOTIFY and is hung up; its
        conversation's CDR row ends there (hung up by its side, cause ``transfer``).
        When the calling phone transferred, the call is turned around: the called phone
        is its caller from now on. The transferee is re-INVITEd from its anchor, sending
        and receiving (it may have been put on hold), with the codec it used first; once
        it answers, its leg is an application's like a menu's caller, and the launcher
        takes it to the number: an extension rings (with ringback) and gets a CDR row of
        its own, linked to the first; a menu or a queue takes the caller over.
        """
        problem = self._direct_transfer_problem(call, side)
        destination = None
        if problem is None:
            destination = await self._transfer_destination(number)
            if destination is None:
                problem = (404, "No Such Number")
        transferee_number = _number_at(call, side.other)
        turned_clid = await self._turned_clid(call, side) if problem is None else ""
        if problem is None:
            # The call may have changed while the numbers were looked up.
            problem = self._direct_transfer_problem(call, side)
        if problem is not None:
            self._reply(handle, make_response(request, *problem))
            return
        assert destination is not None
        transferor, transferee = call.leg(side), call.leg(side.other)
        in_use = _format_in_use(transferee)
        assert in_use is not None
        self._reply(handle, make_response(request, 202, "Accepted"))
        self._notify_refer(transferor, "SIP/2.0 200 OK")
        assert transferor.dialog is not None
        assert transferor.peer is not None
        bye = transferor.dialog.request("BYE", self._via(transferor.peer))
        self._sender.send_request(bye, transferor.peer)
        transferor_number = _number_at(call, side)
        log.info(
            "call %s: %s transferred %s to %s",
            call.uniqueid,
            transferor_number,
            transferee_number,
            number,
        )

        # The conversation with the transferor is over: its row, recording and limit.
        self._stop_hold_music(call)
        self._media.disconnect(transferee.media)
        self._media.set_listener(transferee.media, None)
        self._media.set_listener(transferor.media, None)
        recorded = self._finish_recording(call)
        self._end_row(call, Disposition.ANSWERED, side.party, "transfer", 200, recorded)
        call.record = False
        control = self._take_over(call, side, turned_clid)
        self._uncount(call, transferor_number)
        self._forget_callee(call)
        offer = self._offer(transferee, in_use, either_g711=True)
        self._reinvite(
            transferee,
            offer,
            functools.partial(self._transferee_answered, call, control, destination),
        )

    def _take_over(self, call: Call, transferor_side: Side, clid: str) -> CallControl:
        """Make ``call``, between two phones, an application's call whose caller is the
        phone not on ``transferor_side`` (turning the call around if need be, with
        ``clid``); the application's control of it, for a launcher to run."""
        transferor_number = _number_at(call, transferor_side)
        if transferor_side is Side.CALLER:
            self._turn_around(call, clid)
        # The phones' conversation is over (its row is written or a bridge stands for it);
        # who answers next is a bridge's to say.
        call.answered_by = None
        control = CallControl(call, self, self._media, music=self._music)
        # As if an application had put the caller through to the transferor: a caller
        # parked too long rings the transferor again.
        control.bridged_to = transferor_number
        call.app = control
        return control

    def _turn_around(self, call: Call, clid: str) -> None:
        """The called phone becomes the call's caller (the calling phone transferred it):
        the legs trade sides, and the numbers and caller ID follow. The call keeps its
        uniqueid, so what follows stays linked to its first conversation."""
        call.caller, call.callee = call.callee, call.caller
        call.caller.side, call.callee.side = Side.CALLER, Side.CALLEE
        call.src, call.dst, call.clid = call.dst, call.src, clid
        for leg in (call.caller, call.callee):
            if leg.dialog is not None:
                self._by_dialog[leg.dialog.key] = (call, leg.side)

    def _direct_transfer_problem(self, call: Call, side: Side) -> tuple[int, str] | None:
        """Why a blind transfer by ``side`` in the call between two phones cannot be done
        now (the REFER's final status), or None."""
        if self._launcher is None:
            return (501, "Transfer Not Supported Here")
        if call.ended or not call.answered or call.app is not None:
            return (403, "Call Not Transferable")
        if call.relays or call.callee_ack_cseq is not None:
            return (491, "Request Pending")
        transferor, transferee = call.leg(side), call.leg(side.other)
        if (
            transferor.dialog is None
            or transferor.peer is None
            or transferee.dialog is None
            or transferee.peer is None
            or _format_in_use(transferee) is None
        ):
            return (403, "Call Not Transferable")
        return None

    async def _transfer_destination(self, number: str) -> Destination | None:
        """Where a blind transfer to ``number`` goes: an extension, or what the dial plan
        makes of it (a menu, a queue, ...); None for nobody's number."""
        if await self._directory.credentials(number) is not None:
            return Destination(DestinationKind.EXTENSION, number)
        if self._dial_plan is not None:
            return await self._dial_plan.resolve(number)
        return None

    def _transferee_answered(
        self,
        call: Call,
        control: CallControl,
        destination: Destination,
        status: int,
        answer: SessionDescription | None,
    ) -> None:
        """The transferee's answer to our re-INVITE: hand it to the application (it is the
        call's caller now), or hang up if it refused."""
        if call.ended:
            return
        agreed = endpoint_format(answer) if answer is not None else None
        if not 200 <= status < 300 or agreed is None:
            log.warning(
                "call %s: the transferred caller refused our media (%d)", call.uniqueid, status
            )
            self._hang_up(call, by=HangupBy.SYSTEM, cause="incompatible")
            return
        self._set_caller_format(call, agreed)
        self._listen_for_keys(call)
        self._spawn(self._run_app(call, control, destination))

    def _transferable(self, call: Call, side: Side, *, watched: bool = True) -> bool:
        """Whether ``side`` of ``call`` is a phone an application bridged its caller to, with
        the application watching for transfers (`CallControl.takes_transfers`) unless not
        ``watched`` is asked (a transfer under way: the application hears of it when it
        next watches, and a launcher just started for an adopted call may not yet)."""
        bridge = call.bridge
        callee = call.callee
        return (
            side is Side.CALLEE
            and not call.ended
            and call.app is not None
            and (call.app.takes_transfers or not watched)
            and bridge is not None
            and bridge.answer is not None
            and callee.dialog is not None
            and callee.peer is not None
        )

    def _notify_refer(self, leg: Leg, sipfrag: str) -> None:
        """Tell a referrer how its transfer goes: a NOTIFY of the implicit ``refer``
        subscription (RFC 3515 §2.4.4), final unless the status is provisional."""
        if leg.dialog is None or leg.peer is None:
            return
        peer = leg.peer
        notify = leg.dialog.request(
            "NOTIFY",
            self._via(peer),
            contact=self._contact(peer),
            body=f"{sipfrag}\r\n".encode(),
            content_type="message/sipfrag;version=2.0",
        )
        notify.headers.set("Event", "refer")
        provisional = sipfrag.startswith("SIP/2.0 1")
        notify.headers.set(
            "Subscription-State",
            "active;expires=60" if provisional else "terminated;reason=noresource",
        )
        self._sender.send_request(notify, peer)

    def _attended(
        self, call: Call, side: Side, handle: ServerHandle, request: Request, replaces: Replaces
    ) -> None:
        """An attended transfer (RFC 5589 §7): the phone bridged to an application's caller
        (or in a call with another phone) also has a call with a target (it dialled them,
        or they it) and asks for the two far parties to be joined. The REFER may come in
        either of its two dialogs, with Replaces naming the other.

        The target is first offered the caller's codec in a re-INVITE from its anchor (we
        do not transcode); once it accepts, the caller and the target are joined (see
        `_join`). Until then nothing changes, so a refusal leaves both calls as they were
        and the referrer hears the refusal's status.
        """
        other = next((found for key, found in self._by_dialog.items() if replaces.names(key)), None)
        if other is None or other[0] is call:
            self._reply(handle, make_response(request, 400, "Replaces Names No Other Call"))
            return
        pair, other_pair = (call, side), other
        if self._transferable(*pair) and _consultable(other_pair[0]):
            app_call, (consult, transferor_side) = call, other_pair
        elif self._transferable(*other_pair) and _consultable(call):
            app_call, (consult, transferor_side) = other_pair[0], pair
        elif _consultable(call) and _consultable(other_pair[0]) and self._launcher is not None:
            self._spawn(self._attended_direct(call, side, handle, request, other_pair))
            return
        else:
            self._reply(handle, make_response(request, 501, "Transfer Not Supported Here"))
            return
        referrer = call.leg(side)
        self._start_joining(app_call, consult, transferor_side, referrer, call, handle, request)

    async def _attended_direct(
        self,
        call: Call,
        side: Side,
        handle: ServerHandle,
        request: Request,
        consultation: tuple[Call, Side],
    ) -> None:
        """An attended transfer between calls of phones only: the transferor (on ``side``
        of ``call``, the REFER's call) talks to the transferee in ``call`` and to the target
        in the other. ``call`` is first made what an application's call bridged to the
        transferor looks like (see `_adopt`); then the two far parties are joined as for an
        application's caller."""
        consult, transferor_side = consultation
        transferor_number = _number_at(call, side)
        if _number_at(consult, transferor_side) != transferor_number:
            # Only the phone that is in both calls may join them.
            self._reply(handle, make_response(request, 403, "Not Your Call"))
            return
        clid = await self._turned_clid(call, side)
        problem = self._direct_transfer_problem(call, side)
        if problem is None and (consult.ended or not _consultable(consult) or consult.relays):
            problem = (491, "Request Pending")
        if problem is not None:
            self._reply(handle, make_response(request, *problem))
            return
        referrer = call.leg(side)
        self._adopt(call, side, clid)
        self._start_joining(call, consult, transferor_side, referrer, call, handle, request)

    async def _turned_clid(self, call: Call, side: Side) -> str:
        """The caller ID ``call`` will have if it is turned around because the phone on
        ``side`` leaves it (see `_turn_around`); empty when it will not be."""
        if side is not Side.CALLER:
            return ""
        number = _number_at(call, side.other)
        credentials = await self._directory.credentials(number)
        return _clid(credentials.name if credentials is not None else number, number)

    def _adopt(self, call: Call, transferor_side: Side, clid: str) -> None:
        """Make a call between two phones an application's call whose caller (the phone not
        on ``transferor_side``, turning the call around if need be) is bridged to the
        transferor, as if a menu had put it through; a launcher follows the bridge, so the
        transfers that come next are those of an application's caller.

        The conversation so far is the bridge: it keeps the call's uniqueid, start and
        answer, so the call's own CDR row is written when the bridge ends, and only then.
        """
        in_use = _format_in_use(call.leg(transferor_side.other))
        assert in_use is not None
        transferor_number = _number_at(call, transferor_side)
        control = self._take_over(call, transferor_side, clid)
        control.bridged = True
        call.caller_format = in_use
        talking: asyncio.Future[BridgeResult] = asyncio.get_running_loop().create_future()
        talking.set_result(
            BridgeResult(
                True, 200, Disposition.ANSWERED, "answered", transferor_number, call.uniqueid
            )
        )
        call.bridge = Bridge(
            call.uniqueid,
            transferor_number,
            call.start,
            talking,
            answer=call.answer,
            rang=True,
            ringback=False,
        )
        call.row_ended = True
        self._spawn(self._run_app(call, control, None))

    def _start_joining(
        self,
        app_call: Call,
        consult: Call,
        transferor_side: Side,
        referrer: Leg,
        referrer_call: Call,
        handle: ServerHandle,
        request: Request,
    ) -> None:
        """Offer the target (the far party of ``consult``) the application's caller's codec,
        then join the two (see `_target_answered`); the REFER is answered here."""
        bridge = app_call.bridge
        assert bridge is not None
        if _number_at(consult, transferor_side) != bridge.dst:
            # Only the phone that is in both calls may join them.
            self._reply(handle, make_response(request, 403, "Not Your Call"))
            return
        target_side = transferor_side.other
        target = consult.leg(target_side)
        media_format = app_call.caller_format
        if consult.relays or media_format is None or target.dialog is None or target.peer is None:
            self._reply(handle, make_response(request, 491, "Request Pending"))
            return
        self._reply(handle, make_response(request, 202, "Accepted"))
        self._notify_refer(referrer, "SIP/2.0 100 Trying")
        transfer = _Joining(app_call, bridge, consult, target_side, referrer_call, referrer)
        log.info(
            "call %s: %s joins the caller to %s (call %s)",
            app_call.uniqueid,
            bridge.dst,
            _number_at(consult, target_side),
            consult.uniqueid,
        )
        self._reinvite(
            target,
            self._offer(target, media_format),
            functools.partial(self._target_answered, transfer),
        )

    def _target_answered(
        self, transfer: _Joining, status: int, answer: SessionDescription | None
    ) -> None:
        """The target's answer to the transferee's codec: join them, or report the failure."""
        app_call, consult = transfer.app_call, transfer.consult
        wanted = app_call.caller_format
        agreed = endpoint_format(answer) if answer is not None else None
        if 200 <= status < 300 and (
            agreed is None or wanted is None or agreed.codec != wanted.codec
        ):
            status = 488
        elif 200 <= status < 300 and not (
            consult.answered
            and app_call.bridge is transfer.bridge
            and self._transferable(app_call, Side.CALLEE, watched=False)
        ):
            status = 487  # one of the calls ended (or changed) meanwhile
        if not 200 <= status < 300 or agreed is None:
            log.info("call %s: the attended transfer failed (%d)", app_call.uniqueid, status)
            if not transfer.referrer_call.ended:
                self._notify_refer(
                    transfer.referrer, f"SIP/2.0 {status} {REASONS.get(status, 'Failed')}"
                )
            return
        self._join(transfer, agreed)

    def _join(self, transfer: _Joining, target_format: EndpointFormat) -> None:
        """Complete an attended transfer: the application's caller talks to the target.

        The two calls trade legs: the target's leg joins the application's call as its
        bridged party (a new bridge, with a CDR row of its own from now), the
        transferor's leg goes to the consult call, which then ends (both its legs are
        the transferor's phone: each gets a BYE). The conversation with the transferor
        ends as a blind transfer would end it, and the application is told.
        """
        app_call, consult, old = transfer.app_call, transfer.consult, transfer.bridge
        assert app_call.app is not None
        now = self._now()
        # An adopted call between two phones counted the transferor, who leaves it now.
        self._uncount(app_call, old.dst)
        transferor = app_call.callee
        target_side = transfer.target_side
        target = consult.leg(target_side)
        number = _number_at(consult, target_side)
        self._notify_refer(transfer.referrer, "SIP/2.0 200 OK")

        record = app_call.record or app_call.recording is not None
        self._close_bridge(app_call, old, HangupBy.CALLEE, "transfer")
        for call in (app_call, consult):
            self._stop_hold_music(call)

        app_call.callee = target
        if target_side is Side.CALLER:
            consult.caller = transferor
        else:
            consult.callee = transferor
        transferor.side, target.side = target_side, Side.CALLEE
        for call, leg in ((app_call, target), (consult, transferor)):
            if leg.dialog is not None:
                self._by_dialog[leg.dialog.key] = (call, leg.side)
            self._by_media[leg.media.leg_id] = call
        for leg in (consult.caller, consult.callee):
            if leg.dialog is not None and leg.peer is not None:
                bye = leg.dialog.request("BYE", self._via(leg.peer))
                self._sender.send_request(bye, leg.peer)
        self._end(consult, Disposition.ANSWERED, target_side.other.party, "transfer", 200)

        uniqueid = self._new_uniqueid(now)
        joined: asyncio.Future[BridgeResult] = asyncio.get_running_loop().create_future()
        joined.set_result(
            BridgeResult(True, 200, Disposition.ANSWERED, "answered", number, uniqueid)
        )
        app_call.bridge = Bridge(
            uniqueid, number, now, joined, answer=now, rang=True, ringback=False
        )
        self._publish(
            CallStarted(uniqueid, app_call.uniqueid, app_call.src, number, app_call.clid, now)
        )
        self._publish(CallAnswered(uniqueid, app_call.uniqueid, app_call.src, number, now))
        app_call.record = record
        self._media.connect(app_call.caller.media, target.media)
        self._conversation_begins(app_call, uniqueid, number, target_format, app_call.caller_format)
        if app_call.caller_format is not None:
            # The caller was most likely on hold with the transferor: it hears the target now.
            caller = app_call.caller
            self._reinvite(caller, self._offer(caller, app_call.caller_format), _ignore_answer)
        log.info("call %s: the caller talks to %s now", app_call.uniqueid, number)
        app_call.app.transferred(Transfer(number, attended=True, uniqueid=uniqueid))

    def _stop_hold_music(self, call: Call) -> None:
        """The party on hold stops hearing our music, and the call is no longer on hold."""
        if call.hold_music and call.held_by is not None:
            with contextlib.suppress(Exception):
                self._media.stop_playing(call.leg(call.held_by.other).media)
        call.hold_music = False
        call.held_by = None

    def _reinvite(
        self,
        leg: Leg,
        offer: bytes,
        then: Callable[[int, SessionDescription | None], None],
    ) -> None:
        """Offer ``leg`` its media again from our anchor (``offer``, from `_offer`), in a
        re-INVITE of our own; ``then`` gets the final status and the answer."""
        assert leg.dialog is not None
        assert leg.peer is not None
        invite = leg.dialog.request(
            "INVITE",
            self._via(leg.peer),
            contact=self._contact(leg.peer),
            body=offer,
            content_type=SDP,
        )
        self._reinvites[self._sender.send_request(invite, leg.peer)] = (leg, then)

    def _reinvite_response(self, handle: ClientHandle, response: Response) -> None:
        status = response.status
        if status < 200:
            return
        leg, then = self._reinvites.pop(handle)
        answer = None
        if status < 300 and leg.dialog is not None and leg.peer is not None:
            ack = leg.dialog.ack(response.cseq.number, self._via(leg.peer))
            leg.last_ack = ack
            self._sender.send_stateless(ack, leg.peer)
            leg.dialog.refresh_target(response)
            answer = _sdp_of(response)
            if answer is not None:
                self._take_remote(leg, answer)
        then(status, answer)

    def _bridge_over(self, call: Call, by: HangupBy, cause: str) -> None:
        """The bridged phone has left an answered bridge: the caller is the application's
        again, alone (its keys go to the application, its audio nowhere)."""
        bridge = call.bridge
        assert bridge is not None
        call.bridge = None
        self._close_bridge(call, bridge, by, cause)
        self._stop_retransmit(call.callee)
        # The next bridge asks the recording rules again.
        call.record = False
        self._forget_callee(call)
        self._media.set_listener(call.callee.media, None)
        if call.caller_format is not None:
            self._set_caller_format(call, call.caller_format)
        self._listen_for_keys(call)

    def _close_bridge(self, call: Call, bridge: Bridge, by: HangupBy, cause: str) -> None:
        """An answered bridge's conversation is over while the caller stays: the caller's
        audio is no longer relayed, the recording closes, and the bridge's CDR row ends."""
        self._media.disconnect(call.caller.media)
        recorded = self._finish_recording(call)
        self._publish_ended(
            call,
            bridge.uniqueid,
            bridge.dst,
            bridge.start,
            bridge.answer,
            Disposition.ANSWERED,
            by,
            cause,
            200,
            recording=_recording_of(recorded, bridge.uniqueid),
            answered_by=bridge.dst,
        )

    # -- forks ----------------------------------------------------------------------------------

    def _fork_response(self, call: Call, fork: Fork, response: Response) -> None:
        status = response.status
        if status < 200:
            if status == 100:
                return
            fork.provisional = True
            if fork.cancel_wanted:
                self._send_cancel(fork)
                return
            if call.bridge is not None and call.bridge.dialling:
                self._bridge_early(call, response)
            elif call.state in (CallState.SETUP, CallState.RINGING):
                self._early(call, response)
            return
        if status < 300:
            self._fork_answered(call, fork, response)
            return
        if fork.final is None:
            fork.final = status
            if status >= 600 and call.dialling:
                # RFC 3261 §16.7: a global failure ends the search; the others are cancelled.
                self._nobody_answered(call, failure_outcome([status]))
                return
            self._fork_failed(call)

    def _early(self, call: Call, response: Response) -> None:
        body = b""
        answer = _sdp_of(response)
        if answer is not None:
            self._take_remote(call.callee, answer)
            self._media.connect(call.caller.media, call.callee.media)
            body = self._rewrite(call.caller, answer) or b""
        status = response.status if body else 180
        if call.state is CallState.SETUP:
            call.move(CallState.RINGING)
            self._publish(
                CallRinging(call.uniqueid, call.uniqueid, call.src, call.dst, self._now())
            )
        self._respond_to_caller(call, status, body=body)

    def _fork_answered(self, call: Call, fork: Fork, response: Response) -> None:
        to_tag = response.to_tag or ""
        if fork.dialog is not None and fork.dialog.remote.tag == to_tag:
            # A retransmission of the 2xx we already acknowledged.
            if call.callee.last_ack is not None:
                self._sender.send_stateless(call.callee.last_ack, fork.peer)
            return
        fork.final = response.status
        dialog = Dialog.as_uac(fork.invite, response)
        fork.dialog = dialog
        if not call.dialling or fork not in call.forks:
            # Another phone answered first, the call is over, or the fork belongs to an
            # earlier bridge attempt: this one is not wanted.
            self._sender.send_stateless(
                dialog.ack(fork.invite.cseq.number, self._via(fork.peer)), fork.peer
            )
            bye = dialog.request("BYE", self._via(fork.peer))
            self._sender.send_request(bye, fork.peer)
            return
        callee = call.callee
        callee.peer = fork.peer
        callee.dialog = dialog
        self._by_dialog[dialog.key] = (call, Side.CALLEE)
        call.callee_ack_cseq = fork.invite.cseq.number
        if not call.late_offer:
            # With a late offer the 2xx holds the callee's offer and its ACK must carry
            # the caller's answer, so it waits for the caller's ACK (RFC 3264 §4).
            self._ack_callee(call, b"")
        if call.bridge is not None:
            self._bridge_answered(call, fork, response)
            return
        body = b""
        answer = _sdp_of(response)
        if answer is not None:
            self._take_remote(callee, answer)
            body = self._rewrite(call.caller, answer) or b""
        if not body:
            # A 2xx without a usable answer to our offer (RFC 3264 §5) cannot carry media.
            log.warning("call %s: the callee answered without usable SDP", call.uniqueid)
            if call.callee_ack_cseq is not None:
                self._ack_callee(call, b"")
            self._sender.send_request(dialog.request("BYE", self._via(fork.peer)), fork.peer)
            self._respond_to_caller(call, 488)
            self._cancel_forks(call)
            self._end(call, Disposition.FAILED, HangupBy.SYSTEM, "incompatible", 488)
            return
        # connect() again at answer: it restarts the RTP timeout from now.
        self._media.connect(call.caller.media, callee.media)
        call.move(CallState.ANSWERED)
        call.answer = self._now()
        self._cancel_ring_timer(call)
        self._cancel_forks(call)
        self._respond_to_caller(call, 200, body=body)
        self._publish(CallAnswered(call.uniqueid, call.uniqueid, call.src, call.dst, call.answer))
        agreed = endpoint_format(answer) if answer is not None else None
        self._conversation_begins(call, call.uniqueid, call.dst, agreed, None)
        call.answered_by = fork.binding.number
        connected, call.connected = call.connected, None
        if connected is not None and not connected.done():
            # Put through before answer: from now on a call between two phones, like one
            # dialled straight (transfers, parking); the application is done with it.
            call.app = None
            connected.set_result(
                BridgeResult(
                    True, 200, Disposition.ANSWERED, "answered", fork.binding.number, direct=True
                )
            )

    def _ack_callee(self, call: Call, body: bytes) -> None:
        """ACK the callee's 2xx (with the caller's answer for a late offer)."""
        callee = call.callee
        assert callee.dialog is not None
        assert callee.peer is not None
        cseq = call.callee_ack_cseq
        assert cseq is not None
        call.callee_ack_cseq = None
        ack = callee.dialog.ack(cseq, self._via(callee.peer), body=body)
        callee.last_ack = ack
        self._sender.send_stateless(ack, callee.peer)

    def _late_answer(self, call: Call, ack: Request) -> None:
        """The caller's ACK of a late-offer call: pass its answer on in the callee's ACK."""
        answer = _sdp_of(ack)
        body = self._rewrite(call.callee, answer) if answer is not None else None
        if answer is None or body is None:
            log.warning("call %s: the caller's ACK carried no usable answer", call.uniqueid)
            self._ack_callee(call, b"")
            self._hang_up(call, by=HangupBy.SYSTEM, cause="incompatible")
            return
        self._take_remote(call.caller, answer)
        self._ack_callee(call, body)

    def _fork_failed(self, call: Call) -> None:
        if not call.dialling:
            return
        statuses = [fork.final for fork in call.forks]
        if any(status is None for status in statuses):
            return
        self._nobody_answered(
            call, failure_outcome([status for status in statuses if status is not None])
        )

    def _ring_timeout(self, call: Call) -> None:
        call.ring_timer = None
        if call.dialling:
            self._nobody_answered(
                call, Outcome(480, Disposition.NO_ANSWER, HangupBy.SYSTEM, "no-answer")
            )

    def _nobody_answered(self, call: Call, outcome: Outcome) -> None:
        """Every phone rung failed, or none answered in time."""
        if call.bridge is not None:
            self._bridge_failed(call, outcome)
            return
        if outcome.cause in call.failover:
            # The caller is not told: the call goes on to the callee's mailbox, or back to
            # the application (which sends it to a forward or the mailbox).
            self._cancel_ring_timer(call)
            self._cancel_forks(call)
            call.forks = []
            if call.app is None:
                mailbox = mailbox_after(call.dst, outcome.cause)
                assert mailbox is not None, "a direct call fails over to its mailbox only"
                log.info("call %s: %s %s; to voicemail", call.uniqueid, call.dst, outcome.cause)
                self._start_app(call, mailbox)
            else:
                self._failure_for_app(call, outcome.status, outcome.disposition, outcome.cause)
            return
        reason = "No Answer" if outcome.cause == "no-answer" else None
        self._respond_to_caller(call, outcome.status, reason=reason)
        self._cancel_forks(call)
        self._end(call, outcome.disposition, outcome.hangup_by, outcome.cause, outcome.status)

    def _failure_for_app(
        self, call: Call, status: int, disposition: Disposition, cause: str
    ) -> None:
        """An application's caller, put through before answer to an extension with a
        forward or a mailbox for this failure, was not taken: the caller is not told, and
        the application hears the failure and sends the caller on (`Applications`)."""
        connected, call.connected = call.connected, None
        call.failover = frozenset()
        log.info("call %s: %s %s; back to the application", call.uniqueid, call.dst, cause)
        if connected is not None and not connected.done():
            connected.set_result(BridgeResult(False, status, disposition, cause))

    def _cancel_forks(self, call: Call) -> None:
        for fork in call.forks:
            if fork.final is not None or fork.cancel_wanted:
                continue
            fork.cancel_wanted = True
            if fork.provisional:
                self._send_cancel(fork)

    def _send_cancel(self, fork: Fork) -> None:
        """RFC 3261 §9.1: a CANCEL copies the INVITE's Request-URI, Via, Call-ID, From, To and
        CSeq number; only after a provisional response."""
        invite = fork.invite
        headers = Headers(
            [
                ("Via", str(invite.top_via)),
                ("Max-Forwards", "70"),
                ("From", invite.headers.get("From") or ""),
                ("To", invite.headers.get("To") or ""),
                ("Call-ID", invite.call_id),
                ("CSeq", f"{invite.cseq.number} CANCEL"),
            ]
        )
        self._sender.send_request(Request("CANCEL", invite.uri.copy(), headers), fork.peer)

    # -- in-dialog relaying -----------------------------------------------------------------------

    def _relay(self, call: Call, side: Side, handle: ServerHandle, request: Request) -> None:
        source = call.leg(side)
        target = call.leg(side.other)
        assert source.dialog is not None
        assert target.dialog is not None
        assert target.peer is not None
        method = request.method
        if method == "INVITE" and not request.body and source.last_sdp is not None:
            # A re-INVITE without SDP (a session refresh, RFC 3264 §4) asks for an offer:
            # ours is the description we last gave this leg, and the ACK will answer it.
            # The other leg need not hear of it.
            source.dialog.refresh_target(request)
            assert source.peer is not None
            response = make_response(request, 200)
            response.headers.set("Contact", self._contact(source.peer))
            response.headers.set("Content-Type", SDP)
            response.body = source.last_sdp
            self._reply(handle, response)
            source.answer_in_ack = True
            self._start_retransmit(source, response)
            return
        has_sdp = _carries_sdp(request)
        if (
            method in ("INVITE", "UPDATE")
            and has_sdp
            and any(r.held is not None for r in call.relays)
        ):
            # RFC 3261 §14.2: an offer while ours is pending gets 491.
            self._reply(handle, make_response(request, 491))
            return
        body = request.body
        held: bool | None = None
        if has_sdp:
            try:
                offer = SessionDescription.parse(request.body)
            except RemoteProtocolError as error:
                self._reply(handle, make_response(request, 400, f"Bad SDP: {error}"))
                return
            rewritten = self._rewrite(target, offer)
            if rewritten is None:
                self._reply(handle, make_response(request, 488))
                return
            self._take_remote(source, offer)
            body = rewritten
            held = is_hold(offer)
        if method in ("INVITE", "UPDATE"):
            source.dialog.refresh_target(request)
        outgoing = target.dialog.request(
            method,
            self._via(target.peer),
            contact=self._contact(target.peer) if method in ("INVITE", "UPDATE") else None,
            body=body,
            content_type=request.content_type,
        )
        relay = Relay(call, side, handle, request, held)
        client = self._sender.send_request(outgoing, target.peer)
        self._relays[client] = relay
        call.relays.append(relay)

    def _relay_response(self, handle: ClientHandle, relay: Relay, response: Response) -> None:
        call = relay.call
        status = response.status
        if status < 200 or call.ended:
            return
        self._relays.pop(handle, None)
        with contextlib.suppress(ValueError):
            call.relays.remove(relay)
        source = call.leg(relay.source)
        target = call.leg(relay.source.other)
        assert target.dialog is not None
        assert target.peer is not None
        assert source.peer is not None
        is_invite = relay.request.method == "INVITE"
        if is_invite and status < 300:
            ack = target.dialog.ack(response.cseq.number, self._via(target.peer))
            target.last_ack = ack
            self._sender.send_stateless(ack, target.peer)
        if status < 300 and relay.request.method in ("INVITE", "UPDATE"):
            target.dialog.refresh_target(response)
        body = response.body
        answer = _sdp_of(response)
        if answer is not None:
            self._take_remote(target, answer)
            body = self._rewrite(source, answer) or b""
        out = make_response(relay.request, status, response.reason)
        if status < 300 and relay.request.method in ("INVITE", "UPDATE"):
            out.headers.set("Contact", self._contact(source.peer))
        if body:
            out.headers.set("Content-Type", response.content_type or SDP)
            out.body = body
        self._reply(relay.server, out)
        if is_invite and status < 300:
            self._start_retransmit(source, out)
        if status < 300 and relay.held is not None:
            self._note_hold(call, relay.source, relay.held)

    def _note_hold(self, call: Call, side: Side, held: bool) -> None:
        now = self._now()
        if held and call.held_by is None:
            call.held_by = side
            if call.recording is not None:
                call.recording.recording.pause(HOLD)
            if self._music_on_hold:
                self._spawn(self._play_hold_music(call, call.leg(side.other)))
            self._publish(
                CallHeld(call.uniqueid, call.uniqueid, call.src, call.dst, side.party, now)
            )
        elif not held and call.held_by is side:
            call.held_by = None
            # Restart the RTP timeout: the held phone's media resumes only now.
            self._media.connect(call.caller.media, call.callee.media)
            if call.recording is not None:
                call.recording.recording.resume(HOLD)
            if call.hold_music:
                call.hold_music = False
                self._media.stop_playing(call.leg(side.other).media)
            self._publish(
                CallResumed(call.uniqueid, call.uniqueid, call.src, call.dst, side.party, now)
            )

    async def _play_hold_music(self, call: Call, held: Leg) -> None:
        """The party put on hold hears the music until the call is resumed (or ends)."""
        assert self._music is not None
        clips = await self._music.clips()
        if not clips or call.ended or call.held_by is None or call.hold_music:
            return
        call.hold_music = True
        # Our stream has the held phone's ear; what the holder sends it (a sendonly
        # phone may go on sending) is dropped meanwhile, and relayed again on resume.
        self._media.play(held.media, clips, loop=True)

    # -- answering the caller ---------------------------------------------------------------------

    def _respond_to_caller(
        self,
        call: Call,
        status: int,
        *,
        body: bytes = b"",
        reason: str | None = None,
        retry_after: bool = False,
    ) -> None:
        caller = call.caller
        assert caller.dialog is not None
        assert caller.peer is not None
        response = make_response(call.invite, status, reason, to_tag=caller.dialog.local.tag)
        if status < 300:
            # RFC 3261 §12.1.1: a response that makes a dialog copies Record-Route.
            for route in call.invite.headers.get_all("Record-Route"):
                response.headers.add("Record-Route", route)
            response.headers.set("Contact", self._contact(caller.peer))
            response.headers.set("Allow", ALLOW)
        if retry_after:
            response.headers.set("Retry-After", RETRY_AFTER)
        if body:
            response.headers.set("Content-Type", SDP)
            response.body = body
        self._reply(call.server, response)
        if 200 <= status < 300:
            self._start_retransmit(caller, response)

    def _start_retransmit(self, leg: Leg, response: Response) -> None:
        self._stop_retransmit(leg)
        leg.pending_2xx = response
        if leg.peer is None or leg.peer.transport != "UDP":
            # A reliable transport delivers the 2xx; only the ACK's absence is watched.
            leg.retransmit = asyncio.get_running_loop().call_later(64 * T1, self._no_ack, leg)
            return
        leg.retransmit = asyncio.get_running_loop().call_later(
            T1, self._retransmit, leg, response, T1, 0.0
        )

    def _retransmit(self, leg: Leg, response: Response, interval: float, waited: float) -> None:
        waited += interval
        if waited >= 64 * T1:
            self._no_ack(leg)
            return
        if leg.peer is not None:
            self._sender.send_stateless(response, leg.peer)
        interval = min(2 * interval, T2)
        leg.retransmit = asyncio.get_running_loop().call_later(
            interval, self._retransmit, leg, response, interval, waited
        )

    def _no_ack(self, leg: Leg) -> None:
        # RFC 3261 §13.3.1.4: no ACK within 64*T1 ends the dialog with a BYE.
        leg.retransmit = None
        leg.pending_2xx = None
        found = self._by_dialog.get(leg.dialog.key) if leg.dialog is not None else None
        if found is not None:
            log.info(
                "call %s: the %s never acknowledged our 2xx", found[0].uniqueid, leg.side.value
            )
            self._hang_up(found[0], by=HangupBy.SYSTEM, cause="no-ack")

    def _stop_retransmit(self, leg: Leg) -> None:
        if leg.retransmit is not None:
            leg.retransmit.cancel()
            leg.retransmit = None
        leg.pending_2xx = None

    # -- ending -----------------------------------------------------------------------------------

    def _hang_up(self, call: Call, *, by: HangupBy, cause: str) -> None:
        """End a call from one side (or from us): BYE to every leg that did not hang up."""
        if call.ended:
            return
        if not call.answered:
            # A BYE on an early dialog, or our own hang-up before answer: it ends as cancelled.
            self._respond_to_caller(call, 487)
            self._cancel_forks(call)
            self._end(call, Disposition.CANCELLED, by, cause, 487)
            return
        if call.callee_ack_cseq is not None:
            self._ack_callee(call, b"")  # a late offer's 2xx is acknowledged before its BYE
        for leg in (call.caller, call.callee):
            if leg.side.party is by or leg.dialog is None or leg.peer is None:
                continue
            self._sender.send_request(leg.dialog.request("BYE", self._via(leg.peer)), leg.peer)
        self._end(call, Disposition.ANSWERED, by, cause, 200)

    def _end(
        self, call: Call, disposition: Disposition, hangup_by: HangupBy, cause: str, status: int
    ) -> None:
        if call.ended:
            return
        call.move(CallState.ENDED)
        self._cancel_ring_timer(call)
        self._cancel_forks(call)
        for leg in (call.caller, call.callee):
            self._stop_retransmit(leg)
            if leg.dialog is not None:
                self._by_dialog.pop(leg.dialog.key, None)
        for relay in call.relays:
            # Requests still waiting for the other side get an answer, or they linger.
            with contextlib.suppress(Exception):
                self._reply(relay.server, make_response(relay.request, 487))
        call.relays.clear()
        self._unregister(call)
        self._forget_transactions(call)
        recorded = self._finish_recording(call)
        bridge, call.bridge = call.bridge, None
        if bridge is not None:
            bridged = bridge.answer is not None
            self._publish_ended(
                call,
                bridge.uniqueid,
                bridge.dst,
                bridge.start,
                bridge.answer,
                Disposition.ANSWERED if bridged else Disposition.CANCELLED,
                hangup_by,
                cause,
                status if bridged else 487,
                recording=_recording_of(recorded, bridge.uniqueid),
                answered_by=bridge.dst,
            )
            bridge.result.cancel()
        self._end_row(call, disposition, hangup_by, cause, status, recorded)
        if call.connected is not None and not call.connected.done():
            call.connected.set_result(BridgeResult(False, status, disposition, cause))
        if call.app is not None:
            call.app.ended(hangup_by)
        log.info(
            "call %s %s -> %s ended: %s (%s, by %s)",
            call.uniqueid,
            call.src,
            call.dst,
            disposition.value,
            cause,
            hangup_by.value,
        )
        self._spawn(self._release(call.caller.media, call.callee.media))
        joined, call.joined = call.joined, None
        if joined is not None:
            # The conversation is over for the caller it was joined to as well.
            joined.joined = None
            self._hang_up(joined, by=HangupBy.CALLEE, cause="normal")

    def _forget_transactions(self, call: Call) -> None:
        # The caller's INVITE transaction and the forks' wait out Timers L and M (32 s);
        # kept in the maps until then, every ended call stayed whole in memory that long
        # (8,000 calls at 250 calls/s) for the garbage collector to walk. Only a fork
        # still unanswered may say more (a 2xx racing the CANCEL, to acknowledge and end).
        if self._by_server.pop(call.server, None) is not None:
            self._ended_invites.add(call.server)
        for fork in call.forks:
            if fork.final is not None:
                self._by_fork.pop(fork.handle, None)

    def _end_row(
        self,
        call: Call,
        disposition: Disposition,
        hangup_by: HangupBy,
        cause: str,
        status: int,
        recorded: tuple[str, str] | None,
    ) -> None:
        """End the call's own CDR row, unless it has ended already (a blind transfer ends it
        while the call goes on)."""
        if call.row_ended:
            return
        call.row_ended = True
        self._publish_ended(
            call,
            call.uniqueid,
            call.dst,
            call.start,
            call.answer,
            disposition,
            hangup_by,
            cause,
            status,
            recording=_recording_of(recorded, call.uniqueid),
            answered_by=call.answered_by,
        )

    def _publish_ended(
        self,
        call: Call,
        uniqueid: str,
        dst: str,
        start: datetime,
        answer: datetime | None,
        disposition: Disposition,
        hangup_by: HangupBy,
        cause: str,
        status: int,
        *,
        recording: str | None = None,
        answered_by: str | None = None,
    ) -> None:
        """CallEnded for ``call`` itself or for one of its bridges (linked by ``call.uniqueid``)."""
        self._publish(
            CallEnded(
                uniqueid,
                call.uniqueid,
                call.src,
                dst,
                clid=call.clid,
                start=start,
                answer=answer,
                end=self._now(),
                disposition=disposition,
                hangup_by=hangup_by,
                cause=cause,
                status=status,
                recording=recording,
                answered_by=answered_by if answer is not None else None,
            )
        )

    async def _release(self, *legs: LegMedia) -> None:
        for media in legs:
            self._by_media.pop(media.leg_id, None)
            try:
                await self._media.release(media)
            except Exception:
                log.exception("releasing media leg %s failed", media.leg_id)

    def _reserve(self, numbers: tuple[str, ...]) -> bool:
        """Count a call being set up against the limits, or say there is no room for it."""
        limits = self._limits
        if self._reserved >= limits.max_calls or any(
            self._per_extension.get(number, 0) >= limits.max_calls_per_extension
            for number in numbers
        ):
            return False
        self._reserved += 1
        for number in set(numbers):
            self._per_extension[number] = self._per_extension.get(number, 0) + 1
        return True

    def _register(self, call: Call) -> None:
        self._calls[call.uniqueid] = call
        self._by_server[call.server] = call
        self._by_media[call.caller.media.leg_id] = call
        self._by_media[call.callee.media.leg_id] = call

    def _unregister(self, call: Call) -> None:
        if self._calls.pop(call.uniqueid, None) is not None:
            self._release_reservation(call.counted)

    def _release_reservation(self, numbers: tuple[str, ...]) -> None:
        self._reserved -= 1
        self._release_numbers(numbers)

    def _uncount(self, call: Call, number: str) -> None:
        """``number`` has left ``call``, which stays: it no longer counts against its limit."""
        if number in call.counted:
            call.counted = tuple(counted for counted in call.counted if counted != number)
            self._release_numbers((number,))

    def _release_numbers(self, numbers: tuple[str, ...]) -> None:
        for number in set(numbers):
            left = self._per_extension.get(number, 0) - 1
            if left > 0:
                self._per_extension[number] = left
            else:
                self._per_extension.pop(number, None)

    def _cancel_ring_timer(self, call: Call) -> None:
        if call.ring_timer is not None:
            call.ring_timer.cancel()
            call.ring_timer = None

    # -- SDP --------------------------------------------------------------------------------------

    def _rewrite(self, leg: Leg, sdp: SessionDescription) -> bytes | None:
        """``sdp`` as sent to ``leg``: pointing at the leg's media ports; None if no codec fits."""
        media = leg.media
        address = self._sdp_address(media)
        draft = relayed(
            sdp,
            supported=DEFAULT_CODECS,
            address=address,
            port=media.rtp_port,
            rtcp_port=media.rtcp_port,
            origin=leg.origin(address, body_changes=False),
        )
        if not has_live_audio(draft):
            return None
        body = draft.serialize()
        if leg.last_sdp is not None and body != leg.last_sdp:
            # RFC 3264 §8: a changed description carries the next version; an unchanged
            # one (a refresh) keeps it.
            draft = dataclasses.replace(draft, origin=leg.origin(address, body_changes=True))
            body = draft.serialize()
        leg.last_sdp = body
        return body

    def _take_remote(self, leg: Leg, sdp: SessionDescription) -> None:
        """Point the leg's media at where its phone said it receives (the first live audio line)."""
        for index, stream in enumerate(sdp.media):
            if stream.port == 0 or stream.media != "audio":
                continue
            connection = sdp.connection_of(index)
            if connection is None:
                return
            rtcp = stream.rtcp
            self._media.set_remote(
                leg.media, connection.address, stream.port, rtcp.port if rtcp is not None else None
            )
            return

    def _sdp_address(self, media: LegMedia) -> str:
        if self._media_address:
            return self._media_address
        if media.address in ("0.0.0.0", "::"):  # noqa: S104 (bound everywhere: advertise SIP's)
            return self._sender.sent_by()[0]
        return media.address

    # -- small helpers ----------------------------------------------------------------------------

    def _via(self, peer: Peer) -> Via:
        return our_via(self._sender.sent_by(), peer)

    def _contact(self, peer: Peer) -> str:
        return our_contact(self._sender.sent_by(), peer)

    def _reply(self, handle: ServerHandle, response: Response) -> None:
        response.headers.set("Server", self._server_header)
        self._sender.send_response(handle, response)

    def _publish(self, event: object) -> None:
        self._bus.publish(event)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._wall(), UTC)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _joined(numbers: tuple[str, ...]) -> str:
    """The CDR ``dst`` of a bridge ringing several numbers until one answers: ``a&b&c``
    (as Asterisk writes a Dial to several), cut to fit the column."""
    joined = "&".join(numbers)
    return joined if len(joined) <= _CDR_DST_ROOM else joined[: _CDR_DST_ROOM - 3] + "..."


def _carries_sdp(message: Request | Response) -> bool:
    # A body without Content-Type is SDP by default in INVITE/200 (RFC 3261 §20.15 is
    # strict, but phones omit it); parameters after ";" do not change the type.
    kind = (message.content_type or SDP).partition(";")[0].strip().lower()
    return bool(message.body) and kind == SDP


def _recording_of(recorded: tuple[str, str] | None, uniqueid: str) -> str | None:
    """The recording's path if it belongs to the CDR row ``uniqueid``."""
    if recorded is None or recorded[0] != uniqueid:
        return None
    return recorded[1]


def _join_problem(call: Call, other: Call) -> tuple[int, str] | None:
    """Why two applications' calls cannot be joined now: (status, cause), or None."""
    if other is call:
        return 400, "same-call"
    if other.ended:
        return 480, "gone"
    for one in (call, other):
        if one.app is None or not one.answered or one.caller_format is None:
            return 409, "not-answered"
        if one.dialling or one.bridge is not None or one.joined is not None:
            return 491, "busy-bridging"
    return None


def _consultable(call: Call) -> bool:
    """Whether ``call`` can be the transferor's call with the target: an answered call
    between two phones (not one an application terminates)."""
    return call.app is None and call.answered and call.callee_ack_cseq is None


def _number_at(call: Call, side: Side) -> str:
    """The extension on ``side`` of ``call``: an application's bridged phone, or a caller
    or callee of a call between phones."""
    if call.app is not None and side is Side.CALLEE and call.bridge is not None:
        return call.bridge.dst
    if side is Side.CALLER:
        return call.src
    return call.answered_by or call.dst


def _format_in_use(leg: Leg) -> EndpointFormat | None:
    """The codec (and events) of the description we last sent ``leg``, which its phone
    uses; None before any, or when it names no codec our own media speaks."""
    if leg.last_sdp is None:
        return None
    return endpoint_format(SessionDescription.parse(leg.last_sdp))


def _ignore_answer(status: int, answer: SessionDescription | None) -> None:
    if not 200 <= status < 300:
        log.warning("a re-INVITE to take a call off hold got %d", status)


def _sdp_of(message: Request | Response) -> SessionDescription | None:
    """The SDP a message carries, or None when it has none or it does not parse.

    Only for what comes back to us (answers, ACKs): a bad offer gets its own 400.
    """
    if not _carries_sdp(message):
        return None
    try:
        return SessionDescription.parse(message.body)
    except RemoteProtocolError:
        return None


def _side_of(call: Call, media: LegMedia) -> str:
    return "caller" if media.leg_id == call.caller.media.leg_id else "callee"


def _caller_id(request: Request, number: str, configured: str) -> str:
    # The name an administrator gave the extension wins over what the phone says, as
    # Asterisk's endpoint callerid does; a phone's own display name is the fallback.
    return _clid(configured or request.from_.display_name or number, number)


def _clid(name: str, number: str) -> str:
    """A CDR ``clid``: ``"name" <number>``."""
    # A display name may carry any character as a quoted-pair (RFC 3261 §25.1), NUL
    # included, which a database refuses; keep what prints.
    name = "".join(char for char in name if char.isprintable() and char not in '"\\')
    return f'"{name or number}" <{number}>'


def _new_tag() -> str:
    return randomness.token_hex(6)


def _session_id() -> int:
    return randomness.randbelow(2**62)
