"""Typed SIP header values: name-addr (From, To, Route, ...), Contact, Via, CSeq and credentials."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar, Self

from ringfort.sip._abnf import (
    HOST,
    PARAMS,
    QUOTED_STRING,
    SWS,
    TOKEN,
    SipParseError,
    format_params,
    ipv6_address,
    quote,
    split_params,
    unquote,
)
from ringfort.sip.uri import URI

__all__ = ["AuthHeader", "CSeq", "Contact", "NameAddr", "Via"]

#   name-addr = [ display-name ] LAQUOT addr-spec RAQUOT
#   display-name = *(token LWS) / quoted-string
# The URI inside the brackets may hold no white space (RFC 4475 §3.1.2.14).
_NAME_ADDR_RE = re.compile(
    rf"{SWS}(?:({QUOTED_STRING})|({TOKEN}(?:[ \t]+{TOKEN})*))?{SWS}<([^<>\s\"]+)>({PARAMS}){SWS}"
)
# A bare addr-spec ends at the first ";" and, with no brackets, may hold no "," or "?"
# (RFC 3261 §20).
_ADDR_SPEC_RE = re.compile(rf"{SWS}([^\s;,?<>\"]+)({PARAMS}){SWS}")

#   via-parm = sent-protocol LWS sent-by *( SEMI via-params )
#   sent-protocol = protocol-name SLASH protocol-version SLASH transport
#   sent-by = host [ COLON port ];  SLASH and COLON allow white space on both sides.
_VIA_RE = re.compile(
    rf"{SWS}({TOKEN}){SWS}/{SWS}({TOKEN}){SWS}/{SWS}({TOKEN})[ \t]+({HOST})"
    rf"(?:{SWS}:{SWS}([0-9]{{1,5}}))?({PARAMS}){SWS}"
)
#   CSeq = "CSeq" HCOLON 1*DIGIT LWS Method
_CSEQ_RE = re.compile(rf"{SWS}([0-9]{{1,20}})[ \t]+({TOKEN}){SWS}")
#   challenge / credentials = auth-scheme LWS auth-param *(COMMA auth-param)
_AUTH_SCHEME_RE = re.compile(rf"{SWS}({TOKEN})(?:[ \t]+|$)")
# Unquoted values are read more loosely than the token rule: deployed clients send
# ``uri=sip:host`` without quotes and servers accept it.
_AUTH_PARAM_RE = re.compile(rf"{SWS}({TOKEN}){SWS}={SWS}({QUOTED_STRING}|[^\s,\"]+){SWS}(,|$)")
_TOKEN68_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
#   qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
_QVALUE_RE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
_DELTA_SECONDS_RE = re.compile(r"[0-9]{1,10}")

MAGIC_COOKIE = "z9hG4bK"
"""RFC 3261 §8.1.1.7: a branch starting with this was made by an RFC 3261 element."""
_MAX_DELTA_SECONDS = 2**32 - 1


def parse_delta_seconds(text: str, what: str) -> int:
    """Read delta-seconds (RFC 3261 §25.1): 0 to 2**32-1."""
    if _DELTA_SECONDS_RE.fullmatch(text) is None:
        raise SipParseError(f"malformed {what}: {text[:40]!r}")
    value = int(text)
    if value > _MAX_DELTA_SECONDS:
        raise SipParseError(f"{what} out of range")
    return value


@dataclass(slots=True)
class NameAddr:
    """A name-addr or addr-spec with header parameters: From, To, Route, Record-Route, ...

    Parameter values are kept as written, quotes included, so that nothing is lost when the
    header is written back.
    """

    display_name: str | None
    """Unquoted; None when the header has no display name."""
    uri: URI
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse ``[display-name] <uri> *(;param)`` or ``uri *(;param)``."""
        display_name, uri, params = _parse_name_addr(text)
        return cls(display_name, uri, params)

    def __str__(self) -> str:
        head = (
            f"<{self.uri}>"
            if self.display_name is None
            else f"{quote(self.display_name)} <{self.uri}>"
        )
        return head + format_params(self.params) if self.params else head

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter (RFC 3261 §19.3), None when absent."""
        return self.params.get("tag")

    def copy(self) -> Self:
        """An independent copy (URI and parameters included)."""
        return type(self)(self.display_name, self.uri.copy(), dict(self.params))


def _parse_name_addr(text: str) -> tuple[str | None, URI, dict[str, str | None]]:
    display_name: str | None = None
    if "<" in text or text.lstrip(" \t")[:1] == '"':
        found = _NAME_ADDR_RE.fullmatch(text)
        if found is None:
            raise SipParseError(f"malformed name-addr: {text[:80]!r}")
        quoted, tokens, uri_text, params = found.groups()
        if quoted is not None:
            display_name = unquote(quoted)
        elif tokens is not None:
            display_name = tokens
    else:
        found = _ADDR_SPEC_RE.fullmatch(text)
        if found is None:
            raise SipParseError(f"malformed addr-spec: {text[:80]!r}")
        uri_text, params = found.groups()
    return display_name, URI.parse(uri_text), split_params(params) if params else {}


@dataclass(slots=True)
class Contact(NameAddr):
    """A Contact header value (RFC 3261 §20.10); ``*`` is handled by the message."""

    @property
    def expires(self) -> int | None:
        """The ``expires`` parameter in seconds, None when absent; malformed raises."""
        value = self.params.get("expires")
        if value is None:
            return None
        return parse_delta_seconds(unquote(value), "Contact expires")

    @property
    def q(self) -> float | None:
        """The ``q`` preference (0 to 1), None when absent; malformed raises."""
        value = self.params.get("q")
        if value is None:
            return None
        if _QVALUE_RE.fullmatch(value) is None:
            raise SipParseError(f"malformed q value {value[:20]!r}")
        return float(value)


@dataclass(slots=True)
class Via:
    """One Via header value (RFC 3261 §20.42)."""

    protocol: str
    """``"SIP/2.0"``."""
    transport: str
    """Upper case: ``"UDP"``, ``"TCP"``, ``"TLS"``, ..."""
    host: str
    """The sent-by host in lower case; IPv6 without brackets."""
    port: int | None
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Via:
        """Parse one via-parm."""
        found = _VIA_RE.fullmatch(text)
        if found is None:
            raise SipParseError(f"malformed Via: {text[:80]!r}")
        name, version, transport, host, port_text, params = found.groups()
        if host[0] == "[":
            host = ipv6_address(host)
        port = None
        if port_text is not None:
            port = int(port_text)
            if port > 65535:
                raise SipParseError("Via port out of range")
        params_dict = split_params(params) if params else {}
        if "branch" in params_dict and params_dict["branch"] is None:
            raise SipParseError("Via branch without a value")
        protocol = "SIP/2.0" if name == "SIP" and version == "2.0" else f"{name.upper()}/{version}"
        return cls(protocol, transport.upper(), host.lower(), port, params_dict)

    def copy(self) -> Via:
        """An independent copy."""
        return Via(self.protocol, self.transport, self.host, self.port, dict(self.params))

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}{format_params(self.params)}"

    @property
    def sent_by(self) -> str:
        """``host[:port]`` with IPv6 in brackets, as written in the header."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def branch(self) -> str | None:
        """The transaction's branch id (RFC 3261 §8.1.1.7), None when absent."""
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        """The ``received`` address a server added (RFC 3261 §18.2.1)."""
        return self.params.get("received")

    @property
    def has_rport(self) -> bool:
        """Whether ``rport`` is present, with or without a value (RFC 3581)."""
        return "rport" in self.params

    @property
    def rport(self) -> int | None:
        """The ``rport`` value a server filled in; None when absent or empty (RFC 3581 §4)."""
        value = self.params.get("rport")
        if not value:
            return None
        if not value.isascii() or not value.isdigit() or len(value) > 5 or int(value) > 65535:
            raise SipParseError(f"malformed rport {value[:20]!r}")
        return int(value)

    @property
    def maddr(self) -> str | None:
        """The ``maddr`` parameter."""
        return self.params.get("maddr")


@dataclass(slots=True, frozen=True)
class CSeq:
    """A CSeq header value (RFC 3261 §20.16)."""

    number: int
    """0 to 2**31-1 (RFC 3261 §8.1.1.5)."""
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        """Parse ``number method``."""
        found = _CSEQ_RE.fullmatch(text)
        if found is None:
            raise SipParseError(f"malformed CSeq: {text[:80]!r}")
        number = int(found[1])
        if number > 2**31 - 1:
            raise SipParseError("CSeq number out of range")
        return cls(number, found[2])

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


@dataclass(slots=True)
class AuthHeader:
    """A challenge or credentials (RFC 3261 §25.1, RFC 7616): WWW-Authenticate,
    Proxy-Authenticate, Authorization, Proxy-Authorization.

    Parameter names are lower case and values unquoted.  A scheme with a single opaque
    token (``Basic dXNlcjpwYXNz``) keeps it in ``token68``.
    """

    NEVER_QUOTED: ClassVar[frozenset[str]] = frozenset({"algorithm", "nc", "stale"})
    """Parameters whose grammar is a token; ``qop`` is one too when it holds one value."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    token68: str | None = None

    @classmethod
    def parse(cls, text: str) -> AuthHeader:
        """Parse ``scheme param=value, param="value", ...``."""
        head = _AUTH_SCHEME_RE.match(text)
        if head is None:
            raise SipParseError(f"malformed authentication header: {text[:80]!r}")
        scheme = head[1]
        body = text[head.end() :].rstrip(" \t")
        if _TOKEN68_RE.fullmatch(body) is not None:
            return cls(scheme, {}, body)
        params: dict[str, str] = {}
        pos = 0
        end = len(body)
        match = _AUTH_PARAM_RE.match
        while pos < end:
            found = match(body, pos)
            if found is None:
                break
            params[found[1].lower()] = unquote(found[2])
            pos = found.end()
        else:
            return cls(scheme, params)
        raise SipParseError(f"malformed authentication parameters: {text[:80]!r}")

    def __str__(self) -> str:
        if self.token68 is not None:
            return f"{self.scheme} {self.token68}"
        items = []
        for name, value in self.params.items():
            bare = name in self.NEVER_QUOTED or (name == "qop" and "," not in value)
            # A value that is not a token cannot go bare whatever its name.
            if bare and value and _is_token(value):
                items.append(f"{name}={value}")
            else:
                items.append(f"{name}={quote(value)}")
        return f"{self.scheme} {', '.join(items)}" if items else self.scheme


_TOKEN_FULL_RE = re.compile(TOKEN)


def _is_token(value: str) -> bool:
    return _TOKEN_FULL_RE.fullmatch(value) is not None
