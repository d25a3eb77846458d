"""Passing SDP through the media relay: codecs kept, transport stripped, aimed at us."""

from __future__ import annotations

from ringfort.sdp.offer_answer import DEFAULT_CODECS, has_live_audio, relayed
from ringfort.sdp.session import Origin, SessionDescription

ORIGIN = Origin("ringfort", 42, 7, "IN", "IP4", "192.0.2.10")

# A WebRTC-ish phone: ICE, DTLS, rtcp-mux, Opus first, video too.
BROWSER_OFFER = (
    b"v=0\r\n"
    b"o=- 4611731400430051336 2 IN IP4 198.51.100.7\r\n"
    b"s=-\r\n"
    b"t=0 0\r\n"
    b"a=group:BUNDLE 0 1\r\n"
    b"a=ice-options:trickle\r\n"
    b"m=audio 49170 RTP/AVP 111 0 8 101 13\r\n"
    b"c=IN IP4 198.51.100.7\r\n"
    b"a=rtcp:49171 IN IP4 198.51.100.7\r\n"
    b"a=candidate:1 1 udp 2122260223 198.51.100.7 49170 typ host\r\n"
    b"a=ice-ufrag:abcd\r\n"
    b"a=ice-pwd:0123456789abcdef0123456789\r\n"
    b"a=fingerprint:sha-256 AA:BB\r\n"
    b"a=setup:actpass\r\n"
    b"a=mid:0\r\n"
    b"a=rtcp-mux\r\n"
    b"a=rtpmap:111 opus/48000/2\r\n"
    b"a=fmtp:111 minptime=10\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=rtpmap:13 CN/8000\r\n"
    b"a=ptime:20\r\n"
    b"a=sendonly\r\n"
    b"m=video 49172 RTP/AVP 96\r\n"
    b"c=IN IP4 198.51.100.7\r\n"
    b"a=rtpmap:96 VP8/90000\r\n"
)


def _relay(body: bytes) -> SessionDescription:
    return relayed(
        SessionDescription.parse(body),
        supported=DEFAULT_CODECS,
        address="192.0.2.10",
        port=10000,
        rtcp_port=10001,
        origin=ORIGIN,
    )


def test_audio_keeps_g711_and_events_in_the_senders_numbering_and_order() -> None:
    out = _relay(BROWSER_OFFER)
    audio = out.media[0]
    assert audio.formats == ("0", "8", "101")
    assert audio.attribute_values("rtpmap") == [
        "0 PCMU/8000",
        "8 PCMA/8000",
        "101 telephone-event/8000",
    ]
    assert audio.attribute_values("fmtp") == ["101 0-16"]
    assert audio.ptime == 20


def test_media_points_at_the_relay_with_its_rtcp_port() -> None:
    out = _relay(BROWSER_OFFER)
    audio = out.media[0]
    assert (audio.port, out.connection_of(0)) == (10000, out.media[0].connection)
    assert out.connection_of(0) is not None
    assert out.connection_of(0).address == "192.0.2.10"  # type: ignore[union-attr]
    assert audio.rtcp is not None
    assert audio.rtcp.port == 10001
    assert out.origin == ORIGIN
    assert b"198.51.100.7" not in out.serialize()


def test_transport_attributes_are_removed_and_direction_kept() -> None:
    out = _relay(BROWSER_OFFER)
    names = {attribute.name for attribute in out.media[0].attributes} | {
        attribute.name for attribute in out.attributes
    }
    assert not names & {"candidate", "ice-ufrag", "ice-pwd", "fingerprint", "setup", "rtcp-mux",
                        "mid", "group", "ice-options"}  # fmt: skip
    assert "sendonly" in names


def test_other_streams_are_refused_so_the_line_count_is_kept() -> None:
    out = _relay(BROWSER_OFFER)
    assert [(media.media, media.port) for media in out.media] == [("audio", 10000), ("video", 0)]
    assert has_live_audio(out)


def test_only_the_first_usable_audio_line_is_relayed() -> None:
    body = (
        b"v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n"
        b"m=audio 4000 RTP/AVP 9\r\n"  # G.722 only: nothing in common
        b"m=audio 4002 RTP/AVP 8\r\n"
        b"m=audio 4004 RTP/AVP 0\r\n"
    )
    out = _relay(body)
    assert [media.port for media in out.media] == [0, 10000, 0]
    assert out.media[1].formats == ("8",)


def test_nothing_in_common_leaves_no_live_audio() -> None:
    body = (
        b"v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n"
        b"m=audio 4000 RTP/AVP 9 101\r\na=rtpmap:101 telephone-event/8000\r\n"
    )
    assert not has_live_audio(_relay(body))


def test_relayed_description_parses_back() -> None:
    out = _relay(BROWSER_OFFER)
    assert SessionDescription.parse(out.serialize()) == out
