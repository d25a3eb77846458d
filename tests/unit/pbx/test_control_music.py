"""CallControl.start_music and stop_music: looping, what ends the music, and no music at all."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from test_call_control import Driver, make_call

from ringfort.errors import LocalProtocolError
from ringfort.media.moh import MusicOnHold
from ringfort.pbx.control import CallControl, CallGoneError
from ringfort.rtp.wav import encode_wav


class Media:
    """Stands for the media engine: one playback per leg, replaced as the real one does."""

    def __init__(self) -> None:
        self.playing: list[Any] = []
        self.looping = False
        self.done: Callable[[bool], None] | None = None
        self.plays = 0
        self.stops = 0
        self.released = False

    def play(
        self,
        leg: Any,
        clips: Sequence[Any],
        *,
        loop: bool = False,
        on_done: Callable[[bool], None] | None = None,
    ) -> None:
        if self.released:
            raise LocalProtocolError("media leg released")
        self._end(False)
        self.plays += 1
        self.playing, self.looping, self.done = list(clips), loop, on_done

    def stop_playing(self, leg: Any) -> None:
        self.stops += 1
        self._end(False)

    def finish(self) -> None:
        self._end(True)

    def _end(self, completed: bool) -> None:
        done, self.done = self.done, None
        self.playing, self.looping = [], False
        if done is not None:
            done(completed)


class Music:
    """A music source handing out fixed clips, optionally only when the test lets it."""

    def __init__(self, clips: Sequence[Any]) -> None:
        self._clips = list(clips)
        self.calls = 0
        self.gate: asyncio.Event | None = None

    async def clips(self) -> Sequence[Any]:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        return self._clips


def control_with(music: Any) -> tuple[CallControl, Media]:
    media = Media()
    return CallControl(make_call(), Driver(), media, music=music), media  # type: ignore[arg-type]


async def test_start_music_loops_the_music_and_returns_at_once() -> None:
    control, media = control_with(Music(["tune-1", "tune-2"]))
    await control.start_music()
    assert media.playing == ["tune-1", "tune-2"]
    assert media.looping


async def test_stop_music_stops_it() -> None:
    control, media = control_with(Music(["tune"]))
    await control.start_music()
    control.stop_music()
    assert media.playing == []
    assert media.stops == 1


async def test_stop_music_without_music_playing_does_nothing() -> None:
    control, media = control_with(Music(["tune"]))
    control.stop_music()
    assert media.stops == 0


async def test_a_prompt_replaces_the_music_and_stop_music_leaves_the_prompt_alone() -> None:
    control, media = control_with(Music(["tune"]))
    await control.start_music()
    prompt = asyncio.create_task(control.play(["please-hold"]))
    await asyncio.sleep(0)
    assert media.playing == ["please-hold"]
    assert not media.looping
    control.stop_music()
    assert media.playing == ["please-hold"]
    assert media.stops == 0
    media.finish()
    assert await prompt is None


async def test_music_can_start_again_after_a_prompt() -> None:
    control, media = control_with(Music(["tune"]))
    await control.start_music()
    prompt = asyncio.create_task(control.play(["you-are-caller-number"]))
    await asyncio.sleep(0)
    media.finish()
    await prompt
    await control.start_music()
    assert media.playing == ["tune"]
    assert media.looping


async def test_starting_music_that_plays_already_lets_it_carry_on() -> None:
    music = Music(["tune"])
    control, media = control_with(music)
    await control.start_music()
    await control.start_music()
    assert media.plays == 1
    assert music.calls == 1


async def test_bridging_stops_the_music() -> None:
    control, media = control_with(Music(["tune"]))
    await control.start_music()
    bridge = asyncio.create_task(control.bridge("101"))
    await asyncio.sleep(0)
    assert media.playing == []
    control.stop_music()  # already over: nothing more to stop
    assert media.stops == 1
    bridge.cancel()


@pytest.mark.parametrize("music", [None, Music([])], ids=["no source", "empty source"])
async def test_with_no_music_the_caller_hears_silence_and_nothing_fails(music: Any) -> None:
    control, media = control_with(music)
    await control.start_music()
    assert media.plays == 0
    control.stop_music()
    assert media.stops == 0


async def test_without_a_music_argument_start_music_is_silence() -> None:
    media = Media()
    control = CallControl(make_call(), Driver(), media)  # type: ignore[arg-type]
    await control.start_music()
    assert media.plays == 0


async def test_start_music_on_an_ended_call_raises_call_gone() -> None:
    control, _ = control_with(Music(["tune"]))
    control.ended()
    with pytest.raises(CallGoneError):
        await control.start_music()


async def test_a_hang_up_while_the_music_loads_raises_call_gone_and_plays_nothing() -> None:
    music = Music(["tune"])
    music.gate = asyncio.Event()
    control, media = control_with(music)
    start = asyncio.create_task(control.start_music())
    await asyncio.sleep(0)
    control.ended()
    with pytest.raises(CallGoneError):
        await start
    music.gate.set()
    await asyncio.sleep(0)
    assert media.plays == 0


async def test_a_released_leg_raises_call_gone() -> None:
    control, media = control_with(Music(["tune"]))
    media.released = True
    with pytest.raises(CallGoneError):
        await control.start_music()


async def test_the_music_on_hold_source_plugs_in(tmp_path: Path) -> None:
    (tmp_path / "tune.wav").write_bytes(encode_wav(b"\x00\x10" * 800))
    control, media = control_with(MusicOnHold([tmp_path]))
    await control.start_music()
    assert [clip.name for clip in media.playing] == ["tune"]
    assert media.looping
