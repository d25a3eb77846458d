"""SipTransport over real UDP and TCP sockets on 127.0.0.1 (RFC 3261 §18, RFC 3581, RFC 5626)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, cast

import pytest

from ringfort.sip.address import Peer
from ringfort.sip.message import Request, Response, make_response, parse_message
from ringfort.transport.sip import SipTransport

HOST = "127.0.0.1"
WAIT = 2.0
QUIET = 0.2
"""How long to wait before concluding that nothing will arrive."""

Received = tuple[Request | Response, Peer]


def request_bytes(
    *,
    via: str = "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1;rport",
    method: str = "REGISTER",
    call_id: str = "call-1@192.0.2.10",
    cseq: int = 1,
    extra: str = "",
    body: bytes = b"",
) -> bytes:
    """A well-formed request; ``extra`` holds additional header lines, CRLF-terminated."""
    head = (
        f"{method} sip:ringfort.test SIP/2.0\r\n"
        f"Via: {via}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:100@ringfort.test>;tag=from-1\r\n"
        "To: <sip:100@ringfort.test>\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Contact: <sip:100@192.0.2.10:5060>\r\n"
        f"{extra}"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode() + body


def response_bytes(*, via: str, status: int = 200, call_id: str = "call-9") -> bytes:
    """A response whose top Via is ``via``."""
    return (
        f"SIP/2.0 {status} OK\r\n"
        f"Via: {via}\r\n"
        "From: <sip:ringfort.test>;tag=from-9\r\n"
        "To: <sip:100@ringfort.test>;tag=to-9\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n"
        "\r\n"
    ).encode()


def options_request(*, transport: str = "UDP", call_id: str = "options-1") -> Request:
    """An OPTIONS request, as the transaction layer would hand it down."""
    message = parse_message(
        request_bytes(
            method="OPTIONS",
            via=f"SIP/2.0/{transport} 127.0.0.1:5060;branch=z9hG4bK-out",
            call_id=call_id,
        )
    )
    assert isinstance(message, Request)
    return message


class Inbox:
    """Collects what the transport hands up."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Received] = asyncio.Queue()

    def __call__(self, message: Request | Response, peer: Peer) -> None:
        self.queue.put_nowait((message, peer))

    async def get(self) -> Received:
        return await asyncio.wait_for(self.queue.get(), WAIT)

    async def assert_empty(self) -> None:
        await asyncio.sleep(QUIET)
        assert self.queue.empty()


class UdpPhone(asyncio.DatagramProtocol):
    """A UDP peer on a random port of 127.0.0.1."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.received.put_nowait((data, (addr[0], addr[1])))

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def send(self, data: bytes, port: int) -> None:
        assert self.transport is not None
        self.transport.sendto(data, (HOST, port))

    async def receive(self) -> bytes:
        data, _ = await asyncio.wait_for(self.received.get(), WAIT)
        return data

    async def assert_nothing_received(self) -> None:
        await asyncio.sleep(QUIET)
        assert self.received.empty()


@pytest.fixture(autouse=True)
def no_errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Nothing a peer sends may make the transport (or asyncio) log an error."""
    yield
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == []


TransportFactory = Callable[..., Awaitable[tuple[SipTransport, Inbox]]]
PhoneFactory = Callable[[], Awaitable[UdpPhone]]


@pytest.fixture
async def make_transport() -> AsyncIterator[TransportFactory]:
    """Start SipTransports on free ports of 127.0.0.1; close them all afterwards."""
    started: list[SipTransport] = []

    async def make(**options: Any) -> tuple[SipTransport, Inbox]:
        inbox = Inbox()
        transport = SipTransport(host=HOST, port=0, on_message=inbox, **options)
        await transport.start()
        started.append(transport)
        return transport, inbox

    yield make
    for transport in started:
        await transport.close()


@pytest.fixture
async def make_udp_phone() -> AsyncIterator[PhoneFactory]:
    """UDP peers on free ports; closed afterwards."""
    phones: list[UdpPhone] = []

    async def make() -> UdpPhone:
        loop = asyncio.get_running_loop()
        _, phone = await loop.create_datagram_endpoint(UdpPhone, local_addr=(HOST, 0))
        phones.append(phone)
        return phone

    yield make
    for phone in phones:
        if phone.transport is not None:
            phone.transport.close()


TcpOpener = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


@pytest.fixture
async def open_tcp() -> AsyncIterator[TcpOpener]:
    """TCP clients to 127.0.0.1; closed afterwards."""
    writers: list[asyncio.StreamWriter] = []

    async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(HOST, port)
        writers.append(writer)
        return reader, writer

    yield connect
    for writer in writers:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def read_message(reader: asyncio.StreamReader) -> bytes:
    """One SIP message from a stream (this test sends and expects only Content-Length: 0)."""
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)


async def assert_closed_by_peer(reader: asyncio.StreamReader) -> None:
    rest = await asyncio.wait_for(reader.read(), WAIT)
    assert rest == b""


# -- start and stop -------------------------------------------------------------------


async def test_port_zero_binds_udp_and_tcp_on_the_same_free_port(
    make_transport: TransportFactory,
) -> None:
    transport, _ = await make_transport()

    assert transport.port != 0
    assert transport.via_port == transport.port
    assert transport.via_host == HOST
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        pytest.raises(OSError, match="in use"),
    ):
        udp.bind((HOST, transport.port))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        tcp.connect((HOST, transport.port))


async def test_close_ends_open_connections(
    make_transport: TransportFactory, open_tcp: TcpOpener
) -> None:
    transport, inbox = await make_transport()
    reader, writer = await open_tcp(transport.port)
    writer.write(request_bytes(via="SIP/2.0/TCP 127.0.0.1:5099;branch=z9hG4bK-c"))
    await inbox.get()

    await transport.close()

    await assert_closed_by_peer(reader)
    assert transport.stats.tcp_connections == 0


async def test_advertised_address_goes_in_via_and_contact() -> None:
    transport = SipTransport(
        host=HOST,
        port=0,
        advertised_host="198.51.100.7",
        advertised_port=5080,
        on_message=Inbox(),
    )
    await transport.start()
    try:
        assert (transport.via_host, transport.via_port) == ("198.51.100.7", 5080)
    finally:
        await transport.close()


# -- UDP ------------------------------------------------------------------------------


async def test_udp_request_is_handed_up_with_received_and_rport_filled(
    make_transport: TransportFactory, make_udp_phone: PhoneFactory
) -> None:
    transport, inbox = await make_transport()
    phone = await make_udp_phone()

    phone.send(request_bytes(), transport.port)
    message, peer = await inbox.get()

    assert isinstance(message, Request)
    assert message.method == "REGISTER"
    assert peer == Peer("UDP", HOST, phone.port, None)
    via = message.top_via
    # RFC 3261 §18.2.1 and RFC 3581 §4.
    assert via.received == HOST
    assert via.rport == phone.port
    assert via.host == "192.0.2.10"
    assert via.branch == "z9hG4bK-1"
    assert transport.stats.messages_in == 1


async def test_messages_from_one_address_share_one_peer(
    make_transport: TransportFactory, make_udp_phone: PhoneFactory
) -> None:
    transport, inbox = await make_transport()
    phone = await make_udp_phone()
    other = await make_udp_phone()

    phone.send(request_bytes(), transport.port)
    other.send(request_bytes(), transport.port)
    phone.send(request_bytes(via="SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-3"), transport.port)
    peers = [(await inbox.get())[1] for _ in range(3)]

    first, second = (peer for peer in peers if peer.port == phone.port)
    # One object per address, not per message: transactions keep it for up to 32 s.
    assert first is second
    assert first == Peer("UDP", HOST, phone.port, None)
    assert [peer for peer in peers if peer.port != phone.port] == [
        Peer("UDP", HOST, other.port, None)
    ]


async def test_udp_request_from_its_sent_by_address_gets_no_received(
    make_transport: TransportFactory, make_udp_phone: PhoneFactory
) -> None:
    transport, inbox = await make_transport()
    phone = await make_udp_phone()

    via = f"SIP/2.0/UDP {HOST}:{phone.port};branch=z9hG4bK-2"
    phone.send(request_bytes(via=via), transport.port)
    message, _ = await inbox.get()

    assert message.headers.get_all("Via") == [via]


async def test_only_the_top_via_is_stamped(
    make_transport: TransportFactory, make_udp_phone: PhoneFactory
) -> None:
    transport, inbox = await make_transport()
    phone = await make_udp_phone()

    vias = (
        "SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK-top;rport, SIP/2.0/UDP 192.0.2.11;branch=z9hG4bK-2"
    )
    phone.send(request_bytes(via=vias), transport.port)
    message, _ = await inbox.get()

    first, second = message.vias
    assert (first.received, first.rport) == (HOST, phone.port)
    assert second.received is None
    assert second.branch == "z9hG4bK-2"


async def test_udp_response_goes_to_the_source_address_and_port(
    make_transport: TransportFactory, make_udp_phone: PhoneFactory
) -> None:
    transport, inbox = await make_transport()
    phone = await make_udp_phone()
    # The phone claims a sent-by address that is not where it is (a NAT).
    phone.send(request_bytes(), transport.port)
    request, peer = await inbox.get()
    assert isinstance(request, Request)

    transport.send(make_response(request, 200, to_tag="t1"), peer)

    answer = parse_message(await phone.receive())
    assert isinstance(answer, Response)
    assert answer.status == 200
    assert answer.top_via.rport == phone.port
    assert transport.stats.messages_out == 1


async def test_udp_response_without_rport_goes_to_the_via_port(
    make_transport: TransportFactory, make_udp_phone: PhoneFactory
) -> None:
    transport, _ = await make_transport()
    phone = await make_udp_phone()
    response = parse_message(
        response_bytes(via=f"SIP/2.0/UDP {HOST}:{phone.port};branch=z9hG4bK-3")
    )
    assert isinstance(response, Response)

    # Where the request came from does not matter for UDP: the Via decides (RFC 3261 §18.2.2).
    transport.send(response, Peer("UDP", HOST, 9, None))

    assert parse_message(await phone.receive()) == response


async def test_udp_request_goes_to_the_peer_address(
    make_transport: TransportFactory, make_udp_phone: PhoneFactory
) -> None:
    transport, _ = await make_transport()
    phone = await make_udp_phone()

    transport.send(options_request(), Peer("UDP", HOST, phone.port))

    received = parse_message(await phone.receive())
    assert isinstance(received, Request)
    assert received.method == "OPTIONS"


async def test_malformed_udp_request_with_readable_headers_gets_a_400(
    make_transport: TransportFactory, make_udp_phone: PhoneFactory
) -> None:
    transport, inbox = await make_transport()
    phone = await make_udp_phone()
    bad = request_bytes(extra="Max-Forwards: many\r\n", call_id="bad-1")

    phone.send(bad, transport.port)

    answer = parse_message(await phone.receive())
    assert isinstance(answer, Response)
    assert answer.status == 400
    assert answer.call_id == "bad-1"
    await inbox.assert_empty()
    assert transport.stats.parse_errors == 1


async def test_malformed_udp_datagram_without_a_usable_via_is_dropped(
    make_transport: TransportFactory, make_udp_phone: PhoneFactory
) -> None:
    transport, inbox = await make_transport()
    phone = await make_udp_phone()

    phone.send(request_bytes(via="SIP/2.0/UDP"), transport.port)
    phone.send(
        response_bytes(via="SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-x").replace(
            b"CSeq: 1", b"CSeq: x"
        ),
        transport.port,
    )

    await phone.assert_nothing_received()
    await inbox.assert_empty()
    assert transport.stats.parse_errors == 2


async def test_udp_transport_survives_random_garbage(
    make_transport: TransportFactory, make_udp_phone: PhoneFactory
) -> None:
    transport, inbox = await make_transport()
    phone = await make_udp_phone()
    rng = random.Random(3261)
    valid = request_bytes()
    for _ in range(200):
        size = rng.randrange(1, 1500)
        phone.send(bytes(rng.randrange(256) for _ in range(size)), transport.port)
        # Mangled SIP finds the deeper corners of the parser.
        mangled = bytearray(valid)
        for _ in range(rng.randrange(1, 8)):
            mangled[rng.randrange(len(mangled))] = rng.randrange(256)
        phone.send(bytes(mangled), transport.port)
    await asyncio.sleep(QUIET)

    phone.send(request_bytes(call_id="after-garbage"), transport.port)

    while True:
        message, _ = await inbox.get()
        if message.call_id == "after-garbage":
            break
    assert transport.stats.parse_errors > 0


async def test_oversized_datagram_is_dropped_with_a_513(
    make_transport: TransportFactory, make_udp_phone: PhoneFactory
) -> None:
    transport, inbox = await make_transport(max_message_size=1000)
    phone = await make_udp_phone()

    phone.send(request_bytes(body=b"x" * 1200), transport.port)

    answer = parse_message(await phone.receive())
    assert isinstance(answer, Response)
    assert answer.status == 513
    await inbox.assert_empty()
    assert transport.stats.dropped_oversized == 1


async def test_udp_from_a_blocked_address_is_dropped_silently(
    make_transport: TransportFactory, make_udp_phone: PhoneFactory
) -> None:
    transport, inbox = await make_transport(is_blocked=lambda host: host == HOST)
    phone = await make_udp_phone()

    phone.send(request_bytes(), transport.port)
    phone.send(b"garbage", transport.port)

    await inbox.assert_empty()
    await phone.assert_nothing_received()
    assert transport.stats.dropped_blocked == 2
    assert transport.stats.parse_errors == 0


async def test_udp_keepalives_are_ignored_quietly(
    make_transport: TransportFactory, make_udp_phone: PhoneFactory
) -> None:
    transport, inbox = await make_transport()
    phone = await make_udp_phone()

    phone.send(b"\r\n\r\n", transport.port)
    phone.send(b"\r\n", transport.port)
    # A STUN binding request (RFC 5389 §6), as RFC 5626 §4.4.2 keep-alives send.
    phone.send(b"\x00\x01\x00\x00\x21\x12\xa4\x42" + bytes(12), transport.port)

    await inbox.assert_empty()
    assert transport.stats.parse_errors == 0


async def test_handler_exception_does_not_stop_the_transport(
    make_udp_phone: PhoneFactory, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def explode(message: Request | Response, peer: Peer) -> None:
        calls.append(message.call_id)
        raise RuntimeError("handler bug")

    transport = SipTransport(host=HOST, port=0, on_message=explode)
    await transport.start()
    try:
        phone = await make_udp_phone()
        phone.send(request_bytes(call_id="first"), transport.port)
        phone.send(request_bytes(call_id="second"), transport.port)
        for _ in range(50):
            if len(calls) == 2:
                break
            await asyncio.sleep(0.02)
        assert calls == ["first", "second"]
        assert "message handler failed" in caplog.text
        caplog.clear()
    finally:
        await transport.close()


# -- TCP ------------------------------------------------------------------------------


TCP_VIA = "SIP/2.0/TCP 192.0.2.20:5060;branch=z9hG4bK-t1;rport"


async def test_tcp_message_split_across_writes_is_reassembled(
    make_transport: TransportFactory, open_tcp: TcpOpener
) -> None:
    transport, inbox = await make_transport()
    _, writer = await open_tcp(transport.port)
    data = request_bytes(via=TCP_VIA, body=b"v=0\r\n")

    for index in range(0, len(data), 7):
        writer.write(data[index : index + 7])
        await writer.drain()
        await asyncio.sleep(0.001)
    message, peer = await inbox.get()

    assert isinstance(message, Request)
    assert message.body == b"v=0\r\n"
    assert peer.transport == "TCP"
    assert peer.connection is not None
    assert message.top_via.received == HOST
    assert message.top_via.rport == peer.port
    await inbox.assert_empty()


async def test_several_tcp_messages_in_one_write_are_all_handed_up(
    make_transport: TransportFactory, open_tcp: TcpOpener
) -> None:
    transport, inbox = await make_transport()
    _, writer = await open_tcp(transport.port)

    writer.write(b"".join(request_bytes(via=TCP_VIA, cseq=n) for n in (1, 2, 3)))
    received = [await inbox.get() for _ in range(3)]

    assert [message.cseq.number for message, _ in received] == [1, 2, 3]
    assert len({peer.connection for _, peer in received}) == 1


async def test_tcp_keepalive_ping_gets_a_crlf_pong(
    make_transport: TransportFactory, open_tcp: TcpOpener
) -> None:
    transport, inbox = await make_transport()
    reader, writer = await open_tcp(transport.port)

    writer.write(b"\r\n\r\n")

    assert await asyncio.wait_for(reader.readexactly(2), WAIT) == b"\r\n"
    # The connection still carries SIP after the ping.
    writer.write(request_bytes(via=TCP_VIA))
    await inbox.get()


async def test_tcp_response_goes_back_over_the_same_connection(
    make_transport: TransportFactory, open_tcp: TcpOpener
) -> None:
    transport, inbox = await make_transport()
    reader, writer = await open_tcp(transport.port)
    writer.write(request_bytes(via=TCP_VIA))
    request, peer = await inbox.get()
    assert isinstance(request, Request)

    transport.send(make_response(request, 401, to_tag="t2"), peer)

    answer = parse_message(await read_message(reader))
    assert isinstance(answer, Response)
    assert answer.status == 401
    assert answer.call_id == request.call_id


async def test_tcp_request_to_a_peer_with_an_open_connection_reuses_it(
    make_transport: TransportFactory, open_tcp: TcpOpener
) -> None:
    transport, inbox = await make_transport()
    reader, writer = await open_tcp(transport.port)
    writer.write(request_bytes(via=TCP_VIA))
    _, peer = await inbox.get()

    # By connection number, as the registrar would after a REGISTER over TCP ...
    transport.send(options_request(transport="TCP", call_id="by-id"), peer)
    # ... and by address alone.
    by_address = Peer("TCP", peer.host, peer.port, None)
    transport.send(options_request(transport="TCP", call_id="by-address"), by_address)

    first = parse_message(await read_message(reader))
    second = parse_message(await read_message(reader))
    assert (first.call_id, second.call_id) == ("by-id", "by-address")
    assert transport.stats.tcp_connections == 1


async def test_tcp_connection_closes_when_idle(
    make_transport: TransportFactory, open_tcp: TcpOpener
) -> None:
    transport, inbox = await make_transport(tcp_idle_timeout=0.3)
    reader, writer = await open_tcp(transport.port)
    writer.write(request_bytes(via=TCP_VIA))
    await inbox.get()

    await assert_closed_by_peer(reader)
    await asyncio.sleep(0.05)
    assert transport.stats.tcp_connections == 0


async def test_tcp_activity_keeps_a_connection_open(
    make_transport: TransportFactory, open_tcp: TcpOpener
) -> None:
    transport, _ = await make_transport(tcp_idle_timeout=0.3)
    reader, writer = await open_tcp(transport.port)

    for _ in range(6):
        writer.write(b"\r\n\r\n")
        assert await asyncio.wait_for(reader.readexactly(2), WAIT) == b"\r\n"
        await asyncio.sleep(0.1)

    assert transport.stats.tcp_connections == 1


class TcpPhone:
    """A TCP peer listening on a random port; records its connections."""

    def __init__(self) -> None:
        self.connections: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._accept, HOST, 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.connections.put((reader, writer))

    async def accepted(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.wait_for(self.connections.get(), WAIT)


@pytest.fixture
async def tcp_phone() -> AsyncIterator[TcpPhone]:
    phone = TcpPhone()
    yield phone
    while not phone.connections.empty():
        _, writer = phone.connections.get_nowait()
        writer.close()
    if phone.server is not None:
        phone.server.close()
        await phone.server.wait_closed()


async def test_tcp_request_opens_a_new_connection_and_reuses_it(
    make_transport: TransportFactory, tcp_phone: TcpPhone
) -> None:
    transport, inbox = await make_transport()
    phone_port = await tcp_phone.start()
    target = Peer("TCP", HOST, phone_port, None)

    transport.send(options_request(transport="TCP", call_id="new-1"), target)
    transport.send(options_request(transport="TCP", call_id="new-2"), target)
    reader, writer = await tcp_phone.accepted()
    first = parse_message(await read_message(reader))
    second = parse_message(await read_message(reader))

    assert (first.call_id, second.call_id) == ("new-1", "new-2")
    assert tcp_phone.connections.empty()
    assert transport.stats.tcp_connections == 1

    # The phone answers over the connection we opened.
    writer.write(response_bytes(via="SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK-out"))
    response, peer = await inbox.get()
    assert isinstance(response, Response)
    assert peer.transport == "TCP"
    assert peer.connection is not None
    assert (peer.host, peer.port) == (HOST, phone_port)

    transport.send(options_request(transport="TCP", call_id="new-3"), target)
    assert parse_message(await read_message(reader)).call_id == "new-3"
    assert tcp_phone.connections.empty()


async def test_tcp_response_after_its_connection_closed_opens_one_to_the_via(
    make_transport: TransportFactory, tcp_phone: TcpPhone
) -> None:
    transport, _ = await make_transport()
    phone_port = await tcp_phone.start()
    response = parse_message(
        response_bytes(via=f"SIP/2.0/TCP 192.0.2.30:5060;branch=z9hG4bK-r;received={HOST}").replace(
            b":5060", f":{phone_port}".encode()
        )
    )
    assert isinstance(response, Response)

    # RFC 3261 §18.2.2: connection 999 is gone; go to received and the sent-by port.
    transport.send(response, Peer("TCP", HOST, 40000, 999))

    reader, _ = await tcp_phone.accepted()
    assert parse_message(await read_message(reader)) == response


async def test_failed_outgoing_connection_is_counted_not_raised(
    make_transport: TransportFactory,
) -> None:
    transport, _ = await make_transport()
    with socket.socket() as placeholder:
        placeholder.bind((HOST, 0))
        closed_port = placeholder.getsockname()[1]

    transport.send(options_request(transport="TCP"), Peer("TCP", HOST, closed_port))

    for _ in range(100):
        if transport.stats.send_errors:
            break
        await asyncio.sleep(0.02)
    assert transport.stats.send_errors == 1
    assert transport.stats.tcp_connections == 0


async def test_unframeable_tcp_stream_gets_a_400_and_is_closed(
    make_transport: TransportFactory, open_tcp: TcpOpener
) -> None:
    transport, inbox = await make_transport()
    reader, writer = await open_tcp(transport.port)
    no_length = request_bytes(via=TCP_VIA, call_id="no-length").replace(
        b"Content-Length: 0\r\n", b""
    )

    writer.write(no_length)

    answer = parse_message(await read_message(reader))
    assert isinstance(answer, Response)
    assert answer.status == 400
    assert answer.call_id == "no-length"
    await assert_closed_by_peer(reader)
    await inbox.assert_empty()
    assert transport.stats.parse_errors == 1


async def test_malformed_tcp_message_gets_a_400_and_the_connection_stays(
    make_transport: TransportFactory, open_tcp: TcpOpener
) -> None:
    transport, inbox = await make_transport()
    reader, writer = await open_tcp(transport.port)

    writer.write(request_bytes(via=TCP_VIA, extra="Max-Forwards: many\r\n"))
    answer = parse_message(await read_message(reader))
    writer.write(request_bytes(via=TCP_VIA, call_id="good"))
    message, _ = await inbox.get()

    assert isinstance(answer, Response)
    assert answer.status == 400
    assert message.call_id == "good"


async def test_oversized_tcp_message_is_refused(
    make_transport: TransportFactory, open_tcp: TcpOpener
) -> None:
    transport, inbox = await make_transport(max_message_size=1000)
    reader, writer = await open_tcp(transport.port)

    writer.write(request_bytes(via=TCP_VIA, body=b"x" * 1200))

    answer = parse_message(await read_message(reader))
    assert isinstance(answer, Response)
    assert answer.status == 513
    await assert_closed_by_peer(reader)
    await inbox.assert_empty()


async def test_tcp_from_a_blocked_address_is_dropped(
    make_transport: TransportFactory, open_tcp: TcpOpener
) -> None:
    transport, inbox = await make_transport(is_blocked=lambda host: host == HOST)
    reader, writer = await open_tcp(transport.port)

    writer.write(request_bytes(via=TCP_VIA))

    await assert_closed_by_peer(reader)
    await inbox.assert_empty()
    assert transport.stats.dropped_blocked == 1
    assert transport.stats.tcp_connections == 0


async def test_tcp_connection_is_dropped_once_its_address_is_blocked(
    make_transport: TransportFactory, open_tcp: TcpOpener
) -> None:
    blocked: set[str] = set()
    transport, inbox = await make_transport(is_blocked=blocked.__contains__)
    reader, writer = await open_tcp(transport.port)
    writer.write(request_bytes(via=TCP_VIA, call_id="before"))
    await inbox.get()

    blocked.add(HOST)
    writer.write(request_bytes(via=TCP_VIA, call_id="after"))

    await assert_closed_by_peer(reader)
    await inbox.assert_empty()
    assert transport.stats.dropped_blocked == 1


async def test_tcp_connections_beyond_the_cap_are_refused(
    make_transport: TransportFactory, open_tcp: TcpOpener
) -> None:
    transport, inbox = await make_transport(max_tcp_connections=1)
    _, first = await open_tcp(transport.port)
    first.write(request_bytes(via=TCP_VIA))
    await inbox.get()

    reader, _ = await open_tcp(transport.port)

    await assert_closed_by_peer(reader)
    assert transport.stats.tcp_refused == 1
    assert transport.stats.tcp_connections == 1


async def test_tcp_transport_survives_random_garbage(
    make_transport: TransportFactory, open_tcp: TcpOpener
) -> None:
    transport, inbox = await make_transport()
    rng = random.Random(5626)
    for _ in range(20):
        reader, writer = await open_tcp(transport.port)
        writer.write(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000))))
        writer.write_eof()
        await asyncio.wait_for(reader.read(), WAIT)

    _, writer = await open_tcp(transport.port)
    writer.write(request_bytes(via=TCP_VIA, call_id="after-garbage"))

    message, _ = await inbox.get()
    assert message.call_id == "after-garbage"
