"""In-band DTMF detection: ITU-T Q.23 keys found in noise, and speech, music and tones ignored."""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from ringfort.errors import LocalProtocolError
from ringfort.rtp.dtmf_detect import InbandDtmfDetector
from ringfort.rtp.g711 import linear_to_ulaw, ulaw_to_linear
from ringfort.rtp.tones import DTMF_FREQUENCIES
from ringfort.rtp.wav import decode_wav

RATE = 8000
ALL_KEYS = "123A456B789C*0#D"
PROMPTS = Path(__file__).resolve().parents[3] / "src" / "ringfort" / "prompts"


# --- signals -----------------------------------------------------------------------------------


def key_tone(
    key: str,
    ms: int,
    *,
    dbfs: float = -10.0,
    twist_db: float = 0.0,
    deviation: float = 0.0,
    rate: int = RATE,
    seed: int = 1,
) -> list[float]:
    """A key's two tones; ``dbfs`` is the peak of their sum, ``twist_db`` how much the high
    tone is below the low one, ``deviation`` a relative error of both frequencies."""
    low, high = (frequency * (1 + deviation) for frequency in DTMF_FREQUENCIES[key])
    peak = 32768 * 10 ** (dbfs / 20)
    high_gain = 10 ** (-twist_db / 20)
    a_low = peak / (1 + high_gain)
    a_high = a_low * high_gain
    rng = random.Random(seed)
    p_low, p_high = rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi)
    return [
        a_low * math.sin(2 * math.pi * low * n / rate + p_low)
        + a_high * math.sin(2 * math.pi * high * n / rate + p_high)
        for n in range(rate * ms // 1000)
    ]


def tones(frequencies: Iterable[float], ms: int, amplitude: float = 8000.0) -> list[float]:
    frequencies = list(frequencies)
    return [
        sum(amplitude * math.sin(2 * math.pi * f * n / RATE) for f in frequencies)
        for n in range(RATE * ms // 1000)
    ]


def silence(ms: int, rate: int = RATE) -> list[float]:
    return [0.0] * (rate * ms // 1000)


def with_noise(signal: list[float], snr_db: float, seed: int) -> list[float]:
    """``signal`` plus white Gaussian noise ``snr_db`` below the signal's tone power."""
    rng = random.Random(seed)
    loud = [value for value in signal if value]
    power = sum(value * value for value in loud) / max(1, len(loud))
    sigma = math.sqrt(power / 10 ** (snr_db / 10))
    return [value + rng.gauss(0.0, sigma) for value in signal]


def pcm(values: Iterable[float]) -> bytes:
    samples = [max(-32768, min(32767, round(value))) for value in values]
    return struct.pack(f"<{len(samples)}h", *samples)


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def detect(data: bytes, chunk: int = 320, rate: int = RATE) -> str:
    detector = InbandDtmfDetector(rate)
    return "".join(key for part in chunks(data, chunk) for key in detector.feed(part))


def keyed(
    keys: str,
    tone_ms: int,
    gap_ms: int,
    *,
    dbfs: float = -10.0,
    twist_db: float = 0.0,
    deviation: float = 0.0,
) -> list[float]:
    """``keys`` as tones of ``tone_ms`` with ``gap_ms`` of silence before, between and after."""
    signal = silence(gap_ms)
    for index, key in enumerate(keys):
        tone = key_tone(key, tone_ms, dbfs=dbfs, twist_db=twist_db, deviation=deviation, seed=index)
        signal += tone + silence(gap_ms)
    return signal


def vowel(seconds: float, f0_from: float, f0_to: float, formants: tuple[float, ...]) -> list[float]:
    """A voiced sound: harmonics of a gliding pitch shaped by formant resonances."""
    out: list[float] = []
    phase = 0.0
    for n in range(int(RATE * seconds)):
        f0 = f0_from + (f0_to - f0_from) * n / (RATE * seconds)
        phase += 2 * math.pi * f0 / RATE
        value = 0.0
        harmonic = 1
        while harmonic * f0 < 3800:
            frequency = harmonic * f0
            gain = 1.0 / harmonic
            for formant in formants:
                gain /= math.sqrt(1 + ((frequency - formant) / 50) ** 2) ** 0.5
            value += gain * math.sin(harmonic * phase)
            harmonic += 1
        out.append(value)
    peak = max(abs(value) for value in out)
    return [value / peak * 16000 for value in out]


def note(frequency: float, ms: int, amplitude: float = 4000.0) -> list[float]:
    """An instrument-like note: a fundamental and its overtones, decaying."""
    count = RATE * ms // 1000
    return [
        amplitude
        * math.exp(-2.0 * n / count)
        * sum(
            math.sin(2 * math.pi * k * frequency * n / RATE) / k
            for k in range(1, 8)
            if k * frequency < 3900
        )
        for n in range(count)
    ]


def mix(*signals: list[float]) -> list[float]:
    length = max(len(signal) for signal in signals)
    return [sum(s[n] for s in signals if n < len(s)) for n in range(length)]


# --- keys are found ---------------------------------------------------------------------------


@pytest.mark.parametrize("dbfs", [-5.0, -15.0, -25.0])
@pytest.mark.parametrize("snr_db", [15.0, 20.0])
def test_every_key_in_white_noise_is_reported_once(dbfs: float, snr_db: float) -> None:
    signal = with_noise(keyed(ALL_KEYS, 100, 100, dbfs=dbfs), snr_db, seed=int(-dbfs + snr_db))
    assert detect(pcm(signal), chunk=320) == ALL_KEYS


@pytest.mark.parametrize("chunk", [320, 1, 7, 201, 333, 1000])
def test_50ms_keys_with_50ms_gaps_are_all_found_whatever_the_chunk_size(chunk: int) -> None:
    signal = with_noise(keyed("123#", 50, 50), 20.0, seed=chunk)
    assert detect(pcm(signal), chunk=chunk) == "123#"


@pytest.mark.parametrize("offset", range(0, 102, 17))
def test_40ms_tones_with_40ms_pauses_are_found_however_they_fall_across_blocks(
    offset: int,
) -> None:
    signal = [0.0] * offset
    for index, key in enumerate("8*8#"):
        signal += key_tone(key, 40, seed=index) + silence(40)
    assert detect(pcm(signal)) == "8*8#"


def test_the_same_key_after_a_40ms_pause_counts_again() -> None:
    signal = key_tone("5", 60) + silence(40) + key_tone("5", 60) + silence(40) + key_tone("5", 60)
    assert detect(pcm(signal + silence(50))) == "555"


def test_a_held_key_is_reported_once() -> None:
    assert detect(pcm(key_tone("9", 3000) + silence(50))) == "9"


def test_a_10ms_drop_out_inside_a_tone_does_not_make_two_presses() -> None:
    signal = key_tone("0", 80) + silence(10) + key_tone("0", 80, seed=2) + silence(60)
    assert detect(pcm(signal)) == "0"


def test_a_key_is_reported_as_soon_as_confirmed_not_when_released() -> None:
    detector = InbandDtmfDetector()
    tone = pcm(key_tone("7", 1000))
    assert detector.feed(tone[: 2 * 320]) == ["7"]  # within the first 40 ms
    assert detector.feed(tone[2 * 320 :]) == []


def test_one_key_straight_after_another_is_reported() -> None:
    assert detect(pcm(key_tone("1", 80) + key_tone("2", 80) + silence(50))) == "12"


@pytest.mark.parametrize("deviation", [-0.015, 0.015])
def test_frequencies_off_by_1_5_percent_are_accepted(deviation: float) -> None:
    assert detect(pcm(keyed(ALL_KEYS, 80, 60, deviation=deviation))) == ALL_KEYS


def test_frequencies_off_by_3_5_percent_are_refused() -> None:
    assert detect(pcm(keyed(ALL_KEYS, 80, 60, deviation=0.035))) == ""
    assert detect(pcm(keyed(ALL_KEYS, 80, 60, deviation=-0.035))) == ""


@pytest.mark.parametrize("twist_db", [6.0, -3.0])
def test_twist_within_q24_limits_is_accepted(twist_db: float) -> None:
    assert detect(pcm(keyed(ALL_KEYS, 80, 60, twist_db=twist_db))) == ALL_KEYS


@pytest.mark.parametrize("twist_db", [10.0, -6.0])
def test_twist_beyond_q24_limits_is_refused(twist_db: float) -> None:
    assert detect(pcm(keyed(ALL_KEYS, 80, 60, twist_db=twist_db))) == ""


def test_tones_through_mu_law_are_found() -> None:
    signal = pcm(with_noise(keyed("*0#", 60, 60, dbfs=-20), 20.0, seed=3))
    assert detect(ulaw_to_linear(linear_to_ulaw(signal))) == "*0#"


def test_audio_at_16khz_is_read_too() -> None:
    signal = silence(50, 16000)
    for index, key in enumerate("42D"):
        signal += key_tone(key, 60, rate=16000, seed=index) + silence(60, 16000)
    assert detect(pcm(signal), rate=16000) == "42D"


# --- and nothing else is ---------------------------------------------------------------------


@pytest.mark.parametrize("offset", range(0, 102, 17))
def test_a_tone_of_16ms_or_less_is_ignored_however_it_falls_across_blocks(offset: int) -> None:
    signal = [0.0] * offset + key_tone("5", 16, dbfs=-5.0) + silence(60)
    assert detect(pcm(signal)) == ""


def test_a_key_too_quiet_to_be_a_phone_is_ignored() -> None:
    assert detect(pcm(keyed("159", 100, 60, dbfs=-55.0))) == ""


@pytest.mark.parametrize(
    "frequencies",
    [(697.0,), (1209.0,), (1000.0,), (440.0, 480.0), (480.0, 620.0), (350.0, 440.0)],
    ids=["697 Hz", "1209 Hz", "1 kHz", "ringback", "busy", "dial tone"],
)
def test_single_tones_and_call_progress_tones_are_not_keys(frequencies: tuple[float, ...]) -> None:
    assert detect(pcm(tones(frequencies, 2000))) == ""


@pytest.mark.parametrize(
    "formants",
    [(730.0, 1090.0, 2440.0), (270.0, 2290.0, 3010.0), (660.0, 1720.0, 2410.0), (570.0, 840.0)],
    ids=["a", "i", "ae", "o"],
)
@pytest.mark.parametrize("pitch", [(90.0, 250.0), (150.0, 300.0), (200.0, 400.0)])
def test_voiced_speech_with_gliding_pitch_is_not_a_key(
    formants: tuple[float, ...], pitch: tuple[float, float]
) -> None:
    assert detect(pcm(vowel(1.5, *pitch, formants))) == ""


def test_music_chords_are_not_keys() -> None:
    # F5 and E6 lie within 1.5 % of 697 and 1336 Hz, the key 2, as pure sines; an
    # instrument's overtones give them away.
    chords = [
        (523.25, 659.25, 783.99),  # C major
        (698.46, 1318.51),  # F5 + E6
        (739.99, 1244.51),  # F#5 + D#6
        (880.0, 1174.66, 1479.98),  # A5, D6, F#6
    ]
    music: list[float] = []
    for chord in chords:
        music += mix(*(note(frequency, 400) for frequency in chord))
    assert detect(pcm(music)) == ""


def test_the_shipped_spoken_prompts_are_not_keys() -> None:
    files = sorted(PROMPTS.glob("en/**/*.wav"))
    assert files
    for path in files:
        assert detect(decode_wav(path.read_bytes())) == "", path.name


# --- the interface -----------------------------------------------------------------------------


def test_reset_forgets_buffered_audio_and_a_key_in_progress() -> None:
    detector = InbandDtmfDetector()
    tone = pcm(key_tone("3", 200))
    assert detector.feed(tone[:300]) == []
    detector.reset()
    assert detector.feed(tone[300:]) == ["3"]
    detector.reset()
    assert detector.feed(tone) == ["3"]


def test_analyse_says_why_a_block_is_not_a_key() -> None:
    detector = InbandDtmfDetector()
    size = detector.block_samples
    assert size == 102
    assert detector.analyse([0] * size).reason == "quiet"
    hit = detector.analyse([round(v) for v in key_tone("8", 20)[:size]])
    assert (hit.key, hit.reason) == ("8", "")
    lone = detector.analyse([round(v) for v in tones((697.0,), 20, 2000.0)[:size]])
    assert lone.key is None
    assert lone.reason == "no high-group tone"


def test_audio_below_8khz_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="8000 Hz"):
        InbandDtmfDetector(rate=4000)
