"""Offer/answer (RFC 3264): answers to RFC 4317-style offers, codec agreement, hold."""

from __future__ import annotations

import pytest

from ringfort.errors import LocalProtocolError
from ringfort.sdp.offer_answer import (
    DEFAULT_CODECS,
    PCMA,
    PCMU,
    TELEPHONE_EVENT,
    Codec,
    NegotiatedCodec,
    answer,
    answer_direction,
    is_hold,
    negotiated_codecs,
)
from ringfort.sdp.session import Attribute, Connection, Direction, SessionDescription

# RFC 4317 §2.1, Alice's offer: audio (PCMU, PCMA, iLBC) and video (H261, MPV).
RFC4317_AUDIO_VIDEO_OFFER = (
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com\r\n"
    b"s=\r\n"
    b"c=IN IP4 host.atlanta.example.com\r\n"
    b"t=0 0\r\n"
    b"m=audio 49170 RTP/AVP 0 8 97\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:97 iLBC/8000\r\n"
    b"m=video 51372 RTP/AVP 31 32\r\n"
    b"a=rtpmap:31 H261/90000\r\n"
    b"a=rtpmap:32 MPV/90000\r\n"
)

DTMF_OFFER = (
    b"v=0\r\n"
    b"o=- 10 10 IN IP4 192.0.2.10\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.10\r\n"
    b"t=0 0\r\n"
    b"m=audio 4000 RTP/AVP 18 8 0 100\r\n"
    b"a=rtpmap:18 G729/8000\r\n"
    b"a=fmtp:18 annexb=no\r\n"
    b"a=rtpmap:100 Telephone-Event/8000\r\n"
    b"a=fmtp:100 0-15\r\n"
    b"a=ptime:30\r\n"
)


def _answer(offer: bytes, **overrides: object) -> SessionDescription:
    parsed = SessionDescription.parse(offer)
    arguments: dict[str, object] = {
        "supported": DEFAULT_CODECS,
        "address": "203.0.113.5",
        "ports": [30000 + 2 * i for i in range(len(parsed.media))],
        "session_id": 77,
    }
    arguments.update(overrides)
    return answer(parsed, **arguments)  # type: ignore[arg-type]


def test_rfc4317_offer_audio_is_answered_and_video_rejected() -> None:
    result = _answer(RFC4317_AUDIO_VIDEO_OFFER)
    audio, video = result.media
    # RFC 3264 §6.1: the offerer's numbers and order, only the codecs we support.
    assert (audio.media, audio.port, audio.proto, audio.formats) == (
        "audio",
        30000,
        "RTP/AVP",
        ("0", "8"),
    )
    assert audio.attribute_values("rtpmap") == ["0 PCMU/8000", "8 PCMA/8000"]
    assert result.direction_of(0) is Direction.SENDRECV
    # RFC 3264 §6: a refused stream keeps its place, port 0 and one format.
    assert (video.media, video.port, video.proto, video.formats) == (
        "video",
        0,
        "RTP/AVP",
        ("31",),
    )
    assert video.attributes == ()


def test_answer_carries_our_address_and_session_identity() -> None:
    result = _answer(RFC4317_AUDIO_VIDEO_OFFER, session_version=80)
    assert result.connection == Connection("IN", "IP4", "203.0.113.5")
    assert result.origin.session_id == 77
    assert result.origin.session_version == 80
    assert result.origin.address == "203.0.113.5"
    assert SessionDescription.parse(result.serialize()) == result


def test_answer_to_ipv6_address_uses_ip6() -> None:
    result = _answer(RFC4317_AUDIO_VIDEO_OFFER, address="2001:db8::5")
    assert result.connection == Connection("IN", "IP6", "2001:db8::5")


def test_codec_subset_keeps_offer_order_and_telephone_event_with_its_fmtp() -> None:
    result = _answer(DTMF_OFFER)
    audio = result.media[0]
    assert audio.formats == ("8", "0", "100")
    # Matched by name, case-insensitively (RFC 4855 §3); the offerer's number is kept.
    assert audio.rtpmap(100) is not None
    assert audio.fmtp(100) == "0-15"
    assert audio.fmtp(18) is None
    assert audio.ptime == 30


def test_our_preference_order_does_not_reorder_the_offer() -> None:
    result = _answer(DTMF_OFFER, supported=[TELEPHONE_EVENT, PCMU, PCMA])
    assert result.media[0].formats == ("8", "0", "100")


def test_only_telephone_event_in_common_rejects_the_line() -> None:
    result = _answer(DTMF_OFFER, supported=[TELEPHONE_EVENT])
    assert result.media[0].port == 0
    assert result.media[0].formats == ("18",)


def test_dynamic_number_for_a_static_codec_is_matched_by_name() -> None:
    offer = DTMF_OFFER.replace(b"RTP/AVP 18 8 0 100", b"RTP/AVP 96").replace(
        b"a=rtpmap:18 G729/8000", b"a=rtpmap:96 pcmu/8000"
    )
    result = _answer(offer)
    assert result.media[0].formats == ("96",)


def test_nothing_in_common_rejects_the_line() -> None:
    result = _answer(DTMF_OFFER, supported=[Codec("opus", 48000, 2)])
    assert result.media[0].port == 0


def test_offered_port_zero_is_answered_with_port_zero() -> None:
    result = _answer(DTMF_OFFER.replace(b"m=audio 4000", b"m=audio 0"))
    assert result.media[0].port == 0


def test_secure_rtp_profile_is_rejected() -> None:
    result = _answer(DTMF_OFFER.replace(b"RTP/AVP", b"RTP/SAVP"))
    assert result.media[0].port == 0
    assert result.media[0].proto == "RTP/SAVP"


def test_ports_must_match_offered_lines() -> None:
    with pytest.raises(LocalProtocolError):
        _answer(RFC4317_AUDIO_VIDEO_OFFER, ports=[30000])


@pytest.mark.parametrize(
    ("offered", "local", "expected"),
    [
        # RFC 3264 §6.1
        (Direction.SENDRECV, Direction.SENDRECV, Direction.SENDRECV),
        (Direction.SENDONLY, Direction.SENDRECV, Direction.RECVONLY),
        (Direction.RECVONLY, Direction.SENDRECV, Direction.SENDONLY),
        (Direction.INACTIVE, Direction.SENDRECV, Direction.INACTIVE),
        (Direction.SENDRECV, Direction.SENDONLY, Direction.SENDONLY),
        (Direction.SENDRECV, Direction.INACTIVE, Direction.INACTIVE),
        (Direction.SENDONLY, Direction.SENDONLY, Direction.INACTIVE),
        (Direction.RECVONLY, Direction.RECVONLY, Direction.INACTIVE),
    ],
)
def test_answer_direction_follows_rfc3264(
    offered: Direction, local: Direction, expected: Direction
) -> None:
    assert answer_direction(offered, local) is expected


def test_hold_offer_is_answered_recvonly() -> None:
    result = _answer(DTMF_OFFER + b"a=sendonly\r\n")
    assert result.media[0].attribute_values("recvonly") == [None]
    assert result.direction_of(0) is Direction.RECVONLY


def test_our_hold_answers_sendonly() -> None:
    result = _answer(DTMF_OFFER, local_direction=Direction.SENDONLY)
    assert result.direction_of(0) is Direction.SENDONLY
    assert Attribute("sendonly") in result.media[0].attributes


def test_negotiated_codecs_pairs_payload_types_of_both_sides() -> None:
    offer = SessionDescription.parse(DTMF_OFFER)
    result = _answer(DTMF_OFFER)
    assert negotiated_codecs(offer, result) == [
        NegotiatedCodec(PCMA, 8, 8),
        NegotiatedCodec(PCMU, 0, 0),
        NegotiatedCodec(TELEPHONE_EVENT, 100, 100),
    ]


def test_negotiated_codecs_allows_answerer_numbering_that_differs() -> None:
    offer = SessionDescription.parse(DTMF_OFFER)
    remote_answer = SessionDescription.parse(
        b"v=0\r\no=- 5 5 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n"
        b"m=audio 5000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
    )
    assert negotiated_codecs(offer, remote_answer) == [
        NegotiatedCodec(PCMU, 0, 0),
        NegotiatedCodec(TELEPHONE_EVENT, 100, 101),
    ]


def test_negotiated_codecs_is_empty_when_everything_was_rejected() -> None:
    offer = SessionDescription.parse(DTMF_OFFER)
    assert negotiated_codecs(offer, _answer(DTMF_OFFER, supported=[])) == []
    assert negotiated_codecs(offer, _answer(DTMF_OFFER), index=5) == []


@pytest.mark.parametrize(
    ("extra", "connection", "held"),
    [
        (b"", b"192.0.2.10", False),
        (b"a=sendonly\r\n", b"192.0.2.10", True),  # RFC 3264 §8.4
        (b"a=inactive\r\n", b"192.0.2.10", True),
        (b"a=recvonly\r\n", b"192.0.2.10", False),
        (b"", b"0.0.0.0", True),  # RFC 2543 §B.5, still sent by old phones
    ],
)
def test_is_hold(extra: bytes, connection: bytes, held: bool) -> None:
    text = DTMF_OFFER.replace(b"192.0.2.10", connection) + extra
    assert is_hold(SessionDescription.parse(text)) is held


def test_session_level_sendonly_is_hold() -> None:
    text = DTMF_OFFER.replace(b"t=0 0\r\n", b"t=0 0\r\na=sendonly\r\n")
    assert is_hold(SessionDescription.parse(text))


def test_body_without_live_streams_is_not_hold() -> None:
    text = DTMF_OFFER.replace(b"m=audio 4000", b"m=audio 0") + b"a=inactive\r\n"
    assert not is_hold(SessionDescription.parse(text))
