"""The offer/answer model (RFC 3264): answering an offer, reading what was agreed, hold."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from ringfort.errors import LocalProtocolError
from ringfort.sdp.session import (
    STATIC_PAYLOAD_TYPES,
    Attribute,
    Connection,
    Direction,
    MediaDescription,
    Origin,
    RtpMap,
    SessionDescription,
    Timing,
)

__all__ = [
    "DEFAULT_CODECS",
    "PCMA",
    "PCMU",
    "TELEPHONE_EVENT",
    "Codec",
    "EndpointAnswer",
    "EndpointFormat",
    "NegotiatedCodec",
    "answer",
    "answer_direction",
    "endpoint_answer",
    "endpoint_format",
    "endpoint_offer",
    "has_live_audio",
    "is_hold",
    "negotiated_codecs",
    "relayed",
]


@dataclass(frozen=True, slots=True)
class Codec:
    """An RTP payload format we can handle, matched against offers by name and clock rate."""

    encoding: str
    """Encoding name as in ``a=rtpmap``; compared case-insensitively (RFC 4855 §3)."""
    clock_rate: int
    channels: int = 1
    static_payload_type: int | None = None
    """The RFC 3551 static payload type, or None for a dynamically numbered format."""

    def matches(self, rtpmap: RtpMap) -> bool:
        """Whether ``rtpmap`` describes this codec."""
        return (
            rtpmap.encoding.casefold() == self.encoding.casefold()
            and rtpmap.clock_rate == self.clock_rate
            and rtpmap.channels == self.channels
        )

    @property
    def is_auxiliary(self) -> bool:
        """Whether this format rides along a voice codec rather than carrying voice itself."""
        return self.encoding.casefold() in _AUXILIARY_ENCODINGS

    def rtpmap_value(self, payload_type: int | str) -> str:
        """The value of an ``a=rtpmap`` line for this codec under ``payload_type``."""
        text = f"{payload_type} {self.encoding}/{self.clock_rate}"
        return text if self.channels == 1 else f"{text}/{self.channels}"


_AUXILIARY_ENCODINGS = frozenset({"telephone-event", "cn"})

PCMU = Codec("PCMU", 8000, 1, 0)
"""G.711 mu-law (RFC 3551 §4.5.14)."""
PCMA = Codec("PCMA", 8000, 1, 8)
"""G.711 A-law (RFC 3551 §4.5.14)."""
TELEPHONE_EVENT = Codec("telephone-event", 8000)
"""DTMF as RTP events (RFC 4733 §7.1.1)."""
DEFAULT_CODECS: tuple[Codec, ...] = (PCMU, PCMA, TELEPHONE_EVENT)


@dataclass(frozen=True, slots=True)
class NegotiatedCodec:
    """A codec both sides agreed on, and the payload type each side numbers it with."""

    codec: Codec
    offer_payload_type: int
    """What the offerer sends (and expects to receive) this codec as."""
    answer_payload_type: int
    """What the answerer numbers it as; RFC 3264 §6.1 says it should match, not must."""


def answer_direction(offered: Direction, local: Direction = Direction.SENDRECV) -> Direction:
    """The direction to answer ``offered`` with when we are willing to do at most ``local``.

    RFC 3264 §6.1: sendonly is answered recvonly (or inactive), recvonly sendonly (or
    inactive), inactive inactive; sendrecv with whatever we want.
    """
    they_send = offered in (Direction.SENDRECV, Direction.SENDONLY)
    they_receive = offered in (Direction.SENDRECV, Direction.RECVONLY)
    we_send = they_receive and local in (Direction.SENDRECV, Direction.SENDONLY)
    we_receive = they_send and local in (Direction.SENDRECV, Direction.RECVONLY)
    if we_send and we_receive:
        return Direction.SENDRECV
    if we_send:
        return Direction.SENDONLY
    if we_receive:
        return Direction.RECVONLY
    return Direction.INACTIVE


def answer(
    offer: SessionDescription,
    *,
    supported: Sequence[Codec],
    address: str,
    ports: Sequence[int],
    session_id: int,
    session_version: int | None = None,
    local_direction: Direction = Direction.SENDRECV,
    media_types: Sequence[str] = ("audio",),
    protos: Sequence[str] = ("RTP/AVP",),
    username: str = "-",
) -> SessionDescription:
    """Our answer to ``offer``: one m= line per offered one, in the same order (RFC 3264 §6).

    ``ports[i]`` is the RTP port for offered m= line ``i`` (ignored when that line is
    rejected). An accepted line keeps the offerer's payload type numbers and order for the
    codecs in ``supported`` (RFC 3264 §6.1), with their ``a=fmtp`` and the offer's
    ``a=ptime``; a line whose media or transport we do not do, that was offered with port 0,
    or that has no voice codec in common is rejected with port 0 and one format (§6).
    ``local_direction`` is the most we are willing to do (SENDONLY or INACTIVE to hold).
    The caller answers 488 when no line was accepted.
    """
    if len(ports) != len(offer.media):
        raise LocalProtocolError(
            f"answer needs one port per offered m= line: {len(offer.media)}, got {len(ports)}"
        )
    connection = Connection.for_address(address)
    lines: list[MediaDescription] = []
    for index, (offered, port) in enumerate(zip(offer.media, ports, strict=True)):
        common = _common_formats(offered, supported)
        acceptable = (
            offered.port != 0
            and offered.media in media_types
            and offered.proto.upper() in (proto.upper() for proto in protos)
            and any(not codec.is_auxiliary for _, codec in common)
        )
        if not acceptable:
            lines.append(_rejected(offered))
            continue
        attributes: list[Attribute] = []
        for payload_type, codec in common:
            attributes.append(Attribute("rtpmap", codec.rtpmap_value(payload_type)))
            parameters = offered.fmtp(payload_type)
            if parameters:
                attributes.append(Attribute("fmtp", f"{payload_type} {parameters}"))
        if offered.ptime is not None:
            attributes.append(Attribute("ptime", str(offered.ptime)))
        direction = answer_direction(offer.direction_of(index), local_direction)
        attributes.append(Attribute(direction.value))
        lines.append(
            MediaDescription(
                media=offered.media,
                port=port,
                proto=offered.proto,
                formats=tuple(payload_type for payload_type, _ in common),
                attributes=tuple(attributes),
            )
        )
    return SessionDescription(
        origin=Origin(
            username,
            session_id,
            session_id if session_version is None else session_version,
            "IN",
            connection.addrtype,
            address,
        ),
        session_name="-",
        connection=connection,
        timing=(Timing(),),
        media=tuple(lines),
    )


# Attributes that describe the phone's own transport (ICE, DTLS-SRTP, SDES, muxing, RTP
# extensions): meaningless once media is anchored on a relay that speaks plain RTP/AVP.
_TRANSPORT_ATTRIBUTES = frozenset(
    {
        "candidate",
        "remote-candidates",
        "end-of-candidates",
        "ice-ufrag",
        "ice-pwd",
        "ice-options",
        "ice-lite",
        "ice-mismatch",
        "crypto",
        "fingerprint",
        "setup",
        "rtcp-mux",
        "rtcp-rsize",
        "rtcp-fb",
        "extmap",
        "ssrc",
        "ssrc-group",
        "mid",
        "msid",
        "group",
        "msid-semantic",
    }
)


def relayed(
    sdp: SessionDescription,
    *,
    supported: Sequence[Codec],
    address: str,
    port: int,
    rtcp_port: int,
    origin: Origin,
) -> SessionDescription:
    """``sdp`` as passed on by a media relay: the same offer or answer, aimed at the relay.

    The first live audio line over RTP/AVP that has a voice codec in ``supported`` keeps
    those codecs only (the sender's payload type numbers, order, ``a=fmtp``, ``a=ptime``
    and direction) and points at ``address:port`` with RTCP on ``rtcp_port``; every other
    line is refused with port 0, so the line count, which an answer must keep (RFC 3264
    §6), is unchanged. Transport attributes the relay does not speak (ICE, DTLS, SDES,
    rtcp-mux) are removed; ``origin`` replaces the sender's ``o=`` line (the relay is the
    originator now, RFC 4566 §5.2). A description with no usable line has every port 0
    (see ``has_live_audio``).
    """
    connection = Connection.for_address(address)
    lines: list[MediaDescription] = []
    chosen = False
    for offered in sdp.media:
        common = _common_formats(offered, supported)
        usable = (
            not chosen
            and offered.port != 0
            and offered.media == "audio"
            and offered.proto.upper() == "RTP/AVP"
            and any(not codec.is_auxiliary for _, codec in common)
        )
        if not usable:
            lines.append(_rejected(offered))
            continue
        chosen = True
        kept = {payload_type for payload_type, _ in common}
        attributes = [
            attribute
            for attribute in offered.attributes
            if attribute.name not in _TRANSPORT_ATTRIBUTES
            and attribute.name != "rtcp"
            and not (
                attribute.name in ("rtpmap", "fmtp")
                and (attribute.value or "").partition(" ")[0] not in kept
            )
        ]
        attributes.append(Attribute("rtcp", str(rtcp_port)))
        # Built directly rather than by dataclasses.replace: this runs for every
        # SDP of every call, and the copies cost more than the work.
        lines.append(
            MediaDescription(
                media=offered.media,
                port=port,
                proto=offered.proto,
                # Static types need no rtpmap, but a phone that named one expects it back.
                formats=tuple(fmt for fmt in offered.formats if fmt in kept),
                connection=connection,
                bandwidths=offered.bandwidths,
                extra_lines=offered.extra_lines,
                attributes=tuple(attributes),
            )
        )
    return SessionDescription(
        origin=origin,
        session_name=sdp.session_name,
        connection=connection,
        timing=sdp.timing,
        media=tuple(lines),
        attributes=tuple(a for a in sdp.attributes if a.name not in _TRANSPORT_ATTRIBUTES),
        bandwidths=sdp.bandwidths,
        extra_lines=sdp.extra_lines,
        version=sdp.version,
    )


@dataclass(frozen=True, slots=True)
class EndpointFormat:
    """What a phone and our own media end agreed: one voice codec, and RFC 4733 events."""

    payload_type: int
    """The one voice payload type both sides send (a static G.711 number, RFC 3551)."""
    codec: Codec
    event_payload_type: int | None
    """The telephone-event number, if events were agreed."""


@dataclass(frozen=True, slots=True)
class EndpointAnswer:
    """Our answer when we terminate the media ourselves, and the formats it settles on."""

    sdp: SessionDescription
    format: EndpointFormat


def _endpoint_format_of(line: MediaDescription, voice: Sequence[Codec]) -> EndpointFormat | None:
    """The first codec of ``voice`` the line lists under its static number, and its events."""
    if line.port == 0 or line.media != "audio" or line.proto.upper() != "RTP/AVP":
        return None
    common = _common_formats(line, (*voice, TELEPHONE_EVENT))
    # The static numbers only: the media engine sends G.711 as 0 or 8 (RFC 3551).
    chosen = next(
        (
            (pt, codec)
            for pt, codec in common
            if not codec.is_auxiliary and pt == str(codec.static_payload_type)
        ),
        None,
    )
    if chosen is None:
        return None
    events = next((pt for pt, codec in common if codec == TELEPHONE_EVENT), None)
    return EndpointFormat(int(chosen[0]), chosen[1], int(events) if events is not None else None)


def endpoint_format(
    sdp: SessionDescription, voice: Sequence[Codec] = (PCMU, PCMA)
) -> EndpointFormat | None:
    """The formats of the first live audio line with a codec of ``voice`` (an answer to our
    endpoint offer, read back); None when there is none."""
    for line in sdp.media:
        found = _endpoint_format_of(line, voice)
        if found is not None:
            return found
    return None


def endpoint_answer(
    offer: SessionDescription,
    *,
    address: str,
    port: int,
    rtcp_port: int,
    origin: Origin,
    voice: Sequence[Codec] = (PCMU, PCMA),
    local_direction: Direction = Direction.SENDRECV,
) -> EndpointAnswer | None:
    """Answer ``offer`` as a media endpoint (a prompt player, a recorder): one voice codec.

    The first live RTP/AVP audio line is accepted with the first offered codec of
    ``voice`` (the offerer's preference wins, RFC 3264 §6.1) and telephone-event if
    offered; every other line is refused with port 0. None when no line has a codec of
    ``voice``: the caller answers 488.
    """
    for index, offered in enumerate(offer.media):
        agreed = _endpoint_format_of(offered, voice)
        if agreed is None:
            continue
        ports = [port if i == index else 0 for i in range(len(offer.media))]
        draft = answer(
            offer,
            supported=(agreed.codec, TELEPHONE_EVENT),
            address=address,
            ports=ports,
            session_id=origin.session_id,
            session_version=origin.session_version,
            local_direction=local_direction,
            username=origin.username,
        )
        lines = [
            line.with_address(address, port, rtcp_port) if i == index else _rejected(offer.media[i])
            for i, line in enumerate(draft.media)
        ]
        return EndpointAnswer(dataclasses.replace(draft, media=tuple(lines)), agreed)
    return None


def endpoint_offer(
    *,
    address: str,
    port: int,
    rtcp_port: int,
    origin: Origin,
    formats: Sequence[tuple[int, Codec]],
    direction: Direction = Direction.SENDRECV,
) -> SessionDescription:
    """An offer of one audio line with ``formats`` (payload type, codec) in preference order."""
    connection = Connection.for_address(address)
    attributes = [Attribute("rtpmap", codec.rtpmap_value(pt)) for pt, codec in formats]
    attributes += [
        Attribute("fmtp", f"{pt} 0-16") for pt, codec in formats if codec == TELEPHONE_EVENT
    ]
    attributes += [Attribute("ptime", "20"), Attribute(direction.value)]
    line = MediaDescription(
        media="audio",
        port=port,
        proto="RTP/AVP",
        formats=tuple(str(pt) for pt, _ in formats),
        attributes=tuple(attributes),
    )
    return SessionDescription(
        origin=origin,
        session_name="-",
        connection=connection,
        timing=(Timing(),),
        media=(line.with_address(address, port, rtcp_port),),
    )


def has_live_audio(sdp: SessionDescription) -> bool:
    """Whether any line of ``sdp`` is live (port not 0); a relayed description with none
    means the two sides share no codec."""
    return any(media.port != 0 for media in sdp.media)


def negotiated_codecs(
    offer: SessionDescription, answer: SessionDescription, *, index: int | None = None
) -> list[NegotiatedCodec]:
    """The codecs of m= line ``index`` both sides listed, in the answerer's order.

    Without ``index``, the first line accepted on both sides. Empty when there is none.
    """
    if index is None:
        index = next(
            (
                i
                for i, (offered, answered) in enumerate(
                    zip(offer.media, answer.media, strict=False)
                )
                if offered.port != 0 and answered.port != 0
            ),
            None,
        )
        if index is None:
            return []
    if index >= min(len(offer.media), len(answer.media)):
        return []
    offered, answered = offer.media[index], answer.media[index]
    result: list[NegotiatedCodec] = []
    for answer_format in answered.formats:
        rtpmap = answered.rtpmap(answer_format)
        if rtpmap is None or not answer_format.isdigit():
            continue
        codec = _codec_for(int(answer_format), rtpmap)
        # RFC 3264 §6.1 wants the same number; prefer it, then any format with the same meaning.
        candidates = sorted(offered.formats, key=lambda fmt: fmt != answer_format)
        for offer_format in candidates:
            offered_rtpmap = offered.rtpmap(offer_format)
            if (
                offer_format.isdigit()
                and offered_rtpmap is not None
                and codec.matches(offered_rtpmap)
            ):
                result.append(NegotiatedCodec(codec, int(offer_format), int(answer_format)))
                break
    return result


def is_hold(sdp: SessionDescription) -> bool:
    """Whether ``sdp`` puts the call on hold: every live stream sendonly or inactive
    (RFC 3264 §8.4) or aimed at 0.0.0.0 (the RFC 2543 form). False with no live stream.
    """
    live = [index for index, media in enumerate(sdp.media) if media.port != 0]
    if not live:
        return False

    def held(index: int) -> bool:
        connection = sdp.connection_of(index)
        if connection is not None and connection.address == "0.0.0.0":  # noqa: S104
            return True
        return sdp.direction_of(index) in (Direction.SENDONLY, Direction.INACTIVE)

    return all(held(index) for index in live)


def _common_formats(
    offered: MediaDescription, supported: Sequence[Codec]
) -> list[tuple[str, Codec]]:
    """The offered formats we support, in the offer's order, one per codec."""
    common: list[tuple[str, Codec]] = []
    taken: set[Codec] = set()
    for payload_type, rtpmap in offered.rtpmaps().items():
        for codec in supported:
            if codec not in taken and codec.matches(rtpmap):
                common.append((payload_type, codec))
                taken.add(codec)
                break
    return common


def _rejected(offered: MediaDescription) -> MediaDescription:
    """A refused stream: port 0, the offer's media and transport, one format (RFC 3264 §6)."""
    return MediaDescription(
        media=offered.media, port=0, proto=offered.proto, formats=offered.formats[:1] or ("0",)
    )


def _codec_for(payload_type: int, rtpmap: RtpMap) -> Codec:
    static = STATIC_PAYLOAD_TYPES.get(payload_type)
    is_static = static is not None and static.encoding.casefold() == rtpmap.encoding.casefold()
    return Codec(
        rtpmap.encoding, rtpmap.clock_rate, rtpmap.channels, payload_type if is_static else None
    )
