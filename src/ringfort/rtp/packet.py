"""RTP packets (RFC 3550 §5.1): parse, serialise, header peeks and wrap-around arithmetic."""

from __future__ import annotations

from dataclasses import dataclass, field

from ringfort.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "RTP_HEADER_SIZE",
    "RTP_VERSION",
    "RtpHeaderExtension",
    "RtpPacket",
    "is_rtcp",
    "peek_payload_type",
    "peek_sequence_number",
    "peek_ssrc",
    "peek_timestamp",
    "seq_diff",
    "seq_gt",
    "ts_diff",
    "ts_gt",
]

RTP_VERSION = 2
RTP_HEADER_SIZE = 12
_MAX_CSRC = 15


@dataclass(frozen=True, slots=True)
class RtpHeaderExtension:
    """A header extension (RFC 3550 §5.3.1): 16 profile-defined bits and whole 32-bit words."""

    profile: int
    """The 16 bits RFC 3550 leaves to the profile (0xBEDE for RFC 8285 one-byte headers)."""
    data: bytes
    """The extension body, without its 4-octet header; a multiple of 4 octets long."""


@dataclass(slots=True)
class RtpPacket:
    """One RTP packet (RFC 3550 §5.1).

    Mutable on purpose: a relay rewrites ``sequence_number``, ``timestamp`` and ``ssrc``
    in place before serialising again.
    """

    payload_type: int = 0
    """The 7-bit payload type (RFC 3551 §6 static numbers, or one negotiated in SDP)."""
    sequence_number: int = 0
    """16 bits, one more for each packet sent."""
    timestamp: int = 0
    """32 bits, in the payload format's clock (8000 Hz for G.711 and telephone-event)."""
    ssrc: int = 0
    """32-bit synchronisation source."""
    payload: bytes = b""
    """The payload, without padding."""
    marker: bool = False
    """The marker bit; for audio it flags the first packet of a talkspurt (RFC 3551 §4.1)."""
    csrc: list[int] = field(default_factory=list)
    """Contributing sources (at most 15), each 32 bits."""
    extension: RtpHeaderExtension | None = None
    """The header extension, if the X bit is set."""
    padding: bytes = b""
    """The padding octets as sent, the last one holding their count (RFC 3550 §5.1 P)."""

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one datagram; raise RemoteProtocolError if it is not a well-formed RTP packet."""
        size = len(data)
        if size < RTP_HEADER_SIZE:
            raise RemoteProtocolError(f"RTP packet truncated: {size} octets, header needs 12")
        first, second = data[0], data[1]
        version = first >> 6
        if version != RTP_VERSION:
            raise RemoteProtocolError(f"RTP version {version} is not 2")
        has_padding = bool(first & 0x20)
        has_extension = bool(first & 0x10)
        csrc_count = first & 0x0F
        offset = RTP_HEADER_SIZE + 4 * csrc_count
        if offset > size:
            raise RemoteProtocolError(f"RTP packet truncated: {csrc_count} CSRCs announced")
        csrc = [
            int.from_bytes(data[pos : pos + 4], "big") for pos in range(RTP_HEADER_SIZE, offset, 4)
        ]
        extension = None
        if has_extension:
            # RFC 3550 §5.3.1: 16 bits profile, 16 bits length in 32-bit words.
            if offset + 4 > size:
                raise RemoteProtocolError("RTP header extension truncated")
            profile = int.from_bytes(data[offset : offset + 2], "big")
            words = int.from_bytes(data[offset + 2 : offset + 4], "big")
            start = offset + 4
            offset = start + 4 * words
            if offset > size:
                raise RemoteProtocolError(f"RTP header extension of {words} words truncated")
            extension = RtpHeaderExtension(profile, bytes(data[start:offset]))
        end = size
        padding = b""
        if has_padding:
            # RFC 3550 §5.1: the last octet counts the padding octets, itself included.
            count = data[-1]
            if count == 0 or offset + count > size:
                raise RemoteProtocolError(f"RTP padding count {count} is invalid")
            end = size - count
            padding = bytes(data[end:])
        return cls(
            payload_type=second & 0x7F,
            sequence_number=int.from_bytes(data[2:4], "big"),
            timestamp=int.from_bytes(data[4:8], "big"),
            ssrc=int.from_bytes(data[8:12], "big"),
            payload=bytes(data[offset:end]),
            marker=bool(second & 0x80),
            csrc=csrc,
            extension=extension,
            padding=padding,
        )

    def serialize(self) -> bytes:
        """The packet's octets; raise LocalProtocolError if a field does not fit its width."""
        if not 0 <= self.payload_type <= 0x7F:
            raise LocalProtocolError(f"payload type {self.payload_type} is not 7 bits")
        if len(self.csrc) > _MAX_CSRC:
            raise LocalProtocolError(f"{len(self.csrc)} CSRCs; at most 15 fit")
        if self.padding and self.padding[-1] != len(self.padding):
            raise LocalProtocolError("the last padding octet must count the padding octets")
        first = RTP_VERSION << 6 | len(self.csrc)
        if self.padding:
            first |= 0x20
        if self.extension is not None:
            first |= 0x10
        parts = [
            bytes((first, self.marker << 7 | self.payload_type)),
            (self.sequence_number & 0xFFFF).to_bytes(2, "big"),
            (self.timestamp & 0xFFFFFFFF).to_bytes(4, "big"),
            (self.ssrc & 0xFFFFFFFF).to_bytes(4, "big"),
        ]
        parts.extend((source & 0xFFFFFFFF).to_bytes(4, "big") for source in self.csrc)
        if self.extension is not None:
            body = self.extension.data
            if len(body) % 4:
                raise LocalProtocolError("an RTP header extension is whole 32-bit words")
            parts.append((self.extension.profile & 0xFFFF).to_bytes(2, "big"))
            parts.append((len(body) // 4).to_bytes(2, "big"))
            parts.append(body)
        parts.append(self.payload)
        parts.append(self.padding)
        return b"".join(parts)

    def __bytes__(self) -> bytes:
        return self.serialize()

    def __repr__(self) -> str:
        flags = " M" if self.marker else ""
        return (
            f"<RtpPacket pt={self.payload_type} seq={self.sequence_number} ts={self.timestamp}"
            f" ssrc={self.ssrc:#010x}{flags} {len(self.payload)}B>"
        )


# Header peeks: the relay's hot path reads a field or two without building a packet.


def _check_header(data: bytes) -> None:
    if len(data) < RTP_HEADER_SIZE:
        raise RemoteProtocolError(f"RTP packet truncated: {len(data)} octets, header needs 12")


def peek_payload_type(data: bytes) -> int:
    """The payload type of an RTP datagram, without parsing the rest."""
    _check_header(data)
    return data[1] & 0x7F


def peek_sequence_number(data: bytes) -> int:
    """The sequence number of an RTP datagram, without parsing the rest."""
    _check_header(data)
    return data[2] << 8 | data[3]


def peek_timestamp(data: bytes) -> int:
    """The timestamp of an RTP datagram, without parsing the rest."""
    _check_header(data)
    return int.from_bytes(data[4:8], "big")


def peek_ssrc(data: bytes) -> int:
    """The SSRC of an RTP datagram, without parsing the rest."""
    _check_header(data)
    return int.from_bytes(data[8:12], "big")


def is_rtcp(data: bytes) -> bool:
    """Whether a datagram on an rtcp-mux port is RTCP rather than RTP.

    RFC 5761 §4: RTCP packet types 192-223 occupy the second octet where RTP has the
    marker bit and payload types 64-95, which is why those payload types stay unused.
    """
    return len(data) >= 2 and data[0] >> 6 == RTP_VERSION and 192 <= data[1] <= 223


# Serial-number arithmetic (RFC 1982 style, RFC 3550 §A.1): values wrap, and "later" means
# less than half the space ahead.  Exactly half the space apart is neither later nor
# earlier in RFC 1982; here it counts as earlier, so the answers are deterministic.


def _serial_diff(a: int, b: int, bits: int) -> int:
    span = 1 << bits
    diff = (a - b) & (span - 1)
    return diff - span if diff >= span >> 1 else diff


def seq_diff(a: int, b: int) -> int:
    """How far 16-bit sequence number ``a`` is ahead of ``b`` (negative if behind)."""
    return _serial_diff(a, b, 16)


def seq_gt(a: int, b: int) -> bool:
    """Whether 16-bit sequence number ``a`` comes after ``b``, allowing for wrap-around."""
    return _serial_diff(a, b, 16) > 0


def ts_diff(a: int, b: int) -> int:
    """How far 32-bit timestamp ``a`` is ahead of ``b`` (negative if behind)."""
    return _serial_diff(a, b, 32)


def ts_gt(a: int, b: int) -> bool:
    """Whether 32-bit timestamp ``a`` comes after ``b``, allowing for wrap-around."""
    return _serial_diff(a, b, 32) > 0
