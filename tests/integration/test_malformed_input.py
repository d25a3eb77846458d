"""Malformed SIP over UDP and TCP: RFC 4475 invalid messages, truncation, oversize, noise.

Where a response can be built it must be a rejection (400, or the status the
RFC names); otherwise the server stays silent. Whatever arrives, the process
lives on and keeps answering OPTIONS on both transports.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import pytest
from harness import VECTOR_DIR, ServerFactory
from peers import (
    RingfortServer,
    SipResponse,
    TcpSipClient,
    UdpSipClient,
    options_ping,
    options_request,
)

pytestmark = pytest.mark.peers

Transport = Literal["UDP", "TCP"]
TRANSPORTS: tuple[Transport, ...] = ("UDP", "TCP")

ANSWER_WAIT = 2.0
"""How long to wait for a response the server must send."""
SILENCE_WAIT = 0.4
"""How long to listen when a response is optional or forbidden."""
REJECTIONS = frozenset({400})
LIBERAL = frozenset(range(100, 700)) - {500}
"""A liberal element may process the message normally; only a crash-style 500 is wrong."""


@dataclass(frozen=True)
class InvalidVector:
    """One RFC 4475 §3.1.2 message and what a correct element does with it."""

    name: str
    section: str
    allowed: frozenset[int]
    """Acceptable status codes; empty for a response, which must be dropped silently."""
    keep_via: bool = False
    """The Via itself is the defect, so it is sent as is (the answer may go nowhere)."""
    stream_incomplete: bool = False
    """Over TCP the message never ends (its framing is broken): no answer can be expected."""

    def must_answer(self, transport: Transport) -> bool:
        """A request whose answer can be routed to us and whose end the server can find.

        Rejecting and liberally processing both produce a response, so one is due.
        """
        if not self.allowed or self.keep_via:
            return False
        return not (transport == "TCP" and self.stream_incomplete)


# RFC 4475 §3.1.2 (the vector README's list differs: ncl belongs here, badbranch to §3.2.1).
INVALID_VECTORS = [
    InvalidVector("badinv01", "3.1.2.1", REJECTIONS, keep_via=True),
    InvalidVector("clerr", "3.1.2.2", REJECTIONS, stream_incomplete=True),
    InvalidVector("ncl", "3.1.2.3", REJECTIONS, stream_incomplete=True),
    InvalidVector("scalar02", "3.1.2.4", REJECTIONS),
    InvalidVector("scalarlg", "3.1.2.5", frozenset()),
    InvalidVector("quotbal", "3.1.2.6", REJECTIONS),
    InvalidVector("ltgtruri", "3.1.2.7", LIBERAL),
    InvalidVector("lwsruri", "3.1.2.8", REJECTIONS),
    InvalidVector("lwsstart", "3.1.2.9", LIBERAL),
    InvalidVector("trws", "3.1.2.10", LIBERAL),
    InvalidVector("escruri", "3.1.2.11", LIBERAL),
    InvalidVector("baddate", "3.1.2.12", LIBERAL),
    InvalidVector("regbadct", "3.1.2.13", LIBERAL),
    InvalidVector("badaspec", "3.1.2.14", LIBERAL),
    # The file has no empty line after the headers, so the message never ends on a stream.
    InvalidVector("baddn", "3.1.2.15", LIBERAL, stream_incomplete=True),
    InvalidVector("badvers", "3.1.2.16", frozenset({505, 400})),
    InvalidVector("mismatch01", "3.1.2.17", REJECTIONS),
    InvalidVector("mismatch02", "3.1.2.18", frozenset({501, 400})),
    InvalidVector("bigcode", "3.1.2.19", frozenset()),
]

_TOP_VIA = re.compile(
    rb"^(?P<name>Via|v)(?P<colon>[ \t]*:[ \t]*)(?P<proto>SIP[ \t]*/[ \t]*[^/ \t]+[ \t]*/[ \t]*)"
    rb"(?P<transport>[A-Za-z]+)[ \t]+(?P<sent_by>[^;\r\n]+)(?P<params>[^\r\n]*)",
    re.MULTILINE | re.IGNORECASE,
)


def addressed_to(message: bytes, local: tuple[str, int], transport: Transport) -> bytes:
    """``message`` with its top Via's sent-by replaced by our socket, plus ``rport``.

    The vectors name hosts such as 192.0.2.15; a server following RFC 3261
    §18.2.2 would answer there. Pointing the Via at our socket (RFC 3581
    rport for UDP) lets the test hear the answer while every defect the vector
    is about stays in place.
    """
    host, port = local

    def rewrite(match: re.Match[bytes]) -> bytes:
        return (
            match["name"]
            + match["colon"]
            + match["proto"]
            + transport.encode()
            + f" {host}:{port}".encode()
            + match["params"]
            + b";rport"
        )

    return _TOP_VIA.sub(rewrite, message, count=1)


@pytest.fixture(scope="module")
def server(module_ringfort_factory: ServerFactory) -> RingfortServer:
    """One server takes the whole barrage; its liveness is checked after each message."""
    return module_ringfort_factory(env={"RINGFORT_SECURITY__AUTH_FAIL_LIMIT": "1000"})


def exchange(
    server: RingfortServer,
    transport: Transport,
    build: bytes | None,
    *,
    wait: float,
    raw: bytes = b"",
) -> list[SipResponse]:
    """Send one message (``build`` gets our Via; ``raw`` is sent untouched); collect responses.

    Listening ends ``wait`` seconds after sending, or shortly after a final response.
    """
    if transport == "UDP":
        with UdpSipClient() as udp:
            udp.send(raw or addressed_to(build or b"", udp.local, "UDP"), server.sip_target)
            return until_final(udp.responses(wait), udp.responses)
    with TcpSipClient(server.sip_target) as tcp:
        if not tcp.send(raw or addressed_to(build or b"", tcp.local, "TCP")):
            return []
        return until_final(tcp.responses(wait), tcp.responses)


def until_final(
    arriving: Iterator[SipResponse], more: Callable[[float], Iterator[SipResponse]]
) -> list[SipResponse]:
    """Responses up to the first final one, plus any that follow within 0.1 s (duplicates)."""
    collected: list[SipResponse] = []
    for response in arriving:
        collected.append(response)
        if response.status >= 200:
            collected.extend(more(0.1))
            break
    return collected


def assert_alive(server: RingfortServer, after: str) -> None:
    """The process still runs."""
    assert server.alive, f"server died after {after}\n{server.log()}"


def describe(responses: list[SipResponse]) -> str:
    """Responses' text for assertion messages."""
    return "\n---\n".join(response.text for response in responses) or "(no response)"


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("vector", INVALID_VECTORS, ids=lambda vector: vector.name)
def test_rfc4475_invalid_message_is_rejected_or_dropped(
    server: RingfortServer, vector: InvalidVector, transport: Transport
) -> None:
    message = (VECTOR_DIR / f"{vector.name}.dat").read_bytes()
    expect_answer = vector.must_answer(transport)
    wait = ANSWER_WAIT if expect_answer else SILENCE_WAIT
    if vector.keep_via:
        responses = exchange(server, transport, None, wait=wait, raw=message)
    else:
        responses = exchange(server, transport, message, wait=wait)
    finals = [response for response in responses if response.status >= 200]

    context = f"RFC 4475 §{vector.section} {vector.name} over {transport}:\n{describe(responses)}"
    if not vector.allowed:
        assert responses == [], f"a response must be dropped silently; {context}"
    for response in finals:
        assert response.status in vector.allowed, context
    if expect_answer:
        assert finals, f"expected one of {sorted(vector.allowed)}; {context}"
    assert_alive(server, f"{vector.name} over {transport}")


def valid_options(transport: Transport) -> bytes:
    """A well-formed OPTIONS whose Via is rewritten per socket by ``exchange``."""
    return options_request(("127.0.0.1", 5060), ("192.0.2.1", 5060), transport)


def truncations(message: bytes) -> list[tuple[str, bytes, frozenset[int]]]:
    """Cuts of a message where a parser is most likely to trip, with the statuses allowed."""
    head_end = message.index(b"\r\n\r\n")
    first_line_end = message.index(b"\r\n")
    colon = message.index(b":", first_line_end)
    return [
        ("method-only", message[:7], REJECTIONS),
        ("mid-request-line", message[: first_line_end // 2], REJECTIONS),
        ("request-line-only", message[: first_line_end + 2], REJECTIONS),
        ("mid-header-name", message[: colon - 2], REJECTIONS),
        ("mid-header-value", message[: colon + 4], REJECTIONS),
        # Complete headers without the empty line: RFC 4475 §3.1.2.15's vector has this
        # defect too, and a liberal element may accept it.
        ("no-empty-line", message[: head_end + 2], LIBERAL),
    ]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_truncated_messages_get_400_or_nothing(
    server: RingfortServer, transport: Transport
) -> None:
    for label, cut, allowed in truncations(valid_options(transport)):
        responses = exchange(server, transport, cut, wait=SILENCE_WAIT)
        assert all(r.status in allowed for r in responses), f"{label}: {describe(responses)}"
        assert_alive(server, f"truncated message ({label}) over {transport}")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_body_shorter_than_content_length_gets_400_or_nothing(
    server: RingfortServer, transport: Transport
) -> None:
    message = valid_options(transport).replace(b"Content-Length: 0", b"Content-Length: 10")
    responses = exchange(server, transport, message + b"abc", wait=SILENCE_WAIT)
    assert all(r.status in REJECTIONS for r in responses), describe(responses)
    assert_alive(server, f"short body over {transport}")


def test_message_larger_than_65535_bytes_over_tcp_is_refused(server: RingfortServer) -> None:
    padding = b"X-Padding: " + b"a" * 70_000 + b"\r\n"
    message = valid_options("TCP").replace(b"Content-Length:", padding + b"Content-Length:")
    assert len(message) > 65_535
    responses = exchange(server, "TCP", message, wait=ANSWER_WAIT)
    # RFC 3261 §21.5.14 names 513; 400 and 413 are also fair refusals.
    assert all(r.status in {400, 413, 513} for r in responses), describe(responses)
    assert_alive(server, "an oversized message over TCP")


def test_largest_udp_datagram_is_handled(server: RingfortServer) -> None:
    largest = 65_507  # the most a UDP datagram over IPv4 can carry
    with UdpSipClient() as udp:
        head = addressed_to(valid_options("UDP"), udp.local, "UDP")
        head = head.replace(b"Content-Length: 0", b"Content-Type: text/plain\r\nContent-Length: 0")
        size = largest - len(head) - 4  # room for the digits Content-Length grows by
        message = head.replace(b"Content-Length: 0", f"Content-Length: {size}".encode())
        message += b"a" * (largest - len(message))
        assert len(message) == largest
        assert message.endswith(b"a" * size)
        udp.send(message, server.sip_target)
        responses = until_final(udp.responses(ANSWER_WAIT), udp.responses)
    # Within the 65535-byte limit, so it may be served (200) or refused (413/513).
    assert all(r.status in LIBERAL for r in responses), describe(responses)
    assert_alive(server, "the largest UDP datagram")


def noise() -> list[tuple[str, bytes]]:
    """Random and almost-SIP byte strings (seeded: every run sends the same)."""
    rng = random.Random(4475)
    blobs = [(f"random-{size}", rng.randbytes(size)) for size in (1, 17, 300, 1400, 9000)]
    blobs += [
        ("nul-bytes", b"\x00" * 512),
        ("crlf-flood", b"\r\n" * 2000),
        ("request-line-then-binary", b"OPTIONS sip:a@b SIP/2.0\r\n" + rng.randbytes(600)),
        ("status-line-then-binary", b"SIP/2.0 200 OK\r\n" + rng.randbytes(600)),
        ("invalid-utf8-header", b"OPTIONS sip:a@b SIP/2.0\r\nVia: \xff\xfe\xfd\r\n\r\n"),
        ("http-request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    ]
    return blobs


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_random_bytes_get_400_or_nothing(server: RingfortServer, transport: Transport) -> None:
    for label, blob in noise():
        responses = exchange(server, transport, None, wait=SILENCE_WAIT / 2, raw=blob)
        assert all(r.status in REJECTIONS for r in responses), f"{label}: {describe(responses)}"
        assert_alive(server, f"{label} over {transport}")


def test_server_still_answers_options_after_the_barrage(server: RingfortServer) -> None:
    for transport in TRANSPORTS:
        response = options_ping(server.sip_target, transport)
        assert response is not None, f"no answer to OPTIONS over {transport}\n{server.log()}"
        assert response.status == 200, response.text
    assert_alive(server, "everything")
