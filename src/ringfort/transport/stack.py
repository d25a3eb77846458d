"""The SIP pump: sockets in, transaction layer, events up, messages out.

No protocol decisions here (STYLE.md habit 2): the transaction layer decides,
this module feeds it, drains it, transmits and re-arms one timer.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable

from ringfort.sip.address import Peer
from ringfort.sip.events import ClientHandle, Event
from ringfort.sip.message import Request, Response
from ringfort.sip.transaction import ServerHandle, TransactionLayer
from ringfort.transport.sip import SipTransport

log = logging.getLogger(__name__)

TIMER_GRANULARITY = 0.02
"""Seconds: transaction timers due within one such slot fire together."""


class SipStack:
    """One listening address with its transaction layer.

    ``on_event`` receives the transaction layer's events (new requests,
    responses, ACKs of 2xx, time-outs). It is called synchronously and must
    not block; slow work belongs in a task the caller owns.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        udp: bool,
        tcp: bool,
        max_message_size: int,
        tcp_idle_timeout: float,
        layer: TransactionLayer,
        on_event: Callable[[Event], None],
        is_blocked: Callable[[str], bool] | None = None,
    ) -> None:
        self._layer = layer
        self._on_event = on_event
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pumping = False
        self.transport = SipTransport(
            host=host,
            port=port,
            udp=udp,
            tcp=tcp,
            max_message_size=max_message_size,
            tcp_idle_timeout=tcp_idle_timeout,
            on_message=self._on_message,
            is_blocked=is_blocked,
        )

    async def start(self) -> None:
        """Open the listeners."""
        self._loop = asyncio.get_running_loop()
        await self.transport.start()

    async def close(self) -> None:
        """Close the listeners and drop pending timers."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.transport.close()

    def now(self) -> float:
        """The monotonic clock the transaction timers run on."""
        assert self._loop is not None, "SipStack.start() first"
        return self._loop.time()

    def send_response(self, handle: ServerHandle, response: Response) -> None:
        """Answer a request received as a RequestReceived event."""
        self._layer.send_response(handle, response, self.now())
        self._pump()

    def send_request(self, request: Request, peer: Peer) -> ClientHandle:
        """Start a client transaction; its responses come back as events."""
        handle = self._layer.send_request(request, peer, self.now())
        self._pump()
        return handle

    def find_invite_server(self, cancel: Request) -> ServerHandle | None:
        """The INVITE server transaction a CANCEL names, if it still exists (RFC 3261 §9.2)."""
        return self._layer.find_invite_server(cancel)

    def flow_open(self, peer: Peer) -> bool:
        """Whether ``peer`` is still reachable the way it reached us.

        Always true for UDP; for TCP, whether the connection is still open.
        """
        return peer.transport != "TCP" or self.transport.has_connection(peer.host, peer.port)

    def sent_by(self) -> tuple[str, int]:
        """Our host and port as they go into a Via header."""
        return self.transport.via_host, self.transport.via_port

    def send_stateless(self, message: Request | Response, peer: Peer) -> None:
        """Transmit outside any transaction (ACK for a 2xx, a stateless reply)."""
        self.transport.send(message, peer)

    def _on_message(self, message: Request | Response, peer: Peer) -> None:
        now = self.now()
        try:
            if isinstance(message, Request):
                self._layer.receive_request(message, peer, now)
            else:
                self._layer.receive_response(message, peer, now)
        except Exception:
            # A peer's message must never take the server down.
            log.exception("transaction layer refused a message from %s:%s", peer.host, peer.port)
        self._pump()

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        try:
            self._layer.handle_timer(self.now())
        except Exception:
            log.exception("transaction timer failed")
        self._pump()

    def _pump(self) -> None:
        layer = self._layer
        for message, peer in layer.outgoing():
            self.transport.send(message, peer)
        if self._pumping:
            # Called from an event handler that sent something: it is on the wire
            # now, in order; the outer pump delivers the remaining events, so a
            # handler never sees the next event before it has finished.
            return
        self._pumping = True
        try:
            while (event := layer.next_event()) is not None:
                try:
                    self._on_event(event)
                except Exception:
                    log.exception("event handler failed for %s", type(event).__name__)
        finally:
            self._pumping = False
        # Handlers may have answered synchronously; transmit that too.
        for message, peer in layer.outgoing():
            self.transport.send(message, peer)
        self._arm()

    def _arm(self) -> None:
        deadline = self._layer.get_timer()
        if deadline is not None:
            # Under load a transaction ends every millisecond or so; waking
            # for each one would cost more than the work. Rounding up to the
            # granularity batches them, and no SIP timer needs finer aim.
            deadline = math.ceil(deadline / TIMER_GRANULARITY) * TIMER_GRANULARITY
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None and self._loop is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)
