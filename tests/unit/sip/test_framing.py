"""Stream framing: whole, byte by byte, many per chunk, trailing data, keep-alives, limits."""

from __future__ import annotations

import pytest

from ringfort.sip.framing import PING, StreamFramer
from ringfort.sip.message import SipParseError, parse_message


def message(body: bytes = b"", *, compact: bool = False, branch: str = "z9hG4bK1") -> bytes:
    length = b"l: %d" % len(body) if compact else b"Content-Length: %d" % len(body)
    return (
        b"MESSAGE sip:bob@biloxi.example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/TCP pc33.atlanta.example.com;branch=" + branch.encode() + b"\r\n"
        b"To: <sip:bob@biloxi.example.com>\r\n"
        b"From: <sip:alice@atlanta.example.com>;tag=1\r\n"
        b"Call-ID: a84b4c76e66710\r\n"
        b"CSeq: 1 MESSAGE\r\n" + length + b"\r\n\r\n" + body
    )


def drain(framer: StreamFramer) -> list[bytes]:
    out = []
    while (item := framer.next_message()) is not None:
        out.append(item)
    return out


def test_whole_message_in_one_chunk() -> None:
    framer = StreamFramer()
    framer.feed(message(b"hello"))
    assert drain(framer) == [message(b"hello")]
    assert framer.buffered == 0


def test_message_fed_byte_by_byte() -> None:
    data = message(b"hello\r\n\r\nworld")
    framer = StreamFramer()
    out: list[bytes] = []
    for index in range(len(data)):
        framer.feed(data[index : index + 1])
        out += drain(framer)
        if index < len(data) - 1:
            assert out == []
    assert out == [data]


def test_many_messages_in_one_chunk() -> None:
    messages = [message(b"a"), message(compact=True), message(b"\r\n\r\n", branch="z9hG4bK3")]
    framer = StreamFramer()
    framer.feed(b"".join(messages))
    assert drain(framer) == messages
    assert [parse_message(item).body for item in messages] == [b"a", b"", b"\r\n\r\n"]


def test_trailing_partial_data_waits_for_the_rest() -> None:
    first, second = message(b"one"), message(b"two")
    framer = StreamFramer()
    framer.feed(first + second[:30])
    assert drain(framer) == [first]
    assert framer.buffered == 30
    framer.feed(second[30:-1])
    assert drain(framer) == []
    framer.feed(second[-1:])
    assert drain(framer) == [second]


def test_double_crlf_between_messages_is_a_ping() -> None:
    framer = StreamFramer()
    framer.feed(PING + message() + PING + PING)
    assert drain(framer) == [PING, message(), PING, PING]


def test_ping_split_over_chunks_is_still_a_ping() -> None:
    framer = StreamFramer()
    framer.feed(b"\r\n")
    assert framer.next_message() is None
    framer.feed(b"\r")
    assert framer.next_message() is None
    framer.feed(b"\n")
    assert framer.next_message() == PING


def test_single_crlf_between_messages_is_skipped() -> None:
    framer = StreamFramer()
    framer.feed(b"\r\n" + message() + b"\r\n" + message(b"x"))
    assert drain(framer) == [message(), message(b"x")]


def test_missing_content_length_on_a_stream_is_an_error() -> None:
    framer = StreamFramer()
    framer.feed(message().replace(b"Content-Length: 0\r\n", b""))
    with pytest.raises(SipParseError):
        framer.next_message()


@pytest.mark.parametrize("value", [b"-1", b"abc", b"99999999999", b""])
def test_malformed_content_length_is_an_error(value: bytes) -> None:
    framer = StreamFramer()
    framer.feed(message().replace(b"Content-Length: 0", b"Content-Length: " + value))
    with pytest.raises(SipParseError):
        framer.next_message()


def test_conflicting_content_lengths_are_an_error() -> None:
    framer = StreamFramer()
    framer.feed(message().replace(b"Content-Length: 0", b"Content-Length: 0\r\nl: 5"))
    with pytest.raises(SipParseError):
        framer.next_message()


def test_content_length_is_found_in_any_case_and_folded() -> None:
    framer = StreamFramer()
    data = message(b"abc").replace(b"Content-Length: 3", b"CONTENT-LENGTH :\r\n 3")
    framer.feed(data)
    assert drain(framer) == [data]


def test_endless_headers_over_the_limit_fail() -> None:
    framer = StreamFramer(max_size=1000)
    framer.feed(b"INVITE sip:a@b SIP/2.0\r\n" + b"X: y\r\n" * 200)
    with pytest.raises(SipParseError) as caught:
        framer.next_message()
    assert caught.value.status == 513


def test_body_over_the_limit_fails_before_it_arrives() -> None:
    framer = StreamFramer(max_size=1000)
    framer.feed(message().replace(b"Content-Length: 0", b"Content-Length: 5000"))
    with pytest.raises(SipParseError):
        framer.next_message()


def test_after_an_error_the_framer_stays_failed() -> None:
    framer = StreamFramer()
    framer.feed(message().replace(b"Content-Length: 0\r\n", b""))
    with pytest.raises(SipParseError):
        framer.next_message()
    framer.feed(message())
    with pytest.raises(SipParseError):
        framer.next_message()
    assert framer.buffered == 0


def test_empty_framer_needs_data() -> None:
    assert StreamFramer().next_message() is None
