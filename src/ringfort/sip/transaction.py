"""SIP transactions (RFC 3261 §17, RFC 6026): four state machines and the layer matching them.

Everything here is sans-IO. Time comes in as ``now``; each machine exposes
its earliest deadline through ``get_timer()`` and is driven by
``handle_timer(now)``; what to transmit and what to tell the TU are pulled.

State machines are an Enum of the RFC's state names plus an explicit
transition table. An input the table does not list is handled by where it
came from: a message off the wire is absorbed (the RFC's figures simply have
no arrow for it, and a peer's stray retransmission is not our bug), while a
call from the TU or a timer raises ``LocalProtocolError`` naming the input and
the state.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Mapping
from typing import Generic, TypeAlias, TypeVar

from ringfort import randomness
from ringfort.errors import LocalProtocolError, RemoteProtocolError
from ringfort.fast_enum import FastEnum
from ringfort.sip.address import Peer
from ringfort.sip.events import (
    AckReceived,
    ClientHandle,
    Event,
    RequestReceived,
    ResponseReceived,
    ServerHandle,
    StrayResponse,
    TransactionHandle,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from ringfort.sip.headers import MAGIC_COOKIE
from ringfort.sip.message import Headers, Message, Request, Response, make_response
from ringfort.sip.timers import DEFAULT_TIMERS, TRYING_DELAY, TimerValues

__all__ = [
    "CLIENT_INVITE_TRANSITIONS",
    "CLIENT_NON_INVITE_TRANSITIONS",
    "MAGIC_COOKIE",
    "SERVER_INVITE_TRANSITIONS",
    "SERVER_NON_INVITE_TRANSITIONS",
    "ClientHandle",
    "ClientInviteState",
    "ClientInviteTransaction",
    "ClientNonInviteState",
    "ClientNonInviteTransaction",
    "ClientTransaction",
    "Input",
    "ServerHandle",
    "ServerInviteState",
    "ServerInviteTransaction",
    "ServerNonInviteState",
    "ServerNonInviteTransaction",
    "ServerTransaction",
    "Timer",
    "Transaction",
    "TransactionLayer",
    "TransactionState",
    "client_key",
    "new_branch",
    "server_key",
]

_COMPUTED_KEY_PREFIX = "rfc2543 "
"""Starts a computed server key; the space keeps it apart from any real branch (a token)."""


def new_branch() -> str:
    """A fresh branch for a request's Via: magic cookie and 96 random bits (RFC 3261 §8.1.1.7)."""
    return MAGIC_COOKIE + randomness.token_hex(12)


def client_key(message: Message) -> ClientHandle:
    """The key matching a response to its client transaction (RFC 3261 §17.1.3).

    It is the top Via branch and the CSeq method. An ACK maps to the INVITE
    transaction it belongs to. Raises ``RemoteProtocolError`` when the top Via
    has no branch.
    """
    branch = message.peek_top_via().branch
    if not branch:
        raise RemoteProtocolError("top Via has no branch parameter")
    method = message.cseq.method
    return ClientHandle(branch, "INVITE" if method == "ACK" else method)


def server_key(message: Message, *, method: str | None = None) -> ServerHandle:
    """The key matching a request to its server transaction (RFC 3261 §17.2.3).

    It is the top Via branch and sent-by, and the method, where an ACK
    counts as the INVITE it acknowledges. ``method`` overrides the method;
    CANCEL matching passes ``"INVITE"`` (RFC 3261 §9.2). A response (to find
    the transaction that sent it) is keyed by its CSeq method.

    A branch without the magic cookie comes from an RFC 2543 element. Rather
    than refuse it we key it by Call-ID, From tag, CSeq number and the branch
    as given: retransmissions, the ACK of a failure response and a CANCEL all
    repeat those. This is narrower than RFC 3261 §17.2.3's full RFC 2543 rule
    (which also compares the Request-URI and To tag) but needs no per-method
    exceptions, and no correct client sends two requests that differ only there.
    """
    via = message.peek_top_via()
    if method is None:
        method = message.method if isinstance(message, Request) else message.cseq.method
        if method == "ACK":
            method = "INVITE"
    branch = via.branch
    if branch is None or not branch.startswith(MAGIC_COOKIE):
        tag = message.from_tag or ""
        branch = (
            f"{_COMPUTED_KEY_PREFIX}{message.call_id} {tag} {message.cseq.number} {branch or ''}"
        )
    return ServerHandle(branch, via.host.lower(), via.port, method)


class Timer(FastEnum):
    """The transaction timers of RFC 3261 Table 4 and RFC 6026."""

    A = "Timer A"
    B = "Timer B"
    D = "Timer D"
    E = "Timer E"
    F = "Timer F"
    G = "Timer G"
    H = "Timer H"
    I = "Timer I"  # noqa: E741 - the RFC's name
    J = "Timer J"
    K = "Timer K"
    L = "Timer L"
    M = "Timer M"
    TRYING = "100 Trying timer"


# When two timers fall due at the same instant, the one that ends the
# transaction goes first so that a retransmission is not sent in vain.
_TIMERS_BY_RANK: tuple[Timer, ...] = (
    Timer.B,
    Timer.F,
    Timer.H,
    Timer.D,
    Timer.I,
    Timer.J,
    Timer.K,
    Timer.L,
    Timer.M,
    Timer.A,
    Timer.E,
    Timer.G,
    Timer.TRYING,
)
# A transaction's deadlines are keyed by rank: a dict of ints and floats is one the
# collector need not track, and thousands of transactions wait on a timer under load.
_RANK: Mapping[Timer, int] = {timer: rank for rank, timer in enumerate(_TIMERS_BY_RANK)}


class Input(FastEnum):
    """Everything that can happen to a transaction, named for the transition tables."""

    RECEIVE_PROVISIONAL = "1xx received"
    RECEIVE_2XX = "2xx received"
    RECEIVE_FAILURE = "300-699 received"
    RECEIVE_FINAL = "200-699 received"
    RECEIVE_REQUEST = "request retransmission received"
    RECEIVE_ACK = "ACK received"
    TRANSPORT_ERROR = "transport error"
    SEND_PROVISIONAL = "1xx from TU"
    SEND_2XX = "2xx from TU"
    SEND_FAILURE = "300-699 from TU"
    SEND_FINAL = "200-699 from TU"
    TIMER_A = "Timer A fired"
    TIMER_B = "Timer B fired"
    TIMER_D = "Timer D fired"
    TIMER_E = "Timer E fired"
    TIMER_F = "Timer F fired"
    TIMER_G = "Timer G fired"
    TIMER_H = "Timer H fired"
    TIMER_I = "Timer I fired"
    TIMER_J = "Timer J fired"
    TIMER_K = "Timer K fired"
    TIMER_L = "Timer L fired"
    TIMER_M = "Timer M fired"
    TIMER_TRYING = "100 Trying timer fired"


# Inputs from the network. A transport error is reported asynchronously, after
# the transaction may have moved on, so it counts as one of them.
_REMOTE_INPUTS = frozenset(
    {
        Input.RECEIVE_PROVISIONAL,
        Input.RECEIVE_2XX,
        Input.RECEIVE_FAILURE,
        Input.RECEIVE_FINAL,
        Input.RECEIVE_REQUEST,
        Input.RECEIVE_ACK,
        Input.TRANSPORT_ERROR,
    }
)

_TIMER_INPUT: Mapping[Timer, Input] = {
    Timer.A: Input.TIMER_A,
    Timer.B: Input.TIMER_B,
    Timer.D: Input.TIMER_D,
    Timer.E: Input.TIMER_E,
    Timer.F: Input.TIMER_F,
    Timer.G: Input.TIMER_G,
    Timer.H: Input.TIMER_H,
    Timer.I: Input.TIMER_I,
    Timer.J: Input.TIMER_J,
    Timer.K: Input.TIMER_K,
    Timer.L: Input.TIMER_L,
    Timer.M: Input.TIMER_M,
    Timer.TRYING: Input.TIMER_TRYING,
}


class ClientInviteState(FastEnum):
    """States of the INVITE client transaction (RFC 3261 Figure 5 as amended by RFC 6026 §7.2)."""

    CALLING = "Calling"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


class ClientNonInviteState(FastEnum):
    """States of the non-INVITE client transaction (RFC 3261 Figure 6)."""

    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    TERMINATED = "Terminated"


class ServerInviteState(FastEnum):
    """States of the INVITE server transaction (RFC 3261 Figure 7 as amended by RFC 6026 §7.1)."""

    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


class ServerNonInviteState(FastEnum):
    """States of the non-INVITE server transaction (RFC 3261 Figure 8)."""

    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    TERMINATED = "Terminated"


_CI = ClientInviteState
CLIENT_INVITE_TRANSITIONS: Mapping[tuple[ClientInviteState, Input], ClientInviteState] = {
    # RFC 3261 §17.1.1.2
    (_CI.CALLING, Input.TIMER_A): _CI.CALLING,
    (_CI.CALLING, Input.TIMER_B): _CI.TERMINATED,
    (_CI.CALLING, Input.TRANSPORT_ERROR): _CI.TERMINATED,
    (_CI.CALLING, Input.RECEIVE_PROVISIONAL): _CI.PROCEEDING,
    (_CI.CALLING, Input.RECEIVE_FAILURE): _CI.COMPLETED,
    (_CI.PROCEEDING, Input.RECEIVE_PROVISIONAL): _CI.PROCEEDING,
    (_CI.PROCEEDING, Input.RECEIVE_FAILURE): _CI.COMPLETED,
    (_CI.PROCEEDING, Input.TRANSPORT_ERROR): _CI.TERMINATED,
    (_CI.COMPLETED, Input.RECEIVE_FAILURE): _CI.COMPLETED,
    (_CI.COMPLETED, Input.TIMER_D): _CI.TERMINATED,
    (_CI.COMPLETED, Input.TRANSPORT_ERROR): _CI.TERMINATED,
    # A 2xx after a failure response is anomalous, but it set up a dialog at
    # the far end that only the TU can acknowledge and end.
    (_CI.COMPLETED, Input.RECEIVE_2XX): _CI.COMPLETED,
    # RFC 6026 §7.2
    (_CI.CALLING, Input.RECEIVE_2XX): _CI.ACCEPTED,
    (_CI.PROCEEDING, Input.RECEIVE_2XX): _CI.ACCEPTED,
    (_CI.ACCEPTED, Input.RECEIVE_2XX): _CI.ACCEPTED,
    (_CI.ACCEPTED, Input.TIMER_M): _CI.TERMINATED,
    (_CI.ACCEPTED, Input.TRANSPORT_ERROR): _CI.TERMINATED,
}

_CN = ClientNonInviteState
CLIENT_NON_INVITE_TRANSITIONS: Mapping[tuple[ClientNonInviteState, Input], ClientNonInviteState] = {
    # RFC 3261 §17.1.2.2
    (_CN.TRYING, Input.TIMER_E): _CN.TRYING,
    (_CN.TRYING, Input.TIMER_F): _CN.TERMINATED,
    (_CN.TRYING, Input.TRANSPORT_ERROR): _CN.TERMINATED,
    (_CN.TRYING, Input.RECEIVE_PROVISIONAL): _CN.PROCEEDING,
    (_CN.TRYING, Input.RECEIVE_FINAL): _CN.COMPLETED,
    (_CN.PROCEEDING, Input.TIMER_E): _CN.PROCEEDING,
    (_CN.PROCEEDING, Input.TIMER_F): _CN.TERMINATED,
    (_CN.PROCEEDING, Input.TRANSPORT_ERROR): _CN.TERMINATED,
    (_CN.PROCEEDING, Input.RECEIVE_PROVISIONAL): _CN.PROCEEDING,
    (_CN.PROCEEDING, Input.RECEIVE_FINAL): _CN.COMPLETED,
    (_CN.COMPLETED, Input.TIMER_K): _CN.TERMINATED,
}

_SI = ServerInviteState
SERVER_INVITE_TRANSITIONS: Mapping[tuple[ServerInviteState, Input], ServerInviteState] = {
    # RFC 3261 §17.2.1
    (_SI.PROCEEDING, Input.TIMER_TRYING): _SI.PROCEEDING,
    (_SI.PROCEEDING, Input.RECEIVE_REQUEST): _SI.PROCEEDING,
    (_SI.PROCEEDING, Input.SEND_PROVISIONAL): _SI.PROCEEDING,
    (_SI.PROCEEDING, Input.SEND_FAILURE): _SI.COMPLETED,
    (_SI.PROCEEDING, Input.TRANSPORT_ERROR): _SI.TERMINATED,
    (_SI.COMPLETED, Input.RECEIVE_REQUEST): _SI.COMPLETED,
    (_SI.COMPLETED, Input.TIMER_G): _SI.COMPLETED,
    (_SI.COMPLETED, Input.TIMER_H): _SI.TERMINATED,
    (_SI.COMPLETED, Input.TRANSPORT_ERROR): _SI.TERMINATED,
    (_SI.COMPLETED, Input.RECEIVE_ACK): _SI.CONFIRMED,
    (_SI.CONFIRMED, Input.RECEIVE_ACK): _SI.CONFIRMED,
    (_SI.CONFIRMED, Input.TIMER_I): _SI.TERMINATED,
    # RFC 6026 §7.1
    (_SI.PROCEEDING, Input.SEND_2XX): _SI.ACCEPTED,
    (_SI.ACCEPTED, Input.SEND_2XX): _SI.ACCEPTED,
    (_SI.ACCEPTED, Input.RECEIVE_REQUEST): _SI.ACCEPTED,
    (_SI.ACCEPTED, Input.RECEIVE_ACK): _SI.ACCEPTED,
    (_SI.ACCEPTED, Input.TIMER_L): _SI.TERMINATED,
    (_SI.ACCEPTED, Input.TRANSPORT_ERROR): _SI.TERMINATED,
}

_SN = ServerNonInviteState
SERVER_NON_INVITE_TRANSITIONS: Mapping[tuple[ServerNonInviteState, Input], ServerNonInviteState] = {
    # RFC 3261 §17.2.2
    (_SN.TRYING, Input.RECEIVE_REQUEST): _SN.TRYING,
    (_SN.TRYING, Input.SEND_PROVISIONAL): _SN.PROCEEDING,
    (_SN.TRYING, Input.SEND_FINAL): _SN.COMPLETED,
    (_SN.PROCEEDING, Input.RECEIVE_REQUEST): _SN.PROCEEDING,
    (_SN.PROCEEDING, Input.SEND_PROVISIONAL): _SN.PROCEEDING,
    (_SN.PROCEEDING, Input.SEND_FINAL): _SN.COMPLETED,
    (_SN.PROCEEDING, Input.TRANSPORT_ERROR): _SN.TERMINATED,
    (_SN.COMPLETED, Input.RECEIVE_REQUEST): _SN.COMPLETED,
    (_SN.COMPLETED, Input.TIMER_J): _SN.TERMINATED,
    (_SN.COMPLETED, Input.TRANSPORT_ERROR): _SN.TERMINATED,
}

StateT = TypeVar(
    "StateT", ClientInviteState, ClientNonInviteState, ServerInviteState, ServerNonInviteState
)
HandleT = TypeVar("HandleT", ClientHandle, ServerHandle)


class _Transaction(Generic[StateT, HandleT]):
    """What the four machines share: state table, timers and output queues.

    Each machine takes ``outgoing`` and ``events``, the queues its messages (with
    ``peer``) and its events go to; without them it keeps its own, drained by
    ``messages_to_send`` and ``next_event``.
    """

    def __init__(
        self,
        *,
        request: Request,
        peer: Peer,
        timers: TimerValues,
        handle: HandleT,
        state: StateT,
        terminated: StateT,
        transitions: Mapping[tuple[StateT, Input], StateT],
        outgoing: list[tuple[Message, Peer]] | None,
        events: deque[Event] | None,
    ) -> None:
        self._request: Request | None = request
        self.peer = peer
        """Where requests go (client) or where the request came from and responses go (server)."""
        self.timers = timers
        self.handle: HandleT = handle
        """The transaction's key, as the TU and the events know it."""
        self._state: StateT = state
        self._terminated_state: StateT = terminated
        self._transitions: Mapping[tuple[StateT, Input], StateT] = transitions
        self._deadlines: dict[int, float] = {}
        """Deadline of each running timer, by its ``_RANK``."""
        # A layer shares its two queues with every transaction: no container per
        # transaction for the collector to walk (thousands wait out their last timer
        # under load), and nothing to move from one queue to another.
        self._outgoing: list[tuple[Message, Peer]] = [] if outgoing is None else outgoing
        self._events: deque[Event] = deque() if events is None else events
        self._ended = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.handle.branch} {self._state.value}>"

    @property
    def request(self) -> Request:
        """The request that created the transaction, while it is still needed.

        A transaction that only waits out its last timer (Accepted, Completed after the
        final response, Confirmed) lets go of it; asking then is a LocalProtocolError.
        """
        if self._request is None:
            raise LocalProtocolError(
                f"{type(self).__name__} in state {self._state.value} no longer holds its request"
            )
        return self._request

    @property
    def holds_request(self) -> bool:
        """Whether :attr:`request` is still held."""
        return self._request is not None

    def _linger(self) -> None:
        # What is left to do is absorbing or answering retransmissions for up to 32 s
        # (Timers D, J, K, L, M), which needs the key and at most the last response.
        # Under load thousands of transactions wait like this; holding their requests
        # (each some fifteen objects) kept the garbage collector walking them.
        self._request = None

    @property
    def state(self) -> StateT:
        """The current state."""
        return self._state

    @property
    def terminated(self) -> bool:
        """Whether the transaction has reached Terminated and may be forgotten."""
        return self._state is self._terminated_state

    def get_timer(self) -> float | None:
        """The earliest deadline at which ``handle_timer`` must be called, if any."""
        deadlines = self._deadlines
        if len(deadlines) < 2:
            # Most of a transaction's life has one timer running (or none): no min() call.
            for deadline in deadlines.values():
                return deadline
            return None
        return min(deadlines.values())

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``, earliest first."""
        deadlines = self._deadlines
        while deadlines:
            if len(deadlines) == 1:
                [(rank, deadline)] = deadlines.items()
            else:
                deadline, rank = min((deadline, rank) for rank, deadline in deadlines.items())
            if deadline > now:
                break
            del deadlines[rank]
            self._fire(_TIMERS_BY_RANK[rank], now)
        self._settle()

    def transport_error(self, now: float) -> None:
        """The transport could not deliver one of our messages (RFC 3261 §17.1.4, §17.2.4)."""
        if self._advance(Input.TRANSPORT_ERROR):
            self._events.append(TransportFailed(self.handle))
        self._settle()

    def messages_to_send(self) -> list[Message]:
        """Drain the messages to transmit to ``peer``, in order.

        For a transaction driven on its own; inside a ``TransactionLayer`` the
        layer's ``outgoing()`` drains them.
        """
        messages = [message for message, _ in self._outgoing]
        self._outgoing.clear()
        return messages

    def next_event(self) -> Event | None:
        """The next event for the TU, or ``None`` (the layer's ``next_event`` inside one)."""
        return self._events.popleft() if self._events else None

    def _send(self, message: Message) -> None:
        self._outgoing.append((message, self.peer))

    def _advance(self, event: Input) -> bool:
        """Take the transition for ``event``; False when a message is absorbed."""
        target = self._transitions.get((self._state, event))
        if target is None:
            if event in _REMOTE_INPUTS:
                return False
            raise LocalProtocolError(
                f"{type(self).__name__}: {event.value} is not allowed in state {self._state.value}"
            )
        self._state = target
        return True

    def _start(self, timer: Timer, interval: float, now: float) -> None:
        # RFC 3261 Table 4 gives some timers zero seconds on reliable
        # transports: the state is left at once rather than on the next tick.
        if interval <= 0:
            self._fire(timer, now)
        else:
            self._deadlines[_RANK[timer]] = now + interval

    def _stop(self, *timers: Timer) -> None:
        for timer in timers:
            self._deadlines.pop(_RANK[timer], None)

    def _fire(self, timer: Timer, now: float) -> None:
        self._advance(_TIMER_INPUT[timer])
        self._on_timer(timer, now)

    def _on_timer(self, timer: Timer, now: float) -> None:
        raise NotImplementedError

    def _settle(self) -> None:
        if self.terminated and not self._ended:
            self._ended = True
            self._deadlines.clear()
            self._events.append(TransactionTerminated(self.handle))


def _client_handle(request: Request, *, invite: bool) -> ClientHandle:
    if (request.method == "INVITE") != invite or request.method == "ACK":
        kind = "an INVITE" if invite else "a non-INVITE"
        raise LocalProtocolError(f"{kind} client transaction cannot send {request.method}")
    try:
        handle = client_key(request)
    except RemoteProtocolError as error:
        raise LocalProtocolError(f"request to send: {error.reason}") from None
    if not handle.branch.startswith(MAGIC_COOKIE):
        raise LocalProtocolError(
            f"branch {handle.branch!r} lacks the {MAGIC_COOKIE} magic cookie (RFC 3261 §8.1.1.7)"
        )
    return handle


def _build_ack(invite: Request, response: Response) -> Request:
    """The ACK of a failure response, built by the transaction (RFC 3261 §17.1.1.3)."""
    headers = Headers()
    # A single Via: the INVITE's top one, branch and all, so the ACK is
    # matched to the server transaction hop by hop.
    headers.add("Via", str(invite.top_via))
    max_forwards = invite.headers.get("Max-Forwards")
    headers.add("Max-Forwards", max_forwards if max_forwards is not None else "70")
    for route in invite.headers.get_lines("Route"):
        headers.add("Route", route)
    headers.add("From", _required(invite, "From"))
    # The To of the response, so the ACK carries the tag the UAS chose.
    headers.add("To", _required(response, "To"))
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", f"{invite.cseq.number} ACK")
    return Request("ACK", invite.uri, headers)


def _required(message: Message, name: str) -> str:
    value = message.headers.get(name)
    if value is None:
        raise RemoteProtocolError(f"missing {name} header")
    return value


class ClientInviteTransaction(_Transaction[ClientInviteState, ClientHandle]):
    """The INVITE client transaction (RFC 3261 §17.1.1, RFC 6026 §7.2).

    Creating it sends the INVITE. Every response is passed up except
    retransmitted failure responses, which it re-acknowledges itself; each
    2xx (retransmissions and forks alike) is passed up in Accepted, for the TU
    to acknowledge end to end.

    ``handle`` saves recomputing it when the caller has it.
    """

    def __init__(
        self,
        request: Request,
        peer: Peer,
        now: float,
        timers: TimerValues = DEFAULT_TIMERS,
        *,
        handle: ClientHandle | None = None,
        outgoing: list[tuple[Message, Peer]] | None = None,
        events: deque[Event] | None = None,
    ) -> None:
        super().__init__(
            request=request,
            peer=peer,
            timers=timers,
            handle=_client_handle(request, invite=True) if handle is None else handle,
            state=ClientInviteState.CALLING,
            terminated=ClientInviteState.TERMINATED,
            transitions=CLIENT_INVITE_TRANSITIONS,
            outgoing=outgoing,
            events=events,
        )
        self._ack: Request | None = None
        self._a_interval = timers.timer_a
        self._send(request)
        # RFC 3261 §17.1.1.2: Timer A only where the transport may lose it.
        if not peer.reliable:
            self._start(Timer.A, self._a_interval, now)
        self._start(Timer.B, timers.timer_b, now)

    @property
    def ack(self) -> Request | None:
        """The ACK sent for a failure response, once there is one."""
        return self._ack

    def receive_response(self, response: Response, now: float) -> None:
        """A response matched to this transaction."""
        event = _invite_response_input(response.status)
        previous = self._state
        if event is None or not self._advance(event):
            return
        if event is Input.RECEIVE_PROVISIONAL:
            self._stop(Timer.A, Timer.B)
            self._pass_up(response)
        elif event is Input.RECEIVE_2XX:
            if previous in (ClientInviteState.CALLING, ClientInviteState.PROCEEDING):
                self._stop(Timer.A, Timer.B)
                self._start(Timer.M, self.timers.timer_m, now)
                self._linger()
            self._pass_up(response)
        elif previous is ClientInviteState.COMPLETED:
            # A retransmitted failure response: our ACK was lost (RFC 3261 §17.1.1.2).
            assert self._ack is not None
            self._send(self._ack)
        else:
            self._stop(Timer.A, Timer.B)
            self._ack = _build_ack(self.request, response)
            self._linger()
            self._send(self._ack)
            self._pass_up(response)
            self._start(Timer.D, self.timers.timer_d(reliable=self.peer.reliable), now)
        self._settle()

    def _pass_up(self, response: Response) -> None:
        self._events.append(ResponseReceived(self.handle, response))

    def _on_timer(self, timer: Timer, now: float) -> None:
        if timer is Timer.A:
            # RFC 3261 §17.1.1.2: Timer A doubles each time, with no cap.
            self._send(self.request)
            self._a_interval *= 2
            self._start(Timer.A, self._a_interval, now)
        elif timer is Timer.B:
            self._stop(Timer.A)
            self._events.append(TransactionTimedOut(self.handle))


class ClientNonInviteTransaction(_Transaction[ClientNonInviteState, ClientHandle]):
    """The non-INVITE client transaction (RFC 3261 §17.1.2).

    Creating it sends the request. Provisional and the first final response
    are passed up; retransmitted final responses are absorbed in Completed.

    ``handle`` saves recomputing it when the caller has it.
    """

    def __init__(
        self,
        request: Request,
        peer: Peer,
        now: float,
        timers: TimerValues = DEFAULT_TIMERS,
        *,
        handle: ClientHandle | None = None,
        outgoing: list[tuple[Message, Peer]] | None = None,
        events: deque[Event] | None = None,
    ) -> None:
        super().__init__(
            request=request,
            peer=peer,
            timers=timers,
            handle=_client_handle(request, invite=False) if handle is None else handle,
            state=ClientNonInviteState.TRYING,
            terminated=ClientNonInviteState.TERMINATED,
            transitions=CLIENT_NON_INVITE_TRANSITIONS,
            outgoing=outgoing,
            events=events,
        )
        self._e_interval = timers.timer_e
        self._send(request)
        if not peer.reliable:
            self._start(Timer.E, self._e_interval, now)
        self._start(Timer.F, timers.timer_f, now)

    def receive_response(self, response: Response, now: float) -> None:
        """A response matched to this transaction."""
        if 100 <= response.status < 200:
            event = Input.RECEIVE_PROVISIONAL
        elif 200 <= response.status < 700:
            event = Input.RECEIVE_FINAL
        else:
            return
        if not self._advance(event):
            return
        self._events.append(ResponseReceived(self.handle, response))
        if event is Input.RECEIVE_FINAL:
            self._stop(Timer.E, Timer.F)
            self._linger()
            self._start(Timer.K, self.timers.timer_k(reliable=self.peer.reliable), now)
        self._settle()

    def _on_timer(self, timer: Timer, now: float) -> None:
        if timer is Timer.E:
            self._send(self.request)
            # RFC 3261 §17.1.2.2: back off to T2 in Trying; straight to T2 once
            # a provisional response says the server has the request.
            if self._state is ClientNonInviteState.PROCEEDING:
                self._e_interval = self.timers.t2
            else:
                self._e_interval = self.timers.backoff(self._e_interval)
            self._start(Timer.E, self._e_interval, now)
        elif timer is Timer.F:
            self._stop(Timer.E)
            self._events.append(TransactionTimedOut(self.handle))


class ServerInviteTransaction(_Transaction[ServerInviteState, ServerHandle]):
    """The INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §7.1).

    Creating it passes the INVITE up as ``RequestReceived``. It answers
    retransmitted INVITEs with the latest response, retransmits failure
    responses until the ACK arrives and, with ``auto_trying``, sends 100
    (Trying) itself if the TU has said nothing after 200 ms. A 2xx moves it
    to Accepted: retransmitting the 2xx is the TU's job (RFC 3261 §13.3.1.4),
    retransmitted INVITEs are absorbed and an ACK is passed up.

    ``handle`` saves recomputing ``server_key(request)`` when the caller has it.
    """

    def __init__(
        self,
        request: Request,
        peer: Peer,
        now: float,
        timers: TimerValues = DEFAULT_TIMERS,
        *,
        auto_trying: bool = True,
        handle: ServerHandle | None = None,
        outgoing: list[tuple[Message, Peer]] | None = None,
        events: deque[Event] | None = None,
    ) -> None:
        if request.method != "INVITE":
            raise LocalProtocolError(
                f"an INVITE server transaction cannot start with {request.method}"
            )
        super().__init__(
            request=request,
            peer=peer,
            timers=timers,
            handle=server_key(request) if handle is None else handle,
            state=ServerInviteState.PROCEEDING,
            terminated=ServerInviteState.TERMINATED,
            transitions=SERVER_INVITE_TRANSITIONS,
            outgoing=outgoing,
            events=events,
        )
        self._last_response: Response | None = None
        self._g_interval = timers.timer_g
        self._events.append(RequestReceived(self.handle, request, peer))
        if auto_trying:
            self._start(Timer.TRYING, TRYING_DELAY, now)

    @property
    def last_response(self) -> Response | None:
        """The latest response sent, the one a retransmitted INVITE is answered with; None
        in Accepted and Confirmed, where nothing is answered."""
        return self._last_response

    def receive_request(self, request: Request, peer: Peer, now: float) -> None:
        """A retransmitted INVITE, or an ACK, matched to this transaction."""
        event = Input.RECEIVE_ACK if request.method == "ACK" else Input.RECEIVE_REQUEST
        previous = self._state
        if not self._advance(event):
            return
        if event is Input.RECEIVE_REQUEST:
            # RFC 3261 §17.2.1: answer with the latest response. In Accepted
            # the retransmission is absorbed (RFC 6026 §7.1): the TU's own 2xx
            # retransmissions reach the client anyway.
            if previous is not ServerInviteState.ACCEPTED and self._last_response is not None:
                self._send(self._last_response)
        elif previous is ServerInviteState.COMPLETED:
            # Confirmed absorbs what comes: nothing is answered any more.
            self._linger()
            self._last_response = None
            self._stop(Timer.G, Timer.H)
            self._start(Timer.I, self.timers.timer_i(reliable=self.peer.reliable), now)
        elif previous is ServerInviteState.ACCEPTED:
            # An ACK with the INVITE's branch acknowledges our 2xx: the dialog's business.
            self._events.append(AckReceived(request, peer))
        self._settle()

    def send_response(self, response: Response, now: float) -> None:
        """Send the TU's response; raises ``LocalProtocolError`` when the state forbids it."""
        status = response.status
        if 100 <= status < 200:
            event = Input.SEND_PROVISIONAL
        elif 200 <= status < 300:
            event = Input.SEND_2XX
        elif 300 <= status < 700:
            event = Input.SEND_FAILURE
        else:
            raise LocalProtocolError(f"status {status} is not a SIP status")
        previous = self._state
        self._advance(event)
        self._stop(Timer.TRYING)
        self._send(response)
        if event is Input.SEND_2XX:
            # Accepted absorbs retransmitted INVITEs (the 2xx is the TU's to resend), so
            # neither the request nor the response is kept.
            self._last_response = None
            if previous is ServerInviteState.PROCEEDING:
                self._start(Timer.L, self.timers.timer_l, now)
                self._linger()
        else:
            self._last_response = response
        if event is Input.SEND_FAILURE:
            # RFC 3261 §17.2.1: Timer G only where the transport may lose it.
            if not self.peer.reliable:
                self._start(Timer.G, self._g_interval, now)
            self._start(Timer.H, self.timers.timer_h, now)
        self._settle()

    def _on_timer(self, timer: Timer, now: float) -> None:
        if timer is Timer.TRYING:
            trying = make_response(self.request, 100)
            self._send(trying)
            self._last_response = trying
        elif timer is Timer.G:
            assert self._last_response is not None
            self._send(self._last_response)
            self._g_interval = self.timers.backoff(self._g_interval)
            self._start(Timer.G, self._g_interval, now)
        elif timer is Timer.H:
            # RFC 3261 §17.2.1: the ACK never came.
            self._stop(Timer.G)
            self._events.append(TransactionTimedOut(self.handle))


class ServerNonInviteTransaction(_Transaction[ServerNonInviteState, ServerHandle]):
    """The non-INVITE server transaction (RFC 3261 §17.2.2).

    Creating it passes the request up as ``RequestReceived``. Retransmitted
    requests are answered with the latest response, or absorbed before there
    is one. It has no timer until the final response: the TU must answer.

    ``handle`` saves recomputing ``server_key(request)`` when the caller has it.
    """

    def __init__(
        self,
        request: Request,
        peer: Peer,
        now: float,
        timers: TimerValues = DEFAULT_TIMERS,
        *,
        handle: ServerHandle | None = None,
        outgoing: list[tuple[Message, Peer]] | None = None,
        events: deque[Event] | None = None,
    ) -> None:
        if request.method in {"INVITE", "ACK"}:
            raise LocalProtocolError(
                f"a non-INVITE server transaction cannot start with {request.method}"
            )
        super().__init__(
            request=request,
            peer=peer,
            timers=timers,
            handle=server_key(request) if handle is None else handle,
            state=ServerNonInviteState.TRYING,
            terminated=ServerNonInviteState.TERMINATED,
            transitions=SERVER_NON_INVITE_TRANSITIONS,
            outgoing=outgoing,
            events=events,
        )
        self._last_response: Response | None = None
        self._events.append(RequestReceived(self.handle, request, peer))

    @property
    def last_response(self) -> Response | None:
        """The latest response sent, the one a retransmitted request is answered with."""
        return self._last_response

    def receive_request(self, request: Request, peer: Peer, now: float) -> None:
        """A retransmission of the request matched to this transaction."""
        if self._advance(Input.RECEIVE_REQUEST) and self._last_response is not None:
            self._send(self._last_response)

    def send_response(self, response: Response, now: float) -> None:
        """Send the TU's response; raises ``LocalProtocolError`` when the state forbids it."""
        status = response.status
        if 100 <= status < 200:
            event = Input.SEND_PROVISIONAL
        elif 200 <= status < 700:
            event = Input.SEND_FINAL
        else:
            raise LocalProtocolError(f"status {status} is not a SIP status")
        self._advance(event)
        self._send(response)
        self._last_response = response
        if event is Input.SEND_FINAL:
            # Completed answers retransmissions with this response and nothing else.
            self._linger()
            response.compact()
            self._start(Timer.J, self.timers.timer_j(reliable=self.peer.reliable), now)
        self._settle()

    def _on_timer(self, timer: Timer, now: float) -> None:
        # Timer J is the only one, and it simply ends the transaction.
        return


def _invite_response_input(status: int) -> Input | None:
    if 100 <= status < 200:
        return Input.RECEIVE_PROVISIONAL
    if 200 <= status < 300:
        return Input.RECEIVE_2XX
    if 300 <= status < 700:
        return Input.RECEIVE_FAILURE
    return None


ClientTransaction: TypeAlias = ClientInviteTransaction | ClientNonInviteTransaction
ServerTransaction: TypeAlias = ServerInviteTransaction | ServerNonInviteTransaction
Transaction: TypeAlias = ClientTransaction | ServerTransaction
TransactionState: TypeAlias = (
    ClientInviteState | ClientNonInviteState | ServerInviteState | ServerNonInviteState
)


class TransactionLayer:
    """Every transaction of one endpoint, matched, timed and drained as one.

    The transport pump feeds it received messages, calls ``handle_timer`` at
    ``get_timer()``, transmits ``outgoing()`` and hands ``next_event()`` to the
    TU. Terminated transactions are forgotten at once. Deadlines live in a
    heap with lazy deletion, so keeping thousands of transactions timed costs
    O(log n) per change.
    """

    def __init__(self, *, timers: TimerValues = DEFAULT_TIMERS, auto_trying: bool = True) -> None:
        self.timers = timers
        self.auto_trying = auto_trying
        self._clients: dict[ClientHandle, ClientTransaction] = {}
        self._servers: dict[ServerHandle, ServerTransaction] = {}
        # Heap of (deadline, sequence). An entry is live only while _due maps its
        # sequence to a handle; others are dropped when they surface. Entries of
        # floats and ints are left alone by the collector; with the handle in them
        # they would be walked, one per waiting transaction.
        self._heap: list[tuple[float, int]] = []
        self._due: dict[int, TransactionHandle] = {}
        self._scheduled: dict[TransactionHandle, tuple[float, int]] = {}
        self._sequence = itertools.count()
        self._outgoing: list[tuple[Message, Peer]] = []
        self._events: deque[Event] = deque()

    def __len__(self) -> int:
        return len(self._clients) + len(self._servers)

    # -- input ---------------------------------------------------------------

    def receive_request(self, request: Request, peer: Peer, now: float) -> None:
        """A request from the transport: a retransmission, an ACK or a new transaction.

        Raises ``RemoteProtocolError`` when the request cannot be matched at
        all (no Via); the transport answers nothing, having nowhere to send it.
        """
        handle = server_key(request)
        transaction = self._servers.get(handle)
        if transaction is not None:
            transaction.receive_request(request, peer, now)
        elif request.method == "ACK":
            # No INVITE server transaction: the ACK of a 2xx (RFC 3261 §17.2.3).
            self._events.append(AckReceived(request, peer))
            return
        else:
            if request.method == "INVITE":
                transaction = ServerInviteTransaction(
                    request,
                    peer,
                    now,
                    self.timers,
                    auto_trying=self.auto_trying,
                    handle=handle,
                    outgoing=self._outgoing,
                    events=self._events,
                )
            else:
                transaction = ServerNonInviteTransaction(
                    request,
                    peer,
                    now,
                    self.timers,
                    handle=handle,
                    outgoing=self._outgoing,
                    events=self._events,
                )
            self._servers[handle] = transaction
        self._collect(transaction)

    def receive_response(self, response: Response, peer: Peer, now: float) -> None:
        """A response from the transport, passed to its client transaction or up as stray."""
        try:
            handle = client_key(response)
        except RemoteProtocolError:
            handle = None
        transaction = self._clients.get(handle) if handle is not None else None
        if transaction is None:
            # RFC 6026 §7.2: the TU decides; a 2xx may need its ACK resent.
            self._events.append(StrayResponse(response, peer))
            return
        transaction.receive_response(response, now)
        self._collect(transaction)

    def send_request(self, request: Request, peer: Peer, now: float) -> ClientHandle:
        """Start a client transaction for ``request`` and send it.

        The caller builds the top Via, with a branch from ``new_branch()``. An
        ACK for a 2xx is no transaction: send it with ``send_stateless``.
        """
        if request.method == "ACK":
            raise LocalProtocolError("an ACK starts no client transaction; use send_stateless")
        invite = request.method == "INVITE"
        # Checked before the transaction exists: creating it queues the request.
        handle = _client_handle(request, invite=invite)
        if handle in self._clients:
            raise LocalProtocolError(f"a client transaction {handle} already exists")
        machine = ClientInviteTransaction if invite else ClientNonInviteTransaction
        transaction = machine(
            request,
            peer,
            now,
            self.timers,
            handle=handle,
            outgoing=self._outgoing,
            events=self._events,
        )
        self._clients[handle] = transaction
        self._collect(transaction)
        return handle

    def send_response(self, handle: ServerHandle, response: Response, now: float) -> None:
        """Send the TU's response through its server transaction."""
        transaction = self._servers.get(handle)
        if transaction is None:
            raise LocalProtocolError(f"no server transaction {handle}")
        transaction.send_response(response, now)
        self._collect(transaction)

    def send_stateless(self, message: Message, peer: Peer) -> None:
        """Transmit outside any transaction: the ACK of a 2xx, or a 2xx
        retransmitted after its transaction ended (RFC 3261 §13.3.1.4)."""
        self._outgoing.append((message, peer))

    def transport_error(self, message: Message, now: float) -> None:
        """The transport could not deliver ``message``: its transaction fails.

        RFC 3261 §17.1.4 and §17.2.4; a message outside any transaction is ignored.
        """
        transaction: Transaction | None
        try:
            if isinstance(message, Request):
                transaction = self._clients.get(client_key(message))
            else:
                transaction = self._servers.get(server_key(message))
        except RemoteProtocolError:
            return
        if transaction is not None:
            transaction.transport_error(now)
            self._collect(transaction)

    # -- queries for the TU --------------------------------------------------

    def find_invite_server(self, cancel: Request) -> ServerHandle | None:
        """The INVITE server transaction a CANCEL cancels, if it still exists (RFC 3261 §9.2)."""
        handle = server_key(cancel, method="INVITE")
        return handle if handle in self._servers else None

    def state(self, handle: TransactionHandle) -> TransactionState | None:
        """The state of a live transaction; ``None`` once it has terminated.

        On a CANCEL, a server INVITE still in Proceeding is the one to answer
        487; in any other state its final response has gone (RFC 3261 §9.2).
        """
        transaction = self._find(handle)
        return transaction.state if transaction is not None else None

    def original_request(self, handle: TransactionHandle) -> Request | None:
        """The request that created a live transaction; ``None`` once it has terminated or
        only waits out its last timer (see ``_Transaction.request``)."""
        transaction = self._find(handle)
        return transaction._request if transaction is not None else None

    # -- timers --------------------------------------------------------------

    def get_timer(self) -> float | None:
        """The earliest deadline over all transactions, or ``None``."""
        heap = self._heap
        while heap:
            deadline, sequence = heap[0]
            if sequence in self._due:
                return deadline
            heapq.heappop(heap)
        return None

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``."""
        while (deadline := self.get_timer()) is not None and deadline <= now:
            _, sequence = heapq.heappop(self._heap)
            handle = self._due.pop(sequence)
            del self._scheduled[handle]
            transaction = self._find(handle)
            if transaction is not None:
                transaction.handle_timer(now)
                self._collect(transaction)

    # -- output --------------------------------------------------------------

    def outgoing(self) -> list[tuple[Message, Peer]]:
        """Drain the messages to transmit and where to.

        A response goes to the peer its request came from; the transport
        applies RFC 3261 §18.2.2 and RFC 3581 with that peer.
        """
        # The list is the one every transaction appends to: emptied, never replaced.
        messages = self._outgoing[:]
        self._outgoing.clear()
        return messages

    def next_event(self) -> Event | None:
        """The next event for the TU, or ``None``."""
        return self._events.popleft() if self._events else None

    # -- internals -----------------------------------------------------------

    def _find(self, handle: TransactionHandle) -> Transaction | None:
        if isinstance(handle, ClientHandle):
            return self._clients.get(handle)
        return self._servers.get(handle)

    def _collect(self, transaction: Transaction) -> None:
        # What it sent and said is in the layer's queues already.
        handle = transaction.handle
        if transaction.terminated:
            if isinstance(handle, ClientHandle):
                self._clients.pop(handle, None)
            else:
                self._servers.pop(handle, None)
            self._schedule(handle, None)
        else:
            self._schedule(handle, transaction.get_timer())

    def _schedule(self, handle: TransactionHandle, deadline: float | None) -> None:
        current = self._scheduled.get(handle)
        if current is not None:
            if current[0] == deadline:
                return
            del self._scheduled[handle]
            del self._due[current[1]]
        if deadline is None:
            return
        entry = (deadline, next(self._sequence))
        self._scheduled[handle] = entry
        self._due[entry[1]] = handle
        heapq.heappush(self._heap, entry)
        # Superseded entries are dropped when they reach the top; rebuild
        # if they ever outnumber the live ones, to bound memory.
        if len(self._heap) > 2 * len(self._scheduled) + 64:
            self._heap = list(self._scheduled.values())
            heapq.heapify(self._heap)
