"""WAV decoding to 8 kHz mono (every common encoding, rate and layout), encoding, resampling."""

from __future__ import annotations

import io
import math
import struct
import time
import wave
from array import array

import pytest

from ringfort.errors import LocalProtocolError, RemoteProtocolError
from ringfort.rtp.g711 import alaw_to_linear, linear_to_alaw, linear_to_ulaw, ulaw_to_linear
from ringfort.rtp.tones import goertzel
from ringfort.rtp.wav import RATE, WavFormat, decode_wav, encode_wav, read_format, resample

PCM, FLOAT, ALAW, ULAW, EXTENSIBLE = 1, 3, 6, 7, 0xFFFE
SUBFORMAT_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def sine(frequency: float, rate: int, seconds: float, amplitude: float) -> list[float]:
    return [
        amplitude * math.sin(2 * math.pi * frequency * n / rate) for n in range(int(rate * seconds))
    ]


def int16(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}h", *(round(value) for value in values))


def interleave(*channels: list[float]) -> list[float]:
    return [value for frame in zip(*channels, strict=True) for value in frame]


def riff(*chunks: tuple[bytes, bytes]) -> bytes:
    body = b"WAVE"
    for kind, data in chunks:
        body += kind + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) & 1)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt_chunk(tag: int, channels: int, rate: int, bits: int, extra: bytes = b"") -> bytes:
    block = channels * bits // 8
    return struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits) + extra


def wav(tag: int, channels: int, rate: int, bits: int, frames: bytes) -> bytes:
    return riff((b"fmt ", fmt_chunk(tag, channels, rate, bits)), (b"data", frames))


def extensible(subformat: int, channels: int, rate: int, bits: int, frames: bytes) -> bytes:
    extra = struct.pack("<HHI", 22, bits, 0x3) + struct.pack("<H", subformat) + SUBFORMAT_TAIL
    return riff((b"fmt ", fmt_chunk(EXTENSIBLE, channels, rate, bits, extra)), (b"data", frames))


def samples(pcm: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


def level(pcm: bytes, frequency: float) -> float:
    """The amplitude of ``frequency`` in the middle of 8 kHz ``pcm`` (clear of the edges)."""
    middle = samples(pcm)[len(pcm) // 8 : len(pcm) // 8 + 800]
    return 2 * math.sqrt(goertzel(middle, frequency, RATE)) / len(middle)


# --- round trips and pass-through -----------------------------------------------------------------


def test_8khz_mono_16_bit_round_trips_byte_for_byte() -> None:
    pcm = int16(sine(440, RATE, 0.5, 12000))
    assert decode_wav(encode_wav(pcm)) == pcm


def test_encoded_files_are_read_by_the_standard_wave_module() -> None:
    pcm = int16(interleave(sine(440, 16000, 0.1, 1000), sine(880, 16000, 0.1, 2000)))
    with wave.open(io.BytesIO(encode_wav(pcm, rate=16000, channels=2))) as reader:
        assert reader.getnchannels() == 2
        assert reader.getframerate() == 16000
        assert reader.getsampwidth() == 2
        assert reader.readframes(reader.getnframes()) == pcm


def test_encode_refuses_octets_that_are_not_whole_frames() -> None:
    with pytest.raises(LocalProtocolError, match="whole frames"):
        encode_wav(b"\x00\x00\x00", channels=1)
    with pytest.raises(LocalProtocolError, match="whole frames"):
        encode_wav(b"\x00\x00", channels=2)


def test_read_format_describes_a_file_without_decoding_it() -> None:
    data = wav(FLOAT, 2, 44100, 32, b"")
    assert read_format(data) == WavFormat(encoding="float", channels=2, rate=44100, bits=32)


# --- rates ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [11025, 16000, 22050, 32000, 44100, 48000, 96000])
def test_a_1khz_tone_keeps_its_frequency_and_level_at_any_rate(rate: int) -> None:
    pcm = decode_wav(encode_wav(int16(sine(1000, rate, 0.5, 10000)), rate=rate))
    assert len(pcm) == 2 * (int(rate * 0.5) * 8000 // rate)
    assert level(pcm, 1000) == pytest.approx(10000, rel=0.02)
    assert level(pcm, 1100) < 0.03 * 10000
    assert level(pcm, 900) < 0.03 * 10000


def test_a_5khz_tone_at_44_1khz_is_filtered_out_not_folded_to_3khz() -> None:
    pcm = decode_wav(encode_wav(int16(sine(5000, 44100, 0.5, 16000)), rate=44100))
    assert level(pcm, 3000) < 16000 * 10 ** (-50 / 20)
    assert max(abs(value) for value in samples(pcm)[400:-400]) < 16000 * 10 ** (-40 / 20)


def test_the_telephone_band_passes_at_48khz_and_above_4_6khz_is_stopped() -> None:
    for frequency in (300, 2000, 3300):
        pcm = decode_wav(encode_wav(int16(sine(frequency, 48000, 0.5, 10000)), rate=48000))
        assert level(pcm, frequency) == pytest.approx(10000, rel=0.03), frequency
    for frequency in (4700, 6000, 9000, 20000):
        pcm = decode_wav(encode_wav(int16(sine(frequency, 48000, 0.5, 10000)), rate=48000))
        assert max(abs(value) for value in samples(pcm)[400:-400]) < 30, frequency


def test_an_odd_rate_is_resampled_too() -> None:
    pcm = decode_wav(encode_wav(int16(sine(1000, 44099, 0.5, 10000)), rate=44099))
    assert len(pcm) == 2 * (22049 * 8000 // 44099)
    assert level(pcm, 1000) == pytest.approx(10000, rel=0.02)


def test_rates_below_8khz_are_raised_to_8khz() -> None:
    pcm = decode_wav(encode_wav(int16(sine(1000, 6000, 0.5, 10000)), rate=6000))
    assert len(pcm) == 2 * 4000
    assert level(pcm, 1000) == pytest.approx(10000, rel=0.02)


def test_resample_converts_16_bit_mono_between_any_rates() -> None:
    pcm = int16(sine(1000, 8000, 0.5, 8000))
    up = resample(pcm, 8000, 16000)
    assert len(up) == 2 * len(pcm)
    assert level(up[::2][: len(pcm)], 1000) > 0  # still a tone after the rate change
    back = samples(resample(up, 16000))
    assert len(back) == len(pcm) // 2
    errors = [abs(a - b) for a, b in zip(back, samples(pcm), strict=True)][100:-100]
    assert max(errors) < 0.01 * 8000
    assert resample(pcm, 8000, 8000) == pcm
    with pytest.raises(LocalProtocolError):
        resample(b"\x00", 8000, 16000)


def test_a_30_second_44_1khz_stereo_file_decodes_quickly() -> None:
    one = int16(sine(440, 44100, 1.0, 8000))
    stereo = b"".join(one[i : i + 2] * 2 for i in range(0, len(one), 2))
    data = encode_wav(stereo * 30, rate=44100, channels=2)
    started = time.perf_counter()
    pcm = decode_wav(data)
    elapsed = time.perf_counter() - started
    assert len(pcm) == 2 * 8000 * 30
    assert elapsed < 6.0  # about 1.2 s on a modest machine; generous for loaded CI


# --- channels -------------------------------------------------------------------------------------


def test_stereo_is_mixed_down_by_averaging() -> None:
    left = sine(1000, RATE, 0.5, 10000)
    pcm = decode_wav(encode_wav(int16(interleave(left, [0.0] * len(left))), channels=2))
    assert level(pcm, 1000) == pytest.approx(5000, rel=0.01)
    both = decode_wav(encode_wav(int16(interleave(left, left)), channels=2))
    assert both == int16(left)


def test_stereo_at_44_1khz_is_mixed_and_resampled() -> None:
    left = sine(1000, 44100, 0.5, 10000)
    right = sine(2000, 44100, 0.5, 10000)
    pcm = decode_wav(encode_wav(int16(interleave(left, right)), rate=44100, channels=2))
    assert level(pcm, 1000) == pytest.approx(5000, rel=0.02)
    assert level(pcm, 2000) == pytest.approx(5000, rel=0.02)


def test_six_channels_are_averaged() -> None:
    tone = sine(500, RATE, 0.5, 6000)
    silent = [0.0] * len(tone)
    frames = interleave(tone, tone, tone, silent, silent, silent)
    pcm = decode_wav(wav(PCM, 6, RATE, 16, int16(frames)))
    assert level(pcm, 500) == pytest.approx(3000, rel=0.01)


# --- encodings ------------------------------------------------------------------------------------


def test_8_bit_unsigned_pcm_is_centred_on_128() -> None:
    pcm = decode_wav(wav(PCM, 1, RATE, 8, bytes([128, 255, 0, 192])))
    assert samples(pcm) == [0, 127 * 256, -128 * 256, 64 * 256]


def test_24_bit_pcm_keeps_its_top_16_bits() -> None:
    values = [0x123456, -0x123456, 0x7FFFFF, -0x800000]
    frames = b"".join(value.to_bytes(3, "little", signed=True) for value in values)
    pcm = decode_wav(wav(PCM, 1, RATE, 24, frames))
    assert samples(pcm) == [value >> 8 for value in values]


def test_32_bit_pcm_keeps_its_top_16_bits() -> None:
    values = [0x12345678, -0x12345678, 0x7FFFFFFF, -0x80000000]
    frames = struct.pack("<4i", *values)
    assert samples(decode_wav(wav(PCM, 1, RATE, 32, frames))) == [v >> 16 for v in values]


def test_float32_is_scaled_clipped_and_nan_silenced() -> None:
    frames = struct.pack("<6f", 0.0, 0.5, -0.5, 1.0, 3.0, float("nan"))
    pcm = decode_wav(wav(FLOAT, 1, RATE, 32, frames))
    assert samples(pcm) == [0, 16384, -16384, 32767, 32767, 0]


def test_float64_is_read() -> None:
    frames = struct.pack("<3d", 0.25, -1.0, -7.5)
    assert samples(decode_wav(wav(FLOAT, 1, RATE, 64, frames))) == [8192, -32767, -32767]


def test_float32_stereo_at_44_1khz() -> None:
    tone = [value / 32768 for value in sine(1000, 44100, 0.5, 16000)]
    frames = struct.pack(f"<{2 * len(tone)}f", *interleave(tone, tone))
    pcm = decode_wav(wav(FLOAT, 2, 44100, 32, frames))
    assert level(pcm, 1000) == pytest.approx(16000, rel=0.02)


def test_mu_law_and_a_law_decode_as_g711() -> None:
    pcm = int16(sine(700, RATE, 0.1, 9000))
    ulaw = linear_to_ulaw(pcm)
    alaw = linear_to_alaw(pcm)
    assert decode_wav(wav(ULAW, 1, RATE, 8, ulaw)) == ulaw_to_linear(ulaw)
    assert decode_wav(wav(ALAW, 1, RATE, 8, alaw)) == alaw_to_linear(alaw)


def test_wave_format_extensible_names_its_real_format() -> None:
    values = [0x123456, -0x000100]
    frames = b"".join(value.to_bytes(3, "little", signed=True) for value in values)
    assert samples(decode_wav(extensible(PCM, 1, RATE, 24, frames))) == [0x1234, -1]
    floats = struct.pack("<2f", 0.5, -0.25)
    assert samples(decode_wav(extensible(FLOAT, 1, RATE, 32, floats))) == [16384, -8192]
    ulaw = linear_to_ulaw(int16([1000.0, -1000.0]))
    assert decode_wav(extensible(ULAW, 1, RATE, 8, ulaw)) == ulaw_to_linear(ulaw)


# --- layout ---------------------------------------------------------------------------------------


def test_other_chunks_and_odd_lengths_are_skipped() -> None:
    pcm = int16([1.0, -2.0, 3.0])
    data = riff(
        (b"LIST", b"INFOISFT\x05\x00\x00\x00odd!\x00"),
        (b"fmt ", fmt_chunk(PCM, 1, RATE, 16)),
        (b"junk", b"x"),
        (b"data", pcm),
        (b"cue ", b"\x00" * 4),
    )
    assert decode_wav(data) == pcm


def test_fmt_after_data_is_found() -> None:
    pcm = int16([5.0, 6.0])
    data = riff((b"data", pcm), (b"fmt ", fmt_chunk(PCM, 1, RATE, 16)))
    assert decode_wav(data) == pcm


def test_a_recording_cut_short_yields_the_whole_frames_it_has() -> None:
    pcm = int16([1.0, 2.0, 3.0, 4.0])
    data = wav(PCM, 2, RATE, 16, pcm)
    assert decode_wav(data[:-3]) == int16([2.0])  # one whole stereo frame, averaged: (1+2)/2
    streamed = bytearray(data)
    streamed[4:8] = streamed[40:44] = b"\xff\xff\xff\xff"  # lengths never filled in
    assert decode_wav(bytes(streamed)) == int16([2.0, 4.0])


# --- files that cannot be read --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a WAV file"),
        (b"ID3\x04" + bytes(40), "not a WAV file"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "not a WAV file"),
        (b"RIFX" + bytes(40), "big-endian"),
        (b"RF64\xff\xff\xff\xffWAVEds64", "RF64"),
        (riff((b"data", b"\x00\x00")), "no 'fmt ' chunk"),
        (riff((b"fmt ", fmt_chunk(PCM, 1, RATE, 16))), "no 'data' chunk"),
        (riff((b"fmt ", b"\x01\x00\x01\x00")), "fewer than 16"),
        (wav(0x55, 2, 44100, 16, b""), "MP3"),
        (wav(0x11, 1, RATE, 4, b""), "IMA ADPCM"),
        (wav(0x1234, 1, RATE, 16, b""), "format tag 0x1234"),
        (wav(PCM, 0, RATE, 16, b""), "0 channels"),
        (wav(PCM, 1, 0, 16, b""), "sample rate 0"),
        (wav(ULAW, 1, RATE, 16, b""), "16-bit ulaw"),
        (wav(FLOAT, 1, RATE, 16, b""), "16-bit float"),
        (wav(PCM, 1, RATE, 48, b""), "48-bit pcm"),
        (riff((b"fmt ", struct.pack("<HHIIHH", PCM, 2, RATE, 0, 3, 16)), (b"data", b"")), "block"),
        (riff((b"fmt ", fmt_chunk(EXTENSIBLE, 1, RATE, 16))), "EXTENSIBLE"),
        (
            riff((b"fmt ", fmt_chunk(EXTENSIBLE, 1, RATE, 16, bytes(24))), (b"data", b"")),
            "GUID",
        ),
        (b"RIFF\x40\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00", "truncated"),
    ],
)
def test_files_that_are_not_readable_wav_are_refused_with_a_reason(
    data: bytes, message: str
) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        decode_wav(data)


def test_an_empty_data_chunk_is_empty_audio() -> None:
    assert decode_wav(wav(PCM, 1, 44100, 16, b"")) == b""
    assert array("h", decode_wav(wav(PCM, 1, RATE, 16, b""))).tolist() == []
