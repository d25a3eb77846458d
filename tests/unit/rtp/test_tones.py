"""Tone frames (ITU-T Q.23 DTMF, call progress) and Goertzel power."""

from __future__ import annotations

import math
import struct

import pytest

from ringfort.errors import LocalProtocolError
from ringfort.rtp.tones import (
    BUSY_NORTH_AMERICA,
    DTMF_FREQUENCIES,
    RINGBACK_EUROPE,
    RINGBACK_NORTH_AMERICA,
    Tone,
    ToneGenerator,
    dtmf_tone,
    goertzel,
)


def samples_of(frame: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(frame) // 2}h", frame))


def frames(generator: ToneGenerator, count: int) -> list[list[int]]:
    return [samples_of(generator.next_frame()) for _ in range(count)]


def test_frames_are_20ms_of_8khz_16_bit_pcm() -> None:
    generator = ToneGenerator(Tone((1000.0,)))
    assert generator.frame_samples == 160
    assert len(generator.next_frame()) == 320


def test_a_1khz_frame_has_its_power_at_1khz_not_1_5khz() -> None:
    frame = samples_of(ToneGenerator(Tone((1000.0,))).next_frame())
    assert goertzel(frame, 1000.0) > 1000 * goertzel(frame, 1500.0)


def test_goertzel_of_a_full_scale_sine_is_about_amplitude_times_n_over_2_squared() -> None:
    samples = [round(8000 * math.sin(2 * math.pi * 1000 * n / 8000)) for n in range(160)]
    assert goertzel(samples, 1000.0) == pytest.approx((8000 * 160 / 2) ** 2, rel=0.01)
    assert goertzel([0] * 160, 1000.0) == 0.0


def test_dtmf_keys_use_the_q23_frequency_pairs() -> None:
    assert DTMF_FREQUENCIES["1"] == (697.0, 1209.0)
    assert DTMF_FREQUENCIES["5"] == (770.0, 1336.0)
    assert DTMF_FREQUENCIES["0"] == (941.0, 1336.0)
    assert DTMF_FREQUENCIES["#"] == (941.0, 1477.0)
    assert DTMF_FREQUENCIES["D"] == (941.0, 1633.0)
    assert len(DTMF_FREQUENCIES) == 16


def test_a_dtmf_5_frame_is_strong_at_770_and_1336_hz_only() -> None:
    # 205 samples: the block length usual for DTMF detection at 8 kHz.
    generator = ToneGenerator(dtmf_tone("5"), frame_ms=40)
    block = samples_of(generator.next_frame())[:205]
    power = {f: goertzel(block, f) for f in (697, 770, 852, 941, 1209, 1336, 1477, 1633)}
    strong = min(power[770], power[1336])
    for frequency in (697, 852, 941, 1209, 1477, 1633):
        assert strong > 20 * power[frequency], frequency


def test_frames_join_without_a_phase_jump() -> None:
    generator = ToneGenerator(Tone((440.0,)))
    joined = [s for frame in frames(generator, 5) for s in frame]
    expected = [8000 * math.sin(2 * math.pi * 440 * n / 8000) for n in range(len(joined))]
    assert max(abs(a - b) for a, b in zip(joined, expected, strict=True)) < 16


def test_dual_tone_is_the_sum_of_its_components() -> None:
    generator = ToneGenerator(Tone((480.0, 620.0)), amplitude=4000)
    samples = samples_of(generator.next_frame())
    for n, value in enumerate(samples):
        expected = 4000 * (
            math.sin(2 * math.pi * 480 * n / 8000) + math.sin(2 * math.pi * 620 * n / 8000)
        )
        assert abs(value - expected) < 16


def sounding(frame: list[int]) -> bool:
    return any(frame)


def test_north_american_ringback_is_2s_on_4s_off() -> None:
    pattern = [sounding(f) for f in frames(ToneGenerator(RINGBACK_NORTH_AMERICA), 600)]
    assert pattern == ([True] * 100 + [False] * 200) * 2


def test_european_ringback_is_425hz_1s_on_4s_off() -> None:
    generator = ToneGenerator(RINGBACK_EUROPE)
    produced = frames(generator, 500)
    assert [sounding(f) for f in produced] == [True] * 50 + [False] * 200 + [True] * 50 + [
        False
    ] * 200
    assert goertzel(produced[0], 425.0) > 1000 * goertzel(produced[0], 1000.0)


def test_busy_is_half_a_second_on_half_a_second_off() -> None:
    pattern = [sounding(f) for f in frames(ToneGenerator(BUSY_NORTH_AMERICA), 100)]
    assert pattern == ([True] * 25 + [False] * 25) * 2


def test_cadence_switches_within_a_frame_at_the_exact_sample() -> None:
    generator = ToneGenerator(Tone((1000.0,), ((30, 10),)))
    first, second, third = frames(generator, 3)
    assert any(first)
    # 30 ms on: the first 80 samples of the second frame may sound, the next 80 are silent.
    assert any(second[:80])
    assert not any(second[80:])
    assert any(third)


def test_a_tone_that_would_clip_or_alias_is_refused() -> None:
    with pytest.raises(LocalProtocolError):
        ToneGenerator(Tone((440.0, 480.0)), amplitude=20000)
    with pytest.raises(LocalProtocolError):
        ToneGenerator(Tone((4000.0,)))
    with pytest.raises(LocalProtocolError):
        dtmf_tone("E")
