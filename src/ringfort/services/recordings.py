"""Call recordings on disk: listing them with their calls, and deleting them when they are old.

A recording is ``<YYYY>/<MM>/<DD>/<name>.wav`` under the recordings directory
with its metadata ``<name>.json`` beside it (``<name>.json.partial`` while
that is being replaced); the CDR row of the call names the WAV by its path
relative to the directory. Files are read and deleted off the event loop.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import os
import stat
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from ringfort import queuelog as ql
from ringfort.db.models import Cdr, QueueLogEntry
from ringfort.errors import NotFoundError, ValidationError
from ringfort.services.cdr import CdrFilter, paged, search_conditions
from ringfort.services.database import Database
from ringfort.services.paging import Page, PageRequest

__all__ = [
    "DEFAULT_LIST_LIMIT",
    "RECORDING_SEARCHED",
    "RECORDING_SORTABLE",
    "PauseView",
    "PurgeReport",
    "RecordingJanitor",
    "RecordingService",
    "RecordingView",
]

log = logging.getLogger(__name__)

DEFAULT_LIST_LIMIT = 1000
RECORDING_SORTABLE = ("start", "src", "dst", "uniqueid")
"""The fields a page of recordings may be sorted by; by default newest first."""
RECORDING_SEARCHED = ("uniqueid", "linkedid", "src", "dst", "recording")
"""The fields a search looks in (``recording``: the file's relative path)."""
WAV_SUFFIX = ".wav"
METADATA_SUFFIX = ".json"
PARTIAL_METADATA_SUFFIX = ".json.partial"
"""Left behind when the server stopped while it was replacing a metadata file."""
MAX_METADATA_BYTES = 4 * 1024 * 1024
"""A metadata file is a few hundred bytes; anything this big is not one and is not read."""
_SQL_BATCH = 500
"""Paths per ``IN (...)``: well under every database's limit on bound parameters."""


@dataclass(frozen=True, slots=True)
class PauseView:
    """A stretch of the call left out of the recording (hold, or the toggle key)."""

    at: float
    """Seconds into the audio where the gap falls."""
    started: datetime | None
    ended: datetime | None
    """None if the recording stopped during the pause without saying when."""
    seconds: float
    reason: str
    """``hold``, ``toggle`` or ``hold,toggle``."""


@dataclass(frozen=True, slots=True)
class RecordingView:
    """One recorded call: its CDR row, its file and what the metadata says."""

    uniqueid: str
    linkedid: str
    src: str
    dst: str
    start: datetime
    """When the call started (the CDR's ``start``)."""
    path: str
    """The WAV's path relative to the recordings directory, as the CDR row holds it."""
    file: str
    """The WAV's full path."""
    exists: bool
    """Whether the WAV is there (it may have been deleted by hand, or never finished)."""
    size: int | None
    """Bytes of the WAV, if it exists."""
    channels: int | None = None
    """2: caller left, callee right; 1: one party only."""
    started: datetime | None = None
    """When recording began, from the metadata."""
    ended: datetime | None = None
    """When it stopped; None while recording or if the server stopped first."""
    seconds: float | None = None
    """Seconds of audio (the call's length less its pauses)."""
    pauses: tuple[PauseView, ...] = ()
    problem: str | None = None
    """Why the file or its metadata could not be read, if so."""
    metadata: dict[str, Any] | None = field(default=None, compare=False)
    """The whole metadata file (from :meth:`RecordingService.show` only)."""


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """What a purge deleted, or in a dry run would delete."""

    cutoff: datetime
    """Recordings that ended before this were purged."""
    dry_run: bool
    recordings: tuple[str, ...]
    """Purged recordings, as paths of their WAVs relative to the recordings directory."""
    files: int
    """WAV and metadata files deleted."""
    bytes: int
    """Their total size."""
    cdr_rows_cleared: int
    """CDR rows whose ``recording`` was set to NULL because their file went."""
    problems: tuple[str, ...] = ()
    """Files left alone or not judged by their metadata, and why; the purge goes on past them."""


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return _aware(datetime.fromisoformat(value))
    except ValueError:
        return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _read_metadata(path: Path) -> dict[str, Any]:
    """The metadata document at ``path``; OSError or ValueError saying why it cannot be had."""
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        raise ValueError("not a regular file")
    if info.st_size > MAX_METADATA_BYTES:
        raise ValueError(f"{info.st_size} bytes is too big for metadata")
    document = json.loads(path.read_bytes())
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    return document


def _pauses(document: dict[str, Any]) -> tuple[PauseView, ...]:
    pauses = document.get("pauses")
    if not isinstance(pauses, list):
        return ()
    views = []
    for pause in pauses:
        if not isinstance(pause, dict):
            continue
        views.append(
            PauseView(
                at=_number(pause.get("at")) or 0.0,
                started=_time(pause.get("from")),
                ended=_time(pause.get("to")),
                seconds=_number(pause.get("seconds")) or 0.0,
                reason=str(pause.get("reason", "")),
            )
        )
    return tuple(views)


def _channels(document: dict[str, Any]) -> int | None:
    channels = document.get("channels")
    return channels if isinstance(channels, int) and not isinstance(channels, bool) else None


@dataclass(frozen=True, slots=True)
class _CallRow:
    uniqueid: str
    linkedid: str
    src: str
    dst: str
    start: datetime
    recording: str


def _inside(root: Path, relative: str) -> Path | None:
    """``root / relative`` if it stays inside ``root`` once links are resolved, else None."""
    candidate = root / relative
    try:
        if candidate.resolve().is_relative_to(root.resolve()):
            return candidate
    except (OSError, RuntimeError):
        pass
    return None


def _view(root: Path, row: _CallRow, *, with_metadata: bool) -> RecordingView:
    wav = _inside(root, row.recording)
    view = RecordingView(
        uniqueid=row.uniqueid,
        linkedid=row.linkedid,
        src=row.src,
        dst=row.dst,
        start=row.start,
        path=row.recording,
        file=str(root / row.recording if wav is None else wav),
        exists=False,
        size=None,
    )
    if wav is None:
        return replace(view, problem="the path leads outside the recordings directory; not read")
    with contextlib.suppress(OSError):  # gone: exists stays False
        view = replace(view, exists=True, size=wav.stat().st_size)
    try:
        document = _read_metadata(wav.with_suffix(METADATA_SUFFIX))
    except FileNotFoundError:
        return view
    except (OSError, ValueError) as exc:
        return replace(view, problem=f"metadata unreadable: {exc}")
    return replace(
        view,
        channels=_channels(document),
        started=_time(document.get("started")),
        ended=_time(document.get("ended")),
        seconds=_number(document.get("seconds")),
        pauses=_pauses(document),
        metadata=document if with_metadata else None,
    )


def _recording_stem(name: str) -> str | None:
    for suffix in (PARTIAL_METADATA_SUFFIX, METADATA_SUFFIX, WAV_SUFFIX):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


@dataclass(slots=True)
class _Sweep:
    """What a walk over the recordings directory found and did."""

    root: Path
    cutoff: datetime
    dry_run: bool
    recordings: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def run(self) -> None:
        if not self.root.is_dir():
            if self.root.exists():
                self.problems.append(f"{self.root} is not a directory")
            return
        emptied: set[Path] = set()

        def unreadable(error: OSError) -> None:
            self.problems.append(f"{error.filename}: cannot be read ({error.strerror})")

        # Bottom-up, so a date folder is looked at after everything in it went;
        # followlinks=False: a linked folder is never entered, whatever it points at.
        for dirpath, dirnames, filenames in os.walk(self.root, topdown=False, onerror=unreadable):
            here = Path(dirpath)
            for name in dirnames:
                if (here / name).is_symlink():
                    self.problems.append(f"{self.relative(here / name)}: a link, left alone")
            if self._sweep_folder(here, filenames):
                emptied.add(here)
            if here in emptied and here != self.root and not self.dry_run:
                try:
                    here.rmdir()
                except OSError:
                    continue  # not empty after all (other files, or a new recording)
                emptied.add(here.parent)

    def _sweep_folder(self, here: Path, names: Iterable[str]) -> bool:
        """Purge the old recordings in one folder; True when it purged (or would purge) any."""
        groups: dict[str, list[str]] = {}
        for name in names:
            stem = _recording_stem(name)
            if stem is not None:
                groups.setdefault(stem, []).append(name)
        deleted = False
        for stem, members in sorted(groups.items()):
            deleted |= self._sweep_recording(here, stem, members)
        return deleted

    def _sweep_recording(self, here: Path, stem: str, names: list[str]) -> bool:
        wav = here / (stem + WAV_SUFFIX)
        sizes: dict[Path, int] = {}
        newest = 0.0
        for name in names:
            path = here / name
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                continue  # renamed or deleted meanwhile (metadata being replaced)
            except OSError as exc:
                self.problems.append(f"{self.relative(path)}: cannot be read ({exc.strerror})")
                return False
            if not stat.S_ISREG(info.st_mode):
                # A link may point anywhere; neither it nor its companions are touched.
                self.problems.append(
                    f"{self.relative(path)}: not a regular file; recording left alone"
                )
                return False
            sizes[path] = info.st_size
            newest = max(newest, info.st_mtime)
        if not sizes:
            return False
        if self._ended(here / (stem + METADATA_SUFFIX), newest) >= self.cutoff:
            return False
        for path, size in sorted(sizes.items()):
            if not self.dry_run:
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    self.problems.append(
                        f"{self.relative(path)}: cannot be deleted ({exc.strerror})"
                    )
                    continue
            self.files += 1
            self.bytes += size
        if not self.dry_run and wav.exists():
            return True
        self.recordings.append(self.relative(wav))
        return True

    def _ended(self, metadata: Path, mtime: float) -> datetime:
        """When the recording ended: as its metadata says, else when its files last changed."""
        file_time = datetime.fromtimestamp(mtime, UTC)
        try:
            document = _read_metadata(metadata)
        except FileNotFoundError:
            return file_time
        except (OSError, ValueError) as exc:
            self.problems.append(
                f"{self.relative(metadata)}: metadata unreadable ({exc}); judged by the files' time"
            )
            return file_time
        # "ended" is null while recording and after a crash; then the start is
        # the best known bound (a crashed recording stopped some time after it).
        return _time(document.get("ended")) or _time(document.get("started")) or file_time


def _batches(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _SQL_BATCH):
        yield items[start : start + _SQL_BATCH]


class RecordingService:
    """Lists call recordings with their CDR rows and deletes those past their retention.

    ``directory`` is the recordings directory (``Settings.recording_directory``).
    """

    def __init__(self, *, db: Database, directory: Path) -> None:
        self._db = db
        self._directory = directory

    async def queue_of(self, uniqueid: str) -> str | None:
        """The queue whose agent took the recorded call leg ``uniqueid`` (the queue log's
        CONNECT names it); None for a call that came through no queue."""
        async with self._db.session() as session:
            return await session.scalar(
                select(QueueLogEntry.queuename)
                .where(QueueLogEntry.event == ql.CONNECT, QueueLogEntry.data2 == uniqueid)
                .order_by(QueueLogEntry.id.desc())
                .limit(1)
            )

    @property
    def directory(self) -> Path:
        """The recordings directory."""
        return self._directory

    async def list(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = DEFAULT_LIST_LIMIT,
    ) -> builtins.list[RecordingView]:
        """Recorded calls that started at or after ``since`` and before ``until``, newest first.

        Every call whose CDR row names a recording is listed, whether or not its
        file is still there (``exists`` says).
        """
        for name, value in (("since", since), ("until", until)):
            if value is not None and value.tzinfo is None:
                raise ValidationError(f"{name} must be a timezone-aware time", field=name)
        if limit < 1:
            raise ValidationError("limit must be at least 1", field="limit")
        query = select(Cdr).where(Cdr.recording.is_not(None))
        if since is not None:
            query = query.where(Cdr.start >= since)
        if until is not None:
            query = query.where(Cdr.start < until)
        query = query.order_by(Cdr.start.desc(), Cdr.id.desc()).limit(limit)
        async with self._db.session() as session:
            rows = [_call_row(cdr) for cdr in await session.scalars(query)]
        return await asyncio.to_thread(
            lambda: [_view(self._directory, row, with_metadata=False) for row in rows]
        )

    async def search(self, where: CdrFilter, page: PageRequest) -> Page[RecordingView]:
        """A page of the recorded calls ``where`` selects, by start unless ``page.order`` says.

        Only the page's files are looked at, so a page costs the same however many
        recordings there are.
        """
        query = select(Cdr).where(
            Cdr.recording.is_not(None),
            *where.conditions(),
            *search_conditions(page.search, RECORDING_SEARCHED),
        )
        rows, total = await paged(self._db, query, page, RECORDING_SORTABLE)
        calls = [_call_row(cdr) for cdr in rows]
        views = await asyncio.to_thread(
            lambda: [_view(self._directory, row, with_metadata=False) for row in calls]
        )
        return Page(views, total)

    async def show(self, uniqueid: str) -> RecordingView:
        """The recording of the call ``uniqueid``, with its whole metadata.

        NotFoundError when there is no such call or it was not recorded.
        """
        async with self._db.session() as session:
            cdr = await session.scalar(select(Cdr).where(Cdr.uniqueid == uniqueid))
            if cdr is None:
                raise NotFoundError(
                    f"no call {uniqueid}; see ringfort recording list for recorded calls"
                )
            if cdr.recording is None:
                raise NotFoundError(f"call {uniqueid} has no recording")
            row = _call_row(cdr)
        return await asyncio.to_thread(_view, self._directory, row, with_metadata=True)

    async def purge(
        self, older_than_days: int, *, now: datetime | None = None, dry_run: bool = False
    ) -> PurgeReport:
        """Delete every recording that ended more than ``older_than_days`` days before ``now``.

        The whole directory is walked, so recordings no CDR row names go too.
        A recording ended when its metadata's ``ended`` says, else its
        ``started`` (a recording the server never finished), else when its
        files were last written. Its WAV and metadata are deleted together,
        the CDR rows naming it get ``recording = NULL`` and date folders left
        empty are removed. Links are never followed nor deleted, and a file
        that cannot be read or deleted is reported in ``problems`` while the
        purge goes on. ``dry_run`` changes nothing and reports what would go.
        """
        if older_than_days < 1:
            raise ValidationError(
                f"older_than_days must be at least 1, got {older_than_days}",
                field="older_than_days",
            )
        if now is None:
            now = datetime.now(UTC)
        elif now.tzinfo is None:
            raise ValidationError("now must be a timezone-aware time", field="now")
        sweep = _Sweep(
            root=self._directory.resolve(),
            cutoff=now - timedelta(days=older_than_days),
            dry_run=dry_run,
        )
        await asyncio.to_thread(sweep.run)
        cleared = await self._clear_cdr(sweep.recordings, dry_run=dry_run)
        return PurgeReport(
            cutoff=sweep.cutoff,
            dry_run=dry_run,
            recordings=tuple(sorted(sweep.recordings)),
            files=sweep.files,
            bytes=sweep.bytes,
            cdr_rows_cleared=cleared,
            problems=tuple(sweep.problems),
        )

    async def _clear_cdr(self, paths: Sequence[str], *, dry_run: bool) -> int:
        if not paths:
            return 0
        cleared = 0
        async with self._db.session() as session:
            for batch in _batches(paths):
                named = Cdr.recording.in_(batch)
                cleared += await session.scalar(select(func.count()).where(named)) or 0
                if not dry_run:
                    await session.execute(update(Cdr).where(named).values(recording=None))
            if not dry_run:
                await session.commit()
        return cleared


def _call_row(cdr: Cdr) -> _CallRow:
    assert cdr.recording is not None
    return _CallRow(
        uniqueid=cdr.uniqueid,
        linkedid=cdr.linkedid,
        src=cdr.src,
        dst=cdr.dst,
        start=cdr.start,
        recording=cdr.recording,
    )


class RecordingJanitor:
    """Deletes recordings past their retention: once when started, then every ``interval``.

    ``sleep`` is how it waits (a test hands in one that returns at once).
    """

    def __init__(
        self,
        *,
        recordings: RecordingService,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._recordings = recordings
        self._sleep = sleep

    async def run_forever(self, retention_days: int, interval: float = 86400) -> None:
        """Purge recordings older than ``retention_days`` now and every ``interval`` seconds.

        Returns at once when ``retention_days`` is 0 (recordings are kept for
        ever); otherwise runs until cancelled. A purge that fails is logged and
        tried again at the next interval.
        """
        if retention_days <= 0:
            log.info("recordings are kept for ever (recording.retention_days is 0)")
            return
        while True:
            await self.purge_once(retention_days)
            await self._sleep(interval)

    async def purge_once(self, retention_days: int) -> PurgeReport | None:
        """One purge, logged; None if it failed (the failure is logged)."""
        try:
            report = await self._recordings.purge(retention_days)
        except Exception:
            log.exception("recordings older than %d days could not be purged", retention_days)
            return None
        for problem in report.problems:
            log.warning("recording purge: %s", problem)
        if report.recordings:
            log.info(
                "purged %d recording(s) that ended before %s (%d files, %d bytes);"
                " %d call record(s) no longer name one",
                len(report.recordings),
                report.cutoff.isoformat(timespec="seconds"),
                report.files,
                report.bytes,
                report.cdr_rows_cleared,
            )
        else:
            log.debug("no recordings older than %d days", retention_days)
        return report
