"""The SIP UDP socket's protocol: datagrams in, socket errors counted."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class DatagramOwner(Protocol):
    """What the datagram protocol reports to the transport that owns it."""

    def datagram_received(self, data: bytes, host: str, port: int) -> None:
        """One datagram arrived from ``host``:``port``."""
        ...

    def datagram_error(self, error: OSError) -> None:
        """The socket reported an error (an ICMP unreachable, a failed send)."""
        ...


class DatagramProtocol(asyncio.DatagramProtocol):
    """Hands each datagram to its owner; kept thin because every message crosses it."""

    def __init__(self, owner: DatagramOwner) -> None:
        self._owner = owner
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        """Resolved once the socket is closed."""

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        """Pass the datagram up; nothing a peer sends may escape this callback."""
        try:
            self._owner.datagram_received(data, addr[0], addr[1])
        except Exception:
            logger.exception("failed to handle a datagram from %s:%s", addr[0], addr[1])

    def error_received(self, exc: Exception) -> None:
        """Report socket errors; the socket itself stays usable."""
        if isinstance(exc, OSError):
            self._owner.datagram_error(exc)
        else:
            logger.error("unexpected UDP socket error: %r", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        """Resolve `closed`."""
        if not self.closed.done():
            self.closed.set_result(None)
