"""Call-progress and DTMF tones as 16-bit linear PCM frames, and the Goertzel tone detector."""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from ringfort.errors import LocalProtocolError

__all__ = [
    "BEEP",
    "BUSY_NORTH_AMERICA",
    "DTMF_FREQUENCIES",
    "RINGBACK_EUROPE",
    "RINGBACK_NORTH_AMERICA",
    "Tone",
    "ToneGenerator",
    "dtmf_tone",
    "goertzel",
]


@dataclass(frozen=True, slots=True)
class Tone:
    """A tone: sine components played together, switched on and off by a cadence."""

    frequencies: tuple[float, ...]
    """The components in Hz; one for a single tone, two for a dual tone."""
    cadence: tuple[tuple[int, int], ...] = ()
    """(on ms, off ms) pairs repeated in order; empty means the tone never stops."""


RINGBACK_NORTH_AMERICA = Tone((440.0, 480.0), ((2000, 4000),))
"""Audible ringing, 440+480 Hz, 2 s on, 4 s off (the North American precise tone plan)."""
RINGBACK_EUROPE = Tone((425.0,), ((1000, 4000),))
"""Audible ringing, 425 Hz, 1 s on, 4 s off (the common European, CEPT, value)."""
BUSY_NORTH_AMERICA = Tone((480.0, 620.0), ((500, 500),))
"""Busy, 480+620 Hz, 0.5 s on, 0.5 s off (the North American precise tone plan)."""
BEEP = Tone((1000.0,))
"""A plain 1 kHz beep (recording started or paused, record after the tone); the
player decides how long."""

# ITU-T Q.23: a row (low group) and a column (high group) frequency per key.
_DTMF_ROWS = (697.0, 770.0, 852.0, 941.0)
_DTMF_COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
_DTMF_KEYPAD = ("123A", "456B", "789C", "*0#D")
DTMF_FREQUENCIES: dict[str, tuple[float, float]] = {
    key: (_DTMF_ROWS[row], _DTMF_COLUMNS[column])
    for row, keys in enumerate(_DTMF_KEYPAD)
    for column, key in enumerate(keys)
}
"""Each DTMF key's (low, high) frequency pair in Hz, per ITU-T Q.23."""


def dtmf_tone(digit: str) -> Tone:
    """The continuous dual tone of a DTMF key (ITU-T Q.23)."""
    try:
        return Tone(DTMF_FREQUENCIES[digit.upper()])
    except KeyError:
        raise LocalProtocolError(f"{digit!r} is not a DTMF digit") from None


# Direct digital synthesis: a 32-bit phase accumulator indexes one sine period.  The
# accumulator carries on across frames and silences, so frames join without clicks.
_PHASE_BITS = 32
_TABLE_BITS = 12
_SINE = tuple(
    math.sin(2 * math.pi * index / (1 << _TABLE_BITS)) for index in range(1 << _TABLE_BITS)
)
_PHASE_MASK = (1 << _PHASE_BITS) - 1
_INDEX_SHIFT = _PHASE_BITS - _TABLE_BITS


class ToneGenerator:
    """Yields a tone as successive frames of 16-bit little-endian linear PCM.

    ``amplitude`` is the peak of each component; the default keeps a dual tone at about
    -12 dBFS per component, well clear of clipping.
    """

    def __init__(
        self,
        tone: Tone,
        *,
        rate: int = 8000,
        frame_ms: int = 20,
        amplitude: int = 8000,
    ) -> None:
        if amplitude * len(tone.frequencies) > 0x7FFF:
            raise LocalProtocolError("the tone's components would clip")
        for frequency in tone.frequencies:
            if not 0 < frequency < rate / 2:
                raise LocalProtocolError(f"{frequency} Hz is not below half of {rate} Hz")
        self._tone = tone
        self._rate = rate
        self._frame_samples = rate * frame_ms // 1000
        self._amplitude = amplitude
        self._steps = [
            round(frequency * (1 << _PHASE_BITS) / rate) for frequency in tone.frequencies
        ]
        self._phases = [0] * len(tone.frequencies)
        # Cadence as sample counts: (samples on, samples off) per step.
        self._cadence = [(rate * on // 1000, rate * off // 1000) for on, off in tone.cadence]
        self._cadence_step = 0
        self._cadence_position = 0

    @property
    def frame_samples(self) -> int:
        """Samples per frame (160 for 20 ms at 8 kHz)."""
        return self._frame_samples

    def next_frame(self) -> bytes:
        """The next frame of the tone."""
        samples = array("h", bytes(2 * self._frame_samples))
        for index in range(self._frame_samples):
            if self._sounding():
                value = 0.0
                for component, step in enumerate(self._steps):
                    phase = self._phases[component]
                    value += _SINE[phase >> _INDEX_SHIFT]
                    self._phases[component] = (phase + step) & _PHASE_MASK
                samples[index] = round(value * self._amplitude)
            else:
                # Silence still advances the oscillators so the phase stays continuous.
                for component, step in enumerate(self._steps):
                    self._phases[component] = (self._phases[component] + step) & _PHASE_MASK
        if sys.byteorder == "big":
            samples.byteswap()
        return samples.tobytes()

    def _sounding(self) -> bool:
        """Whether the current sample is in an on period; advances the cadence by one."""
        if not self._cadence:
            return True
        on, off = self._cadence[self._cadence_step]
        sounding = self._cadence_position < on
        self._cadence_position += 1
        if self._cadence_position >= on + off:
            self._cadence_position = 0
            self._cadence_step = (self._cadence_step + 1) % len(self._cadence)
        return sounding


def goertzel(samples: Sequence[int], freq: float, rate: int = 8000) -> float:
    """The power of ``samples`` at ``freq`` Hz: |X(f)|² of their DFT, by Goertzel's recurrence.

    A sine of peak A filling N samples gives about (A·N/2)²; compare powers at several
    frequencies of the same block rather than against a fixed threshold.
    """
    coefficient = 2.0 * math.cos(2.0 * math.pi * freq / rate)
    previous = 0.0
    before_previous = 0.0
    for sample in samples:
        current = sample + coefficient * previous - before_previous
        before_previous = previous
        previous = current
    return (
        previous * previous
        + before_previous * before_previous
        - coefficient * previous * before_previous
    )
