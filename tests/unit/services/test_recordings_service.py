"""RecordingService and RecordingJanitor: recorded calls listed, old recordings purged."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ringfort.errors import NotFoundError, ValidationError
from ringfort.rtp.wav import encode_wav
from ringfort.services.cdr import CdrService
from ringfort.services.database import Database
from ringfort.services.recordings import PurgeReport, RecordingJanitor, RecordingService

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SECOND_OF_STEREO = encode_wav(bytes(8000 * 2 * 2), channels=2)


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    path = tmp_path / "recordings"
    path.mkdir()
    return path


@pytest.fixture
def recordings(db: Database, directory: Path) -> RecordingService:
    return RecordingService(db=db, directory=directory)


def write_recording(
    directory: Path,
    uniqueid: str,
    started: datetime,
    *,
    ended: datetime | str | None = "auto",
    metadata: bool = True,
    pauses: list[dict[str, Any]] | None = None,
) -> str:
    """Write a WAV and its metadata as the recorder lays them out; their relative WAV path."""
    relative = f"{started:%Y/%m/%d}/{uniqueid}.wav"
    wav = directory / relative
    wav.parent.mkdir(parents=True, exist_ok=True)
    wav.write_bytes(SECOND_OF_STEREO)
    if ended == "auto":
        ended = started + timedelta(seconds=60)
    if metadata:
        document = {
            "format": 1,
            "uniqueid": uniqueid,
            "linkedid": uniqueid,
            "src": "101",
            "dst": "102",
            "file": wav.name,
            "channels": 2,
            "left": "caller",
            "right": "callee",
            "started": started.isoformat(),
            "ended": ended.isoformat() if isinstance(ended, datetime) else None,
            "seconds": 55.2,
            "pauses": pauses or [],
        }
        wav.with_suffix(".json").write_text(json.dumps(document), encoding="utf-8")
    return relative


def age_files(path: Path, when: datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


async def add_call(
    db: Database, uniqueid: str, start: datetime, recording: str | None, src: str = "101"
) -> None:
    await CdrService(db=db).add(
        uniqueid=uniqueid,
        linkedid=f"{uniqueid}-link",
        src=src,
        dst="102",
        clid=src,
        start=start,
        answer=start + timedelta(seconds=2),
        end=start + timedelta(seconds=62),
        disposition="ANSWERED",
        recording=recording,
    )


async def cdr_recordings(db: Database) -> dict[str, str | None]:
    return {view.uniqueid: view.recording for view in await CdrService(db=db).list()}


def files_under(directory: Path) -> set[str]:
    return {
        path.relative_to(directory).as_posix()
        for path in directory.rglob("*")
        if path.is_file() or path.is_symlink()
    }


HOLD_PAUSE = {
    "at": 12.34,
    "from": "2026-11-22T10:00:12.340+00:00",
    "to": "2026-11-22T10:00:17.140+00:00",
    "seconds": 4.8,
    "reason": "hold",
}


async def test_list_shows_recorded_calls_with_their_files_newest_first(
    db: Database, recordings: RecordingService, directory: Path
) -> None:
    early, late = NOW - timedelta(hours=2), NOW - timedelta(hours=1)
    await add_call(db, "u1", early, write_recording(directory, "u1", early, pauses=[HOLD_PAUSE]))
    await add_call(db, "u2", late, write_recording(directory, "u2", late))
    await add_call(db, "u3", late, None)

    listed = await recordings.list()

    assert [view.uniqueid for view in listed] == ["u2", "u1"]
    first = listed[1]
    assert (first.linkedid, first.src, first.dst, first.start) == ("u1-link", "101", "102", early)
    assert first.path == "2026/11/22/u1.wav"
    assert first.file == str(directory / "2026/11/22/u1.wav")
    assert (first.exists, first.size) == (True, len(SECOND_OF_STEREO))
    assert (first.channels, first.seconds, first.problem) == (2, 55.2, None)
    assert first.started == early
    assert first.ended == early + timedelta(seconds=60)
    assert [(p.at, p.seconds, p.reason) for p in first.pauses] == [(12.34, 4.8, "hold")]
    assert first.pauses[0].started == datetime(2026, 11, 22, 10, 0, 12, 340000, tzinfo=UTC)
    assert first.metadata is None, "the whole document only with show()"


async def test_list_filters_by_start_time(
    db: Database, recordings: RecordingService, directory: Path
) -> None:
    for hours in (3, 2, 1):
        start = NOW - timedelta(hours=hours)
        await add_call(db, f"u{hours}", start, write_recording(directory, f"u{hours}", start))

    listed = await recordings.list(since=NOW - timedelta(hours=2), until=NOW - timedelta(hours=1))

    assert [view.uniqueid for view in listed] == ["u2"]
    assert [view.uniqueid for view in await recordings.list(limit=1)] == ["u1"]


async def test_list_refuses_naive_times_and_a_zero_limit(recordings: RecordingService) -> None:
    with pytest.raises(ValidationError, match="since"):
        await recordings.list(since=datetime(2026, 11, 22))
    with pytest.raises(ValidationError, match="limit"):
        await recordings.list(limit=0)


async def test_a_recording_whose_file_is_gone_is_listed_as_missing(
    db: Database, recordings: RecordingService
) -> None:
    await add_call(db, "u1", NOW, "2026/11/22/u1.wav")

    [view] = await recordings.list()

    assert (view.exists, view.size, view.seconds, view.pauses) == (False, None, None, ())


async def test_a_cdr_path_leading_outside_the_directory_is_not_read(
    db: Database, recordings: RecordingService, tmp_path: Path
) -> None:
    (tmp_path / "secret.json").write_text('{"seconds": 1}', encoding="utf-8")
    (tmp_path / "secret.wav").write_bytes(b"x")
    await add_call(db, "u1", NOW, "../secret.wav")

    [view] = await recordings.list()

    assert (view.exists, view.size, view.seconds) == (False, None, None)
    assert view.problem is not None
    assert "outside" in view.problem


async def test_show_gives_the_whole_metadata_and_the_pauses(
    db: Database, recordings: RecordingService, directory: Path
) -> None:
    await add_call(db, "u1", NOW, write_recording(directory, "u1", NOW, pauses=[HOLD_PAUSE]))

    view = await recordings.show("u1")

    assert view.metadata is not None
    assert view.metadata["left"] == "caller"
    assert view.metadata["pauses"] == [HOLD_PAUSE]
    assert [pause.reason for pause in view.pauses] == ["hold"]


async def test_show_of_an_unknown_or_unrecorded_call_is_not_found(
    db: Database, recordings: RecordingService
) -> None:
    await add_call(db, "u1", NOW, None)

    with pytest.raises(NotFoundError, match="no call nope"):
        await recordings.show("nope")
    with pytest.raises(NotFoundError, match="call u1 has no recording"):
        await recordings.show("u1")


async def test_show_reports_unreadable_metadata_instead_of_failing(
    db: Database, recordings: RecordingService, directory: Path
) -> None:
    relative = write_recording(directory, "u1", NOW)
    (directory / relative).with_suffix(".json").write_text("{not json", encoding="utf-8")
    await add_call(db, "u1", NOW, relative)

    view = await recordings.show("u1")

    assert view.exists
    assert view.problem is not None
    assert view.problem.startswith("metadata unreadable")
    assert (view.seconds, view.metadata) == (None, None)


async def test_a_dry_run_reports_what_would_go_and_changes_nothing(
    db: Database, recordings: RecordingService, directory: Path
) -> None:
    old, new = NOW - timedelta(days=40), NOW - timedelta(days=1)
    await add_call(db, "old", old, write_recording(directory, "old", old))
    await add_call(db, "new", new, write_recording(directory, "new", new))
    before = files_under(directory)

    report = await recordings.purge(30, now=NOW, dry_run=True)

    assert report == PurgeReport(
        cutoff=NOW - timedelta(days=30),
        dry_run=True,
        recordings=(f"{old:%Y/%m/%d}/old.wav",),
        files=2,
        bytes=len(SECOND_OF_STEREO) + (directory / f"{old:%Y/%m/%d}/old.json").stat().st_size,
        cdr_rows_cleared=1,
    )
    assert files_under(directory) == before
    assert (await cdr_recordings(db))["old"] == f"{old:%Y/%m/%d}/old.wav"


async def test_purge_deletes_old_recordings_clears_their_cdrs_and_empty_folders(
    db: Database, recordings: RecordingService, directory: Path
) -> None:
    old, new = NOW - timedelta(days=40), NOW - timedelta(days=1)
    await add_call(db, "old", old, write_recording(directory, "old", old))
    await add_call(db, "new", new, write_recording(directory, "new", new))
    await add_call(db, "plain", new, None)

    report = await recordings.purge(30, now=NOW)

    assert report.recordings == (f"{old:%Y/%m/%d}/old.wav",)
    assert (report.files, report.cdr_rows_cleared, report.problems) == (2, 1, ())
    assert files_under(directory) == {f"{new:%Y/%m/%d}/new.wav", f"{new:%Y/%m/%d}/new.json"}
    assert not (directory / f"{old:%Y}/{old:%m}").exists(), "emptied month folder removed"
    assert (directory / f"{new:%Y/%m/%d}").exists()
    assert await cdr_recordings(db) == {
        "old": None,
        "new": f"{new:%Y/%m/%d}/new.wav",
        "plain": None,
    }


async def test_a_folder_still_holding_files_is_kept(
    recordings: RecordingService, directory: Path
) -> None:
    old = NOW - timedelta(days=40)
    write_recording(directory, "old", old)
    write_recording(directory, "later", old, ended=NOW - timedelta(days=1))
    (directory / f"{old:%Y/%m/%d}" / "notes.txt").write_text("mine", encoding="utf-8")

    report = await recordings.purge(30, now=NOW)

    assert report.recordings == (f"{old:%Y/%m/%d}/old.wav",)
    assert files_under(directory) == {
        f"{old:%Y/%m/%d}/later.wav",
        f"{old:%Y/%m/%d}/later.json",
        f"{old:%Y/%m/%d}/notes.txt",
    }


async def test_files_no_cdr_names_are_purged_too(
    recordings: RecordingService, directory: Path
) -> None:
    old = NOW - timedelta(days=40)
    relative = write_recording(directory, "orphan", old)
    (directory / relative).with_suffix(".json.partial").write_text("{", encoding="utf-8")

    report = await recordings.purge(30, now=NOW)

    assert report.recordings == (relative,)
    assert (report.files, report.cdr_rows_cleared) == (3, 0)
    assert files_under(directory) == set()


async def test_age_comes_from_ended_then_started_then_the_file_time(
    recordings: RecordingService, directory: Path
) -> None:
    long_ago, lately = NOW - timedelta(days=40), NOW - timedelta(days=2)
    # Started long ago but ended lately: a long call, kept.
    write_recording(directory, "ended-lately", long_ago, ended=lately)
    # Never finished (the server stopped): judged by its start.
    write_recording(directory, "crashed", long_ago, ended=None)
    # No metadata: judged by when the WAV was last written.
    stale = directory / write_recording(directory, "bare-old", lately, metadata=False)
    age_files(stale, long_ago)
    write_recording(directory, "bare-new", lately, metadata=False)

    report = await recordings.purge(30, now=NOW)

    assert report.recordings == (
        f"{long_ago:%Y/%m/%d}/crashed.wav",
        f"{lately:%Y/%m/%d}/bare-old.wav",
    )
    assert {Path(name).name for name in files_under(directory)} == {
        "ended-lately.wav",
        "ended-lately.json",
        "bare-new.wav",
    }


async def test_unreadable_metadata_is_reported_and_the_file_time_decides(
    recordings: RecordingService, directory: Path
) -> None:
    long_ago, lately = NOW - timedelta(days=40), NOW - timedelta(days=2)
    for name, started, mtime in (("bad-old", lately, long_ago), ("bad-new", lately, lately)):
        wav = directory / write_recording(directory, name, started)
        wav.with_suffix(".json").write_bytes(b"\xff\xfe not json")
        age_files(wav, mtime)
        age_files(wav.with_suffix(".json"), mtime)

    report = await recordings.purge(30, now=NOW)

    assert report.recordings == (f"{lately:%Y/%m/%d}/bad-old.wav",)
    assert len(report.problems) == 2
    assert all("metadata unreadable" in problem for problem in report.problems)
    assert {Path(name).name for name in files_under(directory)} == {"bad-new.wav", "bad-new.json"}


async def test_links_are_never_followed_out_of_the_directory_nor_deleted(
    recordings: RecordingService, directory: Path, tmp_path: Path
) -> None:
    long_ago = NOW - timedelta(days=40)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    precious = outside / write_recording(outside, "precious", long_ago)
    precious_json = precious.with_suffix(".json")
    day = directory / f"{long_ago:%Y/%m/%d}"
    day.mkdir(parents=True)
    (day / "linked-folder").symlink_to(outside, target_is_directory=True)
    (day / "linked.wav").symlink_to(precious)
    (day / "linked.json").write_text(
        json.dumps({"started": long_ago.isoformat(), "ended": long_ago.isoformat()}),
        encoding="utf-8",
    )

    report = await recordings.purge(30, now=NOW)

    assert report.recordings == ()
    assert precious.is_file()
    assert precious_json.is_file()
    assert (day / "linked.wav").is_symlink()
    assert (day / "linked.json").is_file(), "a link's companion stays with it"
    assert (day / "linked-folder").is_symlink()
    assert len(report.problems) == 2
    assert any("linked-folder" in problem for problem in report.problems)
    assert any("linked.wav" in problem for problem in report.problems)


async def test_a_linked_recordings_directory_is_purged_where_it_points(
    db: Database, tmp_path: Path
) -> None:
    # An administrator may point the recordings directory at a bigger disk.
    real = tmp_path / "big-disk"
    real.mkdir()
    old = NOW - timedelta(days=40)
    write_recording(real, "old", old)
    link = tmp_path / "recordings-link"
    link.symlink_to(real, target_is_directory=True)

    report = await RecordingService(db=db, directory=link).purge(30, now=NOW)

    assert report.recordings == (f"{old:%Y/%m/%d}/old.wav",)
    assert files_under(real) == set()


async def test_a_file_that_cannot_be_deleted_is_reported_and_the_rest_goes_on(
    db: Database, recordings: RecordingService, directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = NOW - timedelta(days=40)
    stuck = write_recording(directory, "a-stuck", old)
    await add_call(db, "a-stuck", old, stuck)
    write_recording(directory, "b-fine", old)
    real_unlink = Path.unlink

    def unlink(path: Path, missing_ok: bool = False) -> None:
        if path.name == "a-stuck.wav":
            raise PermissionError(13, "Permission denied", str(path))
        real_unlink(path, missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)

    report = await recordings.purge(30, now=NOW)

    assert report.recordings == (f"{old:%Y/%m/%d}/b-fine.wav",)
    assert len(report.problems) == 1
    assert "a-stuck.wav: cannot be deleted" in report.problems[0]
    assert (directory / stuck).is_file()
    assert (await cdr_recordings(db))["a-stuck"] == stuck, "its CDR still names the file"


async def test_a_missing_directory_purges_nothing(db: Database, tmp_path: Path) -> None:
    service = RecordingService(db=db, directory=tmp_path / "never-made")

    report = await service.purge(30, now=NOW)

    assert (report.recordings, report.files, report.problems) == ((), 0, ())


@pytest.mark.parametrize("days", [0, -1])
async def test_purge_needs_at_least_one_day(recordings: RecordingService, days: int) -> None:
    with pytest.raises(ValidationError, match="at least 1"):
        await recordings.purge(days, now=NOW)


async def test_the_janitor_does_nothing_when_recordings_are_kept_for_ever(
    recordings: RecordingService, directory: Path
) -> None:
    write_recording(directory, "ancient", datetime(2000, 1, 1, tzinfo=UTC))
    janitor = RecordingJanitor(recordings=recordings)

    await janitor.run_forever(0)

    assert len(files_under(directory)) == 2


class StopJanitorError(Exception):
    """Raised by the test's sleep to end run_forever."""


async def test_the_janitor_purges_at_start_and_then_every_interval(
    recordings: RecordingService, directory: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ancient = datetime(2000, 1, 1, tzinfo=UTC)
    write_recording(directory, "first", ancient)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:
            assert files_under(directory) == set(), "purged before the first wait"
            write_recording(directory, "second", ancient)
            return
        raise StopJanitorError

    janitor = RecordingJanitor(recordings=recordings, sleep=sleep)
    with (
        caplog.at_level(logging.INFO, logger="ringfort.services.recordings"),
        pytest.raises(StopJanitorError),
    ):
        await janitor.run_forever(30, interval=3600)

    assert waits == [3600, 3600]
    assert files_under(directory) == set()
    assert sum("purged 1 recording(s)" in record.getMessage() for record in caplog.records) == 2


async def test_a_failed_purge_is_logged_and_the_janitor_goes_on(
    recordings: RecordingService,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*args: object, **kwargs: object) -> PurgeReport:
        raise OSError("disk on fire")

    monkeypatch.setattr(recordings, "purge", broken)
    janitor = RecordingJanitor(recordings=recordings)

    with caplog.at_level(logging.ERROR, logger="ringfort.services.recordings"):
        assert await janitor.purge_once(30) is None

    assert "could not be purged" in caplog.records[0].getMessage()
