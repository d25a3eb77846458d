"""RTP media ports: the pool of even RTP/RTCP port pairs and the UDP sockets bound on them."""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import logging
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ringfort.errors import RingfortError

__all__ = ["DatagramHandler", "PortPool", "PortsExhaustedError", "RtpSocketPair"]

logger = logging.getLogger(__name__)

DatagramHandler = Callable[[bytes, tuple[Any, ...]], None]
"""Called with each datagram and its source address, as the socket reports it."""


class PortsExhaustedError(RingfortError):
    """No RTP/RTCP port pair in the configured range is free or bindable."""


_OUT_OF_FILES = frozenset({errno.EMFILE, errno.ENFILE})

REUSE_AFTER = 2.0
"""Seconds a released pair kept open waits before another leg gets it. A phone stops
sending when its call ends; what it sent before is in by then, even from far away."""


class PortPool:
    """Even RTP ports with RTCP on the next one up, handed out round-robin.

    RFC 3550 §11: RTP goes on an even port and its RTCP on the odd port above it.
    Handing ports out round-robin rather than lowest-first keeps a just-released
    pair out of use for as long as possible, so late packets of an ended call do
    not land in a new one.

    With ``keep_open``, up to that many released pairs stay bound instead of being
    closed, and a new leg takes the one released longest ago once ``reuse_after``
    seconds have passed. It takes one sooner only rather than open more than
    ``max_open`` pairs (the open-file limit's share for media) or when no other pair
    binds. Binding, registering and later closing two sockets is ~57 µs of a core per
    leg (measured); taking a kept pair ~1 µs. A kept pair's datagrams are read and
    dropped; `close` closes the kept pairs.

    ``reserve`` and ``release`` are the bookkeeping; ``allocate`` is what callers
    use: it hands out a kept pair or reserves one and binds both sockets, skipping
    pairs something else holds.
    """

    def __init__(
        self,
        low: int,
        high: int,
        *,
        keep_open: int = 0,
        max_open: int | None = None,
        reuse_after: float = REUSE_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        first = low + (low % 2)
        if not 0 < low <= high <= 65535 or first + 1 > high:
            raise ValueError(f"port range {low}-{high} holds no even RTP port with RTCP above it")
        if keep_open < 0:
            raise ValueError(f"keep_open must be 0 or more, not {keep_open}")
        self.low = first
        """The lowest RTP port handed out (the range's low end rounded up to even)."""
        self.high = high
        """The range's high end; the highest RTCP port is at most this."""
        self.capacity = (high - first + 1) // 2
        """How many pairs the range holds."""
        self.keep_open = keep_open
        """How many released pairs may stay bound, ready for the next legs."""
        self.max_open = self.capacity if max_open is None else max_open
        """Pairs (handed out and kept) past which released ones are closed, not kept."""
        self._reuse_after = reuse_after
        self._clock = clock
        self._reserved: set[int] = set()
        self._cursor = 0
        # Address family by host: ipaddress is slow for a question asked twice a call.
        self._families: dict[str, socket.AddressFamily] = {}
        # Kept pairs, oldest first, each with the time it may be handed out again.
        self._kept: deque[tuple[float, _OpenPair]] = deque()
        # Their RTP ports, until their sockets are really closed.
        self._kept_ports: set[int] = set()
        self._closing = False

    @property
    def in_use(self) -> int:
        """How many pairs are handed out (bound, or being bound) now; kept ones are not."""
        return len(self._reserved)

    @property
    def kept_open(self) -> int:
        """How many released pairs are bound and waiting for a leg."""
        return len(self._kept)

    def is_reserved(self, port: int) -> bool:
        """Whether the pair whose RTP port is ``port`` is handed out."""
        return port in self._reserved

    def reserve(self) -> int:
        """Mark the next free pair as used and return its RTP port, without binding it."""
        if self._open_pairs() >= self.capacity:
            raise PortsExhaustedError(f"all {self.capacity} RTP port pairs are in use")
        for _ in range(self.capacity):
            port = self.low + 2 * self._cursor
            self._cursor = (self._cursor + 1) % self.capacity
            if port not in self._reserved and port not in self._kept_ports:
                self._reserved.add(port)
                return port
        raise AssertionError("unreachable: a free pair exists but none was found")

    def release(self, port: int) -> None:
        """Give a reserved pair back; releasing one not handed out is a bug and raises."""
        try:
            self._reserved.remove(port)
        except KeyError:
            raise ValueError(f"RTP port {port} is not reserved") from None

    async def allocate(
        self, host: str, *, on_rtp: DatagramHandler, on_rtcp: DatagramHandler
    ) -> RtpSocketPair:
        """A pair receiving on ``host``: a kept one whose wait is over, else two sockets
        bound on the next free pair.

        Pairs whose ports fail to bind (another process holds one) are skipped;
        when every pair has been tried, a kept pair still waiting is taken, and
        without one PortsExhaustedError is raised.
        """
        kept = self._kept
        if (
            kept
            and kept[0][1].host == host
            and (kept[0][0] <= self._clock() or self._open_pairs() >= self.max_open)
        ):
            return self._take_kept(on_rtp, on_rtcp)
        family = self._families.get(host)
        if family is None:
            version = ipaddress.ip_address(host).version
            family = self._families[host] = socket.AF_INET6 if version == 6 else socket.AF_INET
        last_error: OSError | None = None
        for _ in range(self.capacity - self._open_pairs()):
            port = self.reserve()
            try:
                rtp_sock = _bind(family, host, port)
                try:
                    rtcp_sock = _bind(family, host, port + 1)
                except OSError:
                    rtp_sock.close()
                    raise
            except OSError as error:
                self.release(port)
                last_error = error
                if error.errno in _OUT_OF_FILES:
                    break  # no other port would do better
                continue
            try:
                return await RtpSocketPair.start(
                    host=host,
                    rtp_port=port,
                    rtp_sock=rtp_sock,
                    rtcp_sock=rtcp_sock,
                    on_rtp=on_rtp,
                    on_rtcp=on_rtcp,
                    on_closed=functools.partial(self._sockets_closed, port),
                    recycle=self._keep,
                )
            except BaseException:
                rtp_sock.close()
                rtcp_sock.close()
                if self.is_reserved(port):
                    self.release(port)
                raise
        if kept and kept[0][1].host == host:
            return self._take_kept(on_rtp, on_rtcp)
        if last_error is not None and last_error.errno in _OUT_OF_FILES:
            raise PortsExhaustedError(
                f"no RTP port pair: {last_error.strerror} (raise the open-file limit)"
            ) from last_error
        raise PortsExhaustedError(
            f"no bindable RTP port pair on {host} in {self.low}-{self.high}"
        ) from last_error

    async def close(self) -> None:
        """Close the kept pairs and keep no more; pairs handed out are their holders' to close."""
        self._closing = True
        closing = []
        while self._kept:
            _, sockets = self._kept.popleft()
            sockets.close()
            closing.append(sockets.rtp_protocol.closed)
        await asyncio.gather(*closing)

    def _take_kept(self, on_rtp: DatagramHandler, on_rtcp: DatagramHandler) -> RtpSocketPair:
        _, sockets = self._kept.popleft()
        self._kept_ports.remove(sockets.rtp_port)
        self._reserved.add(sockets.rtp_port)
        sockets.rtp_protocol.handler = on_rtp
        sockets.rtcp.handler = on_rtcp
        return RtpSocketPair(sockets, self._keep)

    def _keep(self, sockets: _OpenPair) -> bool:
        """Take a released pair's sockets to hand out again; False: close them instead."""
        if self._closing or len(self._kept) >= self.keep_open or self._open_pairs() > self.max_open:
            return False
        self._reserved.remove(sockets.rtp_port)
        self._kept_ports.add(sockets.rtp_port)
        self._kept.append((self._clock() + self._reuse_after, sockets))
        return True

    def _open_pairs(self) -> int:
        return len(self._reserved) + len(self._kept_ports)

    def _sockets_closed(self, port: int) -> None:
        if port in self._kept_ports:
            self._kept_ports.remove(port)
        else:
            self.release(port)


def _bind(family: socket.AddressFamily, host: str, port: int) -> socket.socket:
    # Bound here rather than by the event loop so a taken port fails at once and the
    # socket is closed synchronously; no SO_REUSEADDR, so a held port really fails.
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class _MediaProtocol(asyncio.DatagramProtocol):
    """One media socket's protocol; thin because every packet of a call crosses it."""

    def __init__(self, handler: DatagramHandler, on_lost: Callable[[], None]) -> None:
        self.handler = handler
        """Where each datagram goes; swapped when a kept pair serves another leg."""
        self._on_lost = on_lost
        self.errors = 0
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            self.handler(data, addr)
        except Exception:
            logger.exception("failed to handle a media datagram from %s", addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port-unreachable from a phone that has gone away is routine for media;
        # the socket stays usable and the RTP timeout ends the call if it matters.
        self.errors += 1
        logger.debug("media socket error: %r", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
            self._on_lost()
        # The handler is a method of the leg that holds this socket: let go of it, so the
        # leg is freed when the call drops it, not by a cycle collection later.
        self.handler = _ignore_datagram
        self._on_lost = _nothing


def _ignore_datagram(data: bytes, addr: tuple[Any, ...]) -> None:
    """What a closed media socket hands its datagrams to: nothing."""


def _nothing() -> None:
    """What a closed media socket calls when it closes again: nothing."""


class _RtcpSocket:
    """The RTCP socket of a leg, read straight from the event loop.

    RTCP is a packet every few seconds, so it needs no transport of its own: a reader
    on the bare socket costs less to open and close, twice per call, than a datagram
    transport, and closing it frees the port at once.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        handler: DatagramHandler,
        on_closed: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._sock = sock
        self.handler = handler
        """Where each datagram goes; swapped when a kept pair serves another leg."""
        self._on_closed = on_closed
        self.errors = 0
        loop.add_reader(sock.fileno(), self._read)

    def _read(self) -> None:
        # A few datagrams per wake-up at most; the rest wait for the next one.
        for _ in range(8):
            try:
                data, addr = self._sock.recvfrom(_RTCP_MAX_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:
                # ICMP unreachable from a phone that went away: routine (see _MediaProtocol).
                self.errors += 1
                logger.debug("RTCP socket error: %r", error)
                return
            try:
                self.handler(data, addr)
            except Exception:
                logger.exception("failed to handle an RTCP datagram from %s", addr)

    def send(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if self._sock.fileno() < 0:
            return
        try:
            self._sock.sendto(data, addr)
        except OSError as error:
            # A full buffer or an unreachable phone: RTCP is a report, not worth a retry.
            self.errors += 1
            logger.debug("RTCP send to %s failed: %r", addr, error)

    def close(self) -> None:
        if self._sock.fileno() < 0:
            return
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        on_closed, self._on_closed = self._on_closed, _nothing
        # As _MediaProtocol does: no reference back to the leg once closed.
        self.handler = _ignore_datagram
        on_closed()


_RTCP_MAX_SIZE = 65535


@dataclass(slots=True)
class _OpenPair:
    """A leg's two bound sockets, which outlive the leg when the pool keeps them."""

    host: str
    rtp_port: int
    rtp_transport: asyncio.DatagramTransport
    rtp_protocol: _MediaProtocol
    rtcp: _RtcpSocket

    def close(self) -> None:
        # abort, not close: a queued media packet is worthless once the leg is gone,
        # and close would keep the socket (and its ports) until the queue drained.
        try:
            self.rtp_transport.abort()
        finally:
            self.rtcp.close()


class _Released:
    """What a released pair sends through: nothing, since its sockets may serve another
    leg by now. Swapped in for the sockets so sending stays free of checks."""

    @staticmethod
    def sendto(data: bytes, addr: tuple[Any, ...]) -> None:
        return

    @staticmethod
    def send(data: bytes, addr: tuple[Any, ...]) -> None:
        return


_RELEASED = _Released()


class RtpSocketPair:
    """The RTP and RTCP sockets of one media leg, bound on ``rtp_port`` and ``rtp_port + 1``.

    Made by `PortPool.allocate`. Each datagram goes to the handler given there,
    with its source address. Closing it gives the sockets back to the pool, which
    keeps them open for a later leg or closes them; `wait_closed` waits until the
    ports are back. After `close` nothing is sent or handed to the handlers.
    """

    def __init__(
        self, sockets: _OpenPair, recycle: Callable[[_OpenPair], bool] | None = None
    ) -> None:
        self._sockets = sockets
        self.host = sockets.host
        """The local address both sockets are bound on."""
        self.rtp_port = sockets.rtp_port
        """The local RTP port (even)."""
        self.rtcp_port = sockets.rtp_port + 1
        """The local RTCP port (RFC 3550 §11: the RTP port plus one)."""
        self._rtp_out: asyncio.DatagramTransport | _Released = sockets.rtp_transport
        self._rtcp_out: _RtcpSocket | _Released = sockets.rtcp
        self._recycle = recycle
        # Errors of earlier legs on kept sockets are not this leg's.
        self._errors_before = sockets.rtp_protocol.errors + sockets.rtcp.errors
        self._kept = False
        self._closing = False

    @classmethod
    async def start(
        cls,
        *,
        host: str,
        rtp_port: int,
        rtp_sock: socket.socket,
        rtcp_sock: socket.socket,
        on_rtp: DatagramHandler,
        on_rtcp: DatagramHandler,
        on_closed: Callable[[], None],
        recycle: Callable[[_OpenPair], bool] | None = None,
    ) -> RtpSocketPair:
        """Receive on two sockets bound on ``rtp_port`` and the next port;
        ``on_closed`` runs once both are closed. ``recycle`` is offered the sockets when
        the pair is closed: True means it took them and they stay open."""
        loop = asyncio.get_running_loop()
        open_sockets = 2

        def one_lost() -> None:
            nonlocal open_sockets
            open_sockets -= 1
            if open_sockets == 0:
                on_closed()

        rtp_transport, rtp_protocol = await loop.create_datagram_endpoint(
            lambda: _MediaProtocol(on_rtp, one_lost), sock=rtp_sock
        )
        try:
            rtcp = _RtcpSocket(loop, rtcp_sock, on_rtcp, one_lost)
        except BaseException:
            # Only one socket will ever report closing, so on_closed never runs and
            # the caller gives the pair back itself.
            rtp_transport.abort()
            raise
        return cls(_OpenPair(host, rtp_port, rtp_transport, rtp_protocol, rtcp), recycle)

    @property
    def closing(self) -> bool:
        """Whether `close` has been called."""
        return self._closing

    @property
    def errors(self) -> int:
        """Socket errors reported so far (ICMP unreachable, failed sends)."""
        sockets = self._sockets
        return sockets.rtp_protocol.errors + sockets.rtcp.errors - self._errors_before

    def send_rtp(self, data: bytes, addr: tuple[Any, ...]) -> None:
        """Send one datagram from the RTP port."""
        self._rtp_out.sendto(data, addr)

    def send_rtcp(self, data: bytes, addr: tuple[Any, ...]) -> None:
        """Send one datagram from the RTCP port."""
        self._rtcp_out.send(data, addr)

    def close(self) -> None:
        """Stop sending and receiving now and give the sockets back (to be kept open or
        closed, dropping anything unsent); safe to call more than once."""
        if self._closing:
            return
        self._closing = True
        self._rtp_out = self._rtcp_out = _RELEASED
        sockets = self._sockets
        sockets.rtp_protocol.handler = _ignore_datagram
        sockets.rtcp.handler = _ignore_datagram
        if self._recycle is not None and self._recycle(sockets):
            self._kept = True
        else:
            sockets.close()

    async def wait_closed(self) -> None:
        """Wait until the ports are back in the pool: at once when it keeps the sockets,
        else when both are closed."""
        # The RTCP socket closes at once; the RTP transport reports its closing later.
        if not self._kept:
            await self._sockets.rtp_protocol.closed

    def __repr__(self) -> str:
        return f"<RtpSocketPair {self.host}:{self.rtp_port}/{self.rtcp_port}>"
