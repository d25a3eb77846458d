"""Message-waiting indication: the voicemail lamp of a phone (RFC 3842 over RFC 6665).

A phone SUBSCRIBEs to ``message-summary`` for its own mailbox: it is challenged
like a REGISTER, gets 200 and at once a NOTIFY with the counts, then one each time
they change, until the subscription expires or is refreshed with ``Expires: 0``
(answered with a final NOTIFY). Phones that do not subscribe get the same NOTIFY
unsolicited, outside any dialog, whenever the counts change.

The counts are read from the store every ``poll_interval`` seconds for the
mailboxes that have voicemail on, so a message left, listened to or deleted from
any interface (a call, the CLI in another process, the API) turns the lamps on or
off within that time; `poke` looks at once (after a message was left here).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from ringfort import randomness
from ringfort.pbx.location import LocationService, reachable_peer
from ringfort.pbx.outgoing import bracket, our_contact, our_via
from ringfort.pbx.ports import Binding
from ringfort.pbx.registrar import Authorizer
from ringfort.periodic import Periodic
from ringfort.sip.address import Peer
from ringfort.sip.dialog import Dialog, DialogKey, incoming_key
from ringfort.sip.events import ClientHandle, ServerHandle
from ringfort.sip.headers import NameAddr, Via
from ringfort.sip.message import Headers, Request, Response, make_response
from ringfort.sip.uri import URI

__all__ = ["MailboxCounts", "MessageWaiting", "summary_body"]

log = logging.getLogger(__name__)

EVENT = "message-summary"
CONTENT_TYPE = "application/simple-message-summary"
MIN_EXPIRES = 60
MAX_EXPIRES = 3600
POLL_INTERVAL = 2.0

Counts = tuple[int, int]
"""New and old messages."""


class MailboxCounts(Protocol):
    """The store's message counts (the voicemail service)."""

    async def mailboxes(self) -> list[tuple[str, int, int]]:
        """Every mailbox with voicemail on: (number, new, old)."""
        ...


class Sender(Protocol):
    """What the SIP stack does for us."""

    def send_response(self, handle: ServerHandle, response: Response) -> None: ...

    def send_request(self, request: Request, peer: Peer) -> ClientHandle: ...

    def sent_by(self) -> tuple[str, int]: ...

    def flow_open(self, peer: Peer) -> bool: ...


@dataclass(eq=False)
class _Subscription:
    mailbox: str
    dialog: Dialog
    peer: Peer
    expires_at: float
    contact: str
    """The subscriber's Contact, so unsolicited NOTIFYs skip the phones that subscribed."""


def summary_body(mailbox: str, host: str, counts: Counts) -> bytes:
    """The ``application/simple-message-summary`` document (RFC 3842 §5.2)."""
    new, old = counts
    return (
        f"Messages-Waiting: {'yes' if new else 'no'}\r\n"
        f"Message-Account: sip:{mailbox}@{host}\r\n"
        f"Voice-Message: {new}/{old}\r\n"
    ).encode()


class MessageWaiting:
    """Subscriptions to mailboxes' message counts, and the NOTIFYs that keep lamps right."""

    def __init__(
        self,
        *,
        sender: Sender,
        authorizer: Authorizer,
        location: LocationService,
        counts: MailboxCounts,
        wall_clock: Callable[[], float] = time.time,
        poll_interval: float = POLL_INTERVAL,
        server_header: str = "Ringfort",
    ) -> None:
        self._sender = sender
        self._authorizer = authorizer
        self._location = location
        self._counts = counts
        self._wall = wall_clock
        self._server_header = server_header
        self._subscriptions: dict[DialogKey, _Subscription] = {}
        self._known: dict[str, Counts] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._poller = Periodic(self.check, poll_interval, "reading the mailboxes' counts")

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Begin watching the counts."""
        self._poller.start()

    async def close(self) -> None:
        """Stop watching (subscriptions simply lapse: the phones will subscribe again)."""
        await self._poller.close()
        for task in list(self._tasks):
            task.cancel()

    def poke(self) -> None:
        """Look at the counts now (a message was just left)."""
        self._poller.poke()

    @property
    def subscriptions(self) -> int:
        """How many subscriptions are in force."""
        return len(self._subscriptions)

    # -- SUBSCRIBE ------------------------------------------------------------------------------

    def on_subscribe(self, handle: ServerHandle, request: Request, peer: Peer) -> None:
        """A SUBSCRIBE, new (no To tag) or within a subscription's dialog."""
        event = (request.headers.get("Event") or "").partition(";")[0].strip().lower()
        if event != EVENT:
            response = make_response(request, 489, "Bad Event")
            response.headers.set("Allow-Events", EVENT)
            self._reply(handle, response)
            return
        if request.to_tag is not None:
            self._refresh(handle, request)
            return
        challenge = self._authorizer.challenge_if_anonymous(request, self._wall())
        if challenge is not None:
            self._reply(handle, challenge)
            return
        self._spawn(self._subscribe(handle, request, peer))

    async def _subscribe(self, handle: ServerHandle, request: Request, peer: Peer) -> None:
        username, refusal = await self._authorizer.authenticate(request, peer, self._wall())
        if refusal is not None:
            self._reply(handle, refusal)
            return
        assert username is not None
        target = request.uri.unescaped_user if request.uri.scheme in ("sip", "sips") else None
        if target and target != username and target.isdigit():
            # A phone watches its own mailbox; another's messages are not its business.
            self._reply(handle, make_response(request, 403, "Not Your Mailbox"))
            return
        expires = self._expires(request)
        if expires is None:
            self._reply(handle, make_response(request, 400, "Bad Expires"))
            return
        if 0 < expires < MIN_EXPIRES:
            response = make_response(request, 423, "Interval Too Brief")
            response.headers.set("Min-Expires", str(MIN_EXPIRES))
            self._reply(handle, response)
            return
        tag = randomness.token_hex(6)
        response = make_response(request, 200, to_tag=tag)
        dialog = Dialog.as_uas(request, tag)
        response.headers.set("Contact", self._contact(peer))
        response.headers.set("Expires", str(expires))
        self._reply(handle, response)
        subscription = _Subscription(
            username, dialog, peer, self._wall() + expires, request.headers.get("Contact") or ""
        )
        if expires == 0:
            # A fetch (RFC 6665 §4.4.3): one NOTIFY with the state, and done.
            await self._tell(subscription, terminated="timeout")
            return
        self._subscriptions[dialog.key] = subscription
        log.info("%s subscribed to its mailbox's messages for %d s", username, expires)
        await self._tell(subscription)

    def _refresh(self, handle: ServerHandle, request: Request) -> None:
        key = incoming_key(request)
        subscription = self._subscriptions.get(key) if key is not None else None
        if subscription is None or not subscription.dialog.accept(request):
            self._reply(handle, make_response(request, 481, "Subscription Does Not Exist"))
            return
        expires = self._expires(request)
        if expires is None or 0 < expires < MIN_EXPIRES:
            self._reply(handle, make_response(request, 400, "Bad Expires"))
            return
        subscription.dialog.refresh_target(request)
        response = make_response(request, 200)
        response.headers.set("Contact", self._contact(subscription.peer))
        response.headers.set("Expires", str(expires))
        self._reply(handle, response)
        if expires == 0:
            del self._subscriptions[subscription.dialog.key]
            self._spawn(self._tell(subscription, terminated="timeout"))
            return
        subscription.expires_at = self._wall() + expires
        self._spawn(self._tell(subscription))

    def _expires(self, request: Request) -> int | None:
        text = request.headers.get("Expires")
        if text is None:
            return MAX_EXPIRES
        text = text.strip()
        if not text.isdigit():
            return None
        return min(int(text), MAX_EXPIRES)

    # -- NOTIFY ---------------------------------------------------------------------------------

    async def _tell(self, subscription: _Subscription, *, terminated: str | None = None) -> None:
        """NOTIFY the subscriber of its mailbox's counts as they are now."""
        counts = (await self._current()).get(subscription.mailbox, (0, 0))
        self._notify(subscription, counts, terminated=terminated)

    def _notify(
        self, subscription: _Subscription, counts: Counts, *, terminated: str | None = None
    ) -> None:
        left = max(0, round(subscription.expires_at - self._wall()))
        state = f"terminated;reason={terminated}" if terminated else f"active;expires={left}"
        peer = subscription.peer
        host, _ = self._sender.sent_by()
        notify = subscription.dialog.request(
            "NOTIFY",
            self._via(peer),
            contact=self._contact(peer),
            body=summary_body(subscription.mailbox, host, counts),
            content_type=CONTENT_TYPE,
        )
        notify.headers.set("Event", EVENT)
        notify.headers.set("Subscription-State", state)
        self._sender.send_request(notify, peer)

    def _unsolicited(self, mailbox: str, counts: Counts) -> None:
        """The NOTIFY for each phone of ``mailbox`` that did not subscribe."""
        subscribed = {s.contact for s in self._subscriptions.values() if s.mailbox == mailbox}
        for binding in self._location.bindings(mailbox, self._wall()):
            if any(binding.contact in contact for contact in subscribed):
                continue
            peer = reachable_peer(binding, self._sender.flow_open)
            if peer is not None:
                self._sender.send_request(self._unsolicited_notify(binding, peer, counts), peer)

    def _unsolicited_notify(self, binding: Binding, peer: Peer, counts: Counts) -> Request:
        host, port = self._sender.sent_by()
        account = URI(scheme="sip", user=binding.number, host=host, port=port)
        headers = Headers(
            [
                ("Via", str(self._via(peer))),
                ("Max-Forwards", "70"),
                ("From", str(NameAddr(None, account, {"tag": randomness.token_hex(6)}))),
                ("To", str(NameAddr(None, account))),
                ("Call-ID", f"{randomness.token_hex(12)}@{bracket(host)}"),
                ("CSeq", "1 NOTIFY"),
                ("Contact", self._contact(peer)),
                ("Event", EVENT),
                ("Subscription-State", "active"),
                ("Content-Type", CONTENT_TYPE),
                ("User-Agent", self._server_header),
            ]
        )
        body = summary_body(binding.number, host, counts)
        return Request("NOTIFY", URI.parse(binding.contact), headers, body)

    # -- watching the counts --------------------------------------------------------------------

    async def _current(self) -> dict[str, Counts]:
        return {number: (new, old) for number, new, old in await self._counts.mailboxes()}

    async def check(self) -> None:
        """Compare the counts with the last look; tell every phone of a changed mailbox."""
        current = await self._current()
        now = self._wall()
        for key, subscription in list(self._subscriptions.items()):
            if subscription.expires_at <= now:
                del self._subscriptions[key]
                counts = current.get(subscription.mailbox, (0, 0))
                self._notify(subscription, counts, terminated="timeout")
        known, self._known = self._known, current
        if known is None:
            return  # the first look: what phones were told before the start is unknown
        for mailbox in set(current) | set(known):
            counts = current.get(mailbox, (0, 0))
            if counts == known.get(mailbox, (0, 0)):
                continue
            log.info("mailbox %s: %d new, %d old", mailbox, *counts)
            for subscription in self._subscriptions.values():
                if subscription.mailbox == mailbox:
                    self._notify(subscription, counts)
            self._unsolicited(mailbox, counts)

    # -- helpers --------------------------------------------------------------------------------

    def _via(self, peer: Peer) -> Via:
        return our_via(self._sender.sent_by(), peer)

    def _contact(self, peer: Peer) -> str:
        return our_contact(self._sender.sent_by(), peer)

    def _reply(self, handle: ServerHandle, response: Response) -> None:
        response.headers.set("Server", self._server_header)
        self._sender.send_response(handle, response)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
