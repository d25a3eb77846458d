"""The MediaEngine interface: what the call core asks of whatever anchors a call's media."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["LegMedia", "LegStats", "MediaEngine"]


@dataclass(frozen=True, slots=True)
class LegMedia:
    """The media end the PBX offers one call leg: what goes into the SDP it sends that leg."""

    leg_id: str
    """Unique within the engine; the handle every other engine call takes."""
    call_id: str
    """The call the leg belongs to, as given to `MediaEngine.allocate_leg`."""
    address: str
    """The local address RTP is received on (the SDP c= line)."""
    rtp_port: int
    """The local RTP port (the SDP m= line); even."""
    rtcp_port: int
    """The local RTCP port; RFC 3550 §11 puts it at ``rtp_port + 1``."""


@dataclass(frozen=True, slots=True)
class LegStats:
    """Counters of one leg's received media, as they stood when asked."""

    packets_relayed: int
    """RTP packets received on this leg and sent on to the connected leg."""
    bytes_relayed: int
    """Octets of those RTP packets (UDP payload)."""
    rtcp_packets_relayed: int
    """RTCP packets received on this leg and sent on to the connected leg."""
    packets_dropped: int
    """RTP and RTCP datagrams thrown away: malformed, from a foreign source, or nowhere to go."""
    last_packet_at: float | None
    """Monotonic time of the last RTP packet accepted, or None if none came yet."""
    latched: bool
    """Whether the remote RTP address was learnt from the packets themselves (symmetric RTP)."""


class MediaEngine(Protocol):
    """Anchors call media: the built-in relay now, an external engine (rtpengine) later.

    A leg is allocated before its SDP is written, learns its peer's address from
    the SDP it receives, and is connected to the leg its media goes to.
    Misusing a handle (an unknown or released leg) raises LocalProtocolError.
    """

    async def allocate_leg(self, call_id: str) -> LegMedia:
        """Reserve local media ports for a new leg of ``call_id``."""
        ...

    def set_remote(
        self, leg: LegMedia, address: str, port: int, rtcp_port: int | None = None
    ) -> None:
        """Where the leg's phone receives RTP, from its SDP; RTCP defaults to ``port + 1``."""
        ...

    def connect(self, leg_a: LegMedia, leg_b: LegMedia) -> None:
        """Send what arrives on each leg out of the other, replacing any earlier pairing."""
        ...

    async def release(self, leg: LegMedia) -> None:
        """Stop the leg's media and give its ports back; safe after socket errors."""
        ...

    def stats(self, leg: LegMedia) -> LegStats:
        """The leg's counters now."""
        ...

    def idle_legs(self, now: float) -> list[LegMedia]:
        """Connected legs whose RTP has been silent past the engine's RTP timeout at ``now``."""
        ...

    async def close(self) -> None:
        """Release every leg; the engine is not used afterwards."""
        ...
