"""Session descriptions (RFC 4566): parse, serialize, inspect and rewrite for media anchoring."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from ringfort.errors import RemoteProtocolError
from ringfort.parse_memo import ParseMemo

__all__ = [
    "STATIC_PAYLOAD_TYPES",
    "Attribute",
    "Bandwidth",
    "Connection",
    "Direction",
    "MediaDescription",
    "Origin",
    "RtcpAddress",
    "RtpMap",
    "SessionDescription",
    "Timing",
]

#   token-char = %x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A / %x5E-7E
#   token = 1*(token-char)
_TOKEN = r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+"  # noqa: S105 (a grammar rule, not a secret)
# Integers are bounded so a peer cannot make int() chew on thousands of digits.
_INT = r"[0-9]{1,20}"
_NON_WS = r"[^ \t]+"

#   origin-field = %x6f "=" username SP sess-id SP sess-version SP nettype SP addrtype SP
#                  unicast-address CRLF
_ORIGIN_RE = re.compile(
    rf"({_NON_WS}) +({_INT}) +({_INT}) +({_TOKEN}) +({_TOKEN}) +({_NON_WS})", re.DOTALL
)
#   connection-field = [%x63 "=" nettype SP addrtype SP connection-address CRLF]
_CONNECTION_RE = re.compile(rf"({_TOKEN}) +({_TOKEN}) +({_NON_WS})", re.DOTALL)
#   bandwidth-fields = *(%x62 "=" bwtype ":" bandwidth CRLF)
_BANDWIDTH_RE = re.compile(rf"({_TOKEN}):({_INT})")
#   time-fields = 1*( %x74 "=" start-time SP stop-time ... )
_TIMING_RE = re.compile(rf"({_INT}) +({_INT})")
#   media-field = %s"m" "=" media SP port ["/" integer] SP proto 1*(SP fmt) CRLF
#   proto = token *("/" token)
_MEDIA_RE = re.compile(
    rf"({_TOKEN}) +([0-9]{{1,5}})(?:/([0-9]{{1,5}}))? +({_TOKEN}(?:/{_TOKEN})*)((?: +{_TOKEN})+)"
)
#   attribute = (att-field ":" att-value) / att-field ; att-field = token
_ATTRIBUTE_RE = re.compile(rf"({_TOKEN})(?::(.*))?", re.DOTALL)
#   a=rtpmap:<payload type> <encoding name>/<clock rate> [/<encoding parameters>]
_RTPMAP_RE = re.compile(r"([0-9]{1,3}) +([^/ ]+)/([0-9]{1,10})(?:/([0-9]{1,3}))?")
#   rtcp-attribute = "a=rtcp:" port [nettype space addrtype space connection-address] CRLF
_RTCP_RE = re.compile(rf"([0-9]{{1,5}})(?: +({_TOKEN}) +({_TOKEN}) +({_NON_WS}))?")

# RFC 4566 §5: the fixed order of lines; i/u/e/p/z/k are kept as raw (type, value) pairs.
_SESSION_EXTRA_TYPES = "iuepzk"
_SESSION_EXTRA_BEFORE_CONNECTION = "iuep"
_MEDIA_EXTRA_TYPES = "ik"
_SINGLE_SESSION_LINES = "iuzk"


class RtpMap(NamedTuple):
    """What a payload type stands for: ``a=rtpmap`` or the RFC 3551 static table."""

    encoding: str
    """Encoding name as written (compare case-insensitively)."""
    clock_rate: int
    channels: int = 1
    """Encoding parameters for audio; one when absent (RFC 4566 §6)."""


# RFC 3551 §6, tables 4 and 5: payload types with a meaning even without a=rtpmap.
STATIC_PAYLOAD_TYPES: dict[int, RtpMap] = {
    0: RtpMap("PCMU", 8000),
    3: RtpMap("GSM", 8000),
    4: RtpMap("G723", 8000),
    5: RtpMap("DVI4", 8000),
    6: RtpMap("DVI4", 16000),
    7: RtpMap("LPC", 8000),
    8: RtpMap("PCMA", 8000),
    9: RtpMap("G722", 8000),
    10: RtpMap("L16", 44100, 2),
    11: RtpMap("L16", 44100),
    12: RtpMap("QCELP", 8000),
    13: RtpMap("CN", 8000),
    14: RtpMap("MPA", 90000),
    15: RtpMap("G728", 8000),
    16: RtpMap("DVI4", 11025),
    17: RtpMap("DVI4", 22050),
    18: RtpMap("G729", 8000),
    25: RtpMap("CelB", 90000),
    26: RtpMap("JPEG", 90000),
    28: RtpMap("nv", 90000),
    31: RtpMap("H261", 90000),
    32: RtpMap("MPV", 90000),
    33: RtpMap("MP2T", 90000),
    34: RtpMap("H263", 90000),
}


class Direction(StrEnum):
    """The media direction attributes of RFC 4566 §6 (RFC 3264 §5.1)."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"


_DIRECTIONS = frozenset(direction.value for direction in Direction)


class Attribute(NamedTuple):
    """One ``a=`` line: ``a=name:value``, or a property attribute ``a=name`` (value None)."""

    name: str
    value: str | None = None

    def serialize(self) -> str:
        """The text after ``a=``."""
        return self.name if self.value is None else f"{self.name}:{self.value}"


class Bandwidth(NamedTuple):
    """One ``b=`` line (RFC 4566 §5.8): ``b=AS:64`` is kilobits per second."""

    type: str
    value: int


class RtcpAddress(NamedTuple):
    """An ``a=rtcp`` attribute (RFC 3605): where RTCP goes when not to RTP port + 1."""

    port: int
    nettype: str | None = None
    addrtype: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Origin:
    """The ``o=`` line (RFC 4566 §5.2): who made the description and which version it is."""

    username: str
    """``-`` when the originator has no user name."""
    session_id: int
    session_version: int
    """Raised by one each time the originator changes the description (RFC 3264 §8)."""
    nettype: str
    addrtype: str
    address: str

    def serialize(self) -> str:
        """The text after ``o=``."""
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Connection:
    """A ``c=`` line (RFC 4566 §5.7)."""

    nettype: str
    addrtype: str
    address: str
    """The address or host name, without the multicast ``/ttl/count`` suffixes."""
    ttl: int | None = None
    """IP4 multicast only."""
    count: int | None = None
    """Number of multicast addresses, when more than one."""

    @classmethod
    def for_address(cls, address: str) -> Connection:
        """``IN IP4 address`` or, for an address with a colon, ``IN IP6 address``."""
        return cls("IN", "IP6" if ":" in address else "IP4", address)

    def serialize(self) -> str:
        """The text after ``c=``."""
        text = f"{self.nettype} {self.addrtype} {self.address}"
        if self.ttl is not None:
            text += f"/{self.ttl}"
        if self.count is not None:
            text += f"/{self.count}"
        return text


@dataclass(frozen=True, slots=True)
class Timing:
    """A ``t=`` line and the ``r=`` lines under it (RFC 4566 §5.9, §5.10)."""

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()
    """The ``r=`` values, kept as written."""


@dataclass(frozen=True, slots=True)
class MediaDescription:
    """One media section: the ``m=`` line and the lines under it (RFC 4566 §5.14)."""

    media: str
    """``audio``, ``video``, ``text``, ``application``, ``message``, ..."""
    port: int
    """Zero means the stream is rejected or disabled (RFC 3264 §5.1, §6)."""
    proto: str
    """``RTP/AVP`` for plain RTP."""
    formats: tuple[str, ...]
    """Payload type numbers (for RTP) as written, in order of preference."""
    port_count: int | None = None
    connection: Connection | None = None
    bandwidths: tuple[Bandwidth, ...] = ()
    extra_lines: tuple[tuple[str, str], ...] = ()
    """The ``i=`` and ``k=`` lines, as (type, value), in RFC 4566 order."""
    attributes: tuple[Attribute, ...] = ()

    # -- attributes -------------------------------------------------------------------------

    def attribute_values(self, name: str) -> list[str | None]:
        """The values of every attribute with this name, in order."""
        return [attribute.value for attribute in self.attributes if attribute.name == name]

    def has_attribute(self, name: str) -> bool:
        """Whether an attribute with this name is present."""
        return any(attribute.name == name for attribute in self.attributes)

    def rtpmap(self, payload_type: int | str) -> RtpMap | None:
        """The encoding a payload type stands for, or None when it is not known.

        An ``a=rtpmap`` wins; without one an RTP profile's static type (RFC 3551 §6) is used.
        A malformed ``a=rtpmap`` is treated as absent rather than failing the whole body.
        """
        wanted = str(payload_type)
        return self._named_rtpmaps().get(wanted) or self._static_rtpmap(wanted)

    def rtpmaps(self) -> dict[str, RtpMap]:
        """`rtpmap` of every format that has an encoding known, in one pass (by format)."""
        named = self._named_rtpmaps()
        found: dict[str, RtpMap] = {}
        for wanted in self.formats:
            rtpmap = named.get(wanted) or self._static_rtpmap(wanted)
            if rtpmap is not None:
                found[wanted] = rtpmap
        return found

    def _named_rtpmaps(self) -> dict[str, RtpMap]:
        # The first well-formed a=rtpmap of each payload type.
        named: dict[str, RtpMap] = {}
        for attribute in self.attributes:
            if attribute.name == "rtpmap":
                entry = _RTPMAPS(attribute.value or "")
                if entry is not None and entry[0] not in named:
                    named[entry[0]] = entry[1]
        return named

    def _static_rtpmap(self, wanted: str) -> RtpMap | None:
        # An RTP profile's static payload type (RFC 3551 §6).
        if "RTP/" in self.proto.upper() and wanted.isdigit() and len(wanted) <= 3:
            return STATIC_PAYLOAD_TYPES.get(int(wanted))
        return None

    def fmtp(self, payload_type: int | str) -> str | None:
        """The format parameters of ``a=fmtp:<payload type> <parameters>``, if any."""
        wanted = str(payload_type)
        for value in self.attribute_values("fmtp"):
            number, _, parameters = (value or "").partition(" ")
            if number == wanted:
                return parameters.strip()
        return None

    @property
    def direction(self) -> Direction | None:
        """The direction this section states itself; None defers to the session level."""
        return _direction_of(self.attributes)

    @property
    def ptime(self) -> int | None:
        """``a=ptime`` in milliseconds; None when absent or not a positive number."""
        return _positive_int(self.attribute_values("ptime"))

    @property
    def maxptime(self) -> int | None:
        """``a=maxptime`` in milliseconds; None when absent or not a positive number."""
        return _positive_int(self.attribute_values("maxptime"))

    @property
    def rtcp(self) -> RtcpAddress | None:
        """``a=rtcp`` (RFC 3605), or None when absent or malformed."""
        for value in self.attribute_values("rtcp"):
            match = _RTCP_RE.fullmatch((value or "").strip())
            if match is not None and int(match[1]) <= 65535:
                return RtcpAddress(int(match[1]), match[2], match[3], match[4])
        return None

    @property
    def rtcp_mux(self) -> bool:
        """Whether RTP and RTCP share one port (RFC 5761 ``a=rtcp-mux``)."""
        return self.has_attribute("rtcp-mux")

    # -- copies -----------------------------------------------------------------------------

    def without_attributes(self, *names: str) -> MediaDescription:
        """A copy without any attribute of these names."""
        return dataclasses.replace(
            self, attributes=tuple(a for a in self.attributes if a.name not in names)
        )

    def with_address(
        self, address: str, port: int, rtcp_port: int | None = None
    ) -> MediaDescription:
        """A copy whose media goes to ``address:port`` (what anchoring media through us does).

        The old ``a=rtcp`` pointed at the previous address, so it is dropped, and replaced by
        ``a=rtcp:<rtcp_port>`` when one is given.
        """
        attributes = tuple(a for a in self.attributes if a.name != "rtcp")
        if rtcp_port is not None:
            attributes += (Attribute("rtcp", str(rtcp_port)),)
        return dataclasses.replace(
            self, port=port, connection=Connection.for_address(address), attributes=attributes
        )

    # -- wire -------------------------------------------------------------------------------

    def serialize_lines(self) -> list[str]:
        """This section's lines (without line ends) in RFC 4566 order: m i c b k a."""
        port = str(self.port) if self.port_count is None else f"{self.port}/{self.port_count}"
        lines = [f"m={self.media} {port} {self.proto} {' '.join(self.formats)}".rstrip()]
        lines += [f"i={value}" for kind, value in self.extra_lines if kind == "i"]
        if self.connection is not None:
            lines.append(f"c={self.connection.serialize()}")
        lines += [f"b={bandwidth.type}:{bandwidth.value}" for bandwidth in self.bandwidths]
        lines += [f"k={value}" for kind, value in self.extra_lines if kind == "k"]
        lines += [f"a={attribute.serialize()}" for attribute in self.attributes]
        return lines


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """A whole SDP body (RFC 4566 §5): session-level lines, then media sections in order."""

    origin: Origin
    session_name: str = "-"
    connection: Connection | None = None
    timing: tuple[Timing, ...] = (Timing(),)
    media: tuple[MediaDescription, ...] = ()
    attributes: tuple[Attribute, ...] = ()
    bandwidths: tuple[Bandwidth, ...] = ()
    extra_lines: tuple[tuple[str, str], ...] = ()
    """The ``i= u= e= p= z= k=`` lines, as (type, value), in RFC 4566 order."""
    version: int = 0

    # -- wire -------------------------------------------------------------------------------

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        """Parse an SDP body.

        Lenient where real peers differ harmlessly (LF-only line ends, trailing white space,
        blank lines, a missing ``t=``, session-level lines out of order); strict with
        structure. Raises RemoteProtocolError (status 400) on anything malformed.
        """
        return _Parser(data).parse()

    def serialize(self) -> bytes:
        """The body, CRLF line ends, in RFC 4566 order."""
        lines = [f"v={self.version}", f"o={self.origin.serialize()}", f"s={self.session_name}"]
        lines += [
            f"{kind}={value}"
            for kind in _SESSION_EXTRA_BEFORE_CONNECTION
            for extra_kind, value in self.extra_lines
            if extra_kind == kind
        ]
        if self.connection is not None:
            lines.append(f"c={self.connection.serialize()}")
        lines += [f"b={bandwidth.type}:{bandwidth.value}" for bandwidth in self.bandwidths]
        for timing in self.timing or (Timing(),):
            lines.append(f"t={timing.start} {timing.stop}")
            lines += [f"r={repeat}" for repeat in timing.repeats]
        lines += [
            f"{kind}={value}" for kind in "zk" for extra, value in self.extra_lines if extra == kind
        ]
        lines += [f"a={attribute.serialize()}" for attribute in self.attributes]
        for media in self.media:
            lines += media.serialize_lines()
        return ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogateescape")

    def __bytes__(self) -> bytes:
        return self.serialize()

    # -- inspection -------------------------------------------------------------------------

    @property
    def direction(self) -> Direction | None:
        """The session-level direction attribute, if any."""
        return _direction_of(self.attributes)

    def direction_of(self, index: int) -> Direction:
        """The direction in force for media section ``index`` (RFC 4566 §6, RFC 3264 §5.1).

        The media level overrides the session level; sendrecv when neither says.
        """
        return self.media[index].direction or self.direction or Direction.SENDRECV

    def connection_of(self, index: int) -> Connection | None:
        """The connection in force for media section ``index``: its own, else the session's."""
        return self.media[index].connection or self.connection

    # -- copies -----------------------------------------------------------------------------

    def with_media_address(
        self, index: int, address: str, port: int, rtcp_port: int | None = None
    ) -> SessionDescription:
        """A copy whose media section ``index`` goes to ``address:port`` (see ``with_address``)."""
        media = list(self.media)
        media[index] = media[index].with_address(address, port, rtcp_port)
        return dataclasses.replace(self, media=tuple(media))

    def with_session_address(self, address: str) -> SessionDescription:
        """A copy whose ``o=`` and session ``c=`` name ``address`` (hiding the peer's)."""
        connection = Connection.for_address(address)
        origin = dataclasses.replace(
            self.origin, nettype="IN", addrtype=connection.addrtype, address=address
        )
        return dataclasses.replace(self, origin=origin, connection=connection)

    def next_version(self) -> SessionDescription:
        """A copy with the origin's version raised by one, as a changed re-offer needs."""
        origin = dataclasses.replace(self.origin, session_version=self.origin.session_version + 1)
        return dataclasses.replace(self, origin=origin)

    def without_attributes(self, *names: str) -> SessionDescription:
        """A copy without any session-level attribute of these names."""
        return dataclasses.replace(
            self, attributes=tuple(a for a in self.attributes if a.name not in names)
        )


def _direction_of(attributes: Iterable[Attribute]) -> Direction | None:
    for attribute in attributes:
        if attribute.value is None and attribute.name in _DIRECTIONS:
            return Direction(attribute.name)
    return None


def _positive_int(values: list[str | None]) -> int | None:
    for value in values:
        text = (value or "").strip()
        if text.isascii() and text.isdigit() and 0 < len(text) <= 9 and int(text) > 0:
            return int(text)
    return None


def _error(reason: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"malformed SDP: {reason}", status=400)


def _extra_rank(kinds: str) -> dict[str, int]:
    return {kind: rank for rank, kind in enumerate(kinds)}


_SESSION_EXTRA_RANK = _extra_rank(_SESSION_EXTRA_TYPES)
_MEDIA_EXTRA_RANK = _extra_rank(_MEDIA_EXTRA_TYPES)


class _MediaBuilder:
    """A media section being read, line by line."""

    def __init__(self, value: str) -> None:
        match = _MEDIA_RE.fullmatch(value)
        if match is None:
            raise _error(f"bad m= line {value!r}")
        port = int(match[2])
        port_count = int(match[3]) if match[3] is not None else None
        if port > 65535 or port_count == 0:
            raise _error(f"bad port in m= line {value!r}")
        self.media = match[1]
        self.port = port
        self.port_count = port_count
        self.proto = match[4]
        self.formats = tuple(match[5].split())
        self.connection: Connection | None = None
        self.bandwidths: list[Bandwidth] = []
        self.extra_lines: list[tuple[str, str]] = []
        self.attributes: list[Attribute] = []

    def add(self, kind: str, value: str) -> None:
        if kind == "c":
            if self.connection is not None:
                raise _error("more than one c= line in a media section")
            self.connection = _parse_connection(value)
        elif kind == "b":
            self.bandwidths.append(_parse_bandwidth(value))
        elif kind == "a":
            self.attributes.append(_ATTRIBUTES(value))
        elif kind in _MEDIA_EXTRA_TYPES:
            if any(existing == kind for existing, _ in self.extra_lines):
                raise _error(f"more than one {kind}= line in a media section")
            self.extra_lines.append((kind, value))
        else:
            raise _error(f"{kind}= line inside a media section")

    def build(self) -> MediaDescription:
        return MediaDescription(
            media=self.media,
            port=self.port,
            port_count=self.port_count,
            proto=self.proto,
            formats=self.formats,
            connection=self.connection,
            bandwidths=tuple(self.bandwidths),
            extra_lines=tuple(sorted(self.extra_lines, key=lambda e: _MEDIA_EXTRA_RANK[e[0]])),
            attributes=tuple(self.attributes),
        )


class _Parser:
    """One pass over the lines of a body."""

    def __init__(self, data: bytes | str) -> None:
        # RFC 4566 §5: text is UTF-8 by default; bytes that are not survive as surrogates so
        # a peer's odd session name does not cost the call.
        self.text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data

    def lines(self) -> list[tuple[str, str]]:
        result: list[tuple[str, str]] = []
        # RFC 4566 §5 says CRLF, but a parser should accept LF alone; split on "\n" only, not
        # on every character str.splitlines() treats as a line break.
        for raw in self.text.split("\n"):
            line = raw.rstrip(" \t\r")
            if not line:
                continue
            # <type>=<value> with a lower-case letter for type; str checks cost less than
            # a regular expression on the few dozen lines of every offer and answer.
            kind = line[0]
            if line[1:2] != "=" or not "a" <= kind <= "z":
                raise _error(f"line is not <type>=<value>: {line[:40]!r}")
            value = line[2:]
            if "\x00" in value or "\r" in value:
                raise _error(f"{kind}= line holds NUL or CR")
            result.append((kind, value))
        return result

    def parse(self) -> SessionDescription:
        lines = self.lines()
        if not lines or lines[0] != ("v", "0"):
            raise _error("the body must start with v=0")
        if len(lines) < 3 or lines[1][0] != "o" or lines[2][0] != "s":
            raise _error("v= must be followed by o= and s=")
        origin = _parse_origin(lines[1][1])
        session_name = lines[2][1]

        connection: Connection | None = None
        bandwidths: list[Bandwidth] = []
        timing: list[Timing] = []
        extra_lines: list[tuple[str, str]] = []
        attributes: list[Attribute] = []
        media: list[_MediaBuilder] = []
        for kind, value in lines[3:]:
            if kind == "m":
                media.append(_MediaBuilder(value))
            elif media:
                media[-1].add(kind, value)
            elif kind == "c":
                if connection is not None:
                    raise _error("more than one session-level c= line")
                connection = _parse_connection(value)
            elif kind == "b":
                bandwidths.append(_parse_bandwidth(value))
            elif kind == "t":
                match = _TIMING_RE.fullmatch(value)
                if match is None:
                    raise _error(f"bad t= line {value!r}")
                timing.append(Timing(int(match[1]), int(match[2])))
            elif kind == "r":
                if not timing:
                    raise _error("r= line before any t= line")
                last = timing[-1]
                timing[-1] = dataclasses.replace(last, repeats=(*last.repeats, value))
            elif kind == "a":
                attributes.append(_ATTRIBUTES(value))
            elif kind in _SESSION_EXTRA_TYPES:
                if kind in _SINGLE_SESSION_LINES and any(k == kind for k, _ in extra_lines):
                    raise _error(f"more than one {kind}= line")
                extra_lines.append((kind, value))
            else:
                # RFC 4566 §5: a description with a type letter we do not understand (or a
                # second v=, o= or s=) is not one we can act on.
                raise _error(f"unexpected {kind}= line")
        return SessionDescription(
            version=0,
            origin=origin,
            session_name=session_name,
            connection=connection,
            bandwidths=tuple(bandwidths),
            # A missing t= is common enough in the field to take as "t=0 0".
            timing=tuple(timing) or (Timing(),),
            extra_lines=tuple(sorted(extra_lines, key=lambda e: _SESSION_EXTRA_RANK[e[0]])),
            attributes=tuple(attributes),
            media=tuple(builder.build() for builder in media),
        )


def _parse_origin(value: str) -> Origin:
    match = _ORIGIN_RE.fullmatch(value)
    if match is None:
        raise _error(f"bad o= line {value!r}")
    return Origin(match[1], int(match[2]), int(match[3]), match[4], match[5], match[6])


def _parse_connection(value: str) -> Connection:
    match = _CONNECTION_RE.fullmatch(value)
    if match is None:
        raise _error(f"bad c= line {value!r}")
    nettype, addrtype, address = match[1], match[2], match[3]
    if "/" not in address or addrtype not in ("IP4", "IP6"):
        return Connection(nettype, addrtype, address)
    # RFC 4566 §5.7: IP4 multicast is address/ttl[/count]; IP6 multicast is address[/count].
    host, *suffixes = address.split("/")
    limit = 2 if addrtype == "IP4" else 1
    if not host or len(suffixes) > limit:
        raise _error(f"bad c= address {address!r}")
    if not all(s.isascii() and s.isdigit() and len(s) <= 10 for s in suffixes):
        raise _error(f"bad c= address {address!r}")
    numbers = [int(s) for s in suffixes]
    if addrtype == "IP6":
        return Connection(nettype, addrtype, host, count=numbers[0])
    return Connection(
        nettype, addrtype, host, ttl=numbers[0], count=numbers[1] if len(numbers) > 1 else None
    )


def _parse_bandwidth(value: str) -> Bandwidth:
    match = _BANDWIDTH_RE.fullmatch(value)
    if match is None:
        raise _error(f"bad b= line {value!r}")
    return Bandwidth(match[1], int(match[2]))


def _parse_attribute(value: str) -> Attribute:
    match = _ATTRIBUTE_RE.fullmatch(value)
    if match is None:
        raise _error(f"bad a= line {value!r}")
    return Attribute(match[1], match[2])


def _parse_rtpmap(value: str) -> tuple[str, RtpMap] | None:
    """(payload type, encoding) of an ``a=rtpmap`` value; None when it is malformed."""
    match = _RTPMAP_RE.fullmatch(value)
    if match is None:
        return None
    channels = int(match[4]) if match[4] is not None else 1
    return match[1], RtpMap(match[2], int(match[3]), channels)


# Phones repeat the same attribute lines (codecs, ptime, direction) in every offer and
# answer; Attribute and RtpMap are immutable, so one parsed value serves them all.
_ATTRIBUTES: ParseMemo[str, Attribute] = ParseMemo(_parse_attribute)
_RTPMAPS: ParseMemo[str, tuple[str, RtpMap] | None] = ParseMemo(_parse_rtpmap)
