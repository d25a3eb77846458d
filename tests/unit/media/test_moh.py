"""Music on hold: which folder plays, in what order, changes, bad files and the shipped piece."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import struct
import threading
from pathlib import Path

import pytest

from ringfort.media import moh
from ringfort.media.moh import SHIPPED_MUSIC, MusicOnHold
from ringfort.media.prompts import Clip, load_file
from ringfort.rtp.wav import RATE, encode_wav


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def tone_pcm(frequency: float, seconds: float = 0.05) -> bytes:
    count = int(RATE * seconds)
    return struct.pack(
        f"<{count}h",
        *(round(6000 * math.sin(2 * math.pi * frequency * n / RATE)) for n in range(count)),
    )


def write_music(folder: Path, name: str, frequency: float = 440.0, seconds: float = 0.05) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(encode_wav(tone_pcm(frequency, seconds)))
    return path


def touch_later(path: Path) -> None:
    """Move the file's mtime on, as a copy over it would, however coarse the file system."""
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 2_000_000_000))


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file the music source decodes, in order."""
    paths: list[Path] = []

    def counting_load(path: Path, *, name: str | None = None) -> Clip:
        paths.append(path)
        return load_file(path, name=name)

    monkeypatch.setattr(moh, "load_file", counting_load)
    return paths


def names(clips: list[Clip]) -> list[str]:
    return [clip.name for clip in clips]


async def test_the_administrators_folder_wins_over_the_shipped_one(tmp_path: Path) -> None:
    admin, shipped = tmp_path / "moh", tmp_path / "shipped"
    write_music(admin, "mine.wav")
    write_music(shipped, "default.wav")
    assert names(await MusicOnHold([admin, shipped]).clips()) == ["mine"]


async def test_files_play_in_name_order_ignoring_case(tmp_path: Path) -> None:
    admin = tmp_path / "moh"
    for name in ("02-theme.wav", "10-outro.WAV", "01-Intro.wav", "b.wav", "A.wav"):
        write_music(admin, name)
    (admin / "notes.txt").write_text("not music")
    (admin / ".hidden.wav").write_bytes(b"resource fork")
    (admin / "folder.wav").mkdir()
    assert names(await MusicOnHold([admin]).clips()) == [
        "01-Intro",
        "02-theme",
        "10-outro",
        "A",
        "b",
    ]


async def test_a_missing_or_empty_admin_folder_falls_back_to_the_shipped_music(
    tmp_path: Path,
) -> None:
    shipped = tmp_path / "shipped"
    write_music(shipped, "default.wav")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("put music here")
    music = MusicOnHold([tmp_path / "missing", tmp_path / "empty", shipped])
    assert names(await music.clips()) == ["default"]
    assert music.folder == shipped


async def test_no_music_anywhere_gives_an_empty_list_and_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    music = MusicOnHold([tmp_path / "missing"], clock=clock)
    with caplog.at_level(logging.WARNING, logger="ringfort.media.moh"):
        assert await music.clips() == []
        clock.now += 10
        assert await music.clips() == []
    assert len([r for r in caplog.records if "no playable WAV" in r.getMessage()]) == 1
    assert music.folder is None


async def test_an_undecodable_file_is_skipped_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    admin = tmp_path / "moh"
    write_music(admin, "a.wav")
    (admin / "b.wav").write_bytes(b"ID3\x04 this is an mp3 really")
    write_music(admin, "c.wav")
    clock = Clock()
    music = MusicOnHold([admin], clock=clock)
    with caplog.at_level(logging.WARNING, logger="ringfort.media.moh"):
        assert names(await music.clips()) == ["a", "c"]
        for _ in range(3):
            clock.now += 10
            assert names(await music.clips()) == ["a", "c"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "b.wav" in warnings[0]
    assert "not a WAV file" in warnings[0]


async def test_a_folder_of_only_broken_files_falls_through_to_the_next(tmp_path: Path) -> None:
    admin, shipped = tmp_path / "moh", tmp_path / "shipped"
    admin.mkdir()
    (admin / "broken.wav").write_bytes(b"RIFF\x00\x00")
    write_music(shipped, "default.wav")
    assert names(await MusicOnHold([admin, shipped]).clips()) == ["default"]


async def test_a_repaired_file_joins_the_music(tmp_path: Path) -> None:
    admin = tmp_path / "moh"
    write_music(admin, "a.wav")
    broken = admin / "b.wav"
    broken.write_bytes(b"garbage")
    clock = Clock()
    music = MusicOnHold([admin], clock=clock)
    assert names(await music.clips()) == ["a"]
    write_music(admin, "b.wav")
    touch_later(broken)
    clock.now += 10
    assert names(await music.clips()) == ["a", "b"]


async def test_changes_are_picked_up_after_the_recheck_interval_only(
    tmp_path: Path, decoded: list[Path]
) -> None:
    admin = tmp_path / "moh"
    first = write_music(admin, "a.wav", 440.0)
    clock = Clock()
    music = MusicOnHold([admin], clock=clock, recheck=5.0)
    before = await music.clips()
    assert names(before) == ["a"]

    write_music(admin, "a.wav", 660.0, seconds=0.1)
    touch_later(first)
    write_music(admin, "b.wav")
    clock.now += 4.0
    assert await music.clips() == before  # within the interval: the cached music

    clock.now += 1.5
    after = await music.clips()
    assert names(after) == ["a", "b"]
    assert after[0].duration == pytest.approx(0.1)
    assert decoded == [first, first, admin / "b.wav"]


async def test_an_unchanged_folder_is_not_decoded_again(
    tmp_path: Path, decoded: list[Path]
) -> None:
    admin = tmp_path / "moh"
    write_music(admin, "a.wav")
    write_music(admin, "b.wav")
    clock = Clock()
    music = MusicOnHold([admin], clock=clock)
    first = await music.clips()
    clock.now += 60
    second = await music.clips()
    assert len(decoded) == 2
    assert all(a is b for a, b in zip(first, second, strict=True))


async def test_a_removed_file_leaves_the_music(tmp_path: Path) -> None:
    admin, shipped = tmp_path / "moh", tmp_path / "shipped"
    write_music(admin, "a.wav")
    write_music(admin, "b.wav")
    write_music(shipped, "default.wav")
    clock = Clock()
    music = MusicOnHold([admin, shipped], clock=clock)
    assert names(await music.clips()) == ["a", "b"]
    (admin / "a.wav").unlink()
    clock.now += 10
    assert names(await music.clips()) == ["b"]
    (admin / "b.wav").unlink()
    clock.now += 10
    assert names(await music.clips()) == ["default"]


async def test_concurrent_callers_share_one_load(tmp_path: Path, decoded: list[Path]) -> None:
    admin = tmp_path / "moh"
    write_music(admin, "a.wav")
    write_music(admin, "b.wav")
    music = MusicOnHold([admin])
    results = await asyncio.gather(*(music.clips() for _ in range(8)))
    assert all(names(result) == ["a", "b"] for result in results)
    assert decoded == [admin / "a.wav", admin / "b.wav"]


async def test_a_cancelled_caller_does_not_cancel_the_load_for_others(
    tmp_path: Path, decoded: list[Path]
) -> None:
    write_music(tmp_path, "a.wav")
    music = MusicOnHold([tmp_path])
    impatient = asyncio.create_task(music.clips())
    patient = asyncio.create_task(music.clips())
    await asyncio.sleep(0)
    impatient.cancel()
    assert names(await patient) == ["a"]
    assert len(decoded) == 1


async def test_decoding_happens_off_the_event_loop_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []

    def recording_load(path: Path, *, name: str | None = None) -> Clip:
        threads.append(threading.get_ident())
        return load_file(path, name=name)

    monkeypatch.setattr(moh, "load_file", recording_load)
    write_music(tmp_path, "a.wav")
    await MusicOnHold([tmp_path]).clips()
    assert threads
    assert threading.get_ident() not in threads


# -- the shipped piece -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> list[int]:
    files = sorted(SHIPPED_MUSIC.glob("*.wav"))
    assert files, f"no music in {SHIPPED_MUSIC}"
    pcm = b"".join(load_file(path).pcm for path in files)
    return list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


def rms(samples: list[int]) -> float:
    return math.sqrt(sum(value * value for value in samples) / len(samples))


async def test_the_shipped_music_is_what_plays_with_an_empty_admin_folder(tmp_path: Path) -> None:
    clips = await MusicOnHold([tmp_path, SHIPPED_MUSIC]).clips()
    assert clips
    assert sum(clip.duration for clip in clips) == pytest.approx(30, abs=3)


def test_the_shipped_music_is_about_thirty_seconds_and_small(shipped: list[int]) -> None:
    assert len(shipped) / RATE == pytest.approx(30, abs=3)
    assert sum(path.stat().st_size for path in SHIPPED_MUSIC.glob("*.wav")) < 500_000


def test_the_shipped_music_is_not_silence_and_not_clipped(shipped: list[int]) -> None:
    level = 20 * math.log10(rms(shipped) / 32768)
    assert -30 < level < -10
    assert max(abs(value) for value in shipped) < 32000
    # Never more than a breath of quiet: a caller must not think they were cut off.
    window = RATE // 2
    quietest = min(
        rms(shipped[start : start + window]) for start in range(0, len(shipped) - window, window)
    )
    assert quietest > rms(shipped) / 10


def test_the_shipped_music_loops_without_a_jump(shipped: list[int]) -> None:
    # The step from the last sample to the first is no bigger than a typical step inside.
    steps = sorted(abs(b - a) for a, b in itertools.pairwise(shipped))
    assert abs(shipped[0] - shipped[-1]) <= steps[len(steps) // 2]
    # And the level carries on across the seam: the last and first 100 ms sound alike.
    tenth = RATE // 10
    end, start = rms(shipped[-tenth:]), rms(shipped[:tenth])
    assert 0.5 < end / start < 2.0
