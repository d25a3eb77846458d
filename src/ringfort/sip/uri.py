"""SIP, SIPS, tel and opaque URIs (RFC 3261 §19.1, §25; RFC 3966): parse, write, compare."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from ringfort.sip._abnf import SipParseError, ipv6_address

__all__ = ["URI", "SipParseError"]

_ESCAPED = r"%[0-9A-Fa-f]{2}"


def _chars(allowed: str, *, empty: bool = False) -> str:
    """1*( allowed / escaped ), written as an unrolled loop so matching is fast."""
    body = rf"[{allowed}]*(?:{_ESCAPED}[{allowed}]*)*"
    return body if empty else rf"(?=[{allowed}%]){body}"


_UNRESERVED = r"A-Za-z0-9\-_.!~*'()"
#   user = 1*( unreserved / escaped / user-unreserved )
#   user-unreserved = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
_USER = _chars(rf"{_UNRESERVED}&=+$,;?/")
#   password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
_PASSWORD = _chars(rf"{_UNRESERVED}&=+$,", empty=True)
#   paramchar = param-unreserved / unreserved / escaped
#   param-unreserved = "[" / "]" / "/" / ":" / "&" / "+" / "$"
_PARAMCHARS = _chars(rf"{_UNRESERVED}\[\]/:&+$")
#   hname / hvalue = 1*( hnv-unreserved / unreserved / escaped ) (hvalue may be empty)
#   hnv-unreserved = "[" / "]" / "/" / "?" / ":" / "+" / "$"
_HNAME = _chars(rf"{_UNRESERVED}\[\]/?:+$")
_HVALUE = _chars(rf"{_UNRESERVED}\[\]/?:+$", empty=True)
_HOSTPORT = r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-_.]+)(?::([0-9]{1,5}))?"
_PARAMS = rf"((?:;{_PARAMCHARS}(?:={_PARAMCHARS})?)*)"
_HEADERS = rf"(?:\?({_HNAME}={_HVALUE}(?:&{_HNAME}={_HVALUE})*))?"

#   SIP-URI = "sip:" [ userinfo ] hostport uri-parameters [ headers ]
#   userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"
# Two expressions, chosen by whether an "@" is present, so the optional userinfo never
# has to be tried and given up over the whole text.
_SIP_SCHEME = r"([sS][iI][pP][sS]?):"
_SIP_WITH_USER_RE = re.compile(
    rf"{_SIP_SCHEME}({_USER})(?::({_PASSWORD}))?@{_HOSTPORT}{_PARAMS}{_HEADERS}"
)
_SIP_NO_USER_RE = re.compile(rf"{_SIP_SCHEME}{_HOSTPORT}{_PARAMS}{_HEADERS}")
#   scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+\-.]*):")
# absoluteURI for other schemes: no white space, quotes or angle brackets (RFC 2396 §2.4.3).
_OPAQUE_RE = re.compile(r"[^\x00-\x20\x7f\"<>]+")
#   telephone-subscriber (RFC 3966 §3): the number, then ;parameters.
_TEL_RE = re.compile(rf"([^;?\x00-\x20\x7f\"<>]+){_PARAMS}")

_HEX_ESCAPE_RE = re.compile(r"%[0-9A-Fa-f]{2}")


def _unescape(text: str) -> str:
    """Resolve %xx escapes (RFC 3261 §19.1.2); invalid UTF-8 survives as surrogates."""
    if "%" not in text:
        return text
    return unquote_to_bytes(text).decode("utf-8", "surrogateescape")


@dataclass(slots=True)
class URI:
    """A SIP or SIPS URI; tel and other schemes are held too, so messages carrying them parse.

    For ``sip``/``sips`` every component is filled.  For ``tel`` the number is in ``user``
    and its parameters in ``params``.  For any other scheme only ``opaque`` is meaningful.
    """

    scheme: str
    """Lower case: ``"sip"``, ``"sips"``, ``"tel"`` or another scheme."""
    user: str | None = None
    """The user part exactly as written, %-escapes included (see ``unescaped_user``)."""
    password: str | None = None
    host: str = ""
    """Lower case; IPv6 addresses without brackets."""
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    """uri-parameters in order; names lower case; a flag parameter maps to None."""
    headers: dict[str, str] = field(default_factory=dict)
    """The ``?name=value&...`` part, escapes kept."""
    opaque: str | None = None
    """For schemes other than sip, sips and tel: everything after ``scheme:``."""

    @classmethod
    def parse(cls, text: str) -> URI:
        """Parse a URI; raise SipParseError when it is not one."""
        user: str | None
        password: str | None
        if "@" in text:
            found = _SIP_WITH_USER_RE.fullmatch(text)
            if found is not None:
                scheme, user, password, host, port_text, params, headers = found.groups()
            else:
                return cls._parse_other(text)
        else:
            found = _SIP_NO_USER_RE.fullmatch(text)
            if found is None:
                return cls._parse_other(text)
            scheme, host, port_text, params, headers = found.groups()
            user = password = None
        if host[0] == "[":
            host = ipv6_address(host)
        port = None
        if port_text is not None:
            port = int(port_text)
            if port > 65535:
                raise SipParseError(f"port out of range in URI: {text[:80]!r}")
        return cls(
            scheme.lower(),
            user,
            password,
            host.lower(),
            port,
            _split_uri_params(params) if params else {},
            _split_uri_headers(headers) if headers else {},
        )

    @classmethod
    def _parse_other(cls, text: str) -> URI:
        scheme_match = _SCHEME_RE.match(text)
        if scheme_match is None:
            raise SipParseError(f"not a URI: {text[:80]!r}")
        scheme = scheme_match[1].lower()
        rest = text[scheme_match.end() :]
        if scheme == "sip" or scheme == "sips":
            raise SipParseError(f"malformed SIP URI: {text[:80]!r}")
        if scheme == "tel":
            tel = _TEL_RE.fullmatch(rest)
            if tel is None:
                raise SipParseError(f"malformed tel URI: {text[:80]!r}")
            return cls(scheme, user=tel[1], params=_split_uri_params(tel[2]))
        if _OPAQUE_RE.fullmatch(rest) is None:
            raise SipParseError(f"malformed URI: {text[:80]!r}")
        return cls(scheme, opaque=rest)

    def copy(self) -> URI:
        """An independent copy."""
        return URI(
            self.scheme,
            self.user,
            self.password,
            self.host,
            self.port,
            dict(self.params),
            dict(self.headers),
            self.opaque,
        )

    def __str__(self) -> str:
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        if self.scheme == "tel":
            return f"tel:{self.user or ''}{_format_uri_params(self.params)}"
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(self.user)
            if self.password is not None:
                parts += (":", self.password)
            parts.append("@")
        parts.append(self.host_port)
        if self.params:
            parts.append(_format_uri_params(self.params))
        if self.headers:
            parts += ("?", "&".join(f"{name}={value}" for name, value in self.headers.items()))
        return "".join(parts)

    def __repr__(self) -> str:
        return f"URI({str(self)!r})"

    @property
    def transport(self) -> str:
        """The ``transport`` parameter in lower case, ``"udp"`` when absent (RFC 3261 §19.1.1)."""
        value = self.params.get("transport")
        return value.lower() if value else "udp"

    @property
    def host_port(self) -> str:
        """``host:port``, ``[v6]:port``, or just the host when there is no port."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def unescaped_user(self) -> str | None:
        """The user part with %-escapes resolved."""
        return None if self.user is None else _unescape(self.user)

    @property
    def is_sip(self) -> bool:
        """Whether the scheme is ``sip`` or ``sips``."""
        return self.scheme == "sip" or self.scheme == "sips"

    def equivalent(self, other: URI) -> bool:
        """Compare as RFC 3261 §19.1.4 prescribes (not field-by-field equality)."""
        if self.scheme != other.scheme:
            return False
        if self.opaque is not None or other.opaque is not None:
            return self.opaque == other.opaque
        if _unescape(self.user or "") != _unescape(other.user or ""):
            return False
        if (self.user is None) != (other.user is None):
            return False
        if self.scheme == "tel":
            return _params_equivalent(self.params, other.params, tel=True)
        if _unescape(self.password or "") != _unescape(other.password or ""):
            return False
        if self.host != other.host or self.port != other.port:
            return False
        if not _params_equivalent(self.params, other.params, tel=False):
            return False
        return _headers_key(self.headers) == _headers_key(other.headers)


def _split_uri_headers(text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for pair in text.split("&"):
        name, _, value = pair.partition("=")
        headers[name] = value
    return headers


def _split_uri_params(text: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for item in text.split(";")[1:]:
        name, sep, value = item.partition("=")
        params[name.lower()] = value if sep else None
    return params


def _format_uri_params(params: dict[str, str | None]) -> str:
    return "".join(
        f";{name}" if value is None else f";{name}={value}" for name, value in params.items()
    )


# RFC 3261 §19.1.4: these never match when present in only one URI.  The section's examples
# also treat a transport present on one side only as a difference.
_MUST_BE_IN_BOTH = frozenset({"user", "ttl", "method", "maddr", "transport"})


def _params_equivalent(
    mine: dict[str, str | None], theirs: dict[str, str | None], *, tel: bool
) -> bool:
    left = {_unescape(name).lower(): value for name, value in mine.items()}
    right = {_unescape(name).lower(): value for name, value in theirs.items()}
    for name in left.keys() | right.keys():
        in_left = name in left
        in_right = name in right
        if in_left and in_right:
            a = left[name]
            b = right[name]
            if (a is None) != (b is None):
                return False
            if a is not None and b is not None and _unescape(a).lower() != _unescape(b).lower():
                return False
        elif tel or name in _MUST_BE_IN_BOTH:
            # RFC 3966 §4: tel URIs are equal only with the same parameter set.
            return False
    return True


def _headers_key(headers: dict[str, str]) -> dict[str, str]:
    return {_unescape(name).lower(): _unescape(value) for name, value in headers.items()}
