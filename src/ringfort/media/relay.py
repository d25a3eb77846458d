"""The built-in MediaEngine: relays RTP and RTCP between the two legs of a call, latching to NAT."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
from collections.abc import Callable
from typing import Any

from ringfort.clock import Clock, SystemClock
from ringfort.errors import LocalProtocolError
from ringfort.media.engine import LegMedia, LegStats
from ringfort.transport.rtp import PortPool, RtpSocketPair

__all__ = ["RelayEngine"]

# RFC 3550 §5.1: the fixed RTP header is 12 octets. §6.4.2: the smallest RTCP packet,
# an empty receiver report, is a 4-octet header and the sender's SSRC.
_MIN_RTP = 12
_MIN_RTCP = 8
# RFC 3550 §5.1 and §6.4.1: the top two bits of the first octet are the version, 2.
_VERSION_MASK = 0xC0
_VERSION_2 = 0x80


def _destination(address: str, port: int) -> tuple[str, int] | None:
    # RFC 3264 §8.4: an unspecified address (the old way to put a call on hold) means
    # "send nothing"; sending there would deliver to this host, possibly to ourselves.
    try:
        if ipaddress.ip_address(address).is_unspecified:
            return None
    except ValueError:
        pass  # a host name: the packets themselves will show where the phone is
    return (address, port)


class _RelayLeg:
    """One leg's sockets, where its phone is, which leg it feeds, and its counters."""

    __slots__ = (
        "_clock",
        "bytes_relayed",
        "connected_at",
        "last_packet_at",
        "latched",
        "media",
        "packets_dropped",
        "packets_relayed",
        "peer",
        "remote_rtcp",
        "remote_rtp",
        "rtcp_locked",
        "rtcp_packets_relayed",
        "rtp_locked",
        "sockets",
    )

    # Both set by RelayEngine.allocate_leg straight after the ports are bound.
    sockets: RtpSocketPair
    media: LegMedia

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.peer: _RelayLeg | None = None
        self.remote_rtp: tuple[Any, ...] | None = None
        self.remote_rtcp: tuple[Any, ...] | None = None
        # Locked once the first packet has fixed the source; later packets from
        # elsewhere are dropped so a stray sender cannot take the stream over.
        self.rtp_locked = False
        self.rtcp_locked = False
        self.latched = False
        self.last_packet_at: float | None = None
        self.connected_at: float | None = None
        self.packets_relayed = 0
        self.bytes_relayed = 0
        self.rtcp_packets_relayed = 0
        self.packets_dropped = 0

    def rtp_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        """Hot path: check the header's size and version, latch, send out of the peer leg."""
        if len(data) < _MIN_RTP or data[0] & _VERSION_MASK != _VERSION_2:
            self.packets_dropped += 1
            return
        if not self.rtp_locked:
            # RFC 4961 symmetric RTP: a phone behind NAT sends from the address it
            # can be reached at, whatever its SDP said.
            self.rtp_locked = True
            if addr != self.remote_rtp:
                self.remote_rtp = addr
                self.latched = True
        elif addr != self.remote_rtp:
            self.packets_dropped += 1
            return
        self.last_packet_at = self._clock()
        peer = self.peer
        if peer is None or peer.remote_rtp is None:
            self.packets_dropped += 1
            return
        peer.sockets.send_rtp(data, peer.remote_rtp)
        self.packets_relayed += 1
        self.bytes_relayed += len(data)

    def rtcp_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        """As `rtp_received`, for the RTCP port."""
        if len(data) < _MIN_RTCP or data[0] & _VERSION_MASK != _VERSION_2:
            self.packets_dropped += 1
            return
        if not self.rtcp_locked:
            self.rtcp_locked = True
            self.remote_rtcp = addr
        elif addr != self.remote_rtcp:
            self.packets_dropped += 1
            return
        peer = self.peer
        if peer is None or peer.remote_rtcp is None:
            self.packets_dropped += 1
            return
        peer.sockets.send_rtcp(data, peer.remote_rtcp)
        self.rtcp_packets_relayed += 1


class RelayEngine:
    """Anchors each leg's media on a local RTP/RTCP port pair and relays between paired legs.

    Packets are checked for size and RTP version only, then sent on unchanged.
    Each leg latches to the source of its first RTP (and, separately, RTCP)
    packet, and drops packets from any other source until `set_remote` is given
    a new SDP address.
    """

    def __init__(
        self,
        *,
        host: str,
        port_low: int,
        port_high: int,
        rtp_timeout: float,
        clock: Clock | None = None,
    ) -> None:
        self._host = host
        self._pool = PortPool(port_low, port_high)
        self._rtp_timeout = rtp_timeout
        self._monotonic = (clock or SystemClock()).monotonic
        self._legs: dict[str, _RelayLeg] = {}
        self._leg_numbers = itertools.count(1)

    @property
    def port_pool(self) -> PortPool:
        """The pool the legs' ports come from."""
        return self._pool

    @property
    def leg_count(self) -> int:
        """How many legs are allocated and not yet released."""
        return len(self._legs)

    async def allocate_leg(self, call_id: str) -> LegMedia:
        """Bind an RTP/RTCP port pair for a new leg of ``call_id``; PortsExhaustedError if none."""
        leg = _RelayLeg(self._monotonic)
        leg.sockets = await self._pool.allocate(
            self._host, on_rtp=leg.rtp_received, on_rtcp=leg.rtcp_received
        )
        media = LegMedia(
            leg_id=f"{call_id}#{next(self._leg_numbers)}",
            call_id=call_id,
            address=self._host,
            rtp_port=leg.sockets.rtp_port,
            rtcp_port=leg.sockets.rtcp_port,
        )
        leg.media = media
        self._legs[media.leg_id] = leg
        return media

    def set_remote(
        self, leg: LegMedia, address: str, port: int, rtcp_port: int | None = None
    ) -> None:
        """Take the phone's SDP address; the next packets may latch it afresh (a re-INVITE)."""
        relay_leg = self._get(leg)
        # RFC 3605: an a=rtcp attribute names the RTCP port; RFC 3550 §11 otherwise.
        relay_leg.remote_rtp = _destination(address, port)
        relay_leg.remote_rtcp = _destination(address, port + 1 if rtcp_port is None else rtcp_port)
        relay_leg.rtp_locked = False
        relay_leg.rtcp_locked = False
        relay_leg.latched = False

    def connect(self, leg_a: LegMedia, leg_b: LegMedia) -> None:
        """Relay between the two legs, unpairing either from any leg it fed before."""
        a, b = self._get(leg_a), self._get(leg_b)
        if a is b:
            raise LocalProtocolError(f"cannot connect leg {leg_a.leg_id} to itself")
        for leg in (a, b):
            if leg.peer is not None:
                leg.peer.peer = None
        a.peer, b.peer = b, a
        a.connected_at = b.connected_at = self._monotonic()

    async def release(self, leg: LegMedia) -> None:
        """Close the leg's sockets and free its ports; releasing a released leg does nothing."""
        relay_leg = self._legs.pop(leg.leg_id, None)
        if relay_leg is None:
            return
        if relay_leg.peer is not None:
            relay_leg.peer.peer = None
            relay_leg.peer = None
        relay_leg.sockets.close()
        await relay_leg.sockets.wait_closed()

    def stats(self, leg: LegMedia) -> LegStats:
        """The leg's counters now."""
        relay_leg = self._get(leg)
        return LegStats(
            packets_relayed=relay_leg.packets_relayed,
            bytes_relayed=relay_leg.bytes_relayed,
            rtcp_packets_relayed=relay_leg.rtcp_packets_relayed,
            packets_dropped=relay_leg.packets_dropped,
            last_packet_at=relay_leg.last_packet_at,
            latched=relay_leg.latched,
        )

    def idle_legs(self, now: float) -> list[LegMedia]:
        """Connected legs with no RTP for ``rtp_timeout`` seconds (or since connecting) at ``now``.

        Legs not yet connected are never idle: before answer no media is due, and
        how long a call may ring is the call core's decision.
        """
        idle: list[LegMedia] = []
        for relay_leg in self._legs.values():
            connected_at = relay_leg.connected_at
            if connected_at is None:
                continue
            last = relay_leg.last_packet_at
            since = connected_at if last is None else max(last, connected_at)
            if now - since >= self._rtp_timeout:
                idle.append(relay_leg.media)
        return idle

    async def close(self) -> None:
        """Release every leg."""
        legs = [relay_leg.media for relay_leg in self._legs.values()]
        await asyncio.gather(*(self.release(leg) for leg in legs))

    def _get(self, leg: LegMedia) -> _RelayLeg:
        try:
            return self._legs[leg.leg_id]
        except KeyError:
            raise LocalProtocolError(f"media leg {leg.leg_id} is not allocated here") from None
