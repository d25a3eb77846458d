"""In-band DTMF: key presses heard in linear PCM, for phones that send no RFC 4733 events."""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from ringfort.errors import LocalProtocolError
from ringfort.rtp.tones import DTMF_FREQUENCIES

__all__ = ["BlockAnalysis", "InbandDtmfDetector"]

_ROWS = sorted({low for low, _ in DTMF_FREQUENCIES.values()})
_COLUMNS = sorted({high for _, high in DTMF_FREQUENCIES.values()})
_KEYS = {
    (_ROWS.index(low), _COLUMNS.index(high)): key for key, (low, high) in DTMF_FREQUENCIES.items()
}

# 102 samples at 8 kHz (12.75 ms): bins about 78 Hz apart, fine enough to part the rows
# (73 Hz apart at the closest, with the ±1.5 % ITU-T Q.24 tolerance), short enough that a
# 40 ms tone fills at least two whole blocks however it is aligned.
_BLOCK_AT_8K = 102
# The quietest tone accepted, as a peak on the 16-bit scale: about -38 dBm0 per tone,
# below the -25 dBm0 that Q.24 requires to be received and above the -55 dBm0 it requires
# to be ignored.
_MIN_AMPLITUDE = 300.0
# Bellcore's values in ITU-T Q.24: the high group may be up to 4 dB above the low group
# (reverse twist) or up to 8 dB below it (normal twist).
_REVERSE_TWIST = 10 ** (4 / 10)
_NORMAL_TWIST = 10 ** (8 / 10)
# Each tone must stand this far above the other tones of its group (8 dB).
_RELATIVE_PEAK = 10 ** (8 / 10)
# A high-group tone's second harmonic must be this far below it (15 dB); a key's tones are
# pure, the voice's and instruments' are not.  (A low-group tone's second harmonic lies too
# near the high-group tones to measure in a 102-sample block; the energy check covers it.)
_HARMONIC = 10 ** (15 / 10)
# The two tones must carry this share of the block's energy: speech and music spread
# theirs over many harmonics.  It also refuses tones 3 % or more off their frequencies
# (their power falls outside the 102-sample bins), near Q.24's 3.5 % must-reject limit.
_TONE_SHARE = 0.7
# Consecutive blocks with the same key before it counts, and consecutive blocks without it
# before it is over (so a pause of 40 ms separates two presses and a 10 ms drop-out does not).
_CONFIRM_BLOCKS = 2
_RELEASE_BLOCKS = 3


@dataclass(frozen=True, slots=True)
class BlockAnalysis:
    """What one block showed: the key its tones make if they pass every check, else why not."""

    key: str | None
    """The key, or None."""
    reason: str
    """``""`` for a key; otherwise the first check that failed (for tests and tuning)."""


_QUIET = BlockAnalysis(None, "quiet")
_NO_LOW = BlockAnalysis(None, "no low-group tone")
_LOW_UNCLEAR = BlockAnalysis(None, "low group not clear")
_NO_HIGH = BlockAnalysis(None, "no high-group tone")
_HIGH_UNCLEAR = BlockAnalysis(None, "high group not clear")
_REVERSE = BlockAnalysis(None, "reverse twist")
_NORMAL = BlockAnalysis(None, "normal twist")
_SPREAD = BlockAnalysis(None, "energy outside the tones")
_HARMONICS = BlockAnalysis(None, "second harmonic")
_HITS = {key: BlockAnalysis(key, "") for key in DTMF_FREQUENCIES}


class InbandDtmfDetector:
    """Finds DTMF key presses (ITU-T Q.23 tones) in 16-bit little-endian mono PCM.

    Feed audio in chunks of any size.  Each press is reported once, as soon as it is
    confirmed: when two consecutive blocks (about 25 ms at 8 kHz) show it, so a prompt
    can be cut short while the caller still holds the key.  The same key counts again
    only after three blocks (about 38 ms) without it, so a drop-out of 10 ms inside a
    tone does not make two presses.  Tones of 40 ms or more with pauses of 40 ms or more
    between them are always told apart, as ITU-T Q.24 asks; tones of 16 ms or less never
    count, and those between count or not depending on how they fall across blocks.

    Each block of about 12.75 ms is measured at the eight DTMF frequencies (and, for a
    candidate, the high tone's second harmonic), each power from a correlation with a
    cosine and a sine: the |X(f)|² that Goertzel's recurrence gives.  A block shows a key
    only if both tones are loud enough, within the twist limits, well above the rest of
    their group, free of a second harmonic, and together most of the block's energy;
    speech and music fail the last checks.  A silent block costs one energy sum.
    """

    def __init__(self, rate: int = 8000) -> None:
        if rate < 8000:
            raise LocalProtocolError(f"in-band DTMF needs audio of 8000 Hz or more, not {rate} Hz")
        block = round(_BLOCK_AT_8K * rate / 8000)
        self._block = block
        self._unpack = struct.Struct(f"<{block}h").unpack_from
        self._rows = [_reference(frequency, rate, block) for frequency in _ROWS]
        self._columns = [_reference(frequency, rate, block) for frequency in _COLUMNS]
        self._harmonics = [_reference(2 * frequency, rate, block) for frequency in _COLUMNS]
        self._zeros = (0,) * block
        # A tone of peak A filling the block has power (A·N/2)² at its frequency and
        # energy A²·N/2 in the block.
        self._min_power = (_MIN_AMPLITUDE * block / 2) ** 2
        self._min_energy = _MIN_AMPLITUDE**2 * block
        self._pending = bytearray()
        self._candidate: str | None = None
        self._candidate_blocks = 0
        self._current: str | None = None
        self._absent_blocks = 0

    @property
    def block_samples(self) -> int:
        """Samples per analysed block (102 at 8 kHz)."""
        return self._block

    def feed(self, pcm: bytes) -> list[str]:
        """Take the next audio; return the keys confirmed in it, in order.

        Keys are ``"0"``-``"9"``, ``"*"``, ``"#"`` and ``"A"``-``"D"``.  Audio short of a
        whole block waits for the next call.
        """
        pending = self._pending
        pending += pcm
        size = 2 * self._block
        keys: list[str] = []
        offset = 0
        while offset + size <= len(pending):
            key = self._step(self.analyse(self._unpack(pending, offset)).key)
            if key is not None:
                keys.append(key)
            offset += size
        del pending[:offset]
        return keys

    def reset(self) -> None:
        """Forget buffered audio and any key in progress (after a gap in the stream, say)."""
        self._pending.clear()
        self._candidate = None
        self._candidate_blocks = 0
        self._current = None
        self._absent_blocks = 0

    def analyse(self, block: Sequence[int]) -> BlockAnalysis:
        """The verdict on one block of exactly :attr:`block_samples` samples."""
        x = tuple(block)
        energy = math.dist(x, self._zeros) ** 2
        if energy < self._min_energy:
            return _QUIET
        # Cheapest rejections first: most speech and noise fail on the low group alone.
        rows = _powers(x, energy, self._rows)
        *_, second, low = sorted(rows)
        if low < self._min_power:
            return _NO_LOW
        if second * _RELATIVE_PEAK > low:
            return _LOW_UNCLEAR
        columns = _powers(x, energy, self._columns)
        *_, second, high = sorted(columns)
        if high < self._min_power:
            return _NO_HIGH
        if second * _RELATIVE_PEAK > high:
            return _HIGH_UNCLEAR
        if high > low * _REVERSE_TWIST:
            return _REVERSE
        if low > high * _NORMAL_TWIST:
            return _NORMAL
        # A sine of power P over N samples carries 2·P/N of the block's energy.
        if 2 * (low + high) / self._block < _TONE_SHARE * energy:
            return _SPREAD
        column = columns.index(high)
        if _powers(x, energy, self._harmonics[column : column + 1])[0] * _HARMONIC > high:
            return _HARMONICS
        return _HITS[_KEYS[rows.index(low), column]]

    def _step(self, key: str | None) -> str | None:
        """Advance the press and release state by one block; return a newly confirmed key."""
        if key is not None and key == self._candidate:
            self._candidate_blocks += 1
        else:
            self._candidate = key
            self._candidate_blocks = 0 if key is None else 1
        if self._current is not None:
            if key == self._current:
                self._absent_blocks = 0
            else:
                self._absent_blocks += 1
                if self._absent_blocks >= _RELEASE_BLOCKS:
                    self._current = None
        if (
            self._candidate is not None
            and self._candidate_blocks >= _CONFIRM_BLOCKS
            and self._candidate != self._current
        ):
            self._current = self._candidate
            self._absent_blocks = 0
            return self._current
        return None


_Reference: TypeAlias = tuple[tuple[float, ...], float, tuple[float, ...], float]
"""A frequency's cosine and sine over one block, each with its sum of squares."""


def _reference(frequency: float, rate: int, block: int) -> _Reference:
    step = 2 * math.pi * frequency / rate
    cosine = tuple(math.cos(step * n) for n in range(block))
    sine = tuple(math.sin(step * n) for n in range(block))
    return cosine, math.fsum(v * v for v in cosine), sine, math.fsum(v * v for v in sine)


def _powers(x: tuple[int, ...], energy: float, references: list[_Reference]) -> list[float]:
    """|X(f)|² of ``x`` (whose Σx² is ``energy``) at each reference's frequency.

    Each correlation is taken as ⟨x, t⟩ = (|x|² + |t|² - |x - t|²) / 2 because math.dist
    walks both vectors in C, several times faster than Goertzel's loop in Python.
    """
    dist = math.dist
    return [
        (
            (energy + cos_norm - dist(x, cosine) ** 2) ** 2
            + (energy + sin_norm - dist(x, sine) ** 2) ** 2
        )
        / 4
        for cosine, cos_norm, sine, sin_norm in references
    ]
