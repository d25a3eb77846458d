"""What the SIP transaction layer tells its user (the TU): transaction handles and events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

if TYPE_CHECKING:
    from ringfort.sip.address import Peer
    from ringfort.sip.message import Request, Response


class ClientHandle(NamedTuple):
    """Names a client transaction: the key responses are matched by (RFC 3261 §17.1.3).

    A handle keys several dicts and is looked up a few dozen times per call: as a tuple
    it hashes and compares in C. The two kinds of handle never compare equal, having
    different lengths.
    """

    branch: str
    """The branch parameter of the top Via of the request we sent."""
    method: str
    """The CSeq method of that request (a CANCEL shares its INVITE's branch)."""


class ServerHandle(NamedTuple):
    """Names a server transaction: the key requests are matched by (RFC 3261 §17.2.3).

    For a request whose branch lacks the ``z9hG4bK`` magic cookie (an RFC 2543
    peer), ``branch`` is computed from Call-ID, From tag, CSeq number and the
    top Via's branch, so retransmissions, the ACK of a failure response and a
    CANCEL still find the transaction.
    """

    branch: str
    """The top Via branch, or the computed key described above."""
    host: str
    """The top Via sent-by host, lower case."""
    port: int | None
    """The top Via sent-by port as written; ``None`` when absent."""
    method: str
    """The method of the request that created the transaction (never ``ACK``)."""


TransactionHandle: TypeAlias = ClientHandle | ServerHandle


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request started a server transaction; the TU must answer it.

    A CANCEL arrives this way too, in its own transaction; find the INVITE it
    cancels with ``TransactionLayer.find_invite_server`` (RFC 3261 §9.2).
    """

    transaction: ServerHandle
    """Where the TU sends its responses (``TransactionLayer.send_response``)."""
    request: Request
    """The request as received."""
    peer: Peer
    """Where it came from; responses go back there."""


@dataclass(frozen=True, slots=True)
class AckReceived:
    """An ACK that belongs to no server transaction: the ACK of a 2xx.

    It is its own end-to-end transaction (RFC 3261 §17); the dialog it
    acknowledges stops retransmitting its 2xx (RFC 3261 §13.3.1.4).
    """

    request: Request
    """The ACK as received."""
    peer: Peer
    """Where it came from."""


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A response to a request we sent, passed up by its client transaction.

    Every 2xx to an INVITE arrives this way, retransmissions and forks
    included (RFC 6026 §7.2); the TU acknowledges each one itself.
    """

    transaction: ClientHandle
    """The client transaction the response belongs to."""
    response: Response
    """The response as received."""


@dataclass(frozen=True, slots=True)
class StrayResponse:
    """A response that matches no client transaction.

    Usually a 2xx retransmission after the INVITE client transaction ended:
    the UAS has not seen our ACK, so the dialog must send it again (RFC 3261
    §13.2.2.4). Anything else may be dropped (RFC 6026 §7.2).
    """

    response: Response
    """The response as received."""
    peer: Peer
    """Where it came from."""


@dataclass(frozen=True, slots=True)
class TransactionTimedOut:
    """No answer in time: Timer B or F for a client, Timer H for an INVITE server.

    For a client this stands for a 408 (RFC 3261 §8.1.3.1); for a server it
    means the ACK of our failure response never came.
    """

    transaction: TransactionHandle
    """The transaction that gave up; a ``TransactionTerminated`` follows."""


@dataclass(frozen=True, slots=True)
class TransportFailed:
    """The transport could not deliver one of the transaction's messages.

    For a client this stands for a 503 (RFC 3261 §8.1.3.1, §17.1.4); for a
    server the response could not be delivered (RFC 3261 §17.2.4).
    """

    transaction: TransactionHandle
    """The transaction that failed; a ``TransactionTerminated`` follows."""


@dataclass(frozen=True, slots=True)
class TransactionTerminated:
    """The transaction is gone; it is the last event about this handle."""

    transaction: TransactionHandle
    """The transaction that ended."""


Event: TypeAlias = (
    RequestReceived
    | AckReceived
    | ResponseReceived
    | StrayResponse
    | TransactionTimedOut
    | TransportFailed
    | TransactionTerminated
)
