"""The registrar: REGISTER with digest authentication (RFC 3261 §10.3).

It decides; it does not do I/O. The server core hands it a request and the
source address, awaits its answer, and sends the response. Bindings go into
the :class:`LocationService` at once and are written behind to the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate

from ringfort import randomness
from ringfort.errors import RemoteProtocolError
from ringfort.pbx.guard import AuthGuard
from ringfort.pbx.location import LocationService, is_behind_nat
from ringfort.pbx.ports import Binding, BlockedAddress, ExtensionDirectory
from ringfort.sip.address import Peer
from ringfort.sip.auth import AuthResult, DigestAuthenticator, DigestCredentials
from ringfort.sip.headers import AuthHeader, Contact
from ringfort.sip.message import Request, Response, make_response

log = logging.getLogger(__name__)

# Longer Contacts are refused: no phone needs one, and a database index
# (PostgreSQL's on (number, contact)) cannot hold arbitrary lengths.
MAX_CONTACT_LENGTH = 1024

# What this node answers today; grows as features land.
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, REFER, SUBSCRIBE"


@dataclass(frozen=True, slots=True)
class RegistrarPolicy:
    """Limits on what a phone may ask for."""

    min_expires: int
    max_expires: int
    default_expires: int
    max_contacts: int


@dataclass(frozen=True, slots=True)
class BindingChange:
    """What a REGISTER changed, for the store's write-behind queue."""

    upserts: list[Binding]
    deletes: list[tuple[str, str]]


class Authorizer:
    """Digest authentication of requests, with blocking of guessing addresses.

    Shared by the registrar (401, RFC 3261 §22.2) and call set-up (407, §22.3),
    so that every failure from an address counts towards the same block.
    """

    def __init__(
        self,
        *,
        directory: ExtensionDirectory,
        authenticator: DigestAuthenticator,
        guard: AuthGuard,
        on_block: Callable[[BlockedAddress], None],
    ) -> None:
        self._directory = directory
        self._authenticator = authenticator
        self._guard = guard
        self._on_block = on_block

    def challenge(
        self, request: Request, now: float, *, stale: bool = False, proxy: bool = False
    ) -> Response:
        """A 401 (or, with ``proxy``, a 407) carrying one challenge per algorithm we accept."""
        response = make_response(request, 407 if proxy else 401, to_tag=_new_tag())
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        for value in self._authenticator.challenge(now, stale=stale):
            response.headers.add(name, value)
        return response

    def challenge_if_anonymous(
        self, request: Request, now: float, *, proxy: bool = False
    ) -> Response | None:
        """The challenge for a request that carries no credentials at all, else None.

        Needs no lookup, so a caller on a hot path can answer it without awaiting
        ``authenticate`` (which gives the same answer for such a request).
        """
        if request.headers.get("Proxy-Authorization" if proxy else "Authorization") is None:
            return self.challenge(request, now, proxy=proxy)
        return None

    async def authenticate(
        self, request: Request, source: Peer, now: float, *, proxy: bool = False
    ) -> tuple[str | None, Response | None]:
        """Check the request's Authorization (Proxy-Authorization with ``proxy``).

        Returns ``(username, None)`` when it is authentic, or ``(None,
        response)`` with the 401/407/403/400 to answer otherwise.
        """
        if (challenge := self.challenge_if_anonymous(request, now, proxy=proxy)) is not None:
            return None, challenge
        header = request.headers.get("Proxy-Authorization" if proxy else "Authorization")
        assert header is not None
        try:
            parsed = AuthHeader.parse(header)
            if parsed.scheme.lower() != "digest":
                raise RemoteProtocolError(f"unsupported authorization scheme {parsed.scheme!r}")
            credentials = DigestCredentials.from_params(parsed.params)
        except RemoteProtocolError as error:
            return None, make_response(request, error.status, error.reason, to_tag=_new_tag())
        account = await self._directory.credentials(credentials.username)
        if account is None:
            # Same answer as a wrong password: do not tell a scanner which
            # numbers exist.
            self._fail(source, now, f"unknown user {credentials.username!r}")
            return None, make_response(request, 403, to_tag=_new_tag())
        result = self._authenticator.verify(
            credentials, password=account.password, method=request.method, now=now
        )
        if result is AuthResult.OK:
            self._guard.record_success(source.host)
            return credentials.username, None
        if result is AuthResult.STALE:
            return None, self.challenge(request, now, stale=True, proxy=proxy)
        self._fail(source, now, f"wrong password for {credentials.username!r}")
        return None, make_response(request, 403, to_tag=_new_tag())

    def _fail(self, source: Peer, now: float, reason: str) -> None:
        log.info("authentication failed from %s: %s", source.host, reason)
        block = self._guard.record_failure(source.host, now, reason)
        if block is not None:
            log.warning(
                "blocking %s until %s after %d failed authentications (%s)",
                block.address,
                formatdate(block.blocked_until, usegmt=True),
                block.failures,
                reason,
            )
            self._on_block(block)


class Registrar:
    """Handles REGISTER requests for the extensions of this PBX."""

    def __init__(
        self,
        *,
        authorizer: Authorizer,
        location: LocationService,
        policy: RegistrarPolicy,
        on_change: Callable[[BindingChange], None],
    ) -> None:
        self._authorizer = authorizer
        self._location = location
        self._policy = policy
        self._on_change = on_change

    async def handle(self, request: Request, source: Peer, now: float) -> Response:
        """Answer one REGISTER (``now`` is wall-clock seconds)."""
        try:
            aor = request.to.uri
        except RemoteProtocolError as error:
            return make_response(request, error.status, error.reason)
        if aor.scheme not in ("sip", "sips") or not aor.user:
            return make_response(request, 404, "Not Found (no such address of record)")
        username, refusal = await self._authorizer.authenticate(request, source, now)
        if refusal is not None:
            return refusal
        number = aor.unescaped_user
        if number is None or username != number:
            # RFC 3261 §10.3 step 3: may this user register this address?
            return make_response(request, 403, "Forbidden (may not register another user)")
        try:
            return self._update(request, number, source, now)
        except RemoteProtocolError as error:
            return make_response(request, error.status, error.reason, to_tag=_new_tag())

    def _update(self, request: Request, number: str, source: Peer, now: float) -> Response:
        policy = self._policy
        header_expires = request.expires
        if request.contact_star:
            # RFC 3261 §10.3 step 6: "*" only with Expires: 0 and alone.
            if header_expires != 0 or request.contacts:
                raise RemoteProtocolError("Contact: * needs Expires: 0 and no other contact")
            removed = [(b.number, b.contact) for b in self._location.bindings(number, now)]
            for _, key in removed:
                self._location.remove(number, key)
            if removed:
                self._on_change(BindingChange([], removed))
            return self._ok(request, number, now)

        cseq = request.cseq.number
        call_id = request.call_id
        user_agent = request.headers.get("User-Agent")
        upserts: list[Binding] = []
        deletes: list[tuple[str, str]] = []
        for contact in request.contacts:
            key = str(contact.uri)
            if len(key) > MAX_CONTACT_LENGTH:
                raise RemoteProtocolError(
                    f"Contact URI longer than {MAX_CONTACT_LENGTH} characters"
                )
            expires = _requested_expires(contact, header_expires, policy.default_expires)
            if 0 < expires < policy.min_expires:
                response = make_response(request, 423, to_tag=_new_tag())
                response.headers.set("Min-Expires", str(policy.min_expires))
                return response
            expires = min(expires, policy.max_expires)
            existing = self._location.get(number, key)
            # RFC 3261 §10.3 step 7: an older or repeated request from the same
            # registration must not undo a newer one.
            if existing is not None and existing.call_id == call_id and cseq <= existing.cseq:
                return make_response(request, 500, "Out of order REGISTER", to_tag=_new_tag())
            if expires == 0:
                if self._location.remove(number, key) is not None:
                    deletes.append((number, key))
                continue
            q = contact.q
            binding = Binding(
                number=number,
                contact=key,
                expires_at=now + expires,
                call_id=call_id,
                cseq=cseq,
                q=q,
                transport=source.transport,
                source_host=source.host,
                source_port=source.port,
                behind_nat=is_behind_nat(contact.uri, source),
                user_agent=user_agent,
            )
            self._location.put(binding)
            upserts.append(binding)

        current = self._location.bindings(number, now)
        for evicted in current[: max(0, len(current) - policy.max_contacts)]:
            # Too many phones on one extension: the least recently refreshed goes.
            self._location.remove(number, evicted.contact)
            deletes.append((number, evicted.contact))
            upserts = [b for b in upserts if b.contact != evicted.contact]
        if upserts or deletes:
            self._on_change(BindingChange(upserts, deletes))
        return self._ok(request, number, now)

    def _ok(self, request: Request, number: str, now: float) -> Response:
        response = make_response(request, 200, to_tag=_new_tag())
        for binding in self._location.bindings(number, now):
            remaining = max(0, round(binding.expires_at - now))
            response.headers.add("Contact", f"<{binding.contact}>;expires={remaining}")
        response.headers.set("Date", formatdate(now, usegmt=True))
        response.headers.set("Allow", ALLOW)
        return response


def _requested_expires(contact: Contact, header_expires: int | None, default: int) -> int:
    """RFC 3261 §10.3 step 6: the Contact's parameter wins over the header."""
    if contact.expires is not None:
        return contact.expires
    if header_expires is not None:
        return header_expires
    return default


def _new_tag() -> str:
    return randomness.token_hex(6)
