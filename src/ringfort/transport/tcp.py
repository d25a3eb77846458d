"""One SIP stream connection over TCP: framing, keep-alive pongs, idle close and write limits."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol, cast

from ringfort.sip.framing import PING, StreamFramer
from ringfort.sip.message import SipParseError

logger = logging.getLogger(__name__)

PONG = b"\r\n"
"""RFC 5626 §3.5.1: a double-CRLF ping is answered with a single CRLF."""

MAX_WRITE_BACKLOG = 1 << 20
"""Bytes we let pile up for one peer; a peer that far behind is not reading, so we drop it."""


class StreamOwner(Protocol):
    """What a connection reports to the transport that owns it."""

    def stream_opened(self, connection: StreamConnection) -> bool:
        """A connection is up; return False to refuse it (it is then aborted)."""
        ...

    def stream_message(self, connection: StreamConnection, data: bytes) -> None:
        """One framed SIP message arrived."""
        ...

    def stream_broken(
        self, connection: StreamConnection, error: SipParseError, data: bytes | None
    ) -> None:
        """The byte stream cannot be framed; the connection closes after this returns.

        ``data`` is the unframeable message from its first byte when it arrived in
        the last read, else None.
        """
        ...

    def stream_closed(self, connection: StreamConnection) -> None:
        """The connection is gone, or an outgoing one never came up."""
        ...


class StreamConnection(asyncio.Protocol):
    """A TCP connection carrying SIP, incoming or outgoing.

    An outgoing connection exists before its socket does: writes made while it
    is connecting are queued and flushed once it is up, so the transport can
    hand it messages at once and reuse it for the next ones.
    """

    def __init__(
        self,
        owner: StreamOwner,
        *,
        connection_id: int,
        max_message_size: int,
        idle_timeout: float,
        remote: tuple[str, int] | None = None,
    ) -> None:
        self.id = connection_id
        """The number a `Peer.connection` carries to name this connection."""
        self.outgoing = remote is not None
        """True when we opened it."""
        self.host, self.port = remote if remote is not None else ("", 0)
        self._owner = owner
        self._framer = StreamFramer(max_message_size)
        self._idle_timeout = idle_timeout
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._queued: list[bytes] = []
        self._queued_size = 0
        self._closing = False
        self._last_activity = self._loop.time()
        self._idle_timer: asyncio.TimerHandle | None = None
        self.closed: asyncio.Future[None] = self._loop.create_future()
        """Resolved once the connection is gone."""

    def __repr__(self) -> str:
        direction = "to" if self.outgoing else "from"
        return f"<StreamConnection #{self.id} {direction} {self.host}:{self.port}>"

    @property
    def is_open(self) -> bool:
        """Whether writes are still accepted (connected, or still connecting)."""
        return not self._closing

    def write(self, data: bytes) -> bool:
        """Send ``data``, or queue it while connecting; False when the connection is closing."""
        if self._closing:
            return False
        transport = self._transport
        if transport is None:
            self._queued.append(data)
            self._queued_size += len(data)
            if self._queued_size > MAX_WRITE_BACKLOG:
                logger.warning("%r: too much queued while connecting; giving up", self)
                self.abort()
                return False
            return True
        self._last_activity = self._loop.time()
        transport.write(data)
        if transport.get_write_buffer_size() > MAX_WRITE_BACKLOG:
            logger.warning("%r: peer is not reading; dropping the connection", self)
            self.abort()
            return False
        return True

    def close(self) -> None:
        """Close after flushing what is already written."""
        if self._closing:
            return
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Close at once, discarding unsent data."""
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    def abandon(self) -> None:
        """Give up on an outgoing connection that never came up (the connect failed)."""
        if self._transport is None:
            self.connection_lost(None)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Register with the owner and flush anything queued while connecting."""
        # Typed as the base class; a stream protocol always gets a full Transport.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        if not self.outgoing:
            peername = transport.get_extra_info("peername")
            self.host, self.port = str(peername[0]), int(peername[1])
        try:
            accepted = self._owner.stream_opened(self)
        except Exception:
            logger.exception("%r: could not register the connection", self)
            accepted = False
        if not accepted or self._closing:
            self._closing = True
            transport.abort()
            return
        self._last_activity = self._loop.time()
        if self._queued:
            transport.write(b"".join(self._queued))
            self._queued.clear()
            self._queued_size = 0
        self._idle_timer = self._loop.call_later(self._idle_timeout, self._check_idle)

    def data_received(self, data: bytes) -> None:
        """Frame the stream and hand each message up; answer pings."""
        if self._closing:
            return
        self._last_activity = self._loop.time()
        framer = self._framer
        pending = 0
        try:
            framer.feed(data)
            while not self._closing:
                pending = framer.buffered
                message = framer.next_message()
                if message is None:
                    break
                if message == PING:
                    self._transport_write(PONG)
                    continue
                self._owner.stream_message(self, message)
        except SipParseError as error:
            # The framing is lost: nothing after this point can be trusted. The
            # framer drops its buffer on failure, but the broken message is the
            # tail of what it held, which this read still has if it was short.
            broken = data[len(data) - pending :] if 0 < pending <= len(data) else None
            try:
                self._owner.stream_broken(self, error, broken)
            except Exception:
                logger.exception("%r: error report failed", self)
            self.close()
        except Exception:
            logger.exception("%r: failed to handle incoming data; dropping the connection", self)
            self.abort()

    def eof_received(self) -> bool | None:
        """The peer closed its side; close ours (SIP has no use for half-open streams)."""
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """Unregister from the owner and resolve `closed`."""
        if self.closed.done():
            return
        self._closing = True
        self._queued.clear()
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        try:
            self._owner.stream_closed(self)
        except Exception:
            logger.exception("%r: close bookkeeping failed", self)
        self.closed.set_result(None)

    # internals

    def _transport_write(self, data: bytes) -> None:
        if self._transport is not None and not self._closing:
            self._transport.write(data)

    def _check_idle(self) -> None:
        # One timer per connection, re-armed lazily: cheaper than resetting a
        # timer on every message.
        self._idle_timer = None
        if self._closing:
            return
        remaining = self._last_activity + self._idle_timeout - self._loop.time()
        if remaining > 0:
            self._idle_timer = self._loop.call_later(remaining, self._check_idle)
            return
        logger.debug("%r: idle for %.0f s; closing", self, self._idle_timeout)
        self.close()
