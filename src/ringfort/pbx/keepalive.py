"""NAT keep-alive: OPTIONS to phones that can only be reached where they registered from.

A phone behind NAT is reachable only while its NAT keeps the mapping from its
REGISTER open, typically 30 to 120 seconds for UDP. An OPTIONS request every
``interval`` seconds to the binding's source address keeps it open (and, over
TCP, keeps the phone's own connection busy), so calls can reach the phone
between its registrations. Phones on the same network as Ringfort get none.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from ringfort import randomness
from ringfort.pbx.location import LocationService, target_of
from ringfort.pbx.outgoing import bracket, our_via
from ringfort.pbx.ports import Binding
from ringfort.sip.address import Peer
from ringfort.sip.message import Headers, Request
from ringfort.sip.uri import URI

log = logging.getLogger(__name__)


class RequestSender(Protocol):
    """What the keep-alive needs from the SIP stack."""

    def send_request(self, request: Request, peer: Peer) -> object:
        """Start a client transaction for ``request`` towards ``peer``."""
        ...

    def sent_by(self) -> tuple[str, int]:
        """Host and port to put in our Via and From."""
        ...

    def flow_open(self, peer: Peer) -> bool:
        """Whether the path the phone registered over still exists (its TCP connection)."""
        ...


def needs_keepalive(binding: Binding) -> bool:
    """Whether only the REGISTER's own path reaches this binding."""
    return binding.behind_nat or binding.transport == "TCP"


def keepalive_request(binding: Binding, peer: Peer, host: str, port: int) -> Request:
    """An OPTIONS to the binding's Contact, sent from ``host:port`` (RFC 3261 §11.1)."""
    contact = URI.parse(binding.contact)
    via = our_via((host, port), peer)
    local = bracket(host)
    headers = Headers(
        [
            ("Via", str(via)),
            ("Max-Forwards", "70"),
            ("From", f"<sip:ringfort@{local}:{port}>;tag={randomness.token_hex(6)}"),
            ("To", f"<{binding.contact}>"),
            ("Call-ID", f"{randomness.token_hex(12)}@{local}"),
            ("CSeq", "1 OPTIONS"),
            ("Accept", "application/sdp"),
        ]
    )
    return Request("OPTIONS", contact, headers)


class NatKeepalive:
    """Pings every binding that needs it, every ``interval`` seconds."""

    def __init__(
        self,
        *,
        location: LocationService,
        sender: RequestSender,
        interval: float,
        wall_clock: Callable[[], float],
        on_flow_lost: Callable[[Binding], None],
    ) -> None:
        self._location = location
        self._on_flow_lost = on_flow_lost
        self._sender = sender
        self._interval = interval
        self._wall = wall_clock

    def ping_all(self) -> int:
        """Send one OPTIONS to each binding behind NAT; returns how many were sent."""
        host, port = self._sender.sent_by()
        sent = 0
        for binding in self._location.all(self._wall()):
            if not needs_keepalive(binding):
                continue
            peer = target_of(binding)
            if not self._sender.flow_open(peer):
                # The phone's TCP connection is gone. Behind NAT it cannot be
                # opened from our side (RFC 5626 §4.4): the binding reaches
                # nobody until the phone registers again. Otherwise there is
                # no mapping to keep open, so no ping.
                if binding.behind_nat:
                    log.info("dropping %s: its TCP connection closed", binding.contact)
                    self._location.remove(binding.number, binding.contact)
                    self._on_flow_lost(binding)
                continue
            try:
                self._sender.send_request(keepalive_request(binding, peer, host, port), peer)
            except Exception:
                # One odd Contact must not stop the others' keep-alives.
                log.exception("keep-alive to %s failed", binding.contact)
                continue
            sent += 1
        return sent

    async def run(self) -> None:
        """Ping forever (cancel the task to stop)."""
        while True:
            await asyncio.sleep(self._interval)
            sent = self.ping_all()
            if sent:
                log.debug("sent %d NAT keep-alive(s)", sent)
