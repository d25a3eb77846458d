"""CallRecording: phones' RTP in, a WAV out that follows the clock, pauses kept in metadata."""

from __future__ import annotations

import array
import json
import math
import sys
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ringfort.media.recorder import CallRecording, metadata_path
from ringfort.rtp.g711 import linear_to_alaw, linear_to_ulaw
from ringfort.rtp.packet import RtpPacket

FRAME = 160


class Wall:
    """A wall clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def pcm_of(level: int, samples: int = FRAME) -> bytes:
    values = array.array("h", [level] * samples)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def tone_pcm(frequency: float, samples: int = FRAME, amplitude: int = 8000) -> bytes:
    values = array.array(
        "h",
        (round(amplitude * math.sin(2 * math.pi * frequency * n / 8000)) for n in range(samples)),
    )
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def packet(payload: bytes, *, payload_type: int = 0, seq: int = 1, csrc: int = 0) -> bytes:
    return RtpPacket(
        payload_type=payload_type,
        sequence_number=seq,
        timestamp=seq * FRAME,
        ssrc=7,
        csrc=list(range(csrc)),
        payload=payload,
    ).serialize()


def samples_of(path: Path) -> tuple[int, list[int]]:
    with wave.open(str(path), "rb") as recording:
        channels = recording.getnchannels()
        assert recording.getsampwidth() == 2
        assert recording.getframerate() == 8000
        values = array.array("h", recording.readframes(recording.getnframes()))
    if sys.byteorder == "big":
        values.byteswap()
    return channels, list(values)


def test_a_mono_recording_writes_what_the_phone_sent_one_frame_a_tick(tmp_path: Path) -> None:
    path = tmp_path / "2026" / "call.wav"
    recording = CallRecording(path, 1, wall=Wall())
    loud = linear_to_ulaw(pcm_of(4000))
    recording.feed(0, packet(loud))
    recording.tick()
    recording.tick()  # nothing arrived: a frame of silence keeps time
    recording.feed(0, packet(linear_to_alaw(pcm_of(-4000)), payload_type=8, seq=2))
    recording.tick()
    summary = recording.close()

    channels, samples = samples_of(path)
    assert channels == 1
    assert len(samples) == 3 * FRAME
    assert all(3800 < value < 4200 for value in samples[:FRAME])
    assert samples[FRAME : 2 * FRAME] == [0] * FRAME
    assert all(-4200 < value < -3800 for value in samples[2 * FRAME :])
    assert summary.seconds == pytest.approx(0.06)


def test_a_stereo_recording_puts_the_caller_left_and_the_callee_right(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    recording = CallRecording(path, 2, wall=Wall())
    for seq in range(1, 6):
        recording.feed(0, packet(linear_to_ulaw(pcm_of(3000)), seq=seq))
        recording.feed(1, packet(linear_to_ulaw(pcm_of(-6000)), seq=seq))
        recording.tick()
    recording.close()

    channels, samples = samples_of(path)
    assert channels == 2
    left, right = samples[0::2], samples[1::2]
    assert len(left) == len(right) == 5 * FRAME
    assert all(2800 < value < 3200 for value in left)
    assert all(-6400 < value < -5600 for value in right)


def test_packets_with_csrcs_are_read_past_their_longer_header(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    recording = CallRecording(path, 1, wall=Wall())
    recording.feed(0, packet(linear_to_ulaw(pcm_of(2000)), csrc=2))
    recording.tick()
    recording.close()
    _, samples = samples_of(path)
    assert all(1800 < value < 2200 for value in samples)


def test_events_comfort_noise_and_other_codecs_are_not_written_as_audio(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    recording = CallRecording(path, 1, wall=Wall())
    recording.feed(0, packet(b"\x05\x0a\x00\xa0", payload_type=101))
    recording.feed(0, packet(b"\x40", payload_type=13))
    recording.feed(0, packet(b"\x00" * 33, payload_type=3))
    recording.feed(0, b"\x80\x00")  # shorter than a header
    recording.tick()
    recording.close()
    _, samples = samples_of(path)
    assert samples == [0] * FRAME


def test_a_burst_beyond_the_backlog_keeps_the_newest_audio(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    recording = CallRecording(path, 1, wall=Wall())
    for seq in range(1, 21):  # 400 ms arriving at once after a stall
        recording.feed(0, packet(linear_to_ulaw(pcm_of(100 * seq)), seq=seq))
    recording.tick(10)
    recording.close()
    _, samples = samples_of(path)
    frames = [samples[i * FRAME] for i in range(10)]
    # 120 ms (six frames) kept: the last six sent, then silence.
    assert [round(value, -2) for value in frames[:6]] == [1500, 1600, 1700, 1800, 1900, 2000]
    assert frames[6:] == [0, 0, 0, 0]


def test_held_time_is_left_out_and_each_pause_is_in_the_metadata(tmp_path: Path) -> None:
    wall = Wall()
    path = tmp_path / "call.wav"
    recording = CallRecording(path, 2, wall=wall, metadata={"uniqueid": "u1", "src": "101"})
    loud = packet(linear_to_ulaw(pcm_of(3000)))
    for _ in range(50):  # one second of talk
        recording.feed(0, loud)
        recording.tick()
        wall.advance(0.02)
    recording.pause("hold")
    recording.pause("toggle")  # a second reason while held: still one pause
    for _ in range(100):  # two seconds held: nothing written, packets ignored
        recording.feed(0, loud)
        recording.tick()
        wall.advance(0.02)
    recording.resume("hold")
    assert recording.paused, "still paused by the key"
    recording.resume("toggle")
    for _ in range(25):
        recording.feed(0, loud)
        recording.tick()
        wall.advance(0.02)
    summary = recording.close()

    assert summary.seconds == pytest.approx(1.5)
    assert len(summary.pauses) == 1
    pause = summary.pauses[0]
    assert pause.at == pytest.approx(1.0)
    assert pause.seconds == pytest.approx(2.0)
    assert pause.reason == "hold,toggle"
    document = json.loads(metadata_path(path).read_text())
    assert document["uniqueid"] == "u1"
    assert document["src"] == "101"
    assert document["channels"] == 2
    assert (document["left"], document["right"]) == ("caller", "callee")
    assert document["seconds"] == pytest.approx(1.5)
    assert document["pauses"] == [
        {
            "at": 1.0,
            "from": "2026-11-22T10:00:01+00:00",
            "to": "2026-11-22T10:00:03+00:00",
            "seconds": 2.0,
            "reason": "hold,toggle",
        }
    ]
    _, samples = samples_of(path)
    assert len(samples) == 2 * 75 * FRAME


def test_a_call_ending_on_hold_closes_the_pause_at_the_end(tmp_path: Path) -> None:
    wall = Wall()
    path = tmp_path / "call.wav"
    recording = CallRecording(path, 1, wall=wall)
    recording.tick(5)
    recording.pause("hold")
    wall.advance(3)
    summary = recording.close()
    assert summary.pauses[0].seconds == pytest.approx(3.0)
    assert summary.pauses[0].at == pytest.approx(0.1)


def test_the_file_is_playable_while_recording_and_the_metadata_says_it_is_unfinished(
    tmp_path: Path,
) -> None:
    path = tmp_path / "call.wav"
    recording = CallRecording(path, 2, wall=Wall())
    document = json.loads(metadata_path(path).read_text())
    assert document["ended"] is None
    recording.tick(100)  # two seconds: the header has been brought up to date
    with wave.open(str(path), "rb") as partial:
        assert partial.getnchannels() == 2
        assert partial.getnframes() >= 50 * FRAME
    recording.close()
    assert json.loads(metadata_path(path).read_text())["ended"] == "2026-11-22T10:00:00+00:00"
    recording.close()  # twice is harmless


def test_silence_is_measured_from_the_last_loud_frame(tmp_path: Path) -> None:
    recording = CallRecording(tmp_path / "vm.wav", 1, wall=Wall())
    recording.silence_threshold = 500
    recording.tick(10)
    assert not recording.heard_sound
    assert recording.silent_seconds == pytest.approx(0.2)
    recording.feed(0, packet(linear_to_ulaw(tone_pcm(440.0))))
    recording.tick()
    recording.feed(0, packet(linear_to_ulaw(pcm_of(20))))
    recording.tick(5)
    assert recording.heard_sound
    assert recording.silent_seconds == pytest.approx(0.1)
    recording.close()


def test_audio_that_arrived_after_the_last_tick_is_written_at_close(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    recording = CallRecording(path, 2, wall=Wall())
    recording.feed(0, packet(linear_to_ulaw(pcm_of(3000)), seq=1))
    recording.tick()
    # The caller's last 40 ms and the callee's last 20 ms came in, then the hang-up.
    recording.feed(0, packet(linear_to_ulaw(pcm_of(2000)), seq=2))
    recording.feed(0, packet(linear_to_ulaw(pcm_of(1000)), seq=3))
    recording.feed(1, packet(linear_to_ulaw(pcm_of(-2000)), seq=1))
    summary = recording.close()
    _, samples = samples_of(path)
    left, right = samples[0::2], samples[1::2]
    assert [round(left[i * FRAME], -3) for i in range(3)] == [3000, 2000, 1000]
    assert [round(right[i * FRAME], -3) for i in range(3)] == [0, -2000, 0]
    assert summary.seconds == pytest.approx(0.06)


def test_a_paused_recording_writes_nothing_at_close(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    recording = CallRecording(path, 1, wall=Wall())
    recording.feed(0, packet(linear_to_ulaw(pcm_of(3000)), seq=1))
    recording.pause("hold")
    recording.close()
    _, samples = samples_of(path)
    assert samples == []
