"""SIP requests and responses (RFC 3261 §7): header storage, parse, serialise, response building."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeAlias, TypeVar, cast

from ringfort.errors import LocalProtocolError
from ringfort.parse_memo import ParseMemo
from ringfort.sip._abnf import TOKEN_RE, SipParseError, split_list
from ringfort.sip.headers import (
    MAGIC_COOKIE,
    AuthHeader,
    Contact,
    CSeq,
    NameAddr,
    Via,
    parse_delta_seconds,
)
from ringfort.sip.uri import URI

__all__ = [
    "REASONS",
    "AuthHeader",
    "CSeq",
    "Contact",
    "Headers",
    "Message",
    "NameAddr",
    "Request",
    "Response",
    "SipParseError",
    "Via",
    "error_response",
    "make_response",
    "parse_message",
]

SIP_VERSION = "SIP/2.0"

# Canonical spellings; lookups are case-insensitive, and these are what serialisation writes.
_CANONICAL_NAMES = (
    "Accept",
    "Accept-Contact",
    "Accept-Encoding",
    "Accept-Language",
    "Accept-Resource-Priority",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Diversion",
    "Error-Info",
    "Event",
    "Expires",
    "Flow-Timer",
    "From",
    "History-Info",
    "Identity",
    "Identity-Info",
    "In-Reply-To",
    "Join",
    "Max-Forwards",
    "MIME-Version",
    "Min-Expires",
    "Min-SE",
    "Organization",
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "Path",
    "Priority",
    "Privacy",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "RAck",
    "Reason",
    "Record-Route",
    "Refer-Sub",
    "Refer-To",
    "Referred-By",
    "Reject-Contact",
    "Replaces",
    "Reply-To",
    "Request-Disposition",
    "Require",
    "Resource-Priority",
    "Retry-After",
    "Route",
    "RSeq",
    "Security-Client",
    "Security-Server",
    "Security-Verify",
    "Server",
    "Service-Route",
    "Session-Expires",
    "SIP-ETag",
    "SIP-If-Match",
    "Subject",
    "Subscription-State",
    "Supported",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
)
# RFC 3261 §7.3.3 and the registrations that followed it.
_COMPACT_FORMS = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}
# lower-case spelling (full or compact) -> (lookup key, canonical name)
_KNOWN_NAMES: dict[str, tuple[str, str]] = {
    name.lower(): (name.lower(), name) for name in _CANONICAL_NAMES
} | {letter: (name.lower(), name) for letter, name in _COMPACT_FORMS.items()}
# The spellings seen on the wire most, so that most lines need no lower-casing.
_KNOWN_NAMES |= {keyed[1]: keyed for keyed in list(_KNOWN_NAMES.values())} | {
    letter.upper(): _KNOWN_NAMES[letter] for letter in _COMPACT_FORMS
}

# Headers whose grammar is a comma-separated list (RFC 3261 §7.3.1): get_all splits them.
# The authentication headers hold commas inside one value and are not here.
_LIST_HEADERS = frozenset(
    name.lower()
    for name in (
        "Accept",
        "Accept-Contact",
        "Accept-Encoding",
        "Accept-Language",
        "Accept-Resource-Priority",
        "Alert-Info",
        "Allow",
        "Allow-Events",
        "Call-Info",
        "Contact",
        "Content-Encoding",
        "Content-Language",
        "Diversion",
        "Error-Info",
        "History-Info",
        "In-Reply-To",
        "P-Asserted-Identity",
        "P-Preferred-Identity",
        "Path",
        "Proxy-Require",
        "Reason",
        "Record-Route",
        "Reject-Contact",
        "Require",
        "Resource-Priority",
        "Route",
        "Security-Client",
        "Security-Server",
        "Security-Verify",
        "Service-Route",
        "Supported",
        "Unsupported",
        "Via",
        "Warning",
    )
)
# Headers that appear at most once; a second copy with another value makes the message
# ambiguous and it is rejected (RFC 4475 §3.3.8, §3.3.9).
_SINGLE_HEADERS = frozenset(
    {
        "call-id",
        "content-disposition",
        "content-length",
        "content-type",
        "cseq",
        "date",
        "expires",
        "from",
        "max-forwards",
        "mime-version",
        "min-expires",
        "rack",
        "rseq",
        "timestamp",
        "to",
    }
)

REASONS: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    199: "Early Dialog Terminated",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    412: "Conditional Request Failed",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    417: "Unknown Resource-Priority",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    428: "Use Identity Header",
    429: "Provide Referrer Identity",
    430: "Flow Failed",
    433: "Anonymity Disallowed",
    436: "Bad Identity-Info",
    437: "Unsupported Certificate",
    438: "Invalid Identity Header",
    439: "First Hop Lacks Outbound Support",
    440: "Max-Breadth Exceeded",
    469: "Bad Info Package",
    470: "Consent Needed",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    494: "Security Agreement Required",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    555: "Push Notification Service Not Supported",
    580: "Precondition Failure",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
    607: "Unwanted",
    608: "Rejected",
}
_CLASS_REASONS = {
    1: "Provisional",
    2: "Success",
    3: "Redirection",
    4: "Client Error",
    5: "Server Error",
    6: "Global Failure",
}

_FOLD_RE = re.compile(r"[ \t]*\r\n[ \t]+")
_STATUS_LINE_RE = re.compile(r"([Ss][Ii][Pp]/[0-9]{1,3}\.[0-9]{1,3}) ([1-6][0-9]{2})(?: (.*))?")
_VERSION_RE = re.compile(r"[Ss][Ii][Pp]/[0-9]{1,3}\.[0-9]{1,3}")
_CONTENT_LENGTH_RE = re.compile(r"[0-9]{1,10}")
_MAX_FORWARDS_RE = re.compile(r"0*([0-9]{1,3})")
_CALL_ID_RE = re.compile(r"[^\s]+")
# rfc1123-date = wkday "," SP date1 SP time SP "GMT" (RFC 3261 §20.17; RFC 4475 §3.1.2.12)
_DATE_RE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
    r"[0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
)


def _name_key(name: str) -> tuple[str, str] | None:
    """(lookup key, name to store) for a header name, or None when it is not a token."""
    known = _KNOWN_NAMES.get(name.lower())
    if known is not None:
        return known
    if TOKEN_RE.fullmatch(name) is None:
        return None
    return name.lower(), name


def _lookup_key(name: str) -> str:
    known = _KNOWN_NAMES.get(name.lower())
    return name.lower() if known is None else known[0]


class Headers:
    """An ordered multimap of header lines.

    Names are stored in canonical spelling (compact forms expanded, ``Call-ID``, ``CSeq``,
    ``WWW-Authenticate``); other names keep their case.  Lookups ignore case and accept
    compact forms.  Content-Length is not kept by ``parse_message``: the body is the
    truth and serialisation writes the length from it.
    """

    __slots__ = ("_entries", "_parsed")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._entries: list[tuple[str, str, str]] = []
        # Typed values parsed from these lines, by lookup key; a change to a header drops
        # its own (see _MessageBase).  The values are never handed out nor changed in
        # place, so messages built from others (responses, copies) may share them.
        self._parsed: dict[str, object] = {}
        for name, value in items:
            self.add(name, value)

    @classmethod
    def _trusted(cls, entries: list[tuple[str, str, str]]) -> Headers:
        headers = cls.__new__(cls)
        headers._entries = entries
        headers._parsed = {}
        return headers

    @staticmethod
    def _entry(name: str, value: str) -> tuple[str, str, str]:
        keyed = _name_key(name)
        if keyed is None:
            raise LocalProtocolError(f"not a header name: {name!r}")
        if "\r" in value or "\n" in value:
            raise LocalProtocolError(f"line break in the value of {name}")
        return keyed[0], keyed[1], value

    def get(self, name: str) -> str | None:
        """The value of the first line with this name, or None."""
        key = _lookup_key(name)
        for entry in self._entries:
            if entry[0] == key:
                return entry[2]
        return None

    def get_lines(self, name: str) -> list[str]:
        """The value of every line with this name, lists not split."""
        key = _lookup_key(name)
        return [entry[2] for entry in self._entries if entry[0] == key]

    def get_all(self, name: str) -> list[str]:
        """Every value: comma lists are split for headers whose grammar is a list."""
        key = _lookup_key(name)
        values = [entry[2] for entry in self._entries if entry[0] == key]
        if key not in _LIST_HEADERS:
            return values
        return [element for value in values for element in split_list(value, strict=False)]

    def add(self, name: str, value: str) -> None:
        """Append a line."""
        entry = self._entry(name, value)
        self._entries.append(entry)
        self._parsed.pop(entry[0], None)

    def prepend(self, name: str, value: str) -> None:
        """Insert a line before the first line of the same name, or first of all when none.

        This is where a proxy puts its Via and Record-Route (RFC 3261 §16.6).
        """
        entry = self._entry(name, value)
        self._parsed.pop(entry[0], None)
        for index, existing in enumerate(self._entries):
            if existing[0] == entry[0]:
                self._entries.insert(index, entry)
                return
        self._entries.insert(0, entry)

    def set(self, name: str, value: str) -> None:
        """Replace every line of this name by one line, in the place of the first."""
        entry = self._entry(name, value)
        key = entry[0]
        self._parsed.pop(key, None)
        for index, existing in enumerate(self._entries):
            if existing[0] == key:
                self._entries[index] = entry
                self._entries[index + 1 :] = [e for e in self._entries[index + 1 :] if e[0] != key]
                return
        self._entries.append(entry)

    def remove(self, name: str) -> None:
        """Remove every line of this name (no error when there is none)."""
        key = _lookup_key(name)
        self._entries = [entry for entry in self._entries if entry[0] != key]
        self._parsed.pop(key, None)

    def remove_first(self, name: str) -> None:
        """Remove the first value of this name: one list element, or the line if it was the last.

        A proxy pops its own Via from a response this way (RFC 3261 §16.7).
        """
        key = _lookup_key(name)
        self._parsed.pop(key, None)
        for index, entry in enumerate(self._entries):
            if entry[0] == key:
                elements = split_list(entry[2], strict=False) if key in _LIST_HEADERS else []
                if len(elements) > 1:
                    self._entries[index] = (key, entry[1], ", ".join(elements[1:]))
                else:
                    del self._entries[index]
                return

    def copy(self) -> Headers:
        """An independent copy."""
        headers = Headers._trusted(list(self._entries))
        # Parsed values are never handed out or changed in place, so the copy may share them.
        headers._parsed = dict(self._parsed)
        return headers

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = _lookup_key(name)
        return any(entry[0] == key for entry in self._entries)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for _, name, value in self._entries:
            yield name, value

    def __len__(self) -> int:
        return len(self._entries)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return [e[1:] for e in self._entries] == [e[1:] for e in other._entries]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({[(name, value) for _, name, value in self._entries]!r})"


_T = TypeVar("_T")


class _MessageBase:
    """What requests and responses share: headers, body and typed header accessors.

    A malformed or missing required header raises SipParseError when accessed.  Parsed
    values are kept with the headers until they change, and every accessor of a mutable
    value returns a fresh copy: changing it does not change the message (write it back
    with ``headers.set``), and does not disturb what the next caller reads.  Where only
    a part is wanted (``from_tag``, ``to_tag``, ``peek_top_via``) it is read without a
    copy.
    """

    __slots__ = ("body", "headers")

    headers: Headers
    body: bytes

    def _parsed(self, key: str, parse: Callable[[], _T]) -> _T:
        cache = self.headers._parsed
        value = cache.get(key)
        if value is None:
            value = cache[key] = parse()
        # Not typing.cast: this runs for every header read, and cast is a call.
        return value  # type: ignore[return-value]

    def compact(self) -> None:
        """Forget the values parsed from header lines other than Via.

        They are parsed again from the text if read. A message kept only to be sent
        again (a transaction's final response, for up to 32 s) then holds little more
        than its lines, and the Via that routes it.
        """
        headers = self.headers
        via = headers._parsed.get("via")
        headers._parsed = {} if via is None else {"via": via}

    def _required(self, key: str) -> str:
        value = self.headers.get(key)
        if value is None:
            raise SipParseError(f"missing {_KNOWN_NAMES[key][1]} header")
        return value

    def _vias(self) -> list[Via]:
        return self._parsed("via", lambda: _parse_vias(self.headers.get_lines("via")))

    @property
    def vias(self) -> list[Via]:
        """Every Via value, topmost first."""
        return [via.copy() for via in self._vias()]

    @property
    def top_via(self) -> Via:
        """The topmost Via (RFC 3261 §8.1.1.7)."""
        vias = self._vias()
        if not vias:
            raise SipParseError("missing Via header")
        return vias[0].copy()

    def replace_top_via(self, via: Via) -> None:
        """Rewrite the topmost Via, as a server stamps ``received``/``rport`` (RFC 3261 §18.2.1).

        The other headers' parsed values survive, so the stamp costs no re-parse.
        """
        vias = self._vias()
        if not vias:
            raise SipParseError("missing Via header")
        self.headers.remove_first("Via")
        self.headers.prepend("Via", str(via))
        self.headers._parsed["via"] = [via.copy(), *vias[1:]]

    def _from(self) -> NameAddr:
        return self._parsed("from", lambda: NameAddr.parse(self._required("from")))

    def _to(self) -> NameAddr:
        return self._parsed("to", lambda: NameAddr.parse(self._required("to")))

    @property
    def from_(self) -> NameAddr:
        """The From header."""
        return self._from().copy()

    @property
    def to(self) -> NameAddr:
        """The To header."""
        return self._to().copy()

    @property
    def from_tag(self) -> str | None:
        """The From tag (RFC 3261 §19.3), None when absent; read without copying From."""
        return self._from().params.get("tag")

    @property
    def to_tag(self) -> str | None:
        """The To tag, None when absent (outside a dialog); read without copying To."""
        return self._to().params.get("tag")

    def peek_top_via(self) -> Via:
        """The topmost Via as parsed, shared with the message: to read, never to change
        (``top_via`` gives a copy to change).  Routing a response and matching a
        transaction read it for every message, so they skip the copy."""
        vias = self._vias()
        if not vias:
            raise SipParseError("missing Via header")
        return vias[0]

    @property
    def call_id(self) -> str:
        """The Call-ID."""
        return self._required("call-id")

    @property
    def cseq(self) -> CSeq:
        """The CSeq header (immutable, so not copied)."""
        return self._parsed("cseq", lambda: CSeq.parse(self._required("cseq")))

    @property
    def contact_star(self) -> bool:
        """Whether Contact is ``*`` (RFC 3261 §10.2.2: remove every binding)."""
        lines = self.headers.get_lines("contact")
        return len(lines) == 1 and lines[0] == "*"

    @property
    def contacts(self) -> list[Contact]:
        """Every Contact value; empty for ``*`` and when there is none."""
        contacts = self._parsed(
            "contact", lambda: _parse_contacts(self.headers.get_lines("contact"))
        )
        return [contact.copy() for contact in contacts]

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards (0 to 255), None when absent."""
        value = self.headers.get("max-forwards")
        return None if value is None else _parse_max_forwards(value)

    @property
    def routes(self) -> list[NameAddr]:
        """Route values in order."""
        return self._name_addrs("route")

    @property
    def record_routes(self) -> list[NameAddr]:
        """Record-Route values in order."""
        return self._name_addrs("record-route")

    @property
    def expires(self) -> int | None:
        """The Expires header in seconds, None when absent."""
        value = self.headers.get("expires")
        return None if value is None else parse_delta_seconds(value, "Expires")

    @property
    def content_type(self) -> str | None:
        """The Content-Type value as written, None when absent."""
        return self.headers.get("content-type")

    def _name_addrs(self, key: str) -> list[NameAddr]:
        return [
            NameAddr.parse(element)
            for value in self.headers.get_lines(key)
            for element in split_list(value, strict=True)
        ]

    def _start_line(self) -> str:
        raise NotImplementedError

    def serialize(self) -> bytes:
        """The message on the wire: CRLF line ends, Content-Length from the body."""
        lines = [self._start_line()]
        lines += [
            f"{name}: {value}"
            for key, name, value in self.headers._entries
            if key != "content-length"
        ]
        lines.append(f"Content-Length: {len(self.body)}\r\n\r\n")
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + self.body

    def __bytes__(self) -> bytes:
        return self.serialize()


def _parse_vias(lines: Iterable[str]) -> list[Via]:
    return [Via.parse(element) for value in lines for element in split_list(value, strict=True)]


def _parse_contacts(lines: Sequence[str]) -> list[Contact]:
    if len(lines) == 1 and lines[0] == "*":
        return []
    return [Contact.parse(element) for value in lines for element in split_list(value, strict=True)]


class Request(_MessageBase):
    """A SIP request."""

    __slots__ = ("method", "uri")

    def __init__(
        self, method: str, uri: URI, headers: Headers | None = None, body: bytes = b""
    ) -> None:
        self.method = method
        self.uri = uri
        self.headers = Headers() if headers is None else headers
        self.body = body

    def _start_line(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        return (
            self.method == other.method
            and self.uri == other.uri
            and self.headers == other.headers
            and self.body == other.body
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


class Response(_MessageBase):
    """A SIP response."""

    __slots__ = ("reason", "status")

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: Headers | None = None,
        body: bytes = b"",
    ) -> None:
        self.status = status
        self.reason = default_reason(status) if reason is None else reason
        self.headers = Headers() if headers is None else headers
        self.body = body

    def _start_line(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return (
            self.status == other.status
            and self.reason == other.reason
            and self.headers == other.headers
            and self.body == other.body
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


Message: TypeAlias = Request | Response


def default_reason(status: int) -> str:
    """The usual reason phrase for a status code (RFC 3261 §21)."""
    return REASONS.get(status) or _CLASS_REASONS.get(status // 100, "Unknown")


def _parse_max_forwards(value: str) -> int:
    found = _MAX_FORWARDS_RE.fullmatch(value)
    if found is None or int(found[1]) > 255:
        raise SipParseError(f"malformed Max-Forwards: {value[:20]!r}")
    return int(found[1])


def _head_lines(data: bytes) -> tuple[list[str], bytes, bool]:
    """The start and header lines (decoded, not unfolded), the bytes after them, and
    whether the headers were well ended: by an empty line, with no CR or LF but in CRLF."""
    if data[:2] == b"\r\n":
        # RFC 3261 §7.5: CRLFs before the start line are ignored.
        data = data.lstrip(b"\r\n")
    end = data.find(b"\r\n\r\n")
    well_formed = end >= 0
    if not well_formed:
        end = len(data)
    # Invalid UTF-8 survives as surrogates and is written back unchanged.
    head = data[:end].decode("utf-8", "surrogateescape")
    lines = head.split("\r\n")
    breaks = len(lines) - 1
    if head.count("\n") != breaks or head.count("\r") != breaks:
        well_formed = False
    return lines, data[end + 4 :], well_formed


def _unfold(lines: list[str]) -> list[str]:
    """Join continuation lines to the line before (RFC 3261 §7.3.1), with one space."""
    unfolded = [lines[0]]
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            unfolded[-1] = unfolded[-1].rstrip(" \t") + " " + line.strip(" \t")
        else:
            unfolded.append(line)
    return unfolded


def parse_message(data: bytes, *, max_size: int = 65535) -> Message:
    """Parse one datagram (or one message cut out by StreamFramer) into a Request or Response.

    RFC 3261 §18.3: the body is Content-Length bytes and anything after it is dropped; a
    message without Content-Length has the rest of the datagram as its body.  Raises
    SipParseError, whose ``status`` says what to answer (400, 505 or 513).
    """
    if len(data) > max_size:
        raise SipParseError("message too large", status=513)
    lines, rest, well_formed = _head_lines(data)
    if not well_formed:
        raise SipParseError("headers not ended by an empty line, or a bare CR or LF in them")
    try:
        return _parse_lines(lines, rest)
    except _FoldedLineError:
        pass
    # Folding is rare, so it is looked for only when a line turns out to continue another.
    try:
        return _parse_lines(_unfold(lines), rest)
    except _FoldedLineError:  # pragma: no cover - no line starts with white space any more
        raise SipParseError("malformed header line") from None


class _FoldedLineError(Exception):
    """A continuation line was met: parse again after unfolding."""


def _parse_lines(lines: list[str], rest: bytes) -> Message:
    start = lines[0]
    message: Message
    if start[:4].upper() == "SIP/":
        message = _parse_status_line(start)
    else:
        message = _parse_request_line(start)

    entries: list[tuple[str, str, str]] = []
    single: dict[str, str] = {}
    via_lines: list[str] = []
    contact_lines: list[str] = []
    known = _KNOWN_NAMES
    single_keys = _SINGLE_HEADERS
    for index in range(1, len(lines)):
        line = lines[index]
        raw_name, colon, value = line.partition(":")
        keyed = known.get(raw_name) or known.get(raw_name.lower())
        if keyed is None:
            if line[:1] in (" ", "\t"):
                raise _FoldedLineError
            name = raw_name.rstrip(" \t")
            keyed = known.get(name.lower())
            if keyed is None:
                if not colon:
                    raise SipParseError("header line without a colon")
                if TOKEN_RE.fullmatch(name) is None:
                    raise SipParseError(f"bad header name {name[:40]!r}")
                keyed = (name.lower(), name)
        key = keyed[0]
        value = value.strip(" \t")
        if key != "content-length":
            # Framing, not kept: the body is the truth (see Headers).
            entries.append((key, keyed[1], value))
        if key == "via":
            via_lines.append(value)
        elif key == "contact":
            contact_lines.append(value)
        elif key in single_keys:
            previous = single.get(key)
            if previous is None:
                single[key] = value
            elif previous != value:
                raise SipParseError(f"{keyed[1]} header repeated with another value")
    if not via_lines:
        raise SipParseError("missing Via header")
    for key in _REQUIRED_HEADERS:
        if key not in single:
            raise SipParseError(f"missing {_KNOWN_NAMES[key][1]} header")
    parsed = _check_typed_headers(message, single, via_lines, contact_lines)

    length_text = single.get("content-length")
    if length_text is not None:
        if _CONTENT_LENGTH_RE.fullmatch(length_text) is None:
            raise SipParseError("malformed Content-Length")
        length = int(length_text)
        if len(rest) < length:
            raise SipParseError("body shorter than Content-Length")
        message.body = rest[:length]
    else:
        message.body = rest
    message.headers = headers = Headers._trusted(entries)
    headers._parsed = parsed
    return message


def _parse_status_line(start: str) -> Response:
    #   Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
    found = _STATUS_LINE_RE.fullmatch(start)
    if found is None:
        raise SipParseError("malformed status line")
    if found[1].upper() != SIP_VERSION:
        raise SipParseError("SIP version not supported", status=505)
    response = Response.__new__(Response)
    response.status = int(found[2])
    response.reason = found[3] or ""
    return response


def _parse_request_line(start: str) -> Request:
    #   Request-Line = Method SP Request-URI SP SIP-Version CRLF
    # Exactly single spaces and nothing after the version (RFC 4475 §3.1.2.8-10).
    parts = start.split(" ")
    if len(parts) != 3:
        raise SipParseError("malformed request line")
    method, uri_text, version = parts
    if TOKEN_RE.fullmatch(method) is None:
        raise SipParseError("malformed method")
    if version != SIP_VERSION:
        if _VERSION_RE.fullmatch(version) is None:
            raise SipParseError("malformed request line")
        if version.upper() != SIP_VERSION:
            raise SipParseError("SIP version not supported", status=505)
    uri = URI.parse(uri_text)
    if uri.headers:
        # RFC 3261 §19.1.1 table: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
        raise SipParseError("headers in the Request-URI")
    request = Request.__new__(Request)
    request.method = method
    request.uri = uri
    return request


_REQUIRED_HEADERS = ("from", "to", "call-id", "cseq")

# The headers of a dialog's messages, each parsed once (see ParseMemo): with all four
# full, about 7 MB.
_VIAS: ParseMemo[tuple[str, ...], list[Via]] = ParseMemo(_parse_vias)
_CONTACTS: ParseMemo[tuple[str, ...], list[Contact]] = ParseMemo(_parse_contacts)
_NAME_ADDRS: ParseMemo[str, NameAddr] = ParseMemo(NameAddr.parse)
_CSEQS: ParseMemo[str, CSeq] = ParseMemo(CSeq.parse)


def _check_typed_headers(
    message: Message, single: dict[str, str], via_lines: list[str], contact_lines: list[str]
) -> dict[str, object]:
    """Parse the headers every element relies on; what is parsed is kept for the accessors."""
    vias = _VIAS(tuple(via_lines))
    if isinstance(message, Request) and vias[0].branch == MAGIC_COOKIE:
        # RFC 4475 §3.2.1: the bare cookie names no transaction, so the request could
        # not be matched to one (RFC 3261 §17.2.3).
        raise SipParseError("Via branch is only the magic cookie")
    cseq = _CSEQS(single["cseq"])
    if isinstance(message, Request) and cseq.method != message.method:
        raise SipParseError("CSeq method does not match the request method")
    parsed: dict[str, object] = {
        "via": vias,
        "from": _NAME_ADDRS(single["from"]),
        "to": _NAME_ADDRS(single["to"]),
        "cseq": cseq,
    }
    if _CALL_ID_RE.fullmatch(single["call-id"]) is None:
        raise SipParseError("malformed Call-ID")
    if contact_lines:
        parsed["contact"] = _CONTACTS(tuple(contact_lines))
    max_forwards = single.get("max-forwards")
    if max_forwards is not None:
        _parse_max_forwards(max_forwards)
    date = single.get("date")
    if date is not None and _DATE_RE.fullmatch(date) is None:
        raise SipParseError("malformed Date")
    return parsed


def make_response(
    request: Request, status: int, reason: str | None = None, *, to_tag: str | None = None
) -> Response:
    """A response to ``request`` (RFC 3261 §8.2.6).

    Copies every Via, From, To, Call-ID and CSeq; adds ``;tag=to_tag`` to To when given and
    To has no tag yet; 100 Trying also copies Timestamp (§8.2.6.1).
    """
    entries: list[tuple[str, str, str]] = []
    add_tag = to_tag is not None and request.to_tag is None
    for entry in request.headers._entries:
        key = entry[0]
        if key == "to" and add_tag:
            entries.append((key, entry[1], f"{entry[2]};tag={to_tag}"))
        elif key in _COPIED_TO_RESPONSE or (key == "timestamp" and status == 100):
            entries.append(entry)
    headers = Headers._trusted(entries)
    # The copied lines parse to what the request's did: share those values rather than
    # parse them again when the response is routed (its top Via) or matched.
    parsed = request.headers._parsed
    for key in ("via", "from", "cseq"):
        if key in parsed:
            headers._parsed[key] = parsed[key]
    to = parsed.get("to")
    if isinstance(to, NameAddr):
        if add_tag:
            to = to.copy()
            to.params["tag"] = cast(str, to_tag)
        headers._parsed["to"] = to
    return Response(status, reason, headers)


_COPIED_TO_RESPONSE = frozenset({"via", "from", "to", "call-id", "cseq"})
_EMPTY_PARAMS_RE = re.compile(r"(?:[ \t]*;)+[ \t]*(?=;|$)")


def error_response(
    data: bytes, error: SipParseError, *, to_tag: str | None = None
) -> Response | None:
    """The response to send for a request that failed to parse, or None to drop it.

    The headers a response needs are read leniently.  A response is built when ``data``
    is a request whose topmost Via can be read (the answer must be routable, RFC 3261
    §18.2.2) and which has a CSeq; From, To and Call-ID are copied when present (RFC 4475
    §3.3.1 wants an answer even without them).  Responses and garbage give None.
    """
    lines = _unfold(_head_lines(data)[0])
    start = lines[0]
    if start[:4].upper() == "SIP/":
        return None
    if TOKEN_RE.fullmatch(start.split(" ", 1)[0]) is None:
        return None
    entries: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for line in lines[1:]:
        raw_name, colon, value = line.partition(":")
        keyed = _KNOWN_NAMES.get(raw_name.rstrip(" \t").lower())
        if not colon or keyed is None:
            continue
        key = keyed[0]
        if key not in _COPIED_TO_RESPONSE or (key in seen and key != "via"):
            continue
        seen.add(key)
        entries.append((key, keyed[1], value.strip(" \t")))
    if "via" not in seen or "cseq" not in seen:
        return None
    repaired = _repair_vias(entries)
    if repaired is None:
        return None
    if to_tag is not None:
        for index, entry in enumerate(repaired):
            if entry[0] == "to" and ";tag=" not in entry[2].replace(" ", "").lower():
                repaired[index] = (entry[0], entry[1], f"{entry[2]};tag={to_tag}")
    reason = error.reason.replace("\r", " ").replace("\n", " ")[:120]
    return Response(error.status, reason, Headers._trusted(repaired))


def _repair_vias(entries: list[tuple[str, str, str]]) -> list[tuple[str, str, str]] | None:
    """Keep the Via values that parse once empty parameters are dropped; None when the
    topmost cannot be read, since the answer goes where it says (RFC 3261 §18.2.2)."""
    repaired: list[tuple[str, str, str]] = []
    top_done = False
    for key, name, value in entries:
        if key != "via":
            repaired.append((key, name, value))
            continue
        for element in split_list(value, strict=False):
            cleaned = _EMPTY_PARAMS_RE.sub("", element)
            try:
                Via.parse(cleaned)
            except SipParseError:
                if not top_done:
                    return None
                continue
            top_done = True
            repaired.append((key, name, cleaned))
    return repaired if top_done else None
