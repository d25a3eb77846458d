"""RelayEngine over real UDP sockets on 127.0.0.1: relaying, latching, RTCP, cleanup, timeout."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from ringfort.media.engine import LegMedia
from ringfort.media.relay import RelayEngine
from ringfort.rtp.packet import RtpPacket
from ringfort.transport.rtp import PortsExhaustedError

HOST = "127.0.0.1"
WAIT = 2.0
RANGE_SIZE = 40


def rtp(sequence_number: int = 1, payload: bytes = b"\xd5" * 160) -> bytes:
    """A G.711 A-law packet of one 20 ms frame."""
    return RtpPacket(
        payload_type=8, sequence_number=sequence_number, timestamp=160, ssrc=0x5EED, payload=payload
    ).serialize()


# RFC 3550 §6.4.2: an empty receiver report, version 2, PT 201, length 1, SSRC.
RTCP_RR = bytes([0x80, 201, 0x00, 0x01]) + (0x5EED).to_bytes(4, "big")


class Phone:
    """A plain UDP socket standing in for a phone's media port."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]

    def send(self, data: bytes, port: int) -> None:
        self.sock.sendto(data, (HOST, port))

    async def receive(self) -> tuple[bytes, tuple[Any, ...]]:
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.sock_recvfrom(self.sock, 4096), WAIT)

    def close(self) -> None:
        self.sock.close()


class FakeClock:
    """Monotonic time the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now


@pytest.fixture
def port_low() -> int:
    # Below the usual ephemeral range (32768+) so the kernel's own picks do not collide.
    return random.randrange(20000, 32000 - RANGE_SIZE, 2)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def engine(port_low: int, clock: FakeClock) -> AsyncIterator[RelayEngine]:
    relay = RelayEngine(
        host=HOST,
        port_low=port_low,
        port_high=port_low + RANGE_SIZE - 1,
        rtp_timeout=30.0,
        clock=clock,
    )
    yield relay
    await relay.close()


@pytest.fixture
def phones() -> Iterator[list[Phone]]:
    made: list[Phone] = []
    yield made
    for phone in made:
        phone.close()


def new_phone(phones: list[Phone]) -> Phone:
    phone = Phone()
    phones.append(phone)
    return phone


async def call(engine: RelayEngine, phones: list[Phone]) -> tuple[LegMedia, LegMedia, Phone, Phone]:
    """Two connected legs, each pointed at a phone's RTP socket by its SDP."""
    leg_a = await engine.allocate_leg("call-1")
    leg_b = await engine.allocate_leg("call-1")
    phone_a, phone_b = new_phone(phones), new_phone(phones)
    engine.set_remote(leg_a, HOST, phone_a.port)
    engine.set_remote(leg_b, HOST, phone_b.port)
    engine.connect(leg_a, leg_b)
    return leg_a, leg_b, phone_a, phone_b


async def test_rtp_from_phone_a_reaches_phone_b_from_leg_b_unchanged(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg_a, leg_b, phone_a, phone_b = await call(engine, phones)
    packet = rtp()
    phone_a.send(packet, leg_a.rtp_port)
    data, source = await phone_b.receive()
    assert data == packet
    assert source == (HOST, leg_b.rtp_port)
    stats = engine.stats(leg_a)
    assert stats.packets_relayed == 1
    assert stats.bytes_relayed == len(packet)
    assert stats.packets_dropped == 0


async def test_rtp_from_phone_b_reaches_phone_a_from_leg_a(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg_a, leg_b, phone_a, phone_b = await call(engine, phones)
    packet = rtp(payload=bytes(range(160)))
    phone_b.send(packet, leg_b.rtp_port)
    data, source = await phone_a.receive()
    assert data == packet
    assert source == (HOST, leg_a.rtp_port)
    assert engine.stats(leg_b).packets_relayed == 1


async def test_leg_ports_are_an_even_rtp_port_and_the_next_for_rtcp(
    engine: RelayEngine, port_low: int
) -> None:
    leg = await engine.allocate_leg("call-1")
    assert leg.rtp_port % 2 == 0
    assert leg.rtcp_port == leg.rtp_port + 1
    assert port_low <= leg.rtp_port < port_low + RANGE_SIZE
    assert leg.address == HOST


async def test_phone_sending_from_another_port_than_its_sdp_is_latched(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg_a, leg_b, _sdp_socket, phone_b = await call(engine, phones)
    behind_nat = new_phone(phones)
    behind_nat.send(rtp(1), leg_a.rtp_port)
    assert (await phone_b.receive())[0] == rtp(1)
    assert engine.stats(leg_a).latched

    phone_b.send(rtp(2), leg_b.rtp_port)
    data, source = await behind_nat.receive()
    assert data == rtp(2)
    assert source == (HOST, leg_a.rtp_port)


async def test_after_latching_packets_from_other_sources_are_dropped(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg_a, _leg_b, phone_a, phone_b = await call(engine, phones)
    intruder = new_phone(phones)
    phone_a.send(rtp(1), leg_a.rtp_port)
    assert (await phone_b.receive())[0] == rtp(1)
    intruder.send(rtp(99), leg_a.rtp_port)
    phone_a.send(rtp(2), leg_a.rtp_port)
    assert (await phone_b.receive())[0] == rtp(2)
    assert engine.stats(leg_a).packets_dropped == 1
    assert not engine.stats(leg_a).latched


async def test_new_sdp_address_lets_the_leg_latch_again(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg_a, leg_b, phone_a, phone_b = await call(engine, phones)
    phone_a.send(rtp(1), leg_a.rtp_port)
    await phone_b.receive()
    moved = new_phone(phones)
    engine.set_remote(leg_a, HOST, moved.port)
    moved.send(rtp(2), leg_a.rtp_port)
    assert (await phone_b.receive())[0] == rtp(2)
    phone_b.send(rtp(3), leg_b.rtp_port)
    assert (await moved.receive())[0] == rtp(3)


async def test_rtcp_is_relayed_between_the_rtcp_ports(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg_a, leg_b, phone_a, phone_b = await call(engine, phones)
    rtcp_a, rtcp_b = new_phone(phones), new_phone(phones)
    # RFC 3605: the phones name their RTCP ports (a=rtcp) as they are not port + 1.
    engine.set_remote(leg_a, HOST, phone_a.port, rtcp_a.port)
    engine.set_remote(leg_b, HOST, phone_b.port, rtcp_b.port)

    rtcp_a.send(RTCP_RR, leg_a.rtcp_port)
    data, source = await rtcp_b.receive()
    assert (data, source) == (RTCP_RR, (HOST, leg_b.rtcp_port))

    rtcp_b.send(RTCP_RR, leg_b.rtcp_port)
    data, source = await rtcp_a.receive()
    assert (data, source) == (RTCP_RR, (HOST, leg_a.rtcp_port))
    assert engine.stats(leg_a).rtcp_packets_relayed == 1
    assert engine.stats(leg_a).packets_relayed == 0


async def test_garbage_is_dropped_and_counted(engine: RelayEngine, phones: list[Phone]) -> None:
    leg_a, _leg_b, phone_a, phone_b = await call(engine, phones)
    phone_a.send(b"\x80\x08\x00", leg_a.rtp_port)
    phone_a.send(b"\x00" * 12, leg_a.rtp_port)  # version 0
    phone_a.send(b"\x80", leg_a.rtcp_port)
    phone_a.send(rtp(1), leg_a.rtp_port)
    # Loopback keeps order: the first thing phone B sees must be the valid packet.
    assert (await phone_b.receive())[0] == rtp(1)
    assert engine.stats(leg_a).packets_relayed == 1
    for _ in range(50):
        if engine.stats(leg_a).packets_dropped == 3:
            break
        await asyncio.sleep(0.01)
    assert engine.stats(leg_a).packets_dropped == 3


async def test_rtp_before_connect_is_dropped_and_counted(
    engine: RelayEngine, phones: list[Phone]
) -> None:
    leg = await engine.allocate_leg("call-1")
    phone = new_phone(phones)
    phone.send(rtp(1), leg.rtp_port)
    for _ in range(100):
        if engine.stats(leg).packets_dropped:
            break
        await asyncio.sleep(0.01)
    assert engine.stats(leg).packets_dropped == 1


async def test_release_closes_the_sockets_and_returns_the_ports(engine: RelayEngine) -> None:
    leg_a = await engine.allocate_leg("call-1")
    leg_b = await engine.allocate_leg("call-1")
    engine.connect(leg_a, leg_b)
    assert engine.port_pool.in_use == 2
    await engine.release(leg_a)
    await engine.release(leg_b)
    assert engine.port_pool.in_use == 0
    assert engine.leg_count == 0
    for port in (leg_a.rtp_port, leg_a.rtcp_port, leg_b.rtp_port, leg_b.rtcp_port):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((HOST, port))


async def test_releasing_twice_is_harmless(engine: RelayEngine) -> None:
    leg = await engine.allocate_leg("call-1")
    await engine.release(leg)
    await engine.release(leg)
    assert engine.port_pool.in_use == 0


async def test_fifty_allocate_release_cycles_leave_nothing_in_use(engine: RelayEngine) -> None:
    for number in range(50):
        leg_a = await engine.allocate_leg(f"call-{number}")
        leg_b = await engine.allocate_leg(f"call-{number}")
        engine.connect(leg_a, leg_b)
        await engine.release(leg_a)
        await engine.release(leg_b)
    assert engine.port_pool.in_use == 0
    assert engine.leg_count == 0


async def test_pair_held_by_another_socket_is_skipped(port_low: int) -> None:
    relay = RelayEngine(host=HOST, port_low=port_low, port_high=port_low + 5, rtp_timeout=30.0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind((HOST, port_low + 1))  # the first pair's RTCP port
        try:
            leg = await relay.allocate_leg("call-1")
            assert leg.rtp_port == port_low + 2
            assert relay.port_pool.in_use == 1
        finally:
            await relay.close()
    assert relay.port_pool.in_use == 0


async def test_allocating_with_every_pair_held_raises_and_reserves_nothing(
    port_low: int,
) -> None:
    relay = RelayEngine(host=HOST, port_low=port_low, port_high=port_low + 3, rtp_timeout=30.0)
    squatters = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    try:
        squatters[0].bind((HOST, port_low))
        squatters[1].bind((HOST, port_low + 3))
        with pytest.raises(PortsExhaustedError):
            await relay.allocate_leg("call-1")
        assert relay.port_pool.in_use == 0
    finally:
        for sock in squatters:
            sock.close()


async def test_connected_leg_without_packets_is_idle_after_the_timeout(
    engine: RelayEngine, clock: FakeClock
) -> None:
    leg_a = await engine.allocate_leg("call-1")
    leg_b = await engine.allocate_leg("call-1")
    unconnected = await engine.allocate_leg("call-2")
    engine.connect(leg_a, leg_b)
    assert engine.idle_legs(clock.now + 29.0) == []
    idle = engine.idle_legs(clock.now + 30.0)
    assert set(idle) == {leg_a, leg_b}
    assert unconnected not in idle


async def test_leg_receiving_rtp_is_not_idle(
    engine: RelayEngine, phones: list[Phone], clock: FakeClock
) -> None:
    leg_a, leg_b, phone_a, phone_b = await call(engine, phones)
    clock.now += 20.0
    phone_a.send(rtp(1), leg_a.rtp_port)
    await phone_b.receive()
    assert engine.stats(leg_a).last_packet_at == clock.now
    assert engine.idle_legs(clock.now + 15.0) == [leg_b]
