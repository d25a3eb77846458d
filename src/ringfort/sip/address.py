"""Where a message came from or goes to, as the transport layer sees it."""

from __future__ import annotations

from typing import NamedTuple


class Peer(NamedTuple):
    """A remote transport address.

    ``connection`` identifies the TCP connection a message arrived on, so that
    answers and requests to a phone behind NAT reuse it (RFC 3261 §18.2.2,
    RFC 5626); it is ``None`` for UDP and for connections not yet opened.

    A tuple, as the transaction handles are: one is made for every message received,
    and a tuple is built and compared in C.
    """

    transport: str
    """``"UDP"`` or ``"TCP"`` (upper case, as in a Via header)."""
    host: str
    """An IP address, without brackets for IPv6."""
    port: int
    connection: int | None = None

    @property
    def reliable(self) -> bool:
        """Whether the transport retransmits for us (RFC 3261 §17.1.1.2)."""
        return self.transport != "UDP"
