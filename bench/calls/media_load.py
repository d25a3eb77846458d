"""Media relay load: N answered calls streaming G.711 both ways through Ringfort, for rising N.

Starts its own ``ringfort serve`` (pinned to one core with ``taskset``) with extensions
101 and 102. This process is both phones, on the other core: a minimal SIP user agent
registers 102, places N calls from 101 (answering the 407 challenge), answers each on
102, and then sends one RTP packet per call and direction every ptime to the ports
Ringfort put in its SDP, while receiving what Ringfort relays. Each packet carries its
send time, so the receivers measure one-way transit through the relay on one clock.

Per step it prints, over a steady window with every call streaming: packets relayed per
second, the CPU used by the server and by this generator, and per direction packets
lost (sent but never received, cross-checked with sequence gaps) and late (transit over
``--late-ms``), with transit p50/p99/max. The generator's own lag is shown too: when it
cannot keep its send schedule, the figures measure the generator, not the server.

    bench/media_relay.sh                               # 50, 100, 200, 400 calls, 20 s each
    bench/media_relay.sh --calls 100,300 --ptime 30 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import re
import resource
import secrets
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from server_under_test import (
    CALLEE,
    CALLER,
    LOCALHOST,
    CpuMeter,
    DigestChallenge,
    MachineMeter,
    RingfortServer,
    ServerStartError,
    add_server_options,
    call_server,
    digest_authorization,
    install_stop_signals,
    server_status,
    wait_for_idle,
)

from ringfort.sip.message import Request, Response, parse_message

DEFAULT_CALLS = (50, 100, 200, 400)
PCMU = 0
TELEPHONE_EVENT = 101
T1 = 0.5
"""RFC 3261 §17.1.1.1: the retransmission interval starts at T1 and doubles."""
TRANSACTION_TIMEOUT = 32 * T1
"""RFC 3261 §17.1.1.2 Timer B: 64*T1; half of it is plenty on loopback."""

# RFC 3550 §5.1: V=2, no padding, extension or CSRC; marker and PT; sequence; timestamp; SSRC.
RTP_HEADER = struct.Struct("!BBHII")
SEND_TIME = struct.Struct("!q")
"""Nanoseconds of time.monotonic_ns() at sending, at the start of the payload."""
TRANSIT_BUCKETS = 2001
"""One bucket per millisecond of transit; the last one holds everything slower."""


# --------------------------------------------------------------------------- RTP


@dataclass
class Totals:
    """Counters every receiver adds to; windows are differences of snapshots."""

    received: int = 0
    late: int = 0
    transit_ms: list[int] = field(default_factory=lambda: [0] * TRANSIT_BUCKETS)

    def snapshot(self) -> Totals:
        """A copy of the counters now."""
        return Totals(self.received, self.late, list(self.transit_ms))

    def since(self, earlier: Totals) -> Totals:
        """What was counted after ``earlier``."""
        return Totals(
            self.received - earlier.received,
            self.late - earlier.late,
            [now - then for now, then in zip(self.transit_ms, earlier.transit_ms, strict=True)],
        )

    def transit_percentile(self, share: float) -> float | None:
        """Transit in ms below which ``share`` % of the counted packets arrived."""
        total = sum(self.transit_ms)
        if total == 0:
            return None
        wanted = share / 100.0 * total
        running = 0
        for milliseconds, count in enumerate(self.transit_ms):
            running += count
            if running >= wanted:
                return float(milliseconds)
        return float(TRANSIT_BUCKETS - 1)

    def transit_max(self) -> float | None:
        """The slowest bucket with a packet in it."""
        for milliseconds in range(TRANSIT_BUCKETS - 1, -1, -1):
            if self.transit_ms[milliseconds]:
                return float(milliseconds)
        return None


class Endpoint(asyncio.DatagramProtocol):
    """One phone's media socket: sends a stream to Ringfort and receives the relayed one."""

    def __init__(self, *, totals: Totals, late_ns: int, payload_size: int, ptime_ms: int):
        self.totals = totals
        self.late_ns = late_ns
        self.samples_per_packet = 8 * ptime_ms
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.destination: tuple[str, int] | None = None
        self.sending = False
        self.packet = bytearray(RTP_HEADER.size + payload_size)
        self.packet[RTP_HEADER.size :] = b"\xff" * payload_size  # PCMU silence
        self.ssrc = random.getrandbits(32)
        self.timestamp = random.getrandbits(32)
        self.sequence = 0
        self.sent = 0
        self.received = 0
        self.highest = -1
        """Highest sequence number received (streams start at 0 and never wrap here)."""
        self.first = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport implements DatagramTransport without subclassing it.
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.port = transport.get_extra_info("sockname")[1]

    def send(self, now_ns: int) -> None:
        """Send the next packet of the stream, stamped with ``now_ns``."""
        if not self.sending or self.transport is None or self.destination is None:
            return
        RTP_HEADER.pack_into(
            self.packet, 0, 0x80, PCMU | (0x80 if self.sequence == 0 else 0),
            self.sequence, self.timestamp, self.ssrc,
        )  # fmt: skip
        SEND_TIME.pack_into(self.packet, RTP_HEADER.size, now_ns)
        self.transport.sendto(self.packet, self.destination)
        self.sequence += 1
        self.timestamp = (self.timestamp + self.samples_per_packet) & 0xFFFFFFFF
        self.sent += 1

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if len(data) < RTP_HEADER.size + SEND_TIME.size:
            return  # RTCP or something else: only the stream is measured
        transit_ns = time.monotonic_ns() - SEND_TIME.unpack_from(data, RTP_HEADER.size)[0]
        sequence = (data[2] << 8) | data[3]
        if self.first < 0:
            self.first = sequence
        if sequence > self.highest:
            self.highest = sequence
        self.received += 1
        totals = self.totals
        totals.received += 1
        if transit_ns > self.late_ns:
            totals.late += 1
        bucket = transit_ns // 1_000_000
        totals.transit_ms[bucket if bucket < TRANSIT_BUCKETS else TRANSIT_BUCKETS - 1] += 1

    def gaps(self) -> int:
        """Packets missing between the first and the highest sequence number received."""
        if self.first < 0:
            return 0
        return max(0, self.highest - self.first + 1 - self.received)

    def close(self) -> None:
        """Stop sending and close the socket."""
        self.sending = False
        if self.transport is not None:
            self.transport.close()


class Pacer:
    """Sends one packet per endpoint every ptime, spread evenly over the interval.

    Endpoints are dealt into slots so the load is smooth rather than a burst per
    ptime. Lag is how late each slot ran against its schedule: the generator's
    own health.
    """

    SLOTS = 10

    def __init__(self, ptime_ms: int) -> None:
        self.interval = ptime_ms / 1000.0 / self.SLOTS
        self.slots: list[list[Endpoint]] = [[] for _ in range(self.SLOTS)]
        self._deal = itertools.cycle(range(self.SLOTS))
        self.ticks = 0
        self.late_ticks = 0
        self.max_lag = 0.0
        self._task: asyncio.Task[None] | None = None

    def add(self, endpoint: Endpoint) -> None:
        """Start pacing ``endpoint`` (it sends once ``sending`` is set)."""
        self.slots[next(self._deal)].append(endpoint)

    def clear(self) -> None:
        """Forget every endpoint (they belong to calls that have ended)."""
        self.slots = [[] for _ in range(self.SLOTS)]

    def reset_lag(self) -> None:
        """Start counting lag afresh (at the start of a measurement window)."""
        self.ticks = self.late_ticks = 0
        self.max_lag = 0.0

    def start(self) -> None:
        """Run until ``stop``."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop sending."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        slot = 0
        while True:
            now = loop.time()
            lag = now - due
            self.ticks += 1
            if lag > 0.005:
                self.late_ticks += 1
            self.max_lag = max(self.max_lag, lag)
            now_ns = time.monotonic_ns()
            for endpoint in self.slots[slot]:
                endpoint.send(now_ns)
            slot = (slot + 1) % self.SLOTS
            due += self.interval
            await asyncio.sleep(max(0.0, due - loop.time()))


# --------------------------------------------------------------------------- SIP

_MEDIA_PORT = re.compile(r"^m=audio (\d+) ", re.MULTILINE)
_MEDIA_ADDRESS = re.compile(r"^c=IN IP4 (\S+)", re.MULTILINE)
_URI_IN_ANGLES = re.compile(r"<([^>]+)>")


def media_address(body: bytes) -> tuple[str, int] | None:
    """Where an SDP body wants RTP sent (c= and the first audio m=)."""
    text = body.decode("ascii", "replace")
    port = _MEDIA_PORT.search(text)
    address = _MEDIA_ADDRESS.search(text)
    if port is None or address is None:
        return None
    return address.group(1), int(port.group(1))


def sdp(*, port: int, ptime_ms: int, version: int) -> bytes:
    """An audio offer or answer: PCMU and RFC 4733 events on ``port``."""
    lines = [
        "v=0",
        f"o=bench {port} {version} IN IP4 {LOCALHOST}",
        "s=-",
        f"c=IN IP4 {LOCALHOST}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {PCMU} {TELEPHONE_EVENT}",
        f"a=rtpmap:{PCMU} PCMU/8000",
        f"a=rtpmap:{TELEPHONE_EVENT} telephone-event/8000",
        f"a=fmtp:{TELEPHONE_EVENT} 0-15",
        f"a=ptime:{ptime_ms}",
        "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def branch() -> str:
    """RFC 3261 §8.1.1.7: a branch with the magic cookie."""
    return f"z9hG4bK{secrets.token_hex(8)}"


def serialize(
    start_line: str, headers: list[tuple[str, str]], body: bytes = b"", content_type: str = ""
) -> bytes:
    """A message from its start line, headers and body (Content-Length added)."""
    lines = [start_line, *(f"{name}: {value}" for name, value in headers)]
    if body:
        lines.append(f"Content-Type: {content_type or 'application/sdp'}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def response_to(
    request: Request, status: int, reason: str, *, to_tag: str | None = None,
    contact: str | None = None, body: bytes = b"",
) -> bytes:  # fmt: skip
    """RFC 3261 §8.2.6.2: a response copying Via, From, To, Call-ID and CSeq."""
    headers = [("Via", value) for value in request.headers.get_lines("Via")]
    to = request.headers.get("To") or ""
    if to_tag is not None and ";tag=" not in to:
        to = f"{to};tag={to_tag}"
    headers += [
        ("From", request.headers.get("From") or ""),
        ("To", to),
        ("Call-ID", request.headers.get("Call-ID") or ""),
        ("CSeq", request.headers.get("CSeq") or ""),
    ]
    if contact is not None:
        headers.append(("Contact", contact))
    return serialize(f"SIP/2.0 {status} {reason}", headers, body)


class Retransmitter:
    """Re-sends one message at T1, 2*T1, ... until cancelled or TRANSACTION_TIMEOUT."""

    def __init__(self, send: Callable[[], None], on_timeout: Callable[[], None]) -> None:
        self._send = send
        self._on_timeout = on_timeout
        self._handle: asyncio.TimerHandle | None = None
        self._interval = T1
        self._elapsed = 0.0
        send()
        self._arm()

    def _arm(self) -> None:
        self._handle = asyncio.get_running_loop().call_later(self._interval, self._fire)

    def _fire(self) -> None:
        self._elapsed += self._interval
        if self._elapsed >= TRANSACTION_TIMEOUT:
            self._handle = None
            self._on_timeout()
            return
        self._send()
        self._interval = min(self._interval * 2, 4.0)  # RFC 3261 §17.1.2.2: capped at T2
        self._arm()

    def cancel(self) -> None:
        """Stop re-sending."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class SipSocket(asyncio.DatagramProtocol):
    """A UDP socket whose datagrams are parsed and handed to ``on_message``."""

    def __init__(self, on_message: Callable[[Request | Response, tuple[str, int]], None]):
        self.on_message = on_message
        self.transport: asyncio.DatagramTransport | None = None
        self.address: tuple[str, int] = (LOCALHOST, 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport implements DatagramTransport without subclassing it.
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.address = transport.get_extra_info("sockname")[:2]

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if not data.strip():
            return  # keep-alive CRLF
        try:
            message = parse_message(data)
        except Exception:  # a benchmark counts what it understands and ignores the rest
            return
        self.on_message(message, (str(addr[0]), int(addr[1])))

    def send(self, data: bytes, target: tuple[str, int]) -> None:
        """Send one datagram."""
        if self.transport is not None:
            self.transport.sendto(data, target)


@dataclass
class OutgoingCall:
    """The caller's side of one call."""

    call_id: str
    from_tag: str
    endpoint: Endpoint
    answered: asyncio.Future[bool]
    """True once answered with media to send to; False when the call failed."""
    ended: asyncio.Future[bool]
    """Set when the call is over: True for a 200 to our BYE."""
    cseq: int = 1
    invite: bytes = b""
    invite_via: str = ""
    retransmitter: Retransmitter | None = None
    to_header: str = ""
    remote_target: str = ""
    authenticated: bool = False
    failure: str = ""


@dataclass
class IncomingCall:
    """The callee's side of one call (Ringfort's outgoing leg)."""

    call_id: str
    to_tag: str
    endpoint: Endpoint
    last_response: bytes = b""
    retransmitter: Retransmitter | None = None
    ended: bool = False


class Phones:
    """Caller 101 and callee 102 as one SIP user agent each, sharing an event loop."""

    endpoint_type: type[Endpoint] = Endpoint
    """What a call's media socket does (a benchmark's own kind counts or sends otherwise)."""

    def __init__(
        self,
        *,
        server: tuple[str, int],
        ptime_ms: int,
        late_ms: float,
        dialled: str = CALLEE.number,
    ) -> None:
        self.server = server
        self.dialled = dialled
        self.ptime_ms = ptime_ms
        self.late_ns = int(late_ms * 1_000_000)
        self.payload_size = 8 * ptime_ms
        self.to_caller = Totals()
        """What the caller's endpoints received (callee -> Ringfort -> caller)."""
        self.to_callee = Totals()
        """What the callee's endpoints received (caller -> Ringfort -> callee)."""
        self.pacer = Pacer(ptime_ms)
        self.caller_sip = SipSocket(self._caller_message)
        self.callee_sip = SipSocket(self._callee_message)
        self.outgoing: dict[str, OutgoingCall] = {}
        self.incoming: dict[str, IncomingCall] = {}
        self._register_done: asyncio.Future[Response] | None = None
        self._register_cseq = 0
        self._register_call_id = secrets.token_hex(8)

    async def open(self) -> None:
        """Bind both SIP sockets and start the pacer."""
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self.caller_sip, local_addr=(LOCALHOST, 0))
        await loop.create_datagram_endpoint(lambda: self.callee_sip, local_addr=(LOCALHOST, 0))
        self.pacer.start()

    def end_step(self) -> None:
        """Close the media sockets of every call so far and forget those calls."""
        self.pacer.clear()
        for call in self.outgoing.values():
            if call.retransmitter:
                call.retransmitter.cancel()
            call.endpoint.close()
        for leg in self.incoming.values():
            if leg.retransmitter:
                leg.retransmitter.cancel()
            leg.endpoint.close()
        self.outgoing.clear()
        self.incoming.clear()

    async def close(self) -> None:
        """Stop sending, close every socket."""
        await self.pacer.stop()
        for call in self.outgoing.values():
            if call.retransmitter:
                call.retransmitter.cancel()
            call.endpoint.close()
        for leg in self.incoming.values():
            if leg.retransmitter:
                leg.retransmitter.cancel()
            leg.endpoint.close()
        for sip in (self.caller_sip, self.callee_sip):
            if sip.transport is not None:
                sip.transport.close()

    def sent(self) -> int:
        """Packets sent so far by the endpoints of the current calls, both directions."""
        return sum(call.endpoint.sent for call in self.outgoing.values()) + sum(
            leg.endpoint.sent for leg in self.incoming.values()
        )

    def gaps(self) -> int:
        """Sequence gaps so far in what the endpoints of the current calls received."""
        return sum(call.endpoint.gaps() for call in self.outgoing.values()) + sum(
            leg.endpoint.gaps() for leg in self.incoming.values()
        )

    async def endpoint(self, totals: Totals) -> Endpoint:
        """A media socket (an `endpoint_type`) on an ephemeral port of 127.0.0.1."""
        created = self.endpoint_type(
            totals=totals, late_ns=self.late_ns,
            payload_size=self.payload_size, ptime_ms=self.ptime_ms,
        )  # fmt: skip
        await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: created, local_addr=(LOCALHOST, 0)
        )
        self.pacer.add(created)
        return created

    # -- registration of the callee

    def _register_request(self, authorization: str | None) -> bytes:
        self._register_cseq += 1
        host, port = self.callee_sip.address
        registrar = f"sip:{self.server[0]}:{self.server[1]}"
        aor = f"<sip:{CALLEE.number}@{self.server[0]}:{self.server[1]}>"
        headers = [
            ("Via", f"SIP/2.0/UDP {host}:{port};branch={branch()};rport"),
            ("Max-Forwards", "70"),
            ("From", f"{aor};tag=reg{self._register_call_id[:6]}"),
            ("To", aor),
            ("Call-ID", self._register_call_id),
            ("CSeq", f"{self._register_cseq} REGISTER"),
            ("Contact", f"<sip:{CALLEE.number}@{host}:{port}>"),
            ("Expires", "3600"),
        ]
        if authorization:
            headers.append(("Authorization", authorization))
        return serialize(f"REGISTER {registrar} SIP/2.0", headers)

    async def register_callee(self) -> None:
        """REGISTER 102 with the callee's SIP socket as its Contact (401 answered)."""
        loop = asyncio.get_running_loop()
        authorization: str | None = None
        for _ in range(2):
            self._register_done = loop.create_future()
            self.callee_sip.send(self._register_request(authorization), self.server)
            response = await asyncio.wait_for(self._register_done, 5.0)
            if response.status == 200:
                return
            if response.status != 401:
                break
            challenge = DigestChallenge.parse(response.headers.get("WWW-Authenticate") or "")
            authorization = digest_authorization(
                challenge, username=CALLEE.number, password=CALLEE.password,
                method="REGISTER", uri=f"sip:{self.server[0]}:{self.server[1]}",
            )  # fmt: skip
        raise RuntimeError(f"REGISTER of {CALLEE.number} was not accepted")

    def _register_response(self, response: Response) -> None:
        if response.status >= 200 and self._register_done and not self._register_done.done():
            self._register_done.set_result(response)

    # -- the caller

    async def place_call(self) -> OutgoingCall:
        """Send an INVITE from 101 to 102; the call's ``answered`` future tells the outcome."""
        loop = asyncio.get_running_loop()
        endpoint = await self.endpoint(self.to_caller)
        call = OutgoingCall(
            call_id=f"{secrets.token_hex(10)}@bench", from_tag=secrets.token_hex(5),
            endpoint=endpoint, answered=loop.create_future(), ended=loop.create_future(),
        )  # fmt: skip
        self.outgoing[call.call_id] = call
        self._send_invite(call, authorization=None)
        return call

    def _request_uri(self) -> str:
        return f"sip:{self.dialled}@{self.server[0]}:{self.server[1]}"

    def _caller_headers(self, call: OutgoingCall, method: str, via: str) -> list[tuple[str, str]]:
        host, port = self.caller_sip.address
        server = f"{self.server[0]}:{self.server[1]}"
        return [
            ("Via", via),
            ("Max-Forwards", "70"),
            ("From", f"<sip:{CALLER.number}@{server}>;tag={call.from_tag}"),
            ("To", call.to_header or f"<sip:{self.dialled}@{server}>"),
            ("Call-ID", call.call_id),
            ("CSeq", f"{call.cseq} {method}"),
            ("Contact", f"<sip:{CALLER.number}@{host}:{port}>"),
        ]

    def _via(self) -> str:
        host, port = self.caller_sip.address
        return f"SIP/2.0/UDP {host}:{port};branch={branch()};rport"

    def _send_invite(self, call: OutgoingCall, authorization: str | None) -> None:
        call.invite_via = self._via()
        headers = self._caller_headers(call, "INVITE", call.invite_via)
        headers[3] = ("To", f"<sip:{self.dialled}@{self.server[0]}:{self.server[1]}>")
        if authorization:
            headers.append(("Proxy-Authorization", authorization))
        body = sdp(port=call.endpoint.port, ptime_ms=self.ptime_ms, version=call.cseq)
        call.invite = serialize(f"INVITE {self._request_uri()} SIP/2.0", headers, body)
        if call.retransmitter:
            call.retransmitter.cancel()
        call.retransmitter = Retransmitter(
            lambda: self.caller_sip.send(call.invite, self.server),
            lambda: self._fail(call, "INVITE timed out"),
        )

    def _fail(self, call: OutgoingCall, why: str) -> None:
        call.failure = why
        if not call.answered.done():
            call.answered.set_result(False)
        if not call.ended.done():
            call.ended.set_result(False)

    def _send_ack(self, call: OutgoingCall, response: Response) -> None:
        # RFC 3261 §17.1.1.3: the ACK of a non-2xx response is part of the INVITE
        # transaction (same branch); §13.2.2.4: the ACK of a 2xx is a new request.
        to_header = response.headers.get("To") or ""
        if response.status >= 300:
            headers = self._caller_headers(call, "ACK", call.invite_via)
            headers[3] = ("To", to_header)
            target = self._request_uri()
        else:
            headers = self._caller_headers(call, "ACK", self._via())
            target = call.remote_target
        self.caller_sip.send(serialize(f"ACK {target} SIP/2.0", headers), self.server)

    def _caller_message(self, message: Request | Response, source: tuple[str, int]) -> None:
        if isinstance(message, Request):
            self._caller_request(message, source)
            return
        method = (message.headers.get("CSeq") or " ").split()[-1]
        if method == "REGISTER":
            return
        call = self.outgoing.get(message.headers.get("Call-ID") or "")
        if call is None:
            return
        if method == "BYE":
            if message.status >= 200:
                if call.retransmitter:
                    call.retransmitter.cancel()
                if not call.ended.done():
                    call.ended.set_result(message.status == 200)
            return
        if method != "INVITE":
            return
        if message.status < 200:
            if call.retransmitter:
                call.retransmitter.cancel()  # RFC 3261 §17.1.1.2: a provisional stops Timer A
            return
        if message.status == 407 and not call.authenticated:
            self._send_ack(call, message)
            challenge = DigestChallenge.parse(message.headers.get("Proxy-Authenticate") or "")
            call.authenticated = True
            call.cseq += 1
            self._send_invite(
                call,
                digest_authorization(
                    challenge, username=CALLER.number, password=CALLER.password,
                    method="INVITE", uri=self._request_uri(),
                ),
            )  # fmt: skip
            return
        if message.status >= 300:
            if call.retransmitter:
                call.retransmitter.cancel()
            self._send_ack(call, message)
            self._fail(call, f"INVITE got {message.status}")
            return
        # 2xx, first or retransmitted: each one is acknowledged (RFC 3261 §13.2.2.4).
        if call.retransmitter:
            call.retransmitter.cancel()
        call.to_header = message.headers.get("To") or ""
        contact = _URI_IN_ANGLES.search(message.headers.get("Contact") or "")
        call.remote_target = contact.group(1) if contact else self._request_uri()
        self._send_ack(call, message)
        if not call.answered.done():
            call.endpoint.destination = media_address(message.body)
            call.endpoint.sending = call.endpoint.destination is not None
            call.answered.set_result(call.endpoint.sending)

    def hang_up(self, call: OutgoingCall) -> None:
        """BYE from the caller; ``ended`` tells when it is answered."""
        call.endpoint.sending = False
        call.cseq += 1
        bye = serialize(
            f"BYE {call.remote_target} SIP/2.0", self._caller_headers(call, "BYE", self._via())
        )
        if call.retransmitter:
            call.retransmitter.cancel()
        call.retransmitter = Retransmitter(
            lambda: self.caller_sip.send(bye, self.server),
            lambda: self._fail(call, "BYE timed out"),
        )

    def _caller_request(self, request: Request, source: tuple[str, int]) -> None:
        if request.method == "ACK":
            return
        if request.method == "BYE":
            call = self.outgoing.get(request.headers.get("Call-ID") or "")
            if call is not None:
                call.endpoint.sending = False
                self._fail(call, "BYE from the server")
        self.caller_sip.send(response_to(request, 200, "OK"), source)

    # -- the callee

    def _callee_message(self, message: Request | Response, source: tuple[str, int]) -> None:
        if isinstance(message, Response):
            if (message.headers.get("CSeq") or "").endswith("REGISTER"):
                self._register_response(message)
            return
        call_id = message.headers.get("Call-ID") or ""
        leg = self.incoming.get(call_id)
        if message.method == "INVITE":
            if leg is None:
                asyncio.get_running_loop().create_task(self._answer(message, source))
            elif leg.last_response:
                self.callee_sip.send(leg.last_response, source)  # a retransmitted INVITE
            return
        if message.method == "ACK":
            if leg is not None and leg.retransmitter is not None:
                leg.retransmitter.cancel()
                leg.retransmitter = None
                leg.endpoint.sending = leg.endpoint.destination is not None
            return
        if message.method == "BYE" and leg is not None:
            leg.endpoint.sending = False
            leg.ended = True
        self.callee_sip.send(response_to(message, 200, "OK"), source)

    async def _answer(self, invite: Request, source: tuple[str, int]) -> None:
        call_id = invite.headers.get("Call-ID") or ""
        endpoint = await self.endpoint(self.to_callee)
        leg = IncomingCall(call_id=call_id, to_tag=secrets.token_hex(5), endpoint=endpoint)
        self.incoming[call_id] = leg
        endpoint.destination = media_address(invite.body)
        host, port = self.callee_sip.address
        contact = f"<sip:{CALLEE.number}@{host}:{port}>"
        self.callee_sip.send(
            response_to(invite, 180, "Ringing", to_tag=leg.to_tag, contact=contact), source
        )
        body = sdp(port=endpoint.port, ptime_ms=self.ptime_ms, version=1)
        leg.last_response = response_to(
            invite, 200, "OK", to_tag=leg.to_tag, contact=contact, body=body
        )
        # RFC 3261 §13.3.1.4: the 2xx is re-sent until the ACK arrives.
        leg.retransmitter = Retransmitter(
            lambda: self.callee_sip.send(leg.last_response, source), lambda: None
        )


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Direction:
    """One direction's figures over a step."""

    sent: int
    received: int
    gaps: int
    window: Totals

    @property
    def lost(self) -> int:
        """Sent but never received (after the drain at the end of the step)."""
        return max(0, self.sent - self.received)


@dataclass(frozen=True)
class Step:
    """The outcome of one number of concurrent calls."""

    calls: int
    answered: int
    window_seconds: float
    server_cpu_percent: float
    generator_cpu_percent: float
    others_cpu_percent: float
    """What the rest of the machine used meanwhile (other people's work), in % of a core."""
    relayed_per_second: float
    to_callee: Direction
    to_caller: Direction
    generator_late_ticks: float
    """Share of send slots that ran more than 5 ms late, in %."""
    generator_max_lag_ms: float
    server_legs: int | None
    left_after: int | None


def process_cpu_seconds() -> float:
    """CPU time of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def set_up_calls(
    phones: Phones, calls: int, setup_rate: float
) -> tuple[list[OutgoingCall], int]:
    """Place ``calls`` calls at ``setup_rate`` a second; (the calls, how many were answered)."""
    loop = asyncio.get_running_loop()
    placed: list[OutgoingCall] = []
    started = loop.time()
    for index in range(calls):
        await asyncio.sleep(max(0.0, started + index / setup_rate - loop.time()))
        placed.append(await phones.place_call())
    outcomes = await asyncio.gather(
        *(asyncio.wait_for(asyncio.shield(call.answered), 20.0) for call in placed),
        return_exceptions=True,
    )
    failures = {call.failure for call in placed if call.failure}
    if failures:
        print(f"    set-up failures: {sorted(failures)[:3]}", file=sys.stderr)
    return placed, sum(1 for outcome in outcomes if outcome is True)


async def hang_up_calls(phones: Phones, placed: list[OutgoingCall], setup_rate: float) -> None:
    """BYE every answered call at twice ``setup_rate`` and wait (bounded) for the answers."""
    loop = asyncio.get_running_loop()
    ending = loop.time()
    for index, call in enumerate(placed):
        await asyncio.sleep(max(0.0, ending + index / (2 * setup_rate) - loop.time()))
        if call.answered.done() and call.answered.result() is True:
            phones.hang_up(call)
    await asyncio.gather(
        *(asyncio.wait_for(asyncio.shield(call.ended), 20.0) for call in placed),
        return_exceptions=True,
    )


@dataclass(frozen=True)
class WindowFigures:
    """What the phones and the CPU meters counted over one measurement window."""

    seconds: float
    sent: int
    """Packets the phones sent in the window, both directions."""
    lost: int
    """Packets missing in the window: sequence gaps that opened in it (none are counted for
    packets still in flight, which keep their place in the sequence)."""
    to_callee: Totals
    to_caller: Totals
    server_cpu_percent: float
    generator_cpu_percent: float
    others_cpu_percent: float
    generator_late_ticks: float
    """Share of send slots that ran more than 5 ms late, in %."""
    generator_max_lag_ms: float

    @property
    def both(self) -> Totals:
        """Both directions' counters together."""
        return Totals(
            self.to_callee.received + self.to_caller.received,
            self.to_callee.late + self.to_caller.late,
            [
                a + b
                for a, b in zip(self.to_callee.transit_ms, self.to_caller.transit_ms, strict=True)
            ],
        )

    @property
    def received(self) -> int:
        """Packets received in the window, both directions."""
        return self.to_callee.received + self.to_caller.received

    @property
    def late(self) -> int:
        """Packets received late in the window, both directions."""
        return self.to_callee.late + self.to_caller.late


class StreamWindow:
    """Counts the phones' packets and the CPU of ``server_pids`` from construction to
    ``finish``."""

    def __init__(self, phones: Phones, server_pids: list[int]) -> None:
        self.phones = phones
        self.server_meter = CpuMeter(server_pids)
        self.to_callee_start = phones.to_callee.snapshot()
        self.to_caller_start = phones.to_caller.snapshot()
        self.sent_start = phones.sent()
        self.gaps_start = phones.gaps()
        phones.pacer.reset_lag()
        self.own_before = process_cpu_seconds()
        self.machine_meter = MachineMeter()
        self.machine_meter.start()
        self.server_meter.start()
        self.started = time.monotonic()

    def finish(self, extra_cpu_seconds: float = 0.0) -> WindowFigures:
        """The figures since construction; ``extra_cpu_seconds``: what the benchmark's other
        processes used in the window, left out of "others"."""
        window = time.monotonic() - self.started
        server_cpu = self.server_meter.percent()
        own_cpu = 100.0 * (process_cpu_seconds() - self.own_before) / window
        extra_cpu = 100.0 * extra_cpu_seconds / window
        others_cpu = self.machine_meter.percent() - server_cpu - own_cpu - extra_cpu
        pacer = self.phones.pacer
        return WindowFigures(
            seconds=window,
            sent=self.phones.sent() - self.sent_start,
            lost=self.phones.gaps() - self.gaps_start,
            to_callee=self.phones.to_callee.since(self.to_callee_start),
            to_caller=self.phones.to_caller.since(self.to_caller_start),
            server_cpu_percent=server_cpu,
            generator_cpu_percent=own_cpu,
            others_cpu_percent=max(0.0, others_cpu),
            generator_late_ticks=100.0 * pacer.late_ticks / max(1, pacer.ticks),
            generator_max_lag_ms=pacer.max_lag * 1000.0,
        )


async def run_step(
    *, server: RingfortServer, phones: Phones, calls: int, seconds: float, setup_rate: float
) -> Step:
    """Set up ``calls`` calls, measure ``seconds`` of steady streaming, hang up."""
    loop = asyncio.get_running_loop()
    try:
        placed, answered = await set_up_calls(phones, calls, setup_rate)
        await asyncio.sleep(1.0)  # every stream latched and flowing

        assert server.pid is not None
        meter = StreamWindow(phones, [server.pid])
        await asyncio.sleep(seconds)
        figures = meter.finish()
        window = figures.seconds
        server_cpu = figures.server_cpu_percent
        own_cpu = figures.generator_cpu_percent
        others_cpu = figures.others_cpu_percent
        to_callee_window = figures.to_callee
        to_caller_window = figures.to_caller
        late_ticks = figures.generator_late_ticks
        max_lag = figures.generator_max_lag_ms
        status = await loop.run_in_executor(None, server_status, server)
        legs = status.get("media", {}).get("legs")

        for call in placed:
            call.endpoint.sending = False
        for leg in phones.incoming.values():
            leg.endpoint.sending = False
        await asyncio.sleep(0.5)  # packets in flight arrive before anything is counted
        caller_sent = sum(call.endpoint.sent for call in placed)
        callee_sent = sum(leg.endpoint.sent for leg in phones.incoming.values())
        to_callee = Direction(
            sent=caller_sent,
            received=sum(leg.endpoint.received for leg in phones.incoming.values()),
            gaps=sum(leg.endpoint.gaps() for leg in phones.incoming.values()),
            window=to_callee_window,
        )
        to_caller = Direction(
            sent=callee_sent,
            received=sum(call.endpoint.received for call in placed),
            gaps=sum(call.endpoint.gaps() for call in placed),
            window=to_caller_window,
        )
        await hang_up_calls(phones, placed, setup_rate)
    finally:
        phones.end_step()
    left, _ = await loop.run_in_executor(None, lambda: wait_for_idle(server, timeout=5.0))
    return Step(
        calls=calls,
        answered=answered,
        window_seconds=window,
        server_cpu_percent=server_cpu,
        generator_cpu_percent=own_cpu,
        others_cpu_percent=max(0.0, others_cpu),
        relayed_per_second=(to_callee_window.received + to_caller_window.received) / window,
        to_callee=to_callee,
        to_caller=to_caller,
        generator_late_ticks=late_ticks,
        generator_max_lag_ms=max_lag,
        server_legs=legs if isinstance(legs, int) else None,
        left_after=left,
    )


def _ms(value: float | None) -> str:
    return f"{value:.0f}" if value is not None else "-"


def _share(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.3f}" if whole else "-"


def print_table(steps: list[Step], *, ptime_ms: int, late_ms: float) -> None:
    """One line per step, then per direction."""
    header = (
        f"{'calls':>5} {'up':>5} {'legs':>5} {'relayed pkt/s':>13} {'srv CPU%':>8} "
        f"{'gen CPU%':>8} {'others%':>7} {'gen late slots %':>16} {'gen max lag ms':>14} "
        f"{'left':>4}"
    )
    print(header)
    print("-" * len(header))
    for step in steps:
        legs = "-" if step.server_legs is None else str(step.server_legs)
        left = "-" if step.left_after is None else str(step.left_after)
        print(
            f"{step.calls:>5} {step.answered:>5} {legs:>5} {step.relayed_per_second:>13.0f} "
            f"{step.server_cpu_percent:>8.0f} {step.generator_cpu_percent:>8.0f} "
            f"{step.others_cpu_percent:>7.0f} "
            f"{step.generator_late_ticks:>16.1f} {step.generator_max_lag_ms:>14.1f} {left:>4}"
        )
    print()
    header = (
        f"{'calls':>5} {'direction':>15} {'sent':>8} {'lost':>6} {'lost %':>7} {'gaps':>5} "
        f"{'late':>6} {'late %':>7} {'transit p50/p99/max ms':>22}"
    )
    print(header)
    print("-" * len(header))
    for step in steps:
        for name, direction in (
            ("caller->callee", step.to_callee),
            ("callee->caller", step.to_caller),
        ):
            window = direction.window
            transit = (
                f"{_ms(window.transit_percentile(50))}/{_ms(window.transit_percentile(99))}/"
                f"{_ms(window.transit_max())}"
            )
            print(
                f"{step.calls:>5} {name:>15} {direction.sent:>8} {direction.lost:>6} "
                f"{_share(direction.lost, direction.sent):>7} {direction.gaps:>5} "
                f"{window.late:>6} {_share(window.late, window.received):>7} {transit:>22}"
            )
    print(
        f"\nptime {ptime_ms} ms. relayed pkt/s, CPU, late and transit: over the steady window "
        f"(every call streaming); lost and gaps: over the whole call.\nlate = one-way transit "
        f"over {late_ms:.0f} ms. gen = this load generator (one process); when its late slots "
        "or lag grow, it is the bottleneck.\nothers% = the rest of the machine (not this "
        "benchmark). legs = media legs the server reported; left = "
        "calls still active at the server after the step."
    )


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="media_relay.sh",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--calls",
        default=",".join(map(str, DEFAULT_CALLS)),
        help="comma-separated numbers of concurrent calls, tried in order",
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured per step")
    add_stream_options(parser, generator="this generator")
    return parser.parse_args(argv)


def add_stream_options(parser: argparse.ArgumentParser, *, generator: str) -> None:
    """The options of a bench whose phones stream (``generator``: what runs on its CPU)."""
    parser.add_argument(
        "--ptime", type=int, choices=(10, 20, 30, 40), default=20, help="ms of audio per packet"
    )
    parser.add_argument("--late-ms", type=float, default=60.0, help="transit counted as late")
    parser.add_argument("--setup-rate", type=float, default=50.0, help="calls set up per second")
    parser.add_argument("--server-cpu", default="0", help="taskset CPU list for the server")
    parser.add_argument(
        "--generator-cpu", default=None, help=f"CPU list for {generator} (default: the other)"
    )
    add_server_options(parser)


async def run(
    options: argparse.Namespace, server: RingfortServer, counts: list[int], steps: list[Step]
) -> None:
    """Every step in turn on one running server, with one pair of phones; fills ``steps``."""
    phones = Phones(server=server.sip_target, ptime_ms=options.ptime, late_ms=options.late_ms)
    await phones.open()
    try:
        await phones.register_callee()
        for calls in counts:
            await _one_step(options, server, phones, calls, steps)
            if not server.alive:
                print("the server died", file=sys.stderr)
                break
    finally:
        await phones.close()


async def _one_step(
    options: argparse.Namespace,
    server: RingfortServer,
    phones: Phones,
    calls: int,
    steps: list[Step],
) -> None:
    step = await run_step(
        server=server, phones=phones, calls=calls, seconds=options.duration,
        setup_rate=options.setup_rate,
    )  # fmt: skip
    steps.append(step)
    lost = step.to_callee.lost + step.to_caller.lost
    sent = step.to_callee.sent + step.to_caller.sent
    print(
        f"  {calls} calls ({step.answered} up): {step.relayed_per_second:.0f} packets/s "
        f"relayed, server CPU {step.server_cpu_percent:.0f} %, generator CPU "
        f"{step.generator_cpu_percent:.0f} %, lost {_share(lost, sent)} %",
        flush=True,
    )


def prepare_generator(options: argparse.Namespace, calls: int) -> str | None:
    """Pin this process to ``--generator-cpu`` (by default the core the server is not on),
    allow files for ``calls`` calls and use uvloop; the CPU list, None when not pinned."""
    cpus = os.cpu_count() or 1
    generator_cpu: str | None = options.generator_cpu or (
        "1" if cpus > 1 and options.server_cpu == "0" else None
    )
    if generator_cpu is not None:
        os.sched_setaffinity(0, {int(cpu) for cpu in generator_cpu.split(",")})
    # Four sockets a call at the server and two here: the default of 1024 files is too few.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 16 * calls + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        import uvloop  # the server uses it too

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    return generator_cpu


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    options = parse_arguments(argv)
    counts = [int(count) for count in options.calls.split(",") if count.strip()]
    per_step = [count / options.setup_rate * 1.5 + options.duration + 60 for count in counts]
    install_stop_signals(60 + sum(per_step))
    generator_cpu = prepare_generator(options, max(counts))

    workdir = Path(tempfile.mkdtemp(prefix="ringfort-bench-media-"))
    steps: list[Step] = []
    server: RingfortServer | None = None
    try:
        server = call_server(
            workdir,
            cpu=options.server_cpu,
            log_level=options.log_level,
            port_low=options.port_low,
            port_high=options.port_high,
        )
        server.start()
        print(
            f"ringfort pid {server.pid} on CPU {options.server_cpu}, generator pid "
            f"{os.getpid()} on CPU {generator_cpu or 'any'}; ptime {options.ptime} ms, "
            f"{options.duration:.0f} s per step"
        )
        asyncio.run(run(options, server, counts, steps))
    except (ServerStartError, RuntimeError, TimeoutError) as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        if server is not None:
            server.stop()
        if options.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print_table(steps, ptime_ms=options.ptime, late_ms=options.late_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
