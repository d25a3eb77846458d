"""The server core: what Ringfort does with each SIP request it receives.

It takes the transaction layer's events, hands REGISTER to the registrar and
calls (INVITE and everything within a dialog) to the B2BUA, answers OPTIONS
itself, and refuses what is not built yet with the right status, so a phone
never waits on a request nobody will answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from ringfort.pbx.b2bua import B2bua
from ringfort.pbx.mwi import MessageWaiting
from ringfort.pbx.registrar import ALLOW, Registrar
from ringfort.sip.address import Peer
from ringfort.sip.events import (
    AckReceived,
    ClientHandle,
    Event,
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from ringfort.sip.message import Request, Response, make_response
from ringfort.sip.transaction import ServerHandle

log = logging.getLogger(__name__)

ACCEPT = "application/sdp, application/dtmf-relay, message/sipfrag"


class Responder(Protocol):
    """How the core answers a request (the SIP stack, or a test double)."""

    def send_response(self, handle: ServerHandle, response: Response) -> None:
        """Send ``response`` on the server transaction ``handle``."""
        ...


class PbxCore:
    """Dispatches incoming SIP requests to the part of the PBX that owns them."""

    def __init__(
        self,
        *,
        registrar: Registrar,
        wall_clock: Callable[[], float] = time.time,
        server_header: str = "Ringfort",
    ) -> None:
        self._registrar = registrar
        self._calls: B2bua | None = None
        self._mwi: MessageWaiting | None = None
        self._wall = wall_clock
        self._server_header = server_header
        self._responder: Responder | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(
        self,
        responder: Responder,
        calls: B2bua | None = None,
        mwi: MessageWaiting | None = None,
    ) -> None:
        """Connect the core to the stack that carries its answers, to the B2BUA that takes
        calls (without one, INVITE gets 501), and to the message-waiting subscriptions
        (without them, SUBSCRIBE gets 501)."""
        self._responder = responder
        self._calls = calls
        self._mwi = mwi

    def on_event(self, event: Event) -> None:
        """Handle one transaction-layer event (called by the SIP stack)."""
        match event:
            case RequestReceived(transaction=handle, request=request, peer=peer):
                self._on_request(handle, request, peer)
            case _ if self._calls is None:
                pass
            case ResponseReceived(transaction=handle, response=response):
                self._calls.on_response(handle, response)
            case AckReceived(request=request):
                self._calls.on_ack(request)
            case StrayResponse(response=response):
                self._calls.on_stray_response(response)
            case TransactionTimedOut(transaction=ClientHandle() as handle):
                self._calls.on_client_failure(handle, 408)
            case TransportFailed(transaction=ClientHandle() as handle):
                self._calls.on_client_failure(handle, 503)
            case TransactionTerminated(transaction=ClientHandle() as handle):
                self._calls.on_terminated(handle)
            case TransactionTerminated(transaction=ServerHandle() as handle):
                self._calls.on_server_terminated(handle)
            case _:
                pass

    def _on_request(self, handle: ServerHandle, request: Request, peer: Peer) -> None:
        method = request.method
        calls = self._calls
        if method == "REGISTER":
            self._spawn(self._register(handle, request, peer))
        elif method == "ACK":
            pass  # ACK is never answered (RFC 3261 §17.2.3)
        elif method == "SUBSCRIBE" and self._mwi is not None:
            self._mwi.on_subscribe(handle, request, peer)
        elif calls is not None and method != "CANCEL" and request.to_tag is not None:
            calls.on_in_dialog(handle, request, peer)
        elif method == "OPTIONS":
            self._answer(handle, self._options(request))
        elif calls is not None and method == "INVITE":
            calls.on_invite(handle, request, peer)
        elif calls is not None and method == "CANCEL":
            calls.on_cancel(handle, request)
        elif method in ("BYE", "INFO", "UPDATE", "PRACK"):
            # RFC 3261 §12.2.2: these belong to a dialog; without a To tag there is none.
            self._answer(handle, make_response(request, 481, "Call/Transaction Does Not Exist"))
        elif method == "CANCEL":
            self._answer(handle, make_response(request, 481))
        elif method in ("INVITE", "REFER", "NOTIFY", "SUBSCRIBE", "MESSAGE"):
            response = make_response(request, 501, "Not Implemented")
            response.headers.set("Allow", ALLOW)
            self._answer(handle, response)
        else:
            # RFC 3261 §8.2.1: an unknown method gets 405 with the methods we do know.
            response = make_response(request, 405)
            response.headers.set("Allow", ALLOW)
            self._answer(handle, response)

    def _options(self, request: Request) -> Response:
        # RFC 3261 §11.2: OPTIONS is answered as an INVITE would be, with what we support.
        response = make_response(request, 200)
        response.headers.set("Allow", ALLOW)
        response.headers.set("Accept", ACCEPT)
        response.headers.set("Accept-Language", "en, ru")
        return response

    async def _register(self, handle: ServerHandle, request: Request, peer: Peer) -> None:
        try:
            response = await self._registrar.handle(request, peer, self._wall())
        except Exception:
            # Every server transaction must get an answer, or it lingers and
            # the phone retransmits; the database being away is no excuse.
            log.exception("REGISTER from %s:%s failed", peer.host, peer.port)
            response = make_response(request, 500, "Server Internal Error")
            response.headers.set("Retry-After", "5")
        self._answer(handle, response)

    def _answer(self, handle: ServerHandle, response: Response) -> None:
        response.headers.set("Server", self._server_header)
        if self._responder is None:
            raise RuntimeError("PbxCore.attach() was not called")
        self._responder.send_response(handle, response)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("request handler failed", exc_info=error)

    async def drain(self) -> None:
        """Wait for requests being handled to finish (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
