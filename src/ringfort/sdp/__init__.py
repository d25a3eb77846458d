"""sans-IO SDP (RFC 4566) and offer/answer (RFC 3264)."""

from ringfort.sdp.offer_answer import (
    DEFAULT_CODECS,
    PCMA,
    PCMU,
    TELEPHONE_EVENT,
    Codec,
    NegotiatedCodec,
    answer,
    answer_direction,
    is_hold,
    negotiated_codecs,
)
from ringfort.sdp.session import (
    Attribute,
    Bandwidth,
    Connection,
    Direction,
    MediaDescription,
    Origin,
    RtcpAddress,
    RtpMap,
    SessionDescription,
    Timing,
)

__all__ = [
    "DEFAULT_CODECS",
    "PCMA",
    "PCMU",
    "TELEPHONE_EVENT",
    "Attribute",
    "Bandwidth",
    "Codec",
    "Connection",
    "Direction",
    "MediaDescription",
    "NegotiatedCodec",
    "Origin",
    "RtcpAddress",
    "RtpMap",
    "SessionDescription",
    "Timing",
    "answer",
    "answer_direction",
    "is_hold",
    "negotiated_codecs",
]
