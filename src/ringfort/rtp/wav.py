"""WAV files to and from 8 kHz 16-bit mono PCM, the audio the media engine plays and records."""

from __future__ import annotations

import math
import struct
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from operator import add, mul
from typing import TypeAlias

from ringfort.errors import LocalProtocolError, RemoteProtocolError
from ringfort.rtp.g711 import alaw_to_linear, linear_to_ulaw, ulaw_to_linear

__all__ = [
    "RATE",
    "Pcm8k",
    "WavFormat",
    "decode_wav",
    "encode_ulaw_wav",
    "encode_wav",
    "read_format",
    "resample",
]

RATE = 8000
"""The rate of everything Ringfort plays: G.711's 8 kHz."""

Pcm8k: TypeAlias = bytes
"""8 kHz, 16-bit little-endian, mono linear PCM."""

# Format tags (Microsoft's mmreg.h; RFC 2361 lists them).
_PCM = 0x0001
_FLOAT = 0x0003
_ALAW = 0x0006
_ULAW = 0x0007
_EXTENSIBLE = 0xFFFE
_KNOWN_UNSUPPORTED = {
    0x0002: "Microsoft ADPCM",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0050: "MPEG",
    0x0055: "MPEG layer 3 (MP3)",
    0x0064: "G.721 ADPCM",
    0x0161: "Windows Media Audio",
}
_ENCODING_NAMES = {_PCM: "pcm", _FLOAT: "float", _ALAW: "alaw", _ULAW: "ulaw"}
# WAVE_FORMAT_EXTENSIBLE names the real format by a GUID whose first two octets are the
# format tag and whose remaining fourteen are this fixed KSDATAFORMAT_SUBTYPE tail.
_SUBFORMAT_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"

_MAX_CHANNELS = 256
_MAX_RATE = 768_000
_BIG_ENDIAN = sys.byteorder == "big"

# Resampling filter: passband to 85 % of the lower Nyquist frequency (3.4 kHz for an
# 8 kHz result, the telephone band), stopband from 115 % (4.6 kHz), 60 dB down.  Sound
# between 4 and 4.6 kHz folds only into 3.4-4 kHz, above what telephones pass; 60 dB is
# well past G.711's own noise floor (about 38 dB below a full-scale tone).  A steeper
# filter would cost decoding time and buy nothing audible.
_PASSBAND = 0.85
_STOPBAND = 1.15
_ATTENUATION_DB = 60.0
_KAISER_BETA = 0.1102 * (_ATTENUATION_DB - 8.7)  # Kaiser's formula for A > 50 dB
# Sub-sample positions the filter is tabulated at; rate pairs needing more (44 099 Hz to
# 8 kHz wants 8000) are rounded to the nearest of these, a timing error under 1/2048 sample.
_MAX_PHASES = 1024
# Outputs computed per pass, bounding the working copy of the input for long files.
_CHUNK = 4096


@dataclass(frozen=True, slots=True)
class WavFormat:
    """What a WAV file's ``fmt `` chunk says about its samples."""

    encoding: str
    """``pcm`` (integer), ``float``, ``ulaw`` or ``alaw``."""
    channels: int
    """Interleaved channels per frame."""
    rate: int
    """Frames per second."""
    bits: int
    """Bits per sample as stored (the container size: 24 for 20-bit audio in 3 octets)."""


def decode_wav(data: bytes) -> Pcm8k:
    """Any common WAV file as 8 kHz 16-bit little-endian mono PCM.

    Reads integer PCM of 8 to 32 bits, 32- and 64-bit float, µ-law and A-law, plain or
    WAVE_FORMAT_EXTENSIBLE, at any rate and channel count: channels are averaged, and
    any rate but 8 kHz goes through the filter :func:`resample` uses.  Raises
    RemoteProtocolError saying what is wrong with a file this cannot read.
    """
    fmt, frames = _parse(data)
    samples = _samples(fmt, frames)
    channels = [samples[index :: fmt.channels] for index in range(fmt.channels)]
    if fmt.rate != RATE:
        return _to_le(_resample(channels, fmt.rate, RATE, 1.0 / fmt.channels))
    if fmt.channels == 1:
        return _to_le(array("h", samples))
    mixed = _mixed(channels, 0, len(channels[0]))
    return _to_le(array("h", [round(value / fmt.channels) for value in mixed]))


def read_format(data: bytes) -> WavFormat:
    """The format of a WAV file, without decoding it (to describe an upload, say)."""
    return _parse(data)[0]


def encode_wav(pcm: bytes, rate: int = RATE, channels: int = 1) -> bytes:
    """16-bit little-endian PCM, ``channels`` interleaved, as a canonical 44-octet-header WAV."""
    if channels < 1 or rate < 1:
        raise LocalProtocolError(
            f"a WAV needs a positive rate and channel count, not {rate}/{channels}"
        )
    if len(pcm) % (2 * channels):
        raise LocalProtocolError(
            f"{len(pcm)} octets are not whole frames of {channels} 16-bit samples"
        )
    block = 2 * channels
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(pcm),
        b"WAVE",
        b"fmt ",
        16,
        _PCM,
        channels,
        rate,
        rate * block,
        block,
        16,
        b"data",
        len(pcm),
    )
    return header + pcm


def encode_ulaw_wav(pcm: bytes) -> bytes:
    """8 kHz 16-bit mono PCM as a G.711 mu-law WAV: half the size of 16-bit PCM, and what
    most calls carry anyway (the shipped prompts are kept this way)."""
    if len(pcm) % 2:
        raise LocalProtocolError(f"{len(pcm)} octets are not whole 16-bit samples")
    data = linear_to_ulaw(pcm)
    # Non-PCM formats carry an 18-octet 'fmt ' (with cbSize) and a 'fact' chunk.
    header = struct.pack(
        "<4sI4s4sIHHIIHHH4sII4sI",
        b"RIFF",
        4 + 26 + 12 + 8 + len(data) + len(data) % 2,
        b"WAVE",
        b"fmt ",
        18,
        _ULAW,
        1,
        RATE,
        RATE,
        1,
        8,
        0,
        b"fact",
        4,
        len(data),
        b"data",
        len(data),
    )
    return header + data + b"\0" * (len(data) % 2)


def resample(pcm: bytes, source_rate: int, target_rate: int = RATE) -> bytes:
    """16-bit little-endian mono PCM from ``source_rate`` to ``target_rate`` Hz.

    A Kaiser-windowed sinc filter in polyphase form: flat to 85 % of the lower Nyquist
    frequency and 60 dB down from 115 %, so music at 44.1 or 48 kHz does not alias into
    the telephone band.
    """
    if source_rate < 1 or target_rate < 1:
        raise LocalProtocolError(f"cannot resample from {source_rate} Hz to {target_rate} Hz")
    if len(pcm) % 2:
        raise LocalProtocolError(f"linear PCM of {len(pcm)} octets is not whole 16-bit samples")
    if source_rate == target_rate:
        return bytes(pcm)
    return _to_le(_resample([_int16_from_le(pcm)], source_rate, target_rate, 1.0))


# --- parsing ------------------------------------------------------------------------------


def _parse(data: bytes) -> tuple[WavFormat, memoryview]:
    """The format and the sample octets (whole frames only) of a RIFF WAVE file."""
    if len(data) < 12:
        raise RemoteProtocolError(f"not a WAV file: only {len(data)} octets")
    magic, _, form = struct.unpack_from("<4sI4s", data)
    if magic == b"RF64":
        raise RemoteProtocolError("RF64 (over 4 GB) WAV files are not supported")
    if magic == b"RIFX":
        raise RemoteProtocolError("big-endian (RIFX) WAV files are not supported")
    if magic != b"RIFF" or form != b"WAVE":
        raise RemoteProtocolError("not a WAV file: it does not start with RIFF....WAVE")
    view = memoryview(data)
    fmt: WavFormat | None = None
    frames: memoryview | None = None
    offset = 12
    # The RIFF length is often wrong (streamed recordings leave it 0 or 0xFFFFFFFF), so
    # chunks are walked to the end of what was actually given.
    while offset + 8 <= len(data):
        kind, size = struct.unpack_from("<4sI", data, offset)
        start = offset + 8
        if kind == b"data":
            if frames is None:
                # A data length past the end is a recording cut short (or still being
                # written): take what is there.
                frames = view[start : min(start + size, len(data))]
        elif kind == b"fmt ":
            if start + size > len(data):
                raise RemoteProtocolError("WAV file is truncated inside its 'fmt ' chunk")
            fmt = _parse_fmt(bytes(view[start : start + size]))
        offset = start + size + (size & 1)  # chunks are padded to even lengths
    if fmt is None:
        raise RemoteProtocolError("WAV file has no 'fmt ' chunk")
    if frames is None:
        raise RemoteProtocolError("WAV file has no 'data' chunk")
    frame_size = fmt.channels * fmt.bits // 8
    return fmt, frames[: len(frames) - len(frames) % frame_size]


def _parse_fmt(body: bytes) -> WavFormat:
    if len(body) < 16:
        raise RemoteProtocolError(f"WAV 'fmt ' chunk is {len(body)} octets, fewer than 16")
    tag, channels, rate, _, block_align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _EXTENSIBLE:
        if len(body) < 40:
            raise RemoteProtocolError("WAV 'fmt ' chunk is too short for WAVE_FORMAT_EXTENSIBLE")
        subformat = body[24:40]
        if subformat[2:] != _SUBFORMAT_TAIL:
            raise RemoteProtocolError("WAV sub-format GUID is not a standard audio format")
        tag = struct.unpack_from("<H", subformat)[0]
    encoding = _ENCODING_NAMES.get(tag)
    if encoding is None:
        name = _KNOWN_UNSUPPORTED.get(tag, "an encoding")
        raise RemoteProtocolError(
            f"WAV file holds {name} (format tag 0x{tag:04x}); convert it to PCM, float,"
            " µ-law or A-law WAV"
        )
    if not 1 <= channels <= _MAX_CHANNELS:
        raise RemoteProtocolError(f"WAV file has {channels} channels")
    if not 1 <= rate <= _MAX_RATE:
        raise RemoteProtocolError(f"WAV sample rate {rate} Hz is not usable")
    if block_align == 0 or block_align % channels:
        raise RemoteProtocolError(
            f"WAV block size {block_align} is not a whole sample for {channels} channels"
        )
    # The container size decides the layout; ``bits`` may be fewer (20 valid bits in 3
    # octets), and the spare low bits are zero.
    width = block_align // channels
    if width * 8 < bits:
        raise RemoteProtocolError(
            f"WAV block size {block_align} is too small for {bits}-bit samples"
        )
    allowed = {"pcm": (1, 2, 3, 4), "float": (4, 8), "ulaw": (1,), "alaw": (1,)}[encoding]
    if width not in allowed:
        raise RemoteProtocolError(
            f"{width * 8}-bit {encoding} WAV samples are not supported"
            f" (use {' or '.join(f'{size * 8}-bit' for size in allowed)})"
        )
    return WavFormat(encoding=encoding, channels=channels, rate=rate, bits=width * 8)


# --- samples -------------------------------------------------------------------------------


def _samples(fmt: WavFormat, frames: memoryview) -> Sequence[int]:
    """Interleaved samples on the 16-bit scale (float and wider integers are scaled down)."""
    raw = bytes(frames)
    width = fmt.bits // 8
    if fmt.encoding == "ulaw":
        return _int16_from_le(ulaw_to_linear(raw))
    if fmt.encoding == "alaw":
        return _int16_from_le(alaw_to_linear(raw))
    if fmt.encoding == "float":
        values = array("f" if width == 4 else "d", raw)
        if _BIG_ENDIAN:
            values.byteswap()
        # Past full scale clips; NaN (no comparison holds) is silence.
        return [
            round(value * 32767.0)
            if -1.0 <= value <= 1.0
            else (32767 if value > 1.0 else -32767 if value < -1.0 else 0)
            for value in values
        ]
    if width == 1:
        # 8-bit WAV is unsigned (offset by 128); it becomes the high octet of a 16-bit sample.
        wide = bytearray(2 * len(raw))
        wide[1::2] = raw.translate(_FLIP_SIGN)
        return _int16_from_le(bytes(wide))
    # Wider integers keep their top 16 bits: the rest is below what G.711 can carry.
    top = bytearray(2 * (len(raw) // width))
    top[0::2] = raw[width - 2 :: width]
    top[1::2] = raw[width - 1 :: width]
    return _int16_from_le(bytes(top))


_FLIP_SIGN = bytes(value ^ 0x80 for value in range(256))


def _mixed(channels: list[Sequence[int]], start: int, stop: int) -> tuple[float, ...]:
    """Frames ``start`` to ``stop``, each the sum of its channels (the caller scales)."""
    if len(channels) == 1:
        return tuple(map(float, channels[0][start:stop]))
    if len(channels) == 2:
        return tuple(map(add, map(float, channels[0][start:stop]), channels[1][start:stop]))
    return tuple(
        map(float, map(sum, zip(*(channel[start:stop] for channel in channels), strict=True)))
    )


def _int16_from_le(data: bytes) -> array[int]:
    values = array("h", data)
    if _BIG_ENDIAN:
        values.byteswap()
    return values


def _to_le(samples: array[int]) -> bytes:
    if _BIG_ENDIAN:
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()


# --- resampling ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Filter:
    """A resampling filter tabulated at ``phases`` sub-sample positions."""

    up: int
    """Output samples per ``down`` input samples, in lowest terms."""
    down: int
    half: int
    """Taps each side of the output instant: each output uses 2·half inputs."""
    phases: int
    taps: tuple[tuple[float, ...], ...]
    """Per phase, the weights of inputs ``i - half + 1`` ... ``i + half``."""
    norms: tuple[float, ...]
    """Per phase, the sum of the squared weights."""


def _bessel_i0(x: float) -> float:
    """The modified Bessel function I₀ by its power series (converges fast for x < 20)."""
    total = term = 1.0
    k = 0
    while term > 1e-12 * total:
        k += 1
        term *= (x / (2 * k)) ** 2
        total += term
    return total


@lru_cache(maxsize=16)
def _design(source: int, target: int) -> _Filter:
    divisor = math.gcd(source, target)
    up, down = target // divisor, source // divisor
    nyquist = min(source, target) / 2
    cutoff = (_PASSBAND + _STOPBAND) / 2 * nyquist / source  # cycles per input sample
    transition = 2 * math.pi * (_STOPBAND - _PASSBAND) * nyquist / source
    # Kaiser's length estimate for the attenuation and transition width.
    length = math.ceil((_ATTENUATION_DB - 8) / (2.285 * transition)) + 1
    half = max(2, (length + 1) // 2)
    phases = min(up, _MAX_PHASES)
    window_scale = _bessel_i0(_KAISER_BETA)
    taps: list[tuple[float, ...]] = []
    for phase in range(phases):
        fraction = phase / phases
        weights = []
        for k in range(-half + 1, half + 1):
            t = k - fraction  # input-sample distance from the output instant
            x = 2 * cutoff * t
            sinc = math.sin(math.pi * x) / (math.pi * x) if x else 1.0
            u = t / half
            window = _bessel_i0(_KAISER_BETA * math.sqrt(max(0.0, 1 - u * u))) / window_scale
            weights.append(sinc * window)
        total = sum(weights)  # unit gain at DC in every phase, so no phase ripple
        taps.append(tuple(weight / total for weight in weights))
    norms = tuple(sum(weight * weight for weight in phase) for phase in taps)
    return _Filter(up, down, half, phases, tuple(taps), norms)


def _position(numerator: int, up: int, phases: int) -> tuple[int, int]:
    """Input sample and nearest filter phase of the instant ``numerator / up`` input samples."""
    index, rest = divmod(numerator, up)
    phase = (rest * phases + up // 2) // up
    if phase == phases:
        return index + 1, 0
    return index, phase


def _resample(channels: list[Sequence[int]], source: int, target: int, gain: float) -> array[int]:
    """Polyphase resampling of the channels' sum, scaled by ``gain``, as clipped int16."""
    design = _design(source, target)
    up, down, width = design.up, design.down, 2 * design.half
    length = len(channels[0])
    count = length * up // down
    out = array("h", bytes(2 * count))
    # Output q·up + r sits at input position q·down + r·down/up: each residue r has one
    # filter phase and its windows start a fixed stride apart, so each is one comprehension.
    residues = [(r, *_position(r * down, up, design.phases)) for r in range(up)]
    chunk = max(1, _CHUNK // up) * up
    dist = math.dist
    scale = gain / 2
    for first in range(0, count, chunk):
        last = min(first + chunk, count)
        low = first * down // up - design.half + 1
        high = (last - 1) * down // up + design.half + 2  # + 1: a phase rounded up
        segment = (
            (0.0,) * max(0, -low)
            + _mixed(channels, max(0, low), min(length, high))
            + (0.0,) * max(0, high - length)
        )
        # |w|² of every window as a difference of prefix sums of squares; a chunk is
        # short enough that their rounding stays far below one output step.
        energy = list(accumulate(map(mul, segment, segment), initial=0.0))
        for r, offset, phase in residues:
            if first + r >= last:
                break
            taps, norm = design.taps[phase], design.norms[phase]
            stop = offset + (last - first - r - 1) // up * down + 1
            # ⟨w, h⟩ = (|w|² + |h|² - |w - h|²) / 2: math.dist walks both vectors in C,
            # several times faster than multiplying and adding them in Python.
            values = [
                (energy[s + width] - energy[s] + norm - dist(segment[s : s + width], taps) ** 2)
                * scale
                for s in range(offset, stop, down)
            ]
            out[first + r : last : up] = array(
                "h",
                [
                    round(v) if -32768.0 < v < 32767.0 else (32767 if v > 0 else -32768)
                    for v in values
                ],
            )
    return out
