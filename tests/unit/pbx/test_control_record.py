"""CallControl.record: what stops a recording (key, silence, length, hang-up) and what it keeps."""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path
from typing import Any

import pytest
from test_call_control import Driver, make_call

from ringfort.media.recorder import CallRecording
from ringfort.pbx.control import CallControl, CallGoneError
from ringfort.rtp.g711 import linear_to_ulaw
from ringfort.rtp.packet import RtpPacket

LOUD = RtpPacket(payload_type=0, payload=linear_to_ulaw(b"\x00\x10" * 160)).serialize()
"""A 20 ms PCMU frame at level 4096."""


class Media:
    """Stands for the media engine: the test plays the phone, feeding and ticking."""

    def __init__(self) -> None:
        self.recording: CallRecording | None = None
        self.stopped: list[CallRecording] = []
        self.refuse = False
        self.started = asyncio.Event()

    def stop_playing(self, leg: Any) -> None:
        pass

    def start_recording(self, recording: CallRecording, legs: Any) -> None:
        if self.refuse:
            from ringfort.errors import LocalProtocolError

            raise LocalProtocolError("media leg released")
        self.recording = recording
        self.started.set()

    def stop_recording(self, recording: CallRecording) -> None:
        self.stopped.append(recording)

    async def talk(self, frames: int, *, loud: bool = True, pace: float = 0.002) -> None:
        """The caller speaks (or is silent) for ``frames`` 20 ms frames, in real time-ish."""
        await self.started.wait()
        assert self.recording is not None
        for _ in range(frames):
            if loud:
                self.recording.feed(0, LOUD)
            self.recording.tick()
            await asyncio.sleep(pace)


@pytest.fixture
async def parts() -> tuple[CallControl, Media]:
    media = Media()
    return CallControl(make_call(), Driver(), media), media  # type: ignore[arg-type]


async def test_a_stop_key_ends_the_recording_and_the_message_is_kept(
    parts: Any, tmp_path: Path
) -> None:
    control, media = parts
    path = tmp_path / "vm" / "msg.wav"
    task = asyncio.create_task(control.record(path, max_seconds=30, metadata={"mailbox": "101"}))
    await media.talk(25)
    control.on_digit("#", "rfc4733")
    result = await task
    assert (result.ended_by, result.key) == ("key", "#")
    assert result.seconds == pytest.approx(0.5, abs=0.05)
    assert media.stopped == [media.recording]
    with wave.open(str(path), "rb") as recorded:
        assert recorded.getnchannels() == 1
        assert recorded.getnframes() == 25 * 160
    assert json.loads(path.with_suffix(".json").read_text())["mailbox"] == "101"
    assert control.take_digits() == "", "the stop key is consumed"


async def test_other_keys_do_not_stop_it_and_keys_pressed_before_are_dropped(
    parts: Any, tmp_path: Path
) -> None:
    control, media = parts
    control.on_digit("#", "info")  # pressed during the greeting
    task = asyncio.create_task(control.record(tmp_path / "m.wav", max_seconds=0.3))
    await asyncio.sleep(0.01)
    control.on_digit("5", "rfc4733")
    await media.talk(20)
    result = await task
    assert result.ended_by == "max"
    assert result.seconds == pytest.approx(0.3, abs=0.03)


async def test_silence_after_speech_stops_it(parts: Any, tmp_path: Path) -> None:
    control, media = parts
    task = asyncio.create_task(control.record(tmp_path / "m.wav", max_seconds=30, silence_stop=0.4))
    await media.talk(10)
    # At half real time, so the 0.1 s checks fall every five frames or so.
    await media.talk(40, loud=False, pace=0.01)
    result = await asyncio.wait_for(task, 2)
    assert result.ended_by == "silence"
    assert result.heard_sound
    assert 0.6 <= result.seconds <= 0.9


async def test_a_hang_up_ends_it_without_an_error_and_keeps_what_was_said(
    parts: Any, tmp_path: Path
) -> None:
    control, media = parts
    task = asyncio.create_task(control.record(tmp_path / "m.wav", max_seconds=30))
    await media.talk(15)
    control.ended()
    result = await asyncio.wait_for(task, 1)
    assert result.ended_by == "hangup"
    assert result.seconds == pytest.approx(0.3, abs=0.03)
    assert (tmp_path / "m.wav").exists()


async def test_recording_a_call_already_over_raises_call_gone(parts: Any, tmp_path: Path) -> None:
    control, media = parts
    media.refuse = True
    with pytest.raises(CallGoneError):
        await control.record(tmp_path / "m.wav", max_seconds=5)
    control.ended()
    with pytest.raises(CallGoneError):
        await control.record(tmp_path / "n.wav", max_seconds=5)


async def test_digits_are_sent_to_the_callers_leg(parts: Any) -> None:
    control, media = parts
    sent: list[str] = []
    media.send_digits = lambda leg, digits: sent.append(digits)
    await control.send_digits("12#")
    assert sent == ["12#"]
    control.ended()
    with pytest.raises(CallGoneError):
        await control.send_digits("3")
