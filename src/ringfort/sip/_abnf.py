"""The SIP grammar (RFC 3261 §25) as compiled regular expressions, and the parse error."""

from __future__ import annotations

import ipaddress
import re

from ringfort.errors import RemoteProtocolError

__all__ = [
    "SipParseError",
    "format_params",
    "ipv6_address",
    "parse_params",
    "quote",
    "split_list",
    "split_params",
    "unquote",
]


class SipParseError(RemoteProtocolError):
    """A message, header or URI does not follow the SIP grammar.

    ``status`` is the response to send when one can be built: 400 for bad
    syntax, 505 for an unsupported SIP version, 513 for an oversized message.
    """


# Lexical rules; after unfolding (RFC 3261 §7.3.1) linear white space is only SP and HTAB.
#   token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"  # noqa: S105 - the grammar rule, not a secret
#   quoted-string = SWS DQUOTE *(qdtext / quoted-pair) DQUOTE
#   quoted-pair   = "\" (%x00-09 / %x0B-0C / %x0E-7F)
QUOTED_STRING = r'"[^"\\\r\n]*(?:\\[^\r\n][^"\\\r\n]*)*"'
SWS = r"[ \t]*"
#   IPv6reference = "[" IPv6address "]"; checked for shape here, for meaning by ipaddress.
IPV6_REFERENCE = r"\[[0-9A-Fa-f:.]+\]"
#   host = hostname / IPv4address / IPv6reference.  Underscores are not in the grammar but
#   appear in deployed host names, so they are accepted.
HOSTNAME = r"[A-Za-z0-9\-_.]+"
HOST = rf"(?:{IPV6_REFERENCE}|{HOSTNAME})"

TOKEN_RE = re.compile(TOKEN)

#   generic-param = token [ EQUAL gen-value ];  gen-value = token / host / quoted-string
GENERIC_PARAM = rf"{SWS};{SWS}{TOKEN}(?:{SWS}={SWS}(?:{TOKEN}|{IPV6_REFERENCE}|{QUOTED_STRING}))?"
PARAMS = rf"(?:{GENERIC_PARAM})*"
_PARAMS_RE = re.compile(rf"{PARAMS}{SWS}")
_GENERIC_PARAM_RE = re.compile(
    rf"{SWS};{SWS}({TOKEN})(?:{SWS}={SWS}({TOKEN}|{IPV6_REFERENCE}|{QUOTED_STRING}))?"
)

_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)

# A comma list split: a quoted string or <...> is one unit whatever commas it holds.  An
# unterminated quote or bracket runs to the end, so the element parser sees and rejects it.
_LIST_UNIT_RE = re.compile(r'"(?:[^"\\]|\\.)*"?|<[^>]*>?|[^,"<]+|(,)', re.DOTALL)


def ipv6_address(reference: str) -> str:
    """The address inside an IPv6reference ``[...]``, lower case; raise if it is not one."""
    address = reference[1:-1]
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        raise SipParseError(f"bad IPv6 address {reference[:60]!r}") from None
    return address.lower()


def unquote(text: str) -> str:
    """Strip the quotes of a quoted-string and resolve its quoted-pairs; other text as is."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        return _QUOTED_PAIR_RE.sub(r"\1", inner) if "\\" in inner else inner
    return text


def quote(text: str) -> str:
    """Make a quoted-string of ``text`` (RFC 3261 §25.1)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_params(text: str, what: str) -> dict[str, str | None]:
    """Parse ``*( SEMI generic-param )``: names lower-cased, values as given (quotes kept).

    RFC 3261 §7.3.1: parameter names are case-insensitive.  A flag parameter maps to None.
    """
    if not text:
        return {}
    if _PARAMS_RE.fullmatch(text) is None:
        raise SipParseError(f"malformed parameters in {what}")
    return split_params(text)


def split_params(text: str) -> dict[str, str | None]:
    """Cut parameters already matched by ``PARAMS`` into a dict (see ``parse_params``)."""
    params: dict[str, str | None] = {}
    if '"' not in text:
        # No quoted value, so ";" and "=" cannot hide inside one: str methods will do.
        for item in text.split(";")[1:]:
            name, sep, value = item.partition("=")
            params[name.strip(" \t").lower()] = value.strip(" \t") if sep else None
        return params
    for found in _GENERIC_PARAM_RE.finditer(text):
        params[found[1].lower()] = found[2]
    return params


def format_params(params: dict[str, str | None]) -> str:
    """Write parameters back as ``;name=value;flag``."""
    return "".join(
        f";{name}" if value is None else f";{name}={value}" for name, value in params.items()
    )


def split_list(value: str, *, strict: bool) -> list[str]:
    """Split a comma-separated header value (RFC 3261 §7.3.1) into stripped elements.

    Commas inside quoted strings and ``<...>`` do not split.  ``strict`` rejects empty
    elements (the grammar has none); otherwise they are dropped.
    """
    if "," not in value:
        element = value.strip(" \t")
        if element or not strict:
            return [element] if element else []
        raise SipParseError("empty element in header list")
    if '"' not in value:
        parts = value.split(",")
        # Commas inside <...> (a URI may hold them) are the only other ones that do not
        # split; when every part has its brackets closed there are none.
        if "<" not in value or all(part.count("<") == part.count(">") for part in parts):
            elements = [part.strip(" \t") for part in parts]
            if strict:
                if "" in elements:
                    raise SipParseError("empty element in header list")
                return elements
            return [element for element in elements if element]
    elements = []
    start = 0
    for unit in _LIST_UNIT_RE.finditer(value):
        if unit.group(1) is not None:
            elements.append(value[start : unit.start()].strip(" \t"))
            start = unit.end()
    elements.append(value[start:].strip(" \t"))
    if strict:
        if "" in elements:
            raise SipParseError("empty element in header list")
        return elements
    return [element for element in elements if element]
