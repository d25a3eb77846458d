"""SDP session descriptions: RFC 4566 examples, malformed bodies, round trips, rewriting."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringfort.errors import RemoteProtocolError
from ringfort.sdp.session import (
    Attribute,
    Bandwidth,
    Connection,
    Direction,
    RtcpAddress,
    RtpMap,
    SessionDescription,
    Timing,
)

# RFC 4566 §5, the example session description.
RFC4566_EXAMPLE = (
    b"v=0\r\n"
    b"o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\r\n"
    b"s=SDP Seminar\r\n"
    b"i=A Seminar on the session description protocol\r\n"
    b"u=http://www.example.com/seminars/sdp.pdf\r\n"
    b"e=j.doe@example.com (Jane Doe)\r\n"
    b"c=IN IP4 224.2.17.12/127\r\n"
    b"t=2873397496 2873404696\r\n"
    b"a=recvonly\r\n"
    b"m=audio 49170 RTP/AVP 0\r\n"
    b"m=video 51372 RTP/AVP 99\r\n"
    b"a=rtpmap:99 h263-1998/90000\r\n"
)

PHONE_OFFER = (
    b"v=0\r\n"
    b"o=- 3912 3913 IN IP4 192.0.2.10\r\n"
    b"s=call\r\n"
    b"c=IN IP4 192.0.2.10\r\n"
    b"b=AS:84\r\n"
    b"t=0 0\r\n"
    b"m=audio 4000 RTP/AVP 8 0 101\r\n"
    b"b=TIAS:64000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\n"
    b"a=ptime:20\r\n"
    b"a=rtcp:4001 IN IP4 192.0.2.10\r\n"
    b"a=sendrecv\r\n"
)


def test_rfc4566_example_parses_every_field() -> None:
    sdp = SessionDescription.parse(RFC4566_EXAMPLE)
    assert sdp.version == 0
    assert sdp.origin.username == "jdoe"
    assert sdp.origin.session_id == 2890844526
    assert sdp.origin.session_version == 2890842807
    assert (sdp.origin.nettype, sdp.origin.addrtype, sdp.origin.address) == (
        "IN",
        "IP4",
        "10.47.16.5",
    )
    assert sdp.session_name == "SDP Seminar"
    assert sdp.extra_lines == (
        ("i", "A Seminar on the session description protocol"),
        ("u", "http://www.example.com/seminars/sdp.pdf"),
        ("e", "j.doe@example.com (Jane Doe)"),
    )
    assert sdp.connection == Connection("IN", "IP4", "224.2.17.12", ttl=127)
    assert sdp.timing == (Timing(2873397496, 2873404696),)
    assert sdp.attributes == (Attribute("recvonly"),)
    audio, video = sdp.media
    assert (audio.media, audio.port, audio.proto, audio.formats) == (
        "audio",
        49170,
        "RTP/AVP",
        ("0",),
    )
    assert video.formats == ("99",)
    assert video.rtpmap(99) == RtpMap("h263-1998", 90000)


def test_rfc4566_example_round_trips_byte_for_byte() -> None:
    assert SessionDescription.parse(RFC4566_EXAMPLE).serialize() == RFC4566_EXAMPLE


def test_session_level_direction_applies_to_media_without_their_own() -> None:
    sdp = SessionDescription.parse(RFC4566_EXAMPLE)
    assert sdp.direction is Direction.RECVONLY
    assert sdp.media[0].direction is None
    assert sdp.direction_of(0) is Direction.RECVONLY


def test_media_level_direction_overrides_session_level() -> None:
    text = RFC4566_EXAMPLE + b"a=inactive\r\n"
    sdp = SessionDescription.parse(text)
    assert sdp.direction_of(1) is Direction.INACTIVE
    assert sdp.direction_of(0) is Direction.RECVONLY


def test_direction_defaults_to_sendrecv() -> None:
    sdp = SessionDescription.parse(PHONE_OFFER.replace(b"a=sendrecv\r\n", b""))
    assert sdp.direction_of(0) is Direction.SENDRECV


def test_phone_offer_helpers() -> None:
    sdp = SessionDescription.parse(PHONE_OFFER)
    audio = sdp.media[0]
    assert sdp.bandwidths == (Bandwidth("AS", 84),)
    assert audio.bandwidths == (Bandwidth("TIAS", 64000),)
    assert audio.rtpmap("8") == RtpMap("PCMA", 8000)
    # RFC 3551 §6: payload type 0 means PCMU/8000 without any a=rtpmap.
    assert audio.rtpmap(0) == RtpMap("PCMU", 8000, 1)
    assert audio.rtpmap(101) == RtpMap("telephone-event", 8000)
    assert audio.rtpmap(102) is None
    assert audio.fmtp(101) == "0-15"
    assert audio.fmtp(8) is None
    assert audio.ptime == 20
    assert audio.rtcp == RtcpAddress(4001, "IN", "IP4", "192.0.2.10")
    assert not audio.rtcp_mux
    assert sdp.connection_of(0) == Connection("IN", "IP4", "192.0.2.10")
    assert sdp.serialize() == PHONE_OFFER


def test_static_payload_types_only_apply_to_rtp_profiles() -> None:
    sdp = SessionDescription.parse(
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=application 9 TCP/BFCP 0\r\n"
    )
    assert sdp.media[0].rtpmap(0) is None


def test_malformed_rtpmap_and_ptime_are_treated_as_absent() -> None:
    sdp = SessionDescription.parse(
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 96\r\n"
        b"a=rtpmap:96 garbage\r\na=ptime:twenty\r\na=rtcp:99999\r\n"
    )
    media = sdp.media[0]
    assert media.rtpmap(96) is None
    assert media.ptime is None
    assert media.rtcp is None


def test_lf_line_ends_trailing_white_space_and_blank_lines_are_accepted() -> None:
    text = RFC4566_EXAMPLE.replace(b"\r\n", b" \n") + b"\n\n"
    assert SessionDescription.parse(text) == SessionDescription.parse(RFC4566_EXAMPLE)


def test_str_input_is_accepted() -> None:
    assert SessionDescription.parse(RFC4566_EXAMPLE.decode()) == SessionDescription.parse(
        RFC4566_EXAMPLE
    )


def test_missing_timing_is_read_as_permanent_session() -> None:
    sdp = SessionDescription.parse(b"v=0\no=- 1 1 IN IP4 h\ns=-\nm=audio 9 RTP/AVP 0\n")
    assert sdp.timing == (Timing(0, 0),)
    assert b"t=0 0\r\n" in sdp.serialize()


def test_out_of_order_session_lines_are_written_back_in_rfc_order() -> None:
    sdp = SessionDescription.parse(
        b"v=0\no=- 1 1 IN IP4 h\ns=-\nt=0 0\nb=AS:64\nc=IN IP4 h\ne=a@b\ni=info\n"
        b"m=audio 9 RTP/AVP 0\n"
    )
    assert sdp.serialize() == (
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\ni=info\r\ne=a@b\r\nc=IN IP4 h\r\nb=AS:64\r\n"
        b"t=0 0\r\nm=audio 9 RTP/AVP 0\r\n"
    )
    assert SessionDescription.parse(sdp.serialize()) == sdp


def test_repeat_times_and_multicast_suffixes_round_trip() -> None:
    text = (
        b"v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ff15::101/3\r\n"
        b"t=3034423619 3042462419\r\nr=7d 1h 0 25h\r\nz=2882844526 -1h 2898848070 0\r\n"
        b"k=prompt\r\nm=audio 49170/2 RTP/AVP 0\r\ni=voice\r\n"
        b"c=IN IP4 224.2.1.1/127/3\r\nk=clear:x\r\na=fmtp:0 \r\na=x-flag:\r\n"
    )
    sdp = SessionDescription.parse(text)
    assert sdp.connection == Connection("IN", "IP6", "ff15::101", count=3)
    assert sdp.timing[0].repeats == ("7d 1h 0 25h",)
    media = sdp.media[0]
    assert media.port_count == 2
    assert media.connection == Connection("IN", "IP4", "224.2.1.1", ttl=127, count=3)
    assert media.extra_lines == (("i", "voice"), ("k", "clear:x"))
    assert media.attributes == (Attribute("fmtp", "0"), Attribute("x-flag", ""))
    assert SessionDescription.parse(sdp.serialize()) == sdp


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"o=- 1 1 IN IP4 h\r\ns=-\r\n", id="missing v"),
        pytest.param(b"v=1\r\no=- 1 1 IN IP4 h\r\ns=-\r\n", id="version not 0"),
        pytest.param(b"v=0\r\ns=-\r\nt=0 0\r\n", id="missing o"),
        pytest.param(b"v=0\r\no=- 1 1 IN IP4 h\r\nt=0 0\r\n", id="missing s"),
        pytest.param(b"v=0\r\no=- 1 IN IP4 h\r\ns=-\r\n", id="o with five fields"),
        pytest.param(b"v=0\r\no=- x 1 IN IP4 h\r\ns=-\r\n", id="o with non-numeric id"),
        pytest.param(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4\r\n", id="c without address"),
        pytest.param(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h/x\r\n", id="c bad ttl"),
        pytest.param(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP6 h/1/2\r\n", id="c IP6 ttl"),
        pytest.param(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0\r\n", id="t with one field"),
        pytest.param(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nr=7d\r\n", id="r before t"),
        pytest.param(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nb=AS\r\n", id="b without value"),
        pytest.param(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\na=\r\n", id="empty attribute"),
        pytest.param(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nx=1\r\n", id="unknown line type"),
        pytest.param(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nno equals\r\n", id="not type=value"),
        pytest.param(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nA=x\r\n", id="upper-case type"),
        pytest.param(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\ns=again\r\n", id="second s"),
        pytest.param(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio RTP/AVP 0\r\n", id="m no port"),
        pytest.param(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 9 RTP/AVP\r\n", id="m no fmt"),
        pytest.param(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 70000 RTP/AVP 0\r\n", id="port"),
        pytest.param(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 9/0 RTP/AVP 0\r\n", id="count 0"),
        pytest.param(
            b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 9 RTP/AVP 0\r\nt=0 0\r\n",
            id="t inside media",
        ),
        pytest.param(
            b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 9 RTP/AVP 0\r\n"
            b"c=IN IP4 a\r\nc=IN IP4 b\r\n",
            id="two c in media",
        ),
        pytest.param(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=a\x00b\r\n", id="NUL"),
        pytest.param(b"v=0\r\no=- 1 1 IN IP4 h\r\ns=a\rb\r\n", id="bare CR"),
        pytest.param(b"v=0\r\no=- 1 " + b"9" * 5000 + b" IN IP4 h\r\ns=-\r\n", id="huge number"),
    ],
)
def test_malformed_body_raises_remote_error_with_400(body: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        SessionDescription.parse(body)
    assert caught.value.status == 400


def test_media_address_rewrite_sets_connection_port_and_rtcp() -> None:
    sdp = SessionDescription.parse(PHONE_OFFER)
    anchored = sdp.with_media_address(0, "203.0.113.5", 30000, rtcp_port=30001)
    media = anchored.media[0]
    assert media.port == 30000
    assert media.connection == Connection("IN", "IP4", "203.0.113.5")
    assert media.rtcp == RtcpAddress(30001)
    assert media.attribute_values("rtcp") == ["30001"]
    assert media.formats == sdp.media[0].formats
    assert anchored.connection_of(0) == Connection("IN", "IP4", "203.0.113.5")
    # The original is untouched.
    assert sdp.media[0].port == 4000


def test_media_address_rewrite_without_rtcp_port_drops_stale_rtcp() -> None:
    anchored = SessionDescription.parse(PHONE_OFFER).with_media_address(0, "2001:db8::5", 30000)
    media = anchored.media[0]
    assert media.connection == Connection("IN", "IP6", "2001:db8::5")
    assert media.rtcp is None
    assert SessionDescription.parse(anchored.serialize()) == anchored


def test_session_address_rewrite_hides_the_peer_address() -> None:
    sdp = SessionDescription.parse(PHONE_OFFER).with_session_address("203.0.113.5")
    assert sdp.origin.address == "203.0.113.5"
    assert sdp.connection == Connection("IN", "IP4", "203.0.113.5")
    assert b"192.0.2.10" not in sdp.with_media_address(0, "203.0.113.5", 30000).serialize()


def test_next_version_raises_origin_version_only() -> None:
    sdp = SessionDescription.parse(PHONE_OFFER)
    following = sdp.next_version()
    assert following.origin.session_version == 3914
    assert following.origin.session_id == 3912


def test_without_attributes_removes_every_named_attribute() -> None:
    sdp = SessionDescription.parse(PHONE_OFFER)
    media = sdp.media[0].without_attributes("rtpmap", "fmtp")
    assert not media.has_attribute("rtpmap")
    assert media.has_attribute("ptime")
    assert sdp.without_attributes("x").attributes == sdp.attributes


def test_bytes_is_serialize() -> None:
    sdp = SessionDescription.parse(PHONE_OFFER)
    assert bytes(sdp) == sdp.serialize()


@given(st.text())
def test_parse_of_random_text_raises_only_remote_protocol_error(text: str) -> None:
    with contextlib.suppress(RemoteProtocolError):
        SessionDescription.parse(text)


@given(st.binary())
def test_parse_of_random_bytes_raises_only_remote_protocol_error(data: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        SessionDescription.parse(data)


_LINE_VALUES = st.sampled_from(
    [
        "0",
        "IN IP4 192.0.2.1",
        "IN IP4 224.0.0.1/5/2",
        "IN IP6 ff::1/2",
        "AS:64",
        "0 0",
        "audio 9 RTP/AVP 0 8",
        "video 0/2 RTP/AVP 31",
        "rtpmap:0 PCMU/8000",
        "sendonly",
        "x",
        "",
        "- 1 2 IN IP4 h",
        "7d 1h",
        "a:b:c",
    ]
)
_LINES = st.lists(
    st.tuples(st.sampled_from("vosiuepcbtrzkamx"), _LINE_VALUES | st.text(max_size=12)),
    max_size=14,
)


@given(_LINES, st.sampled_from(["\r\n", "\n"]))
def test_near_valid_bodies_either_raise_remote_error_or_round_trip(
    lines: list[tuple[str, str]], line_end: str
) -> None:
    text = line_end.join(
        ["v=0", "o=- 1 1 IN IP4 h", "s=-", *(f"{kind}={value}" for kind, value in lines)]
    )
    try:
        sdp = SessionDescription.parse(text)
    except RemoteProtocolError:
        return
    assert SessionDescription.parse(sdp.serialize()) == sdp


def test_rtpmaps_names_every_known_format_as_rtpmap_does() -> None:
    sdp = SessionDescription.parse(
        b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0 8 96 97 101 98\r\n"
        b"a=rtpmap:0 PCMU/8000\r\n"
        b"a=rtpmap:96 opus/48000/2\r\na=rtpmap:96 speex/8000\r\n"
        b"a=rtpmap:97 garbage\r\n"
        b"a=rtpmap:101 telephone-event/8000\r\n"
    )
    media = sdp.media[0]
    maps = media.rtpmaps()
    # 8 is static (RFC 3551); 97's rtpmap is malformed and 98 has none: both unknown.
    assert list(maps) == ["0", "8", "96", "101"]
    assert maps["96"] == RtpMap("opus", 48000, 2)  # the first rtpmap for a type wins
    assert maps["8"] == RtpMap("PCMA", 8000, 1)
    for payload_type in media.formats:
        assert maps.get(payload_type) == media.rtpmap(payload_type)


def test_a_repeated_attribute_line_parses_to_the_same_value_each_time() -> None:
    body = b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=ptime:20\r\n"
    first, second = SessionDescription.parse(body), SessionDescription.parse(body)
    assert first.media[0].attributes == second.media[0].attributes == (Attribute("ptime", "20"),)
    with pytest.raises(RemoteProtocolError):
        SessionDescription.parse(body.replace(b"a=ptime:20", b"a=:20"))
    with pytest.raises(RemoteProtocolError):
        # Kept values never let a malformed line through the second time either.
        SessionDescription.parse(body.replace(b"a=ptime:20", b"a=:20"))
