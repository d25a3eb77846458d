"""SDP for media we terminate ourselves (prompts, menus): one codec answered, offers built."""

from __future__ import annotations

from ringfort.sdp.offer_answer import (
    PCMA,
    PCMU,
    TELEPHONE_EVENT,
    endpoint_answer,
    endpoint_format,
    endpoint_offer,
)
from ringfort.sdp.session import Direction, Origin, SessionDescription

ORIGIN = Origin("ringfort", 42, 1, "IN", "IP4", "192.0.2.10")

OFFER = (
    b"v=0\r\n"
    b"o=- 1 1 IN IP4 198.51.100.7\r\n"
    b"s=-\r\n"
    b"c=IN IP4 198.51.100.7\r\n"
    b"t=0 0\r\n"
    b"m=video 5000 RTP/AVP 96\r\n"
    b"a=rtpmap:96 VP8/90000\r\n"
    b"m=audio 49170 RTP/AVP 9 8 0 96\r\n"
    b"a=rtpmap:9 G722/8000\r\n"
    b"a=rtpmap:96 telephone-event/8000\r\n"
    b"a=fmtp:96 0-15\r\n"
    b"a=sendonly\r\n"
    b"m=audio 49180 RTP/AVP 0\r\n"
)


def test_answer_takes_the_first_offered_g711_codec_and_the_offerers_event_number() -> None:
    offer = SessionDescription.parse(OFFER)
    result = endpoint_answer(
        offer, address="192.0.2.10", port=20000, rtcp_port=20001, origin=ORIGIN
    )
    assert result is not None
    agreed = result.format
    assert (agreed.payload_type, agreed.codec, agreed.event_payload_type) == (8, PCMA, 96)
    video, audio, second = result.sdp.media
    assert video.port == 0
    assert second.port == 0, "only one audio line is taken"
    assert (audio.port, audio.formats) == (20000, ("8", "96"))
    assert result.sdp.connection_of(1) is not None
    assert result.sdp.connection_of(1).address == "192.0.2.10"  # type: ignore[union-attr]
    assert result.sdp.direction_of(1) is Direction.RECVONLY, "sendonly is answered recvonly"
    assert b"a=rtcp:20001" in result.sdp.serialize()
    reparsed = SessionDescription.parse(result.sdp.serialize())
    assert reparsed.origin == ORIGIN


def test_answer_is_none_without_g711() -> None:
    offer = SessionDescription.parse(
        b"v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n"
        b"m=audio 49170 RTP/AVP 9 101\r\na=rtpmap:101 telephone-event/8000\r\n"
    )
    assert endpoint_answer(offer, address="192.0.2.10", port=1, rtcp_port=2, origin=ORIGIN) is None


def test_offer_lists_the_formats_given_with_event_range() -> None:
    sdp = endpoint_offer(
        address="192.0.2.10",
        port=20000,
        rtcp_port=20001,
        origin=ORIGIN,
        formats=((0, PCMU), (8, PCMA), (101, TELEPHONE_EVENT)),
    )
    text = sdp.serialize().decode()
    assert "m=audio 20000 RTP/AVP 0 8 101\r\n" in text
    assert "a=rtpmap:101 telephone-event/8000\r\n" in text
    assert "a=fmtp:101 0-16\r\n" in text
    assert "a=sendrecv\r\n" in text
    assert SessionDescription.parse(sdp.serialize()).media[0].port == 20000


def test_format_of_an_answer_reads_static_g711_and_events() -> None:
    answer = SessionDescription.parse(
        b"v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n"
        b"m=audio 0 RTP/AVP 0\r\n"
        b"m=audio 4000 RTP/AVP 101 0\r\na=rtpmap:101 telephone-event/8000\r\n"
    )
    agreed = endpoint_format(answer)
    assert agreed is not None
    assert (agreed.payload_type, agreed.codec, agreed.event_payload_type) == (0, PCMU, 101)


def test_format_ignores_g711_under_a_dynamic_number() -> None:
    answer = SessionDescription.parse(
        b"v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n"
        b"m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 PCMU/8000\r\n"
    )
    assert endpoint_format(answer) is None
