"""G.711 µ-law and A-law against the standard's values and an implementation of its tables."""

from __future__ import annotations

import struct
from bisect import bisect_right
from itertools import pairwise

import pytest

from ringfort.errors import LocalProtocolError
from ringfort.rtp.g711 import (
    alaw_to_linear,
    alaw_to_ulaw,
    linear_to_alaw,
    linear_to_ulaw,
    ulaw_to_alaw,
    ulaw_to_linear,
)

ALL_CODES = bytes(range(256))
ALL_SAMPLES = range(-32768, 32768)


def pcm(*samples: int) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def samples_of(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(data) // 2}h", data))


# The oracle: G.711 Tables 1a and 2a written as decision intervals on the magnitude
# scale, each code reconstructing to its interval's midpoint.  Negative samples take
# their magnitude as the ones' complement, as the ITU-T G.191 reference does.


def _magnitude(sample: int) -> int:
    return ~sample if sample < 0 else sample


def _ulaw_intervals() -> list[tuple[int, int]]:
    """Code number n (0 = smallest magnitude) -> [low, high) on the 14-bit scale."""
    intervals = [(0, 1)] + [(2 * n - 1, 2 * n + 1) for n in range(1, 16)]
    for segment in range(1, 8):
        start = (1 << (segment + 5)) - 33
        step = 1 << (segment + 1)
        intervals += [(start + step * k, start + step * (k + 1)) for k in range(16)]
    return intervals


def _alaw_intervals() -> list[tuple[int, int]]:
    """Code number n -> [low, high) on the 16-bit magnitude scale."""
    intervals = [(16 * n, 16 * n + 16) for n in range(32)]
    for segment in range(2, 8):
        start = 1 << (segment + 7)
        step = 1 << (segment + 3)
        intervals += [(start + step * k, start + step * (k + 1)) for k in range(16)]
    return intervals


ULAW_INTERVALS = _ulaw_intervals()
ALAW_INTERVALS = _alaw_intervals()
ULAW_LOWS = [low for low, _ in ULAW_INTERVALS]
ALAW_LOWS = [low for low, _ in ALAW_INTERVALS]


def oracle_ulaw_encode(sample: int) -> int:
    magnitude = min(_magnitude(sample) >> 2, ULAW_INTERVALS[-1][1] - 1)  # clip at 8159
    n = bisect_right(ULAW_LOWS, magnitude) - 1
    return 0xFF - n if sample >= 0 else 0x7F - n


def oracle_ulaw_decode(code: int) -> int:
    n = 0x7F - (code & 0x7F)
    low, high = ULAW_INTERVALS[n]
    value = 0 if n == 0 else 4 * (low + high) // 2
    return value if code & 0x80 else -value


def oracle_alaw_encode(sample: int) -> int:
    magnitude = _magnitude(sample)
    n = bisect_right(ALAW_LOWS, magnitude) - 1
    return (n | 0x80 if sample >= 0 else n) ^ 0x55


def oracle_alaw_decode(code: int) -> int:
    low, high = ALAW_INTERVALS[(code ^ 0x55) & 0x7F]
    value = (low + high) // 2
    return value if code & 0x80 else -value


def test_oracle_tables_span_the_standard_ranges() -> None:
    # G.711 Table 2a ends its last µ-law interval at 8159; Table 1a's A-law at 4096
    # (here on the 16-bit scale, 32768).
    assert len(ULAW_INTERVALS) == 128
    assert ULAW_INTERVALS[-1][1] == 8159
    assert len(ALAW_INTERVALS) == 128
    assert ALAW_INTERVALS[-1][1] == 32768
    for intervals in (ULAW_INTERVALS, ALAW_INTERVALS):
        assert all(a[1] == b[0] for a, b in pairwise(intervals))


@pytest.mark.parametrize(
    ("code", "value"),
    [(0xFF, 0), (0x7F, 0), (0x00, -32124), (0x80, 32124), (0xFE, 8), (0x7E, -8)],
)
def test_ulaw_decodes_standard_values(code: int, value: int) -> None:
    assert ulaw_to_linear(bytes([code])) == pcm(value)


@pytest.mark.parametrize(
    ("code", "value"),
    [(0xD5, 8), (0x55, -8), (0xAA, 32256), (0x2A, -32256), (0xD4, 24), (0x54, -24)],
)
def test_alaw_decodes_standard_values(code: int, value: int) -> None:
    assert alaw_to_linear(bytes([code])) == pcm(value)


def test_decoding_writes_little_endian_int16() -> None:
    assert ulaw_to_linear(b"\x00\xff") == b"\x84\x82\x00\x00"  # -32124, 0
    assert alaw_to_linear(b"\xaa") == b"\x00\x7e"  # 32256


def test_every_ulaw_code_decodes_as_the_g711_table_says() -> None:
    assert samples_of(ulaw_to_linear(ALL_CODES)) == [oracle_ulaw_decode(c) for c in ALL_CODES]


def test_every_alaw_code_decodes_as_the_g711_table_says() -> None:
    assert samples_of(alaw_to_linear(ALL_CODES)) == [oracle_alaw_decode(c) for c in ALL_CODES]


def test_every_16_bit_sample_encodes_to_ulaw_as_the_g711_table_says() -> None:
    encoded = linear_to_ulaw(pcm(*ALL_SAMPLES))
    assert list(encoded) == [oracle_ulaw_encode(sample) for sample in ALL_SAMPLES]


def test_every_16_bit_sample_encodes_to_alaw_as_the_g711_table_says() -> None:
    encoded = linear_to_alaw(pcm(*ALL_SAMPLES))
    assert list(encoded) == [oracle_alaw_encode(sample) for sample in ALL_SAMPLES]


def test_encoding_standard_values() -> None:
    assert linear_to_ulaw(pcm(0, 32767, -32768, -1)) == b"\xff\x80\x00\x7f"
    assert linear_to_alaw(pcm(0, 32767, -32768, -1)) == b"\xd5\xaa\x2a\x55"


def test_ulaw_decode_encode_decode_is_stable_for_all_codes() -> None:
    decoded = ulaw_to_linear(ALL_CODES)
    assert ulaw_to_linear(linear_to_ulaw(decoded)) == decoded


def test_alaw_decode_encode_decode_is_stable_for_all_codes() -> None:
    decoded = alaw_to_linear(ALL_CODES)
    assert alaw_to_linear(linear_to_alaw(decoded)) == decoded


def test_every_code_but_negative_zero_survives_decode_and_encode() -> None:
    # µ-law 0x7F (-0) decodes to 0, which encodes as +0 (0xFF).
    expected = bytearray(ALL_CODES)
    expected[0x7F] = 0xFF
    assert linear_to_ulaw(ulaw_to_linear(ALL_CODES)) == bytes(expected)
    assert linear_to_alaw(alaw_to_linear(ALL_CODES)) == ALL_CODES


def test_transcoding_matches_decoding_then_encoding_for_every_code() -> None:
    assert ulaw_to_alaw(ALL_CODES) == linear_to_alaw(ulaw_to_linear(ALL_CODES))
    assert alaw_to_ulaw(ALL_CODES) == linear_to_ulaw(alaw_to_linear(ALL_CODES))


def test_transcoding_keeps_silence_silent_and_extremes_extreme() -> None:
    assert ulaw_to_alaw(b"\xff\x7f\x80\x00") == b"\xd5\xd5\xaa\x2a"
    assert alaw_to_ulaw(b"\xaa\x2a") == b"\x80\x00"


def test_transcoding_keeps_each_code_close_to_its_value() -> None:
    for code, value in zip(ALL_CODES, samples_of(ulaw_to_linear(ALL_CODES)), strict=True):
        transcoded = samples_of(alaw_to_linear(ulaw_to_alaw(bytes([code]))))[0]
        # Within one A-law step of the µ-law value (steps are 16 to 1024).
        assert abs(transcoded - value) <= max(16, abs(value) // 16)


def test_encoding_an_odd_number_of_octets_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        linear_to_ulaw(b"\x00\x00\x00")
    with pytest.raises(LocalProtocolError):
        linear_to_alaw(b"\x00")


def test_empty_input_gives_empty_output() -> None:
    assert ulaw_to_linear(b"") == b""
    assert linear_to_alaw(b"") == b""
    assert ulaw_to_alaw(b"") == b""
