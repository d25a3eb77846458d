"""PortPool keeping released RTP/RTCP pairs open, over real UDP sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import resource
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from ringfort.media.relay import RelayEngine
from ringfort.transport.rtp import REUSE_AFTER, PortPool, PortsExhaustedError, RtpSocketPair

HOST = "127.0.0.1"
PAIRS = 4
WAIT = 2.0


class Clock:
    """Monotonic time the test moves by hand."""

    def __init__(self) -> None:
        self.now = 500.0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now


class Inbox:
    """A datagram handler that keeps what it is given."""

    def __init__(self) -> None:
        self.datagrams: list[bytes] = []

    def __call__(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.datagrams.append(data)


@pytest.fixture
def port_low() -> int:
    # Below the usual ephemeral range (32768+) so the kernel's own picks do not collide.
    return random.randrange(20000, 32000 - 2 * PAIRS, 2)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def pool(port_low: int, clock: Clock) -> AsyncIterator[PortPool]:
    made = PortPool(port_low, port_low + 2 * PAIRS - 1, keep_open=2, clock=clock.monotonic)
    yield made
    await made.close()


@pytest.fixture
def phone() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((HOST, 0))
    sock.setblocking(False)
    yield sock
    sock.close()


def bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


async def allocate(pool: PortPool) -> tuple[RtpSocketPair, Inbox, Inbox]:
    rtp, rtcp = Inbox(), Inbox()
    return await pool.allocate(HOST, on_rtp=rtp, on_rtcp=rtcp), rtp, rtcp


async def settle() -> None:
    """Let the event loop read whatever has arrived on 127.0.0.1."""
    for _ in range(5):
        await asyncio.sleep(0.01)


async def test_a_released_pair_stays_bound_and_drops_what_arrives(
    pool: PortPool, phone: socket.socket
) -> None:
    pair, rtp, rtcp = await allocate(pool)
    pair.close()
    await pair.wait_closed()
    assert (pool.in_use, pool.kept_open) == (0, 1)
    assert not bindable(pair.rtp_port)
    assert not bindable(pair.rtcp_port)
    phone.sendto(b"late rtp", (HOST, pair.rtp_port))
    phone.sendto(b"late rtcp", (HOST, pair.rtcp_port))
    await settle()
    assert rtp.datagrams == rtcp.datagrams == []


async def test_a_kept_pair_serves_a_new_leg_only_after_its_wait(
    pool: PortPool, clock: Clock, phone: socket.socket
) -> None:
    old, old_rtp, _ = await allocate(pool)
    old.close()
    await old.wait_closed()
    clock.now += REUSE_AFTER - 0.1
    fresh, _, _ = await allocate(pool)
    assert fresh.rtp_port != old.rtp_port
    assert pool.kept_open == 1
    clock.now += 0.1
    again, rtp, rtcp = await allocate(pool)
    assert again.rtp_port == old.rtp_port
    assert (pool.in_use, pool.kept_open) == (2, 0)
    phone.sendto(b"rtp", (HOST, again.rtp_port))
    phone.sendto(b"rtcp", (HOST, again.rtcp_port))
    for _ in range(int(WAIT / 0.01)):
        if rtp.datagrams and rtcp.datagrams:
            break
        await asyncio.sleep(0.01)
    assert (rtp.datagrams, rtcp.datagrams) == ([b"rtp"], [b"rtcp"])
    assert old_rtp.datagrams == []


async def test_the_released_pair_sends_nothing_while_its_sockets_serve_another_leg(
    pool: PortPool, clock: Clock, phone: socket.socket
) -> None:
    old, _, _ = await allocate(pool)
    old.close()
    clock.now += REUSE_AFTER
    again, _, _ = await allocate(pool)
    assert again.rtp_port == old.rtp_port
    target = phone.getsockname()
    old.send_rtp(b"from the ended call", target)
    old.send_rtcp(b"from the ended call", target)
    again.send_rtp(b"from the new call", target)
    loop = asyncio.get_running_loop()
    data, source = await asyncio.wait_for(loop.sock_recvfrom(phone, 4096), WAIT)
    assert (data, source[1]) == (b"from the new call", again.rtp_port)
    await settle()
    with pytest.raises(BlockingIOError):
        phone.recvfrom(4096)


async def test_pairs_past_keep_open_are_closed(pool: PortPool) -> None:
    pairs = [(await allocate(pool))[0] for _ in range(3)]
    for pair in pairs:
        pair.close()
        await pair.wait_closed()
    assert (pool.in_use, pool.kept_open) == (0, 2)
    assert [bindable(pair.rtp_port) for pair in pairs] == [False, False, True]


async def test_a_waiting_pair_is_handed_out_rather_than_refusing_a_leg(
    pool: PortPool,
) -> None:
    pairs = [(await allocate(pool))[0] for _ in range(PAIRS)]
    pairs[0].close()
    await pairs[0].wait_closed()
    # No pair is free, and the kept one has not waited REUSE_AFTER: it is still better
    # than refusing the call.
    again, _, _ = await allocate(pool)
    assert again.rtp_port == pairs[0].rtp_port
    assert pool.in_use == PAIRS


async def test_past_max_open_a_released_pair_is_closed_and_a_waiting_one_is_taken(
    port_low: int, clock: Clock
) -> None:
    pool = PortPool(
        port_low, port_low + 2 * PAIRS - 1, keep_open=2, max_open=2, clock=clock.monotonic
    )
    try:
        first, _, _ = await allocate(pool)
        second, _, _ = await allocate(pool)
        third, _, _ = await allocate(pool)  # calls come first: past max_open all the same
        third.close()
        await third.wait_closed()
        assert pool.kept_open == 0
        assert bindable(third.rtp_port)
        second.close()
        assert pool.kept_open == 1
        # Two pairs open: rather than a third, the kept one, before its wait is over.
        again, _, _ = await allocate(pool)
        assert again.rtp_port == second.rtp_port
        for pair in (first, again):
            pair.close()
    finally:
        await pool.close()


@contextlib.contextmanager
def no_more_open_files() -> Iterator[None]:
    """Let this process open no more files, for a moment: the limit comes down to the
    highest descriptor open, and the free numbers below it are taken."""
    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = max(int(name) for name in os.listdir("/proc/self/fd"))
    fillers: list[int] = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 1, limits[1]))
    try:
        while True:
            try:
                fillers.append(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                break
        yield
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)


async def test_out_of_open_files_a_waiting_pair_serves_and_without_one_the_error_says_so(
    pool: PortPool,
) -> None:
    first, _, _ = await allocate(pool)
    first.close()
    with no_more_open_files():
        again, _, _ = await allocate(pool)
        assert again.rtp_port == first.rtp_port
        with pytest.raises(PortsExhaustedError, match="open-file limit"):
            await allocate(pool)
    assert pool.in_use == 1
    again.close()


async def test_closing_the_pool_closes_kept_pairs_and_keeps_no_more(pool: PortPool) -> None:
    first, _, _ = await allocate(pool)
    second, _, _ = await allocate(pool)
    first.close()
    await pool.close()
    assert pool.kept_open == 0
    assert bindable(first.rtp_port)
    assert bindable(first.rtcp_port)
    second.close()
    await second.wait_closed()
    assert pool.kept_open == 0
    assert bindable(second.rtp_port)


async def test_errors_of_an_earlier_leg_are_not_the_new_legs(pool: PortPool, clock: Clock) -> None:
    old, _, _ = await allocate(pool)
    # Port 0 is no destination: the send fails at once (EINVAL) and counts as an error.
    old.send_rtcp(b"report", (HOST, 0))
    assert old.errors == 1
    old.close()
    clock.now += REUSE_AFTER
    again, _, _ = await allocate(pool)
    assert again.rtp_port == old.rtp_port
    assert again.errors == 0


async def test_an_engine_keeping_pairs_leaks_nothing_over_fifty_calls(port_low: int) -> None:
    clock = Clock()
    engine = RelayEngine(
        host=HOST,
        port_low=port_low,
        port_high=port_low + 2 * PAIRS - 1,
        rtp_timeout=30.0,
        keep_open=2,
        clock=clock,
    )
    ports: set[int] = set()
    try:
        for number in range(50):
            leg_a = await engine.allocate_leg(f"call-{number}")
            leg_b = await engine.allocate_leg(f"call-{number}")
            ports.update((leg_a.rtp_port, leg_b.rtp_port))
            engine.connect(leg_a, leg_b)
            await engine.release(leg_a)
            await engine.release(leg_b)
            clock.now += 1.0
        assert engine.port_pool.in_use == 0
        assert engine.port_pool.kept_open == 2
    finally:
        await engine.close()
    assert engine.port_pool.kept_open == 0
    assert all(bindable(port) and bindable(port + 1) for port in ports)
