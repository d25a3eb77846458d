"""RTP packets (RFC 3550 §5.1): vectors, round trips, malformed input, peeks, wrap-around."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringfort.errors import LocalProtocolError, RemoteProtocolError
from ringfort.rtp.packet import (
    RtpHeaderExtension,
    RtpPacket,
    is_rtcp,
    peek_payload_type,
    peek_sequence_number,
    peek_ssrc,
    peek_timestamp,
    seq_diff,
    seq_gt,
    ts_diff,
    ts_gt,
)

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "rtp"


def load(name: str) -> bytes:
    """A vector's octets: hex digits, with `#` comments and whitespace ignored."""
    text = (VECTORS / f"{name}.hex").read_text()
    return bytes.fromhex("".join(line.partition("#")[0] for line in text.splitlines()))


def test_pcmu_vector_parses_every_field_and_round_trips() -> None:
    data = load("pcmu_marker")
    packet = RtpPacket.parse(data)
    assert packet == RtpPacket(
        payload_type=0,
        sequence_number=0x1234,
        timestamp=800,
        ssrc=0xDEADBEEF,
        payload=b"\xff\xff\x7f\x00",
        marker=True,
    )
    assert packet.serialize() == data
    assert bytes(packet) == data


def test_full_header_vector_parses_padding_extension_and_csrcs_and_round_trips() -> None:
    data = load("full_header")
    packet = RtpPacket.parse(data)
    assert packet.payload_type == 8
    assert not packet.marker
    assert packet.sequence_number == 0xFFFF
    assert packet.timestamp == 0xFFFFFFF0
    assert packet.ssrc == 0x01020304
    assert packet.csrc == [0x11111111, 0x22222222]
    assert packet.extension == RtpHeaderExtension(0xBEDE, b"\x10\xaa\x00\x00")
    assert packet.payload == b"\xd5\xd5\xd5"
    assert packet.padding == b"\x00\x00\x03"
    assert packet.serialize() == data


def test_nonzero_padding_octets_survive_the_round_trip() -> None:
    data = load("pcmu_marker")
    padded = bytes([data[0] | 0x20]) + data[1:] + b"\xaa\x02"
    packet = RtpPacket.parse(padded)
    assert packet.payload == b"\xff\xff\x7f\x00"
    assert packet.padding == b"\xaa\x02"
    assert packet.serialize() == padded


def test_empty_extension_and_empty_payload_round_trip() -> None:
    packet = RtpPacket(payload_type=96, extension=RtpHeaderExtension(0x1000, b""))
    data = packet.serialize()
    assert data == bytes.fromhex("90 60 0000 00000000 00000000 1000 0000")
    assert RtpPacket.parse(data) == packet


def test_serialize_builds_the_rfc3550_layout_from_fields() -> None:
    packet = RtpPacket(
        payload_type=18,
        sequence_number=1,
        timestamp=0x01020304,
        ssrc=0x0A0B0C0D,
        payload=b"\x01\x02",
        marker=True,
        csrc=[7],
    )
    assert packet.serialize() == bytes.fromhex("81 92 0001 01020304 0a0b0c0d 00000007 0102")


def test_parse_accepts_a_memoryview_slice_of_a_receive_buffer() -> None:
    data = load("pcmu_marker")
    buffer = bytearray(b"junk" + data)
    assert RtpPacket.parse(memoryview(buffer)[4:]).serialize() == data


def test_every_truncation_of_the_full_vector_is_a_remote_error() -> None:
    data = load("full_header")
    # RFC 3550 §5.1: the padding count covers the last octet, so any cut changes it;
    # each prefix is either too short for its header or its padding count is wrong.
    for size in range(len(data)):
        with pytest.raises(RemoteProtocolError):
            RtpPacket.parse(data[:size])


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (bytes.fromhex("40 00 0000 00000000 00000000"), "version"),
        (bytes.fromhex("c0 00 0000 00000000 00000000"), "version"),
        (bytes.fromhex("81 00 0000 00000000 00000000"), "CSRC"),
        (bytes.fromhex("90 00 0000 00000000 00000000 0000"), "extension"),
        (bytes.fromhex("90 00 0000 00000000 00000000 0000 0001"), "extension"),
        (bytes.fromhex("a0 00 0000 00000000 00000000 00"), "padding count 0"),
        (bytes.fromhex("a0 00 0000 00000000 00000000 aa 03"), "padding count 3"),
    ],
)
def test_malformed_headers_are_remote_errors_naming_the_fault(data: bytes, reason: str) -> None:
    with pytest.raises(RemoteProtocolError, match=reason):
        RtpPacket.parse(data)


def test_padding_may_not_reach_into_the_header_extension() -> None:
    # 12-octet header, an empty extension, then one octet counting two of padding.
    data = bytes.fromhex("b0 00 0000 00000000 00000000 abcd 0000 02")
    with pytest.raises(RemoteProtocolError):
        RtpPacket.parse(data)


@pytest.mark.parametrize(
    "packet",
    [
        RtpPacket(payload_type=128),
        RtpPacket(csrc=list(range(16))),
        RtpPacket(padding=b"\x00\x00"),
        RtpPacket(extension=RtpHeaderExtension(0, b"\x01")),
    ],
)
def test_serialize_refuses_fields_that_do_not_fit(packet: RtpPacket) -> None:
    with pytest.raises(LocalProtocolError):
        packet.serialize()


def test_repr_is_short_and_names_the_key_fields() -> None:
    text = repr(RtpPacket.parse(load("pcmu_marker")))
    assert text == "<RtpPacket pt=0 seq=4660 ts=800 ssrc=0xdeadbeef M 4B>"


def test_peeks_read_header_fields_without_parsing() -> None:
    data = load("full_header")
    assert peek_payload_type(data) == 8
    assert peek_sequence_number(data) == 0xFFFF
    assert peek_timestamp(data) == 0xFFFFFFF0
    assert peek_ssrc(data) == 0x01020304
    assert peek_payload_type(load("pcmu_marker")) == 0  # the marker bit is not the type


def test_peeks_refuse_a_datagram_shorter_than_the_header() -> None:
    with pytest.raises(RemoteProtocolError):
        peek_ssrc(b"\x80\x00\x00")


def test_is_rtcp_uses_the_rfc5761_second_octet_range() -> None:
    # RFC 5761 §4: second octet 192-223 is RTCP (SR 200, RR 201, SDES 202, BYE 203).
    for packet_type in (192, 200, 201, 202, 203, 223):
        assert is_rtcp(bytes([0x81, packet_type, 0x00, 0x07]))
    for second in (0, 8, 101, 0x80 | 0, 0x80 | 63, 224, 255):
        assert not is_rtcp(bytes([0x80, second]) + bytes(10))
    assert not is_rtcp(bytes([0x40, 200]))  # not version 2
    assert not is_rtcp(b"\x80")


def test_sequence_numbers_compare_across_the_wrap() -> None:
    assert seq_gt(1, 0)
    assert not seq_gt(0, 1)
    assert not seq_gt(5, 5)
    assert seq_gt(0, 0xFFFF)
    assert seq_gt(10, 0xFFF0)
    assert not seq_gt(0xFFF0, 10)
    assert seq_diff(0, 0xFFFF) == 1
    assert seq_diff(0xFFFF, 0) == -1
    assert seq_diff(100, 40) == 60
    assert seq_diff(40, 100) == -60


def test_half_the_sequence_space_apart_counts_as_earlier_both_ways() -> None:
    assert seq_diff(0x8000, 0) == -0x8000
    assert seq_diff(0, 0x8000) == -0x8000
    assert not seq_gt(0x8000, 0)
    assert not seq_gt(0, 0x8000)
    assert seq_gt(0x7FFF, 0)


def test_timestamps_compare_across_the_wrap() -> None:
    assert ts_gt(160, 0)
    assert ts_gt(80, 0xFFFFFFF0)
    assert not ts_gt(0xFFFFFFF0, 80)
    assert ts_diff(80, 0xFFFFFFF0) == 96
    assert ts_diff(0xFFFFFFF0, 80) == -96
    assert ts_gt(0x7FFFFFFF, 0)
    assert not ts_gt(0x80000000, 0)
