"""SIP over UDP and TCP on one listening address: receive, stamp, route and send messages.

RFC 3261 §18 (transport layer) and RFC 3581 (rport). Protocol decisions stay in
the transaction layer; this module only moves bytes and applies the transport
rules: stamping ``received``/``rport`` on incoming requests and choosing where a
response goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import ipaddress
import itertools
import logging
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from ringfort.sip.address import Peer
from ringfort.sip.message import Request, Response, SipParseError, error_response, parse_message
from ringfort.transport.tcp import StreamConnection
from ringfort.transport.udp import DatagramProtocol

logger = logging.getLogger(__name__)

DEFAULT_PORT = 5060
"""RFC 3261 §19.1.2: the default port for SIP over UDP and TCP."""

CONNECT_TIMEOUT = 10.0
"""Seconds an outgoing TCP connect may take before its queued messages are dropped."""

BIND_ATTEMPTS = 5
"""Tries at finding a free port number that is free for both UDP and TCP."""

UDP_RECEIVE_BUFFER = 1 << 21
"""Socket receive buffer asked for, so a burst of datagrams waits for us instead of being lost."""


@dataclass(slots=True)
class TransportStats:
    """Counters of one `SipTransport`, for metrics and diagnostics."""

    messages_in: int = 0
    """Messages parsed and handed up."""
    messages_out: int = 0
    """Messages handed to a socket (or queued on a connecting TCP connection)."""
    parse_errors: int = 0
    """Datagrams and stream messages that did not parse, and streams that could not be framed."""
    dropped_blocked: int = 0
    """Datagrams and connections from blocked addresses, dropped unread."""
    dropped_oversized: int = 0
    """Datagrams larger than the maximum message size."""
    send_errors: int = 0
    """Messages that could not be sent, and errors the sockets reported."""
    tcp_connections: int = 0
    """TCP connections open (or opening) now."""
    tcp_refused: int = 0
    """Incoming TCP connections refused because too many were open."""


_PEER_CACHE_SIZE = 4096
"""Remote addresses whose Peer is kept for reuse; past it the cache starts again."""


class SipTransport:
    """SIP over UDP and TCP on one listening address (RFC 3261 §18).

    Incoming messages are parsed and handed to ``on_message`` with the `Peer`
    they came from; a TCP peer carries the connection's number so that replies
    reuse it. `send` routes requests to a peer and responses by the rules of
    RFC 3261 §18.2.2 and RFC 3581 §4. Nothing a peer sends, and no network
    error, escapes as an exception: malformed input is answered where possible
    and counted in `stats`.

    ``host`` should be an IP address; the wildcard (``0.0.0.0``, ``::``) binds
    every interface, and then ``advertised_host`` (or the address of the
    interface with the default route) goes in our Via and Contact.
    ``advertised_port`` likewise overrides the port there (a port forward).
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        udp: bool = True,
        tcp: bool = True,
        max_message_size: int = 65535,
        tcp_idle_timeout: float = 600.0,
        max_tcp_connections: int = 10000,
        advertised_host: str | None = None,
        advertised_port: int | None = None,
        on_message: Callable[[Request | Response, Peer], None],
        is_blocked: Callable[[str], bool] | None = None,
    ) -> None:
        if not (udp or tcp):
            raise ValueError("a SIP transport needs UDP, TCP or both")
        self.host = host
        self._requested_port = port
        self._port = port
        self._udp_enabled = udp
        self._tcp_enabled = tcp
        self._max_message_size = max_message_size
        self._tcp_idle_timeout = tcp_idle_timeout
        self._max_tcp_connections = max_tcp_connections
        self._advertised_host = advertised_host
        self._advertised_port = advertised_port
        self._on_message = on_message
        self._is_blocked = is_blocked
        self.stats = TransportStats()
        """Counters; read them, do not reset them."""

        self._loop: asyncio.AbstractEventLoop | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._udp_protocol: DatagramProtocol | None = None
        self._server: asyncio.Server | None = None
        self._connections: dict[int, StreamConnection] = {}
        # The newest open connection to each remote address, for reuse.
        self._by_address: dict[tuple[str, int], StreamConnection] = {}
        self._connection_ids = itertools.count(1)
        # One Peer per remote address, shared by every message and transaction from it:
        # thousands of transactions wait out their last timer under load, and one tuple
        # each would be that many more objects for the collector to walk.
        self._peers: dict[tuple[str, str, int, int | None], Peer] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._local_host: str | None = None
        self._started = False
        self._closing = False

    # lifecycle

    @property
    def port(self) -> int:
        """The listening port (the chosen one after `start` when 0 was asked for)."""
        return self._port

    @property
    def via_host(self) -> str:
        """The host for our Via sent-by and Contact: an IP address, without brackets."""
        if self._advertised_host is not None:
            return self._advertised_host
        if self._local_host is not None:
            return self._local_host
        return self.host

    @property
    def via_port(self) -> int:
        """The port for our Via sent-by and Contact."""
        if self._advertised_port is not None:
            return self._advertised_port
        return self._port

    async def start(self) -> None:
        """Bind UDP and TCP on the same port number.

        With port 0, TCP is bound first on a free port and UDP then takes the
        same number; if UDP finds it taken, both try again on another.
        """
        if self._started:
            raise RuntimeError("SipTransport.start() called twice")
        self._loop = asyncio.get_running_loop()
        attempts = (
            BIND_ATTEMPTS
            if self._requested_port == 0 and self._udp_enabled and self._tcp_enabled
            else 1
        )
        for attempt in range(1, attempts + 1):
            try:
                await self._bind(self._loop)
                break
            except OSError as error:
                if error.errno != errno.EADDRINUSE or attempt == attempts:
                    raise
                logger.debug("the free TCP port was taken for UDP; trying another")
        self._started = True
        if _is_wildcard(self.host) and self._advertised_host is None:
            self._local_host = _default_route_address(self.host)
        logger.info(
            "SIP listening on %s port %d (%s)",
            self.host,
            self._port,
            "+".join(
                name for name, on in (("UDP", self._udp_enabled), ("TCP", self._tcp_enabled)) if on
            ),
        )

    async def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        port = self._requested_port
        server: asyncio.Server | None = None
        if self._tcp_enabled:
            server = await loop.create_server(
                self._accept, self.host, port, reuse_address=True, backlog=1024
            )
            port = server.sockets[0].getsockname()[1]
        if self._udp_enabled:
            try:
                udp, protocol = await loop.create_datagram_endpoint(
                    lambda: DatagramProtocol(self), local_addr=(self.host, port)
                )
            except OSError:
                if server is not None:
                    server.close()
                    await server.wait_closed()
                raise
            port = udp.get_extra_info("sockname")[1]
            _enlarge_receive_buffer(udp)
            self._udp, self._udp_protocol = udp, protocol
        self._server = server
        self._port = port

    async def close(self) -> None:
        """Close the listeners and every connection, and wait for our tasks."""
        if self._closing:
            return
        self._closing = True
        if self._server is not None:
            self._server.close()
        if self._udp is not None:
            self._udp.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        connections = list(self._connections.values())
        for connection in connections:
            connection.close()
        if connections:
            # close() flushes first; a peer that does not read is cut off.
            _, stuck = await asyncio.wait([c.closed for c in connections], timeout=2.0)
            for connection in connections:
                if not connection.closed.done():
                    connection.abort()
            if stuck:
                await asyncio.wait(stuck, timeout=1.0)
        if self._udp_protocol is not None:
            await self._udp_protocol.closed
        if self._server is not None:
            await self._server.wait_closed()
        logger.info("SIP transport on %s port %d closed", self.host, self._port)

    # sending

    def send(self, message: Request | Response, peer: Peer) -> None:
        """Send a message without blocking; network errors are logged and counted, never raised.

        A request goes to ``peer``: by UDP to its address, or by TCP over
        ``peer.connection`` if open, else over any open connection to its
        address, else over a new connection. A response goes back over the
        connection its request came on if that is still open, else where the
        top Via says (RFC 3261 §18.2.2, RFC 3581 §4).
        """
        data = bytes(message)
        if isinstance(message, Response):
            self._send_response(data, message, peer)
        elif peer.transport == "UDP":
            self._send_datagram(data, peer.host, peer.port)
        elif peer.transport == "TCP":
            self._send_stream(data, peer.host, peer.port, peer.connection)
        else:
            self._unsendable(peer.transport)

    def _send_response(self, data: bytes, response: Response, peer: Peer) -> None:
        # RFC 3261 §18.2.2: reliable transports answer over the request's connection.
        if peer.connection is not None:
            connection = self._connections.get(peer.connection)
            if connection is not None and connection.write(data):
                self.stats.messages_out += 1
                return
        try:
            via = response.peek_top_via()
            rport = via.rport
        except SipParseError:
            logger.warning("cannot route a %d response: its top Via is unusable", response.status)
            self.stats.send_errors += 1
            return
        host = _bare_host(via.received or via.host)
        transport = via.transport
        if transport == "UDP":
            # RFC 3581 §4: with rport, to the source port the request came from.
            if rport is not None:
                port = rport
            else:
                port = via.port if via.port is not None else DEFAULT_PORT
            self._send_datagram(data, host, port)
        elif transport == "TCP":
            # The request's connection is gone: RFC 3261 §18.2.2 says open one to
            # the received address and the sent-by port (rport is for UDP only).
            port = via.port if via.port is not None else DEFAULT_PORT
            self._send_stream(data, host, port, None)
        else:
            self._unsendable(transport)

    def _send_datagram(self, data: bytes, host: str, port: int) -> None:
        udp = self._udp
        if udp is None or self._closing:
            self._unsendable("UDP")
            return
        if not _is_ip_address(host):
            # A socket would resolve the name synchronously and stall the loop.
            self._spawn(self._resolve_and_send(data, host, port))
            return
        try:
            udp.sendto(data, (host, port))
        except (OSError, ValueError, TypeError) as error:
            logger.debug("UDP send to %s:%d failed: %s", host, port, error)
            self.stats.send_errors += 1
            return
        self.stats.messages_out += 1

    async def _resolve_and_send(self, data: bytes, host: str, port: int) -> None:
        assert self._loop is not None
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        try:
            infos = await self._loop.getaddrinfo(host, port, family=family, type=socket.SOCK_DGRAM)
        except OSError as error:
            logger.warning("cannot resolve %s to send a UDP message: %s", host, error)
            self.stats.send_errors += 1
            return
        if infos:
            address = infos[0][4]
            self._send_datagram(data, str(address[0]), int(address[1]))

    def has_connection(self, host: str, port: int) -> bool:
        """Whether a TCP connection to or from ``host:port`` is open now."""
        connection = self._by_address.get(_address_key(host, port))
        return connection is not None and connection.is_open

    def _send_stream(self, data: bytes, host: str, port: int, connection_id: int | None) -> None:
        if not self._tcp_enabled or self._closing:
            self._unsendable("TCP")
            return
        connection = None
        if connection_id is not None:
            connection = self._connections.get(connection_id)
        if connection is None or not connection.is_open:
            connection = self._by_address.get(_address_key(host, port))
        if connection is None or not connection.is_open:
            connection = self._connect(host, port)
        if connection is not None and connection.write(data):
            self.stats.messages_out += 1
        else:
            self.stats.send_errors += 1

    def _connect(self, host: str, port: int) -> StreamConnection | None:
        if len(self._connections) >= self._max_tcp_connections:
            logger.warning(
                "not connecting to %s:%d: %d connections open", host, port, len(self._connections)
            )
            return None
        host = _bare_host(host)
        connection = StreamConnection(
            self,
            connection_id=next(self._connection_ids),
            max_message_size=self._max_message_size,
            idle_timeout=self._tcp_idle_timeout,
            remote=(host, port),
        )
        self._register(connection)
        self._spawn(self._open(connection))
        return connection

    async def _open(self, connection: StreamConnection) -> None:
        assert self._loop is not None
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await self._loop.create_connection(
                    lambda: connection, connection.host, connection.port
                )
        except asyncio.CancelledError:
            connection.abandon()
            raise
        except (OSError, TimeoutError) as error:
            logger.warning("cannot connect to %s:%d: %s", connection.host, connection.port, error)
            self.stats.send_errors += 1
            connection.abandon()

    def _unsendable(self, transport: str) -> None:
        self.stats.send_errors += 1
        if self._closing:
            logger.debug("not sending over %s: the transport is closing", transport)
        else:
            logger.warning("cannot send over %s: not available on this transport", transport)

    # receiving: UDP

    def datagram_received(self, data: bytes, host: str, port: int) -> None:
        """Handle one datagram (called by the UDP protocol)."""
        host = _unmapped(host)
        if self._is_blocked is not None and self._is_blocked(host):
            self.stats.dropped_blocked += 1
            return
        first = data[:1]
        if first in _KEEPALIVE_FIRST_BYTES and _is_keepalive(data):
            return
        if len(data) > self._max_message_size:
            # Still parsed (size-limited) so a 513 can be sent when possible.
            self.stats.dropped_oversized += 1
        self._receive(data, "UDP", host, port, None)

    def datagram_error(self, error: OSError) -> None:
        """Count an error the UDP socket reported."""
        logger.debug("UDP socket error: %s", error)
        self.stats.send_errors += 1

    # receiving: TCP

    def _accept(self) -> StreamConnection:
        return StreamConnection(
            self,
            connection_id=next(self._connection_ids),
            max_message_size=self._max_message_size,
            idle_timeout=self._tcp_idle_timeout,
        )

    def stream_opened(self, connection: StreamConnection) -> bool:
        """Admit a new connection, or refuse it (blocked, too many, closing)."""
        if connection.outgoing:
            return connection.id in self._connections
        if self._closing:
            return False
        connection.host = _unmapped(connection.host)
        if self._is_blocked is not None and self._is_blocked(connection.host):
            self.stats.dropped_blocked += 1
            return False
        if len(self._connections) >= self._max_tcp_connections:
            self.stats.tcp_refused += 1
            logger.warning("refusing a TCP connection from %s: too many open", connection.host)
            return False
        self._register(connection)
        return True

    def stream_message(self, connection: StreamConnection, data: bytes) -> None:
        """Handle one framed message from a connection."""
        if self._is_blocked is not None and self._is_blocked(connection.host):
            # Blocked since it connected (too many failed authentications, say).
            self.stats.dropped_blocked += 1
            connection.abort()
            return
        self._receive(data, "TCP", connection.host, connection.port, connection)

    def stream_broken(
        self, connection: StreamConnection, error: SipParseError, data: bytes | None
    ) -> None:
        """Answer what can be answered on a stream whose framing failed; it closes next."""
        self.stats.parse_errors += 1
        logger.debug("%r: unframeable stream: %s", connection, error)
        response = error_response(data, error) if data is not None else None
        if response is not None and connection.write(bytes(response)):
            self.stats.messages_out += 1

    def stream_closed(self, connection: StreamConnection) -> None:
        """Forget a connection that has gone."""
        if self._connections.pop(connection.id, None) is None:
            return
        self.stats.tcp_connections -= 1
        key = _address_key(connection.host, connection.port)
        if self._by_address.get(key) is connection:
            del self._by_address[key]

    def _register(self, connection: StreamConnection) -> None:
        self._connections[connection.id] = connection
        self._by_address[_address_key(connection.host, connection.port)] = connection
        self.stats.tcp_connections += 1

    # receiving: both

    def _receive(
        self, data: bytes, transport: str, host: str, port: int, connection: StreamConnection | None
    ) -> None:
        try:
            message = parse_message(data, max_size=self._max_message_size)
            if isinstance(message, Request):
                _stamp_via(message, host, port)
        except SipParseError as error:
            self.stats.parse_errors += 1
            logger.debug("unparsable message from %s:%d: %s", host, port, error)
            response = error_response(data, error)
            if response is None:
                return
            reply = bytes(response)
            if connection is not None:
                if connection.write(reply):
                    self.stats.messages_out += 1
            else:
                # To the source, not the Via: the Via is what failed to parse, perhaps.
                self._send_datagram(reply, host, port)
            return
        self.stats.messages_in += 1
        key = (transport, host, port, connection.id if connection is not None else None)
        peer = self._peers.get(key)
        if peer is None:
            if len(self._peers) >= _PEER_CACHE_SIZE:
                self._peers.clear()
            peer = self._peers[key] = Peer(*key)
        try:
            self._on_message(message, peer)
        except Exception:
            logger.exception("message handler failed for a message from %s:%d", host, port)

    # tasks

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _stamp_via(request: Request, host: str, port: int) -> None:
    """Record where a request really came from in its top Via (RFC 3261 §18.2.1, RFC 3581 §4)."""
    seen = request.peek_top_via()
    fill_rport = seen.has_rport and seen.rport is None
    if not fill_rport and not _host_differs(seen.host, host):
        return  # nothing to stamp: no copy of the Via
    via = request.top_via  # a fresh object: changing it changes nothing until written back
    if fill_rport:
        # RFC 3581 §4: fill in rport, and received even when it equals sent-by.
        via.params["rport"] = str(port)
    # RFC 5118 §4.5: an IPv6 received address is written as a reference, in brackets.
    via.params["received"] = f"[{host}]" if ":" in host else host
    request.replace_top_via(via)


_KEEPALIVE_FIRST_BYTES = (b"", b"\r", b"\n", b"\x00", b"\x01")


def _is_keepalive(data: bytes) -> bool:
    """CRLF keep-alives and STUN binding requests (RFC 5626 §4.4) are not SIP; drop them quietly."""
    # RFC 5389 §6: a STUN message starts with two zero bits; SIP starts with a letter.
    return not data or data[0] < 0x02 or not data.strip()


@functools.lru_cache(maxsize=1024)
def _is_ip_address(host: str) -> bool:
    # Kept by text: asked for every message sent, and the peers' addresses repeat.
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return True
    return False


def _bare_host(host: str) -> str:
    """An IPv6 reference as written in SIP (``[::1]``) to the address itself."""
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return host


def _unmapped(host: str) -> str:
    """``::ffff:192.0.2.1`` (IPv4 on a dual-stack socket) to ``192.0.2.1``."""
    if host.startswith("::ffff:") and "." in host:
        return host[7:]
    return host


def _address_key(host: str, port: int) -> tuple[str, int]:
    host = _bare_host(host).lower()
    if ":" in host:
        with contextlib.suppress(ValueError):
            host = ipaddress.IPv6Address(host).compressed
    return host, port


def _host_differs(via_host: str, source: str) -> bool:
    """Whether a Via sent-by host is not the packet's source address (RFC 3261 §18.2.1)."""
    via_host = _bare_host(via_host)
    if via_host == source:
        return False
    try:
        return ipaddress.ip_address(via_host) != ipaddress.ip_address(source)
    except ValueError:
        # A domain name always gets a received parameter.
        return True


def _is_wildcard(host: str) -> bool:
    return host in ("", "0.0.0.0", "::")  # noqa: S104 - recognising the wildcard, not binding it


def _default_route_address(host: str) -> str:
    """The address of the interface with the default route, for a wildcard listener."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = "2001:db8::1" if family == socket.AF_INET6 else "192.0.2.1"
    # connect() on a UDP socket only picks a route; no packet is sent.
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((probe, DEFAULT_PORT))
            return str(sock.getsockname()[0])
    except OSError:
        return "::1" if family == socket.AF_INET6 else "127.0.0.1"


def _enlarge_receive_buffer(udp: asyncio.DatagramTransport) -> None:
    sock = udp.get_extra_info("socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
    except OSError:
        logger.debug("could not enlarge the UDP receive buffer")
