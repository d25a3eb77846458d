"""G.711 µ-law and A-law (ITU-T G.711) to and from 16-bit little-endian linear PCM, by table."""

from __future__ import annotations

import functools
import sys
from array import array
from collections.abc import Callable

from ringfort.errors import LocalProtocolError

__all__ = [
    "alaw_to_linear",
    "alaw_to_ulaw",
    "linear_to_alaw",
    "linear_to_ulaw",
    "ulaw_to_alaw",
    "ulaw_to_linear",
]

# The encoders follow the ITU-T G.191 reference (STL g711.c): a negative sample's
# magnitude is taken as its ones' complement, so x and -1 - x encode to mirror codes
# and the quantiser is symmetric about -0.5 rather than biased towards negative values.

_ULAW_BIAS = 33  # in 14-bit units; 0x84 on the 16-bit scale
_ULAW_CLIP = 0x1FFF


def _ulaw_encode_sample(sample: int) -> int:
    """One signed 16-bit sample to a µ-law octet (G.711 Table 2a, 14-bit magnitude)."""
    magnitude = ((~sample if sample < 0 else sample) >> 2) + _ULAW_BIAS
    magnitude = min(magnitude, _ULAW_CLIP)
    segment = (magnitude >> 6).bit_length()  # 0..7: which of the eight chords
    mantissa = (magnitude >> (segment + 1)) & 0x0F
    # µ-law sends every bit inverted; the sign bit is 1 for positive samples.
    code = ~(segment << 4 | mantissa) & 0x7F
    return code | 0x80 if sample >= 0 else code


def _ulaw_decode_code(code: int) -> int:
    """One µ-law octet to a signed 16-bit sample (the interval's midpoint)."""
    inverted = ~code & 0xFF
    segment = (inverted >> 4) & 0x07
    mantissa = inverted & 0x0F
    value = ((mantissa << 3) + (_ULAW_BIAS << 2)) << segment
    value -= _ULAW_BIAS << 2
    return value if code & 0x80 else -value


def _alaw_encode_sample(sample: int) -> int:
    """One signed 16-bit sample to an A-law octet (G.711 Table 1a, 12-bit magnitude)."""
    magnitude = (~sample if sample < 0 else sample) >> 4  # 0..2047
    if magnitude < 0x10:
        code = magnitude
    else:
        segment = magnitude.bit_length() - 4  # 1..7; the chord's leading 1 bit is implied
        code = segment << 4 | (magnitude >> (segment - 1)) & 0x0F
    if sample >= 0:
        code |= 0x80
    # A-law inverts the even bits on the line (G.711 §2).
    return code ^ 0x55


def _alaw_decode_code(code: int) -> int:
    """One A-law octet to a signed 16-bit sample (the interval's midpoint)."""
    plain = (code ^ 0x55) & 0x7F
    segment = plain >> 4
    mantissa = plain & 0x0F
    if segment > 0:
        mantissa += 0x10
    value = (mantissa << 4) + 0x08
    if segment > 1:
        value <<= segment - 1
    return value if code & 0x80 else -value


def _decode_tables(decode: list[int]) -> tuple[bytes, bytes]:
    """Low and high octets of each code's little-endian int16, as two translate tables."""
    raw = [value & 0xFFFF for value in decode]
    return bytes(value & 0xFF for value in raw), bytes(value >> 8 for value in raw)


def _encode_table(encode_sample: Callable[[int], int]) -> bytes:
    """A 65536-entry table indexed by the sample's unsigned 16-bit pattern."""
    return bytes(encode_sample(index - (index & 0x8000) * 2) for index in range(0x10000))


# The encode tables are built when first needed: 65,536 samples each take some 50 ms,
# which every process importing this module (each CLI command) would pay otherwise.
@functools.cache
def _ulaw_encode_table() -> bytes:
    return _encode_table(_ulaw_encode_sample)


@functools.cache
def _alaw_encode_table() -> bytes:
    return _encode_table(_alaw_encode_sample)


_ULAW_DECODE = [_ulaw_decode_code(code) for code in range(256)]
_ALAW_DECODE = [_alaw_decode_code(code) for code in range(256)]
_ULAW_LOW, _ULAW_HIGH = _decode_tables(_ULAW_DECODE)
_ALAW_LOW, _ALAW_HIGH = _decode_tables(_ALAW_DECODE)
# Transcoding goes through the linear value of each code, so a code and its transcode
# decode to the nearest values the two laws share.
_ULAW_TO_ALAW = bytes(_alaw_encode_sample(value) for value in _ULAW_DECODE)
_ALAW_TO_ULAW = bytes(_ulaw_encode_sample(value) for value in _ALAW_DECODE)


def _decode(data: bytes, low: bytes, high: bytes) -> bytes:
    pcm = bytearray(2 * len(data))
    pcm[0::2] = data.translate(low)
    pcm[1::2] = data.translate(high)
    return bytes(pcm)


def _encode(pcm: bytes, table: bytes) -> bytes:
    if len(pcm) % 2:
        raise LocalProtocolError(f"linear PCM of {len(pcm)} octets is not whole 16-bit samples")
    samples = array("H")
    samples.frombytes(pcm)
    if sys.byteorder == "big":
        samples.byteswap()
    return bytes(map(table.__getitem__, samples))


def ulaw_to_linear(data: bytes) -> bytes:
    """Decode µ-law octets to 16-bit little-endian linear PCM."""
    return _decode(data, _ULAW_LOW, _ULAW_HIGH)


def alaw_to_linear(data: bytes) -> bytes:
    """Decode A-law octets to 16-bit little-endian linear PCM."""
    return _decode(data, _ALAW_LOW, _ALAW_HIGH)


def linear_to_ulaw(pcm: bytes) -> bytes:
    """Encode 16-bit little-endian linear PCM to µ-law, one octet per sample."""
    return _encode(pcm, _ulaw_encode_table())


def linear_to_alaw(pcm: bytes) -> bytes:
    """Encode 16-bit little-endian linear PCM to A-law, one octet per sample."""
    return _encode(pcm, _alaw_encode_table())


def ulaw_to_alaw(data: bytes) -> bytes:
    """Transcode µ-law octets to A-law without a linear step."""
    return data.translate(_ULAW_TO_ALAW)


def alaw_to_ulaw(data: bytes) -> bytes:
    """Transcode A-law octets to µ-law without a linear step."""
    return data.translate(_ALAW_TO_ULAW)
