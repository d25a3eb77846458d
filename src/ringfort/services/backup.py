"""Backup and restore of a node: the database, voicemail, recordings, prompts and music.

``create`` writes one archive (see :mod:`ringfort.services.backup_archive`) while the
server runs. ``restore`` never half-applies one: the whole archive is extracted and
checked into a new directory beside the data directory, its database is migrated
there (or, for PostgreSQL, loaded in one transaction), and only then are the
directories switched by rename, the old ones kept as ``<name>.before-restore-<time>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import ringfort
from ringfort.db.engine import async_url, is_sqlite, sqlite_path
from ringfort.services.backup_archive import (
    DATABASE_MEMBER,
    NODE_KEY_MEMBER,
    ArchiveDamagedError,
    ArchiveWriter,
    BackupError,
    Manifest,
    ProgressCallback,
    read_archive,
)
from ringfort.services.backup_database import (
    check_known_revision,
    database_holds_data,
    load_into_postgresql,
    snapshot_database,
    snapshot_revision,
    upgrade_sqlite,
)
from ringfort.services.data_directory import LOCK_FILE, DataDirectoryLock
from ringfort.settings import BACKUP_PARTS, Settings

__all__ = [
    "ArchiveInfo",
    "BackupLayout",
    "BackupResult",
    "BackupService",
    "RestoreRefusedError",
    "RestoreResult",
]

ARCHIVE_PATTERN = re.compile(r"ringfort-backup-(\d{8}T\d{6}Z)(?:-(\d+))?\.tar\.gz")
"""The names ``create`` gives archives; retention deletes nothing else."""
NODE_KEY = "node.key"
_SQLITE_SIDECARS = ("-wal", "-shm", "-journal")


class RestoreRefusedError(BackupError):
    """The restore would replace existing data and was not told to."""


@dataclass(frozen=True, slots=True)
class BackupLayout:
    """Where a node keeps what a backup holds."""

    data_dir: Path
    database_url: str
    parts: Mapping[str, Path]
    """The directory of each part (:data:`ringfort.settings.BACKUP_PARTS`)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> BackupLayout:
        """The layout the settings describe."""
        return cls(
            data_dir=settings.data_dir,
            database_url=settings.effective_database_url,
            parts={
                "recordings": settings.recording_directory,
                "voicemail": settings.voicemail_directory,
                "prompts": settings.prompts_directory,
                "moh": settings.moh_directory,
            },
        )


@dataclass(frozen=True, slots=True)
class BackupResult:
    """An archive just written."""

    path: Path
    size: int
    """The archive's size (compressed)."""
    manifest: Manifest
    seconds: float
    """How long it took."""


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What a restore did."""

    archive: Path
    manifest: Manifest
    schema_revision: str
    """The schema the restored database is at now (this Ringfort's head)."""
    previous: tuple[Path, ...]
    """Where the replaced data was moved (``*.before-restore-<time>``); empty if none."""
    carried_over: tuple[str, ...]
    """Entries of the data directory a backup does not hold, moved into the new one."""
    seconds: float


@dataclass(frozen=True, slots=True)
class ArchiveInfo:
    """An archive in a backup directory."""

    path: Path
    size: int
    created_at: datetime
    """From its name (UTC)."""


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _walk_files(root: Path, skip: Path | None) -> Iterator[tuple[str, Path]]:
    """Every regular file under ``root`` as (relative POSIX path, path), sorted.

    Symbolic links are not followed: a link could lead anywhere, and restoring its
    target's content in its place would change what it is.
    """
    if not root.is_dir():
        return
    for directory, dirnames, filenames in os.walk(root):
        here = Path(directory)
        dirnames[:] = sorted(d for d in dirnames if skip is None or here / d != skip)
        for name in sorted(filenames):
            path = here / name
            if path.is_file() and not path.is_symlink():
                yield path.relative_to(root).as_posix(), path


def _existing_file(path: Path) -> Path:
    absolute = path.absolute()
    if not absolute.is_file():
        raise BackupError(f"{absolute}: no such file")
    return absolute


class _RestorePlan:
    """The new copies a restore builds beside the live ones, and the switch between them."""

    def __init__(self, layout: BackupLayout, stamp: str) -> None:
        self.stamp = stamp
        self.data_dir = layout.data_dir.resolve()
        self.staged_data = self._beside(self.data_dir, "restore")
        self.part_roots: dict[str, Path] = {}
        self.outside_parts: dict[str, tuple[Path, Path]] = {}
        for part, directory in layout.parts.items():
            live = directory.resolve()
            if live.is_relative_to(self.data_dir):
                self.part_roots[part] = self.staged_data / live.relative_to(self.data_dir)
            else:
                self.part_roots[part] = self._beside(live, "restore")
                self.outside_parts[part] = (live, self.part_roots[part])
        self.sqlite_live: Path | None = None
        self.outside_database: list[tuple[Path, Path | None]] = []
        url = layout.database_url
        path = sqlite_path(url) if is_sqlite(url) else None
        if path is None:
            # PostgreSQL: the snapshot is only read, from inside the staged directory.
            self.database = self.staged_data / f".{DATABASE_MEMBER}"
            return
        live = path.resolve()
        self.sqlite_live = live
        if live.is_relative_to(self.data_dir):
            self.database = self.staged_data / live.relative_to(self.data_dir)
            return
        self.database = self._beside(live, "restore")
        self.outside_database.append((live, self.database))
        # A WAL left beside a new database file would be replayed into it: it moves
        # away with the old file.
        self.outside_database += [
            (live.with_name(live.name + suffix), None) for suffix in _SQLITE_SIDECARS
        ]

    def _beside(self, live: Path, what: str) -> Path:
        return live.with_name(f"{live.name}.{what}-{self.stamp}")

    def kept(self, live: Path) -> Path:
        """Where the live copy goes when it is replaced."""
        return self._beside(live, "before-restore")

    def destination(self, member: str) -> Path:
        """Where an archive member goes in the staged copies."""
        if member == DATABASE_MEMBER:
            return self.database
        if member == NODE_KEY_MEMBER:
            return self.staged_data / NODE_KEY
        part, _, rest = member.partition("/")
        return self.part_roots[part] / rest

    def prepare(self) -> None:
        """Create the (new, empty) directories to restore into."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.staged_data.mkdir()
        for _, staged in self.outside_parts.values():
            staged.mkdir()
        self.database.parent.mkdir(parents=True, exist_ok=True)

    def discard(self) -> None:
        """Delete whatever was staged (after a failure, before anything was switched)."""
        shutil.rmtree(self.staged_data, ignore_errors=True)
        for _, staged in self.outside_parts.values():
            shutil.rmtree(staged, ignore_errors=True)
        for _, staged_file in self.outside_database:
            if staged_file is not None:
                staged_file.unlink(missing_ok=True)

    def switch(self, parts: Sequence[str]) -> list[Path]:
        """Put the staged copies in place of the live ones; returns where old ones went.

        Parts the archive holds replace the live ones even when empty; a part outside
        the data directory that it does not hold stays as it is. Each switch is two
        renames; if one fails, those done are undone, so the node is all old or all new.
        """
        swaps: list[tuple[Path, Path | None]] = [(self.data_dir, self.staged_data)]
        for part in parts:
            self.part_roots[part].mkdir(parents=True, exist_ok=True)
        for part, (live_part, staged_part) in self.outside_parts.items():
            if part in parts:
                swaps.append((live_part, staged_part))
            else:
                shutil.rmtree(staged_part, ignore_errors=True)
        swaps += self.outside_database
        done: list[tuple[Path, Path | None, Path | None]] = []
        try:
            for live, staged in swaps:
                kept = None
                if os.path.lexists(live):
                    kept = self.kept(live)
                    os.rename(live, kept)
                done.append((live, staged, kept))
                if staged is not None:
                    os.rename(staged, live)
        except OSError as exc:
            for live, staged, kept in reversed(done):
                if staged is not None and os.path.lexists(live):
                    os.rename(live, staged)
                if kept is not None:
                    os.rename(kept, live)
            raise BackupError(
                f"cannot put the restored copy in place of {exc.filename}: {exc.strerror};"
                " nothing was changed (the data directory's parent must be writable, and"
                " the data directory must not be a mount point)"
            ) from None
        return [kept for _, _, kept in done if kept is not None]

    def carry_over(self, previous: Path) -> list[str]:
        """Move what a backup does not hold (the backups folder, ...) into the new directory."""
        skip = {LOCK_FILE}
        if self.sqlite_live is not None and self.sqlite_live.is_relative_to(self.data_dir):
            name = self.sqlite_live.relative_to(self.data_dir).parts[0]
            skip.update({name, *(name + suffix for suffix in _SQLITE_SIDECARS)})
        moved = []
        for entry in sorted(previous.iterdir()):
            target = self.data_dir / entry.name
            if entry.name in skip or os.path.lexists(target):
                continue
            os.rename(entry, target)
            moved.append(entry.name)
        return moved


class BackupService:
    """Makes archives of a node, restores them, and keeps a backup directory trimmed."""

    def __init__(self, *, layout: BackupLayout, directory: Path) -> None:
        self._layout = layout
        self._directory = directory

    @property
    def directory(self) -> Path:
        """Where archives go unless told otherwise."""
        return self._directory

    async def create(
        self,
        *,
        parts: Sequence[str] = BACKUP_PARTS,
        directory: Path | None = None,
        progress: ProgressCallback | None = None,
        now: datetime | None = None,
    ) -> BackupResult:
        """Write a new archive of the database and ``parts`` into ``directory``.

        Safe while the server runs: the database is a snapshot of one moment; files
        are archived after it, so a message left meanwhile may be in the files but not
        yet in the database (never the reverse, unless it is deleted meanwhile).
        """
        started = time.monotonic()
        unknown = set(parts) - set(BACKUP_PARTS)
        if unknown:
            raise BackupError(f"unknown backup part {sorted(unknown)[0]}")
        target_dir = (directory or self._directory).resolve()
        try:
            target_dir.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=".ringfort-backup-", dir=target_dir))
        except OSError as exc:
            raise BackupError(f"cannot write to {target_dir}: {exc.strerror or exc}") from None
        try:
            moment = now or datetime.now(UTC)
            snapshot = work / DATABASE_MEMBER
            revision = await snapshot_database(self._layout.database_url, snapshot)
            path = self._new_archive_path(target_dir, moment)
            files = self._files(parts, skip=target_dir)
            manifest = await asyncio.to_thread(
                self._write, path, snapshot, files, parts, revision, moment, progress
            )
        except OSError as exc:
            raise BackupError(f"cannot write the backup: {exc}") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return BackupResult(path, path.stat().st_size, manifest, time.monotonic() - started)

    def _new_archive_path(self, directory: Path, moment: datetime) -> Path:
        stem = f"ringfort-backup-{_stamp(moment)}"
        path = directory / f"{stem}.tar.gz"
        counter = 1
        while path.exists():
            counter += 1
            path = directory / f"{stem}-{counter}.tar.gz"
        return path

    def _files(self, parts: Sequence[str], *, skip: Path) -> list[tuple[str, Path]]:
        files: list[tuple[str, Path]] = []
        node_key = self._layout.data_dir / NODE_KEY
        if node_key.is_file():
            files.append((NODE_KEY_MEMBER, node_key))
        for part in BACKUP_PARTS:
            if part in parts:
                root = self._layout.parts[part]
                files += [(f"{part}/{name}", path) for name, path in _walk_files(root, skip)]
        return files

    def _write(
        self,
        path: Path,
        snapshot: Path,
        files: list[tuple[str, Path]],
        parts: Sequence[str],
        revision: str,
        moment: datetime,
        progress: ProgressCallback | None,
    ) -> Manifest:
        total = snapshot.stat().st_size
        for _, file in files:
            with contextlib.suppress(FileNotFoundError):
                total += file.stat().st_size
        with ArchiveWriter(path, total_bytes=total, progress=progress) as writer:
            writer.add(DATABASE_MEMBER, snapshot)
            for name, file in files:
                writer.add(name, file)
            manifest = Manifest(
                ringfort_version=ringfort.__version__,
                created_at=moment,
                schema_revision=revision,
                source_database=async_url(self._layout.database_url).get_backend_name(),
                parts=tuple(part for part in BACKUP_PARTS if part in parts),
                members=tuple(writer.members),
            )
            writer.finish(manifest)
        return manifest

    async def verify(self, archive: Path, *, progress: ProgressCallback | None = None) -> Manifest:
        """Read the whole archive and check it as a restore would, without restoring it.

        Also refuses (:class:`~ringfort.services.backup_database.SchemaTooNewError`) an
        archive this Ringfort could not restore.
        """
        manifest = await asyncio.to_thread(read_archive, archive, lambda _: None, progress)
        check_known_revision(manifest.schema_revision)
        return manifest

    async def restore(
        self,
        archive: Path,
        *,
        replace: bool = False,
        progress: ProgressCallback | None = None,
        now: datetime | None = None,
    ) -> RestoreResult:
        """Replace the node's data with the archive's; see the module's note on how.

        Refuses (:class:`RestoreRefusedError`) to replace a database or files that are
        there unless ``replace``, and refuses while a server runs on the data directory.
        Any failure before the switch leaves everything as it was.
        """
        started = time.monotonic()
        archive = _existing_file(archive)
        stamp = _stamp(now or datetime.now(UTC))
        plan = _RestorePlan(self._layout, stamp)
        with DataDirectoryLock(plan.data_dir) as lock:
            if plan.data_dir.is_dir():
                lock.hold_exclusive()
            if not replace and await self._holds_data():
                raise RestoreRefusedError(
                    f"{plan.data_dir} already holds Ringfort data; a restore replaces it (the"
                    f" current data is kept as {plan.kept(plan.data_dir).name}): add --replace"
                    " to go ahead"
                )
            try:
                plan.prepare()
            except OSError as exc:
                raise BackupError(f"cannot restore beside {plan.data_dir}: {exc}") from None
            try:
                manifest = await asyncio.to_thread(
                    read_archive, archive, plan.destination, progress
                )
                revision = snapshot_revision(plan.database)
                if revision != manifest.schema_revision:
                    raise ArchiveDamagedError(
                        f"{archive} is damaged: its database is at revision {revision}, its"
                        f" manifest says {manifest.schema_revision}"
                    )
                check_known_revision(revision)
                if plan.sqlite_live is None:
                    head = await load_into_postgresql(plan.database, self._layout.database_url)
                    plan.database.unlink()
                else:
                    head = await upgrade_sqlite(plan.database)
                previous = plan.switch(manifest.parts)
            except BaseException:
                plan.discard()
                raise
            carried: list[str] = []
            old = plan.kept(plan.data_dir)
            if old in previous:
                carried = plan.carry_over(old)
                if {entry.name for entry in old.iterdir()} <= {LOCK_FILE}:
                    # Nothing was there but what came over: no old copy to keep.
                    (old / LOCK_FILE).unlink(missing_ok=True)
                    old.rmdir()
                    previous.remove(old)
        return RestoreResult(
            archive=archive,
            manifest=manifest,
            schema_revision=head,
            previous=tuple(previous),
            carried_over=tuple(carried),
            seconds=time.monotonic() - started,
        )

    async def _holds_data(self) -> bool:
        if await database_holds_data(self._layout.database_url):
            return True
        return any(any(_walk_files(root, None)) for root in self._layout.parts.values())

    def archives(self, directory: Path | None = None) -> list[ArchiveInfo]:
        """The archives ``create`` made in ``directory``, newest first."""
        found = []
        root = directory or self._directory
        if not root.is_dir():
            return []
        for path in root.iterdir():
            match = ARCHIVE_PATTERN.fullmatch(path.name)
            if match is None:
                continue
            try:
                # A running server's schedule may prune an archive between the
                # directory listing and this look at it: such a file is gone, not an error.
                status = path.stat()
            except FileNotFoundError:
                continue
            if not stat.S_ISREG(status.st_mode):
                continue
            created = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            found.append((created, int(match.group(2) or 1), path, status.st_size))
        found.sort(reverse=True)
        return [ArchiveInfo(path, size, created) for created, _, path, size in found]

    def prune(self, keep: int, directory: Path | None = None) -> list[Path]:
        """Delete the archives beyond the newest ``keep``; returns those deleted.

        Only files named as ``create`` names archives are counted or deleted.
        """
        if keep < 1:
            raise BackupError("keep at least one backup")
        removed = []
        for info in self.archives(directory)[keep:]:
            info.path.unlink(missing_ok=True)
            removed.append(info.path)
        return removed
