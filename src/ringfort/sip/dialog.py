"""Dialogs (RFC 3261 §12): the state two user agents share, and the requests sent within one."""

from __future__ import annotations

from dataclasses import dataclass, field

from ringfort.sip.headers import NameAddr, Via
from ringfort.sip.message import Headers, Request, Response
from ringfort.sip.uri import URI

__all__ = ["Dialog", "DialogKey", "incoming_key"]

DialogKey = tuple[str, str, str]
"""``(Call-ID, local tag, remote tag)``: what identifies a dialog at one end (RFC 3261 §12)."""


def incoming_key(request: Request) -> DialogKey | None:
    """The key of the dialog an incoming request belongs to, from the receiver's side.

    None when the request carries no To tag (it is outside any dialog, §12.2.2).
    """
    local = request.to_tag
    remote = request.from_tag
    if local is None:
        return None
    return (request.call_id, local, remote or "")


@dataclass(slots=True)
class Dialog:
    """One end of a dialog: what is needed to match requests and to build new ones.

    Built by a UAS from the request and its 2xx or 1xx (``as_uas``) or by a UAC from
    its request and the response (``as_uac``). Requests to the remote end go out
    through ``request``; the ACK of a 2xx through ``ack``.
    """

    call_id: str
    local: NameAddr
    """Our URI with our tag: From in the requests we send."""
    remote: NameAddr
    """The peer's URI with its tag: To in the requests we send."""
    remote_target: URI
    """The peer's Contact: the Request-URI of the requests we send (§12.2.1.1)."""
    route_set: list[str] = field(default_factory=list)
    local_cseq: int = 0
    remote_cseq: int | None = None

    @property
    def key(self) -> DialogKey:
        """``(Call-ID, local tag, remote tag)``."""
        return (self.call_id, self.local.tag or "", self.remote.tag or "")

    @classmethod
    def as_uas(cls, request: Request, local_tag: str) -> Dialog:
        """The dialog a UAS creates by answering ``request`` with ``local_tag`` (§12.1.1)."""
        # The message's accessors hand out copies already: no need for more.
        local = request.to
        local.params["tag"] = local_tag
        contacts = request.contacts
        remote = request.from_
        return cls(
            call_id=request.call_id,
            local=local,
            remote=remote,
            remote_target=contacts[0].uri if contacts else remote.uri.copy(),
            route_set=[str(route) for route in request.record_routes],
            local_cseq=0,
            remote_cseq=request.cseq.number,
        )

    @classmethod
    def as_uac(cls, request: Request, response: Response) -> Dialog:
        """The dialog a UAC's ``request`` set up with ``response`` (§12.1.2)."""
        contacts = response.contacts
        return cls(
            call_id=request.call_id,
            local=request.from_,
            remote=response.to,
            remote_target=contacts[0].uri if contacts else request.uri.copy(),
            # The UAC's route set is the Record-Route of the response, reversed.
            route_set=[str(route) for route in reversed(response.record_routes)],
            local_cseq=request.cseq.number,
        )

    def accept(self, request: Request) -> bool:
        """Record an incoming in-dialog request's CSeq; False when it is out of order.

        §12.2.2: a CSeq lower than the last one is refused with 500. ACK and CANCEL
        carry the number of the request they belong to, so they are not checked.
        """
        if request.method in ("ACK", "CANCEL"):
            return True
        number = request.cseq.number
        if self.remote_cseq is not None and number <= self.remote_cseq:
            return False
        self.remote_cseq = number
        return True

    def refresh_target(self, message: Request | Response) -> None:
        """Take a new remote target from a target refresh (re-INVITE, UPDATE; §12.2)."""
        contacts = message.contacts
        if contacts:
            self.remote_target = contacts[0].uri

    def request(
        self,
        method: str,
        via: Via,
        *,
        contact: str | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Request:
        """A new request within the dialog, with the next local CSeq (§12.2.1.1)."""
        self.local_cseq += 1
        return self._build(method, via, self.local_cseq, contact, body, content_type)

    def ack(
        self, invite_cseq: int, via: Via, *, body: bytes = b"", content_type: str | None = None
    ) -> Request:
        """The ACK of a 2xx to the INVITE with ``invite_cseq`` (§13.2.2.4): its own branch."""
        return self._build("ACK", via, invite_cseq, None, body, content_type)

    def _build(
        self,
        method: str,
        via: Via,
        cseq: int,
        contact: str | None,
        body: bytes,
        content_type: str | None,
    ) -> Request:
        headers = Headers(
            [
                ("Via", str(via)),
                ("Max-Forwards", "70"),
                ("From", str(self.local)),
                ("To", str(self.remote)),
                ("Call-ID", self.call_id),
                ("CSeq", f"{cseq} {method}"),
            ]
        )
        # Every element of a route set we build is a loose router (RFC 3261 §16.12.1.1);
        # strict routers (RFC 2543) are not supported.
        for route in self.route_set:
            headers.add("Route", route)
        if contact is not None:
            headers.add("Contact", contact)
        if body:
            headers.add("Content-Type", content_type or "application/sdp")
        return Request(method, self.remote_target.copy(), headers, body)
