"""Properties: serialisation is stable, and no input makes the parsers fail but by SipParseError."""

from __future__ import annotations

import contextlib
import string

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ringfort.sip.framing import StreamFramer
from ringfort.sip.message import (
    Headers,
    Message,
    Request,
    Response,
    SipParseError,
    error_response,
    parse_message,
)
from ringfort.sip.uri import URI

TOKEN_CHARS = string.ascii_letters + string.digits + "-.!%*_+`'~"
tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
labels = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8)
hostnames = st.lists(labels, min_size=1, max_size=3).map(".".join)
ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda parts: ".".join(map(str, parts)))
ipv6 = st.ip_addresses(v=6).map(str)
hosts = st.one_of(hostnames, ipv4, ipv6)
users = st.text(string.ascii_letters + string.digits + "-_.!~*'()&=+$,;?/", min_size=1, max_size=10)
param_chars = st.text(
    string.ascii_letters + string.digits + "-_.!~*'()[]/:&+$", min_size=1, max_size=8
)
uri_params = st.dictionaries(param_chars.map(str.lower), st.none() | param_chars, max_size=3)


@st.composite
def sip_uris(draw: st.DrawFn) -> URI:
    return URI(
        draw(st.sampled_from(["sip", "sips"])),
        draw(st.none() | users),
        None,
        draw(hosts),
        draw(st.none() | st.integers(1, 65535)),
        draw(uri_params),
        {},
    )


header_params = st.dictionaries(tokens.map(str.lower), st.none() | tokens, max_size=3)
display_names = st.none() | st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=12
)
text_values = st.text(
    st.characters(blacklist_categories=("Cs", "Zl", "Zp"), blacklist_characters="\r\n"),
    max_size=30,
).map(lambda value: value.strip(" \t"))


def name_addr(display: str | None, uri: URI, params: dict[str, str | None]) -> str:
    from ringfort.sip.headers import NameAddr

    return str(NameAddr(display, uri, params))


@st.composite
def header_lists(draw: st.DrawFn, method: str) -> Headers:
    headers = Headers()
    transport = draw(st.sampled_from(["UDP", "TCP", "TLS", "SCTP", "WS"]))
    branch = "z9hG4bK" + draw(tokens)
    headers.add(
        "Via", f"SIP/2.0/{transport} {URI('sip', host=draw(hosts)).host_port};branch={branch}"
    )
    headers.add("From", name_addr(draw(display_names), draw(sip_uris()), {"tag": draw(tokens)}))
    headers.add("To", name_addr(draw(display_names), draw(sip_uris()), draw(header_params)))
    headers.add("Call-ID", draw(tokens) + "@" + draw(hostnames))
    headers.add("CSeq", f"{draw(st.integers(0, 2**31 - 1))} {method}")
    for _ in range(draw(st.integers(0, 3))):
        headers.add(
            "Contact", name_addr(draw(display_names), draw(sip_uris()), draw(header_params))
        )
    for _ in range(draw(st.integers(0, 4))):
        headers.add("X-" + draw(tokens), draw(text_values))
    if draw(st.booleans()):
        headers.add("Max-Forwards", str(draw(st.integers(0, 255))))
    return headers


@st.composite
def messages(draw: st.DrawFn) -> Message:
    body = draw(st.binary(max_size=64))
    if draw(st.booleans()):
        method = draw(tokens)
        return Request(method, draw(sip_uris()), draw(header_lists(method)), body)
    reason = draw(text_values)
    method = draw(tokens)
    return Response(draw(st.integers(100, 699)), reason, draw(header_lists(method)), body)


@given(messages())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_parse_of_serialised_message_is_equal_and_serialisation_is_stable(
    message: Message,
) -> None:
    wire = bytes(message)
    parsed = parse_message(wire)
    assert parsed == message
    assert bytes(parsed) == wire


@given(st.binary(max_size=400))
@example(b"INVITE sip:a@b SIP/2.0\r\n\r\n")
@example(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n")
@example(b"\r\n\r\n")
@example(b"A B C\r\nX:\r\n \r\n\r\n")
@example(b"INVITE sip:a@b SIP/2.0\r\n Via: SIP/2.0/UDP a\r\n\r\n")
@example(b"INVITE sip:a@b SIP/2.0\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n")
@settings(max_examples=500)
def test_random_bytes_raise_only_parse_errors(data: bytes) -> None:
    try:
        parse_message(data)
    except SipParseError as error:
        error_response(data, error)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(bytes(draw(messages())))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[position] = draw(st.sampled_from(b'\r\n \t:;,<>"\\@=%\x00\xff0a'))
        elif kind == "insert":
            data[position:position] = draw(
                st.sampled_from([b"\r\n", b" ", b",", b";", b'"', b"<", b"\r\n ", b"%", b"\xc3"])
            )
        elif kind == "delete" and data:
            del data[position]
        elif kind == "truncate":
            del data[position:]
    return bytes(data)


@given(mutated())
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_messages_raise_only_parse_errors_and_what_parses_round_trips(data: bytes) -> None:
    try:
        message = parse_message(data)
    except SipParseError as error:
        error_response(data, error)
        return
    wire = bytes(message)
    assert parse_message(wire) == message
    # Typed accessors may refuse what the parser did not need, but only with SipParseError.
    for name in ("vias", "from_", "to", "cseq", "contacts", "max_forwards", "expires", "routes"):
        with contextlib.suppress(SipParseError):
            getattr(message, name)


@given(st.lists(st.binary(max_size=80), max_size=12), st.integers(200, 2000))
@settings(max_examples=300)
def test_stream_framer_raises_only_parse_errors_on_random_chunks(
    chunks: list[bytes], max_size: int
) -> None:
    framer = StreamFramer(max_size=max_size)
    try:
        for chunk in chunks:
            framer.feed(chunk)
            while framer.next_message() is not None:
                pass
    except SipParseError:
        pass


@given(st.lists(mutated(), min_size=1, max_size=4), st.data())
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_stream_framer_raises_only_parse_errors_on_mutated_streams(
    items: list[bytes], data: st.DataObject
) -> None:
    stream = b"".join(items)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    framer = StreamFramer()
    try:
        start = 0
        for cut in [*cuts, len(stream)]:
            framer.feed(stream[start:cut])
            start = cut
            while (item := framer.next_message()) is not None:
                with contextlib.suppress(SipParseError):
                    parse_message(item)
    except SipParseError:
        pass
