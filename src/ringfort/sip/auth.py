"""SIP digest authentication, server side: challenges, nonces and verification.

RFC 3261 §22 takes HTTP digest (RFC 2617) into SIP; RFC 7616 adds SHA-256 and
RFC 8760 brings it to SIP. This module issues self-validating nonces, formats
``WWW-Authenticate``/``Proxy-Authenticate`` values and checks the credentials a
phone answers with. It does no I/O and reads no clock: time comes in as ``now``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ringfort import randomness
from ringfort.errors import LocalProtocolError, RemoteProtocolError
from ringfort.fast_enum import FastEnum

__all__ = [
    "Algorithm",
    "AuthResult",
    "DigestAuthenticator",
    "DigestCredentials",
    "NonceService",
    "NonceStatus",
    "digest_response",
]


class Algorithm(FastEnum):
    """A digest algorithm token (RFC 7616 §3.3, §6.1).

    The ``-sess`` variants are never offered in our challenges but are accepted
    when a client answers with one (RFC 7616 §3.4.2).
    """

    MD5 = "MD5"
    SHA256 = "SHA-256"
    MD5_SESS = "MD5-sess"
    SHA256_SESS = "SHA-256-sess"

    @classmethod
    def from_token(cls, token: str) -> Algorithm:
        """The algorithm named by ``token``, compared case-insensitively.

        Raises RemoteProtocolError (400) for an algorithm we do not implement.
        """
        found = _ALGORITHMS_BY_TOKEN.get(token.lower())
        if found is None:
            raise RemoteProtocolError(f"unsupported digest algorithm {token!r}", status=400)
        return found

    @property
    def session(self) -> bool:
        """Whether HA1 also covers the nonce and cnonce (RFC 7616 §3.4.2)."""
        return self in (Algorithm.MD5_SESS, Algorithm.SHA256_SESS)

    @property
    def base(self) -> Algorithm:
        """The algorithm without ``-sess``: what a challenge must have offered."""
        if self is Algorithm.MD5_SESS:
            return Algorithm.MD5
        if self is Algorithm.SHA256_SESS:
            return Algorithm.SHA256
        return self

    @property
    def hex_length(self) -> int:
        """Length of a ``response`` in lowercase hex digits."""
        return 32 if self.base is Algorithm.MD5 else 64

    def hash_hex(self, text: str) -> str:
        """H(text) as lowercase hex (RFC 7616 §3.4.1)."""
        return _HASHES[self](text.encode("utf-8")).hexdigest()


class _Hash(Protocol):
    def hexdigest(self) -> str: ...


_ALGORITHMS_BY_TOKEN = {algorithm.value.lower(): algorithm for algorithm in Algorithm}

# MD5 is what RFC 2617 and every deployed SIP phone speak; it stays available for
# interoperability while SHA-256 is offered first (RFC 8760 §2.4).
_HASHES: dict[Algorithm, Callable[[bytes], _Hash]] = {
    Algorithm.MD5: hashlib.md5,
    Algorithm.MD5_SESS: hashlib.md5,
    Algorithm.SHA256: hashlib.sha256,
    Algorithm.SHA256_SESS: hashlib.sha256,
}


def digest_response(
    *,
    algorithm: Algorithm,
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    nc: str | None = None,
    cnonce: str | None = None,
    qop: str | None = None,
) -> str:
    """The ``response`` value a client with ``password`` sends, as lowercase hex.

    RFC 2617 §3.2.2.1 and RFC 7616 §3.4.1. Only ``qop="auth"`` (or no qop, the
    RFC 2069 form) is implemented; ``auth-int`` raises LocalProtocolError.
    """
    if qop is not None and qop.lower() != "auth":
        raise LocalProtocolError(f"qop {qop!r} is not implemented, only 'auth'")
    if qop is not None and (nc is None or cnonce is None):
        raise LocalProtocolError("qop 'auth' needs nc and cnonce")
    if algorithm.session and cnonce is None:
        raise LocalProtocolError(f"{algorithm.value} needs a cnonce")

    # RFC 7616 §3.4.2: A1 = unq(username) ":" unq(realm) ":" passwd
    ha1 = algorithm.hash_hex(f"{username}:{realm}:{password}")
    if algorithm.session:
        # RFC 7616 §3.4.2: the -sess variants hash the nonces in once more.
        ha1 = algorithm.hash_hex(f"{ha1}:{nonce}:{cnonce}")
    # RFC 7616 §3.4.3: A2 = Method ":" request-uri (qop "auth" or absent)
    ha2 = algorithm.hash_hex(f"{method}:{uri}")
    if qop is None:
        # RFC 2617 §3.2.2.1, the RFC 2069 compatible form.
        return algorithm.hash_hex(f"{ha1}:{nonce}:{ha2}")
    return algorithm.hash_hex(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


# RFC 7616 §3.4: nc-value = 8LHEX
_NC_VALUE = re.compile(r"[0-9a-fA-F]{8}")
_HEX = re.compile(r"[0-9a-fA-F]+")


@dataclass(frozen=True, slots=True)
class DigestCredentials:
    """The parameters of an ``Authorization``/``Proxy-Authorization`` Digest answer."""

    username: str
    realm: str
    nonce: str
    uri: str
    """The ``uri`` parameter as the client sent it (the digest covers this text)."""
    response: str
    """Lowercase hex."""
    algorithm: Algorithm
    cnonce: str | None
    nc: str | None
    """Nonce count: eight hex digits, present with ``qop``; kept as sent,
    since the client hashed that text."""
    qop: str | None
    """``"auth"`` (in the case sent) or None (an RFC 2069 client)."""
    opaque: str | None

    @classmethod
    def from_params(cls, params: dict[str, str]) -> DigestCredentials:
        """Build credentials from parsed Digest parameters.

        ``params`` has lower-case names and unquoted values. Raises
        RemoteProtocolError (400) when a required parameter is missing or a
        value is malformed (RFC 7616 §3.4, RFC 3261 §25.1 ``digest-response``).
        """
        username = params.get("username")
        if username is None and "username*" in params:
            username = _decode_ext_value(params["username*"])
        if username is None:
            raise RemoteProtocolError("digest credentials without username", status=400)
        if params.get("userhash", "false").lower() == "true":
            # RFC 7616 §3.4.4: we never offer userhash, so a hashed name is unusable.
            raise RemoteProtocolError("digest userhash was not offered", status=400)

        missing = [name for name in ("realm", "nonce", "uri", "response") if name not in params]
        if missing:
            raise RemoteProtocolError(
                f"digest credentials without {', '.join(missing)}", status=400
            )

        # RFC 2617 §3.2.1: an absent algorithm means MD5.
        algorithm = Algorithm.from_token(params.get("algorithm", "MD5"))

        response = params["response"]
        if len(response) != algorithm.hex_length or not _HEX.fullmatch(response):
            raise RemoteProtocolError(
                f"digest response is not {algorithm.hex_length} hex digits", status=400
            )

        qop = params.get("qop")
        cnonce = params.get("cnonce")
        nc = params.get("nc")
        if qop is not None:
            if qop.lower() != "auth":
                # We offer qop="auth" only (auth-int would need the body hashed).
                raise RemoteProtocolError(f"digest qop {qop!r} was not offered", status=400)
            # RFC 7616 §3.4: cnonce and nc MUST be sent when qop is.
            if not cnonce or nc is None:
                raise RemoteProtocolError("digest qop without cnonce or nc", status=400)
            if not _NC_VALUE.fullmatch(nc):
                raise RemoteProtocolError("digest nc is not 8 hex digits", status=400)
        elif nc is not None and not _NC_VALUE.fullmatch(nc):
            raise RemoteProtocolError("digest nc is not 8 hex digits", status=400)
        if algorithm.session and not cnonce:
            raise RemoteProtocolError(f"digest {algorithm.value} without cnonce", status=400)

        return cls(
            username=username,
            realm=params["realm"],
            nonce=params["nonce"],
            uri=params["uri"],
            response=response.lower(),
            algorithm=algorithm,
            cnonce=cnonce,
            nc=nc,
            qop=qop,
            opaque=params.get("opaque"),
        )


def _decode_ext_value(value: str) -> str:
    """Decode an RFC 8187 ext-value (``UTF-8''J%C3%A4s%C3%B8n``), RFC 7616 §3.4.4."""
    charset, sep, rest = value.partition("'")
    _language, sep2, encoded = rest.partition("'")
    if not sep or not sep2 or charset.lower() != "utf-8":
        raise RemoteProtocolError("digest username* is not a UTF-8 ext-value", status=400)
    raw = bytearray()
    i = 0
    while i < len(encoded):
        char = encoded[i]
        if char == "%":
            pair = encoded[i + 1 : i + 3]
            if len(pair) != 2 or not _HEX.fullmatch(pair):
                raise RemoteProtocolError("digest username* has a bad %-escape", status=400)
            raw.append(int(pair, 16))
            i += 3
        else:
            raw.extend(char.encode("utf-8"))
            i += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteProtocolError("digest username* is not UTF-8", status=400) from None


class NonceStatus(FastEnum):
    """What a nonce check found."""

    VALID = "valid"
    STALE = "stale"
    """Genuine but too old (or issued in the future): re-challenge with ``stale=true``."""
    INVALID = "invalid"
    """Not one of ours, malformed, or a nonce count that was already used."""


_NONCE_TIME = struct.Struct(">q")
_NONCE_RANDOM_BYTES = 12
_NONCE_MAC_BYTES = 16
_NONCE_RAW_BYTES = _NONCE_TIME.size + _NONCE_RANDOM_BYTES + _NONCE_MAC_BYTES
# 36 bytes are exactly 48 base64 characters: no padding, no spare bits.
_NONCE_TEXT = re.compile(r"[A-Za-z0-9_-]{48}")
# How far into the future an issue time may lie before the nonce is refused:
# enough for nodes of a cluster whose clocks differ a little.
_CLOCK_SKEW = 5.0
# Nonce counts may arrive out of order (UDP, requests sent in parallel); any
# unseen count within this distance below the highest is still accepted.
_NC_WINDOW = 64


class NonceService:
    """Issues and checks self-validating nonces.

    A nonce is ``base64url(issue time | 12 random bytes | HMAC-SHA256 tag)``, so
    any node holding ``secret`` can check it without a table of issued nonces
    (RFC 7616 §3.3 leaves the nonce's content to the server).

    Replay protection (RFC 7616 §3.4.5): :meth:`accept_count` remembers, per
    nonce, the nonce counts already used, in a table capped at ``max_counted``
    nonces (least recently used dropped first; 0 turns the protection off). A
    nonce dropped from the table, or used on another node of a cluster, is not
    protected against replay until it goes stale.
    """

    def __init__(self, secret: bytes, lifetime: float, *, max_counted: int = 100_000) -> None:
        if len(secret) < 16:
            raise LocalProtocolError("the nonce secret must be at least 16 bytes")
        if lifetime <= 0:
            raise LocalProtocolError("the nonce lifetime must be positive")
        if max_counted < 0:
            raise LocalProtocolError("max_counted must not be negative")
        self._secret = secret
        self.lifetime = lifetime
        self._max_counted = max_counted
        # nonce -> (highest count seen, bitmap: bit i set = count highest-i seen)
        self._counts: OrderedDict[str, tuple[int, int]] = OrderedDict()

    def _tag(self, message: bytes) -> bytes:
        # The one-shot digest runs in C, without an HMAC object per nonce.
        return hmac.digest(self._secret, message, "sha256")[:_NONCE_MAC_BYTES]

    def issue(self, now: float) -> str:
        """A fresh nonce stamped with ``now``."""
        message = _NONCE_TIME.pack(round(now * 1000)) + randomness.token_bytes(_NONCE_RANDOM_BYTES)
        return base64.urlsafe_b64encode(message + self._tag(message)).decode("ascii")

    def check(self, nonce: str, now: float) -> NonceStatus:
        """Whether ``nonce`` is ours and still fresh at ``now``."""
        if not _NONCE_TEXT.fullmatch(nonce):
            return NonceStatus.INVALID
        raw = base64.urlsafe_b64decode(nonce)
        message, tag = raw[:-_NONCE_MAC_BYTES], raw[-_NONCE_MAC_BYTES:]
        if not hmac.compare_digest(tag, self._tag(message)):
            return NonceStatus.INVALID
        (issued_ms,) = _NONCE_TIME.unpack_from(message)
        age = now - issued_ms / 1000
        if age > self.lifetime or age < -_CLOCK_SKEW:
            return NonceStatus.STALE
        return NonceStatus.VALID

    def accept_count(self, nonce: str, nc: int) -> NonceStatus:
        """Record that ``nc`` was used with ``nonce``; INVALID if it was used before.

        RFC 7616 §3.4: the client increments nc for every request it sends with
        the same nonce, so a count seen twice is a replay. A count below the
        highest seen is accepted once if it falls within a small window, because
        requests can arrive out of order. Call this only after the digest
        verified; otherwise anyone who saw a nonce could burn its counts and
        lock the rightful client out.
        """
        if self._max_counted == 0:
            return NonceStatus.VALID
        entry = self._counts.get(nonce)
        if entry is None:
            self._counts[nonce] = (nc, 1)
            if len(self._counts) > self._max_counted:
                self._counts.popitem(last=False)
            return NonceStatus.VALID
        highest, seen = entry
        if nc > highest:
            shift = nc - highest
            seen = ((seen << shift) | 1) & ((1 << _NC_WINDOW) - 1) if shift < _NC_WINDOW else 1
            self._counts[nonce] = (nc, seen)
        else:
            distance = highest - nc
            if distance >= _NC_WINDOW or seen & (1 << distance):
                return NonceStatus.INVALID
            self._counts[nonce] = (highest, seen | (1 << distance))
        self._counts.move_to_end(nonce)
        return NonceStatus.VALID


class AuthResult(FastEnum):
    """The outcome of checking digest credentials."""

    OK = "ok"
    STALE = "stale"
    """The digest is right but the nonce expired: challenge again with
    ``stale=true`` (RFC 7616 §3.3); this is not a failed attempt."""
    BAD = "bad"
    """Wrong password, realm, algorithm or nonce, or a replayed nonce count:
    a failed attempt."""


def _quote(value: str) -> str:
    """A quoted-string (RFC 3261 §25.1) holding ``value``."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class DigestAuthenticator:
    """Challenges requests and verifies the digest credentials that answer them.

    One instance serves one realm. ``algorithms`` are offered in the order
    given, strongest first (RFC 7616 §3.7, RFC 8760 §2.4: SHA-256 before MD5).

    Offering SHA-256 at all locks out some clients that RFC 8760 says should
    skip it: SIPp 3.6.1 answers only the first challenge and gives up on
    SHA-256, and baresip 1.0 (libre 1.1) fails the registration when any
    challenge is SHA-256. Pass ``algorithms=(Algorithm.MD5,)`` for them.
    """

    def __init__(
        self,
        *,
        realm: str,
        nonces: NonceService,
        algorithms: tuple[Algorithm, ...] = (Algorithm.SHA256, Algorithm.MD5),
    ) -> None:
        if not algorithms:
            raise LocalProtocolError("at least one digest algorithm must be offered")
        if any(algorithm.session for algorithm in algorithms):
            raise LocalProtocolError("offer MD5 or SHA-256; -sess answers are accepted anyway")
        self.realm = realm
        self.nonces = nonces
        self.algorithms = algorithms
        self._quoted_realm = _quote(realm)

    def challenge(self, now: float, *, stale: bool = False) -> list[str]:
        """One ``WWW-Authenticate`` (or ``Proxy-Authenticate``) value per algorithm.

        RFC 7616 §3.3 and RFC 3261 §22.4; the values share one nonce. With
        ``stale`` the client retries with the new nonce without asking its
        user for the password again.
        """
        nonce = self.nonces.issue(now)
        tail = ", stale=true" if stale else ""
        return [
            f'Digest realm={self._quoted_realm}, nonce="{nonce}", '
            f'algorithm={algorithm.value}, qop="auth"{tail}'
            for algorithm in self.algorithms
        ]

    def verify(
        self, credentials: DigestCredentials, *, password: str, method: str, now: float
    ) -> AuthResult:
        """Check ``credentials`` against the user's ``password``.

        ``method`` is the request's method (RFC 3261 §22.4). HA2 is computed
        from ``credentials.uri`` as sent: the client signs that text, and
        requiring it to equal the Request-URI breaks clients that put their
        own form there (SIPp sends ``sip:host:port``), as other servers found.
        """
        if credentials.realm != self.realm:
            return AuthResult.BAD
        if credentials.algorithm.base not in self.algorithms:
            return AuthResult.BAD
        status = self.nonces.check(credentials.nonce, now)
        if status is NonceStatus.INVALID:
            return AuthResult.BAD
        expected = digest_response(
            algorithm=credentials.algorithm,
            username=credentials.username,
            realm=credentials.realm,
            password=password,
            method=method,
            uri=credentials.uri,
            nonce=credentials.nonce,
            nc=credentials.nc,
            cnonce=credentials.cnonce,
            qop=credentials.qop,
        )
        if not hmac.compare_digest(expected, credentials.response):
            return AuthResult.BAD
        if status is NonceStatus.STALE:
            return AuthResult.STALE
        # A client without qop sends no nc (RFC 2069 style): nothing to count.
        if credentials.qop is not None and credentials.nc is not None:
            counted = self.nonces.accept_count(credentials.nonce, int(credentials.nc, 16))
            if counted is not NonceStatus.VALID:
                return AuthResult.BAD
        return AuthResult.OK
