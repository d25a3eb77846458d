"""The backup archive: a gzip'd tar of the database snapshot and files, with a manifest.

Layout, in this order::

    database.sqlite          the database snapshot (always first)
    node/node.key            the node's nonce secret, when there is one
    recordings/...           one tree per part included, relative to its directory
    voicemail/...
    prompts/...
    moh/...
    manifest.json            format, versions, time, parts, size and SHA-256 of every member

The manifest comes last because each member's checksum is taken of the bytes as they
go into the archive: a recording still being written is archived consistently with
its checksum, however it changes afterwards. A reader therefore verifies while it
extracts and decides only at the end; nothing it extracts is used before then.

Blocking file work: callers in the event loop run these in a thread.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import tarfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from ringfort.errors import RingfortError
from ringfort.settings import BACKUP_PARTS

__all__ = [
    "DATABASE_MEMBER",
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST_MEMBER",
    "NODE_KEY_MEMBER",
    "ArchiveDamagedError",
    "ArchiveWriter",
    "BackupError",
    "Manifest",
    "MemberDigest",
    "Progress",
    "ProgressCallback",
    "check_member_name",
    "describe",
    "read_archive",
]

FORMAT = "ringfort-backup"
FORMAT_VERSION = 1
"""Bumped when a reader of older archives could no longer read a new one."""
DATABASE_MEMBER = "database.sqlite"
NODE_KEY_MEMBER = "node/node.key"
MANIFEST_MEMBER = "manifest.json"
_MAX_MANIFEST_BYTES = 64 << 20
_CHUNK = 1 << 20
_COMPRESS_LEVEL = 6
"""zlib's default: level 9 costs twice the time for a few per cent on recorded audio."""
_PROGRESS_INTERVAL = 0.2


class BackupError(RingfortError):
    """A backup or restore cannot go on; the message says why and what to do."""


class ArchiveDamagedError(BackupError):
    """The archive is not a whole, unaltered Ringfort backup (truncated, corrupted, foreign)."""


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a backup or restore has gone."""

    done_bytes: int
    """Bytes archived (creating) or archive bytes read (restoring)."""
    total_bytes: int
    """What ``done_bytes`` is counting towards."""
    files: int
    """Members written or read so far."""


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True, slots=True)
class MemberDigest:
    """One member of an archive as the manifest lists it."""

    path: str
    """Its name in the archive (``recordings/2026/12/02/x.wav``)."""
    size: int
    sha256: str
    """Hex SHA-256 of its content."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """What an archive says about itself (``manifest.json``)."""

    ringfort_version: str
    """The Ringfort that made it."""
    created_at: datetime
    """When the database snapshot was taken (UTC)."""
    schema_revision: str
    """The database's schema (Alembic) revision in the snapshot."""
    source_database: str
    """``sqlite`` or ``postgresql``: what the snapshot was taken from."""
    parts: tuple[str, ...]
    """The parts besides the database it holds (:data:`ringfort.settings.BACKUP_PARTS`)."""
    members: tuple[MemberDigest, ...]
    format_version: int = FORMAT_VERSION

    @property
    def total_bytes(self) -> int:
        """The size of every member together, uncompressed."""
        return sum(member.size for member in self.members)

    def to_json(self) -> bytes:
        """The manifest's file."""
        document = {
            "format": FORMAT,
            "format_version": self.format_version,
            "ringfort_version": self.ringfort_version,
            "created_at": self.created_at.astimezone(UTC).isoformat(),
            "schema_revision": self.schema_revision,
            "source_database": self.source_database,
            "parts": list(self.parts),
            "members": [{"path": m.path, "size": m.size, "sha256": m.sha256} for m in self.members],
        }
        return json.dumps(document, indent=2).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """Read a manifest; :class:`ArchiveDamagedError` saying what is wrong with it."""
        try:
            document = json.loads(data)
            if not isinstance(document, dict) or document.get("format") != FORMAT:
                raise ArchiveDamagedError("its manifest.json is not a Ringfort backup manifest")
            version = int(document["format_version"])
            if version > FORMAT_VERSION:
                raise ArchiveDamagedError(
                    f"it is in backup format {version}, made by a newer Ringfort"
                    f" ({document.get('ringfort_version')}); this one reads format"
                    f" {FORMAT_VERSION}: restore it with that version or newer"
                )
            created = datetime.fromisoformat(str(document["created_at"]))
            return cls(
                ringfort_version=str(document["ringfort_version"]),
                created_at=created if created.tzinfo else created.replace(tzinfo=UTC),
                schema_revision=str(document["schema_revision"]),
                source_database=str(document["source_database"]),
                parts=tuple(str(part) for part in document["parts"]),
                members=tuple(
                    MemberDigest(str(m["path"]), int(m["size"]), str(m["sha256"]))
                    for m in document["members"]
                ),
                format_version=version,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ArchiveDamagedError(f"its manifest.json cannot be read ({exc})") from None


def check_member_name(name: str) -> str:
    """``name`` if it is one an archive of ours can hold; ArchiveDamagedError otherwise.

    Never an absolute path, ``..``, or anything outside the known tops, so extracting
    cannot write outside the directories being restored.
    """
    path = PurePosixPath(name)
    parts = path.parts
    fine = name in (DATABASE_MEMBER, MANIFEST_MEMBER, NODE_KEY_MEMBER) or (
        len(parts) >= 2
        and parts[0] in BACKUP_PARTS
        and not path.is_absolute()
        and all(part not in ("", ".", "..") for part in parts)
        and "\\" not in name
        and path.as_posix() == name
    )
    if not fine:
        raise ArchiveDamagedError(f"it holds {name!r}, which no Ringfort backup holds")
    return name


class _Throttle:
    """Calls the progress callback at most every few tenths of a second, and at the end."""

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self._callback = callback
        self._total = total
        self._last = 0.0
        self.done = 0
        self.files = 0

    def add(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if self._callback is not None and now - self._last >= _PROGRESS_INTERVAL:
            self._last = now
            self._callback(Progress(self.done, max(self._total, self.done), self.files))

    def finish(self) -> None:
        if self._callback is not None:
            self._callback(Progress(self.done, max(self._total, self.done), self.files))


class _HashingReader:
    """Reads exactly ``size`` bytes of a file for tarfile, hashing what it hands over."""

    def __init__(self, handle: IO[bytes], size: int, name: str, throttle: _Throttle) -> None:
        self._handle = handle
        self._left = size
        self._name = name
        self._throttle = throttle
        self.digest = hashlib.sha256()

    def read(self, count: int = -1) -> bytes:
        count = self._left if count < 0 else min(count, self._left)
        chunks = []
        while count > 0:
            chunk = self._handle.read(count)
            if not chunk:
                raise BackupError(f"{self._name} got shorter while it was being backed up")
            chunks.append(chunk)
            count -= len(chunk)
        data = b"".join(chunks)
        self._left -= len(data)
        self.digest.update(data)
        self._throttle.add(len(data))
        return data


@dataclass
class ArchiveWriter:
    """Writes one archive: members with :meth:`add`, then :meth:`finish` with the manifest.

    Everything goes to a hidden ``.partial`` file beside ``path`` that is renamed to
    ``path`` only when complete and on disk, so a crash, a full disk or Ctrl-C never
    leaves something that looks like a backup. Use it in a ``with``: leaving without
    :meth:`finish` deletes the partial file.
    """

    path: Path
    total_bytes: int = 0
    """For progress: the bytes the members are expected to add up to."""
    progress: ProgressCallback | None = None
    members: list[MemberDigest] = field(default_factory=list)
    _partial: Path = field(init=False)
    _raw: IO[bytes] = field(init=False)
    _gzip: gzip.GzipFile = field(init=False)
    _tar: tarfile.TarFile = field(init=False)
    _throttle: _Throttle = field(init=False)

    def __post_init__(self) -> None:
        self._partial = self.path.with_name(f".{self.path.name}.partial")
        # The archive holds the SIP passwords and the node's secret: owner only.
        fd = os.open(self._partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._raw = os.fdopen(fd, "wb")
        self._gzip = gzip.GzipFile(
            filename="", mode="wb", fileobj=self._raw, compresslevel=_COMPRESS_LEVEL
        )
        # tarfile copies in 16 KiB pieces by default; bigger ones cost fewer calls.
        self._tar = tarfile.TarFile(
            fileobj=self._gzip, mode="w", format=tarfile.PAX_FORMAT, copybufsize=_CHUNK
        )
        self._throttle = _Throttle(self.progress, self.total_bytes)

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._raw.closed:
            self._abandon()

    def _abandon(self) -> None:
        with contextlib.suppress(Exception):
            self._tar.close()
        with contextlib.suppress(Exception):
            self._gzip.close()
        self._raw.close()
        self._partial.unlink(missing_ok=True)

    def add(self, name: str, source: Path) -> MemberDigest | None:
        """Archive the file ``source`` as ``name``; None when it vanished before it was opened."""
        check_member_name(name)
        try:
            handle = source.open("rb")
        except FileNotFoundError:
            return None
        with handle:
            info = os.fstat(handle.fileno())
            member = tarfile.TarInfo(name)
            member.size = info.st_size
            member.mtime = int(info.st_mtime)
            member.mode = info.st_mode & 0o777
            reader = _HashingReader(handle, member.size, str(source), self._throttle)
            self._tar.addfile(member, reader)
        digest = MemberDigest(name, member.size, reader.digest.hexdigest())
        self.members.append(digest)
        self._throttle.files += 1
        return digest

    def finish(self, manifest: Manifest) -> None:
        """Add the manifest, then put the finished archive in place durably."""
        data = manifest.to_json()
        member = tarfile.TarInfo(MANIFEST_MEMBER)
        member.size = len(data)
        member.mtime = int(manifest.created_at.timestamp())
        member.mode = 0o644
        self._tar.addfile(member, _BytesReader(data))
        self._tar.close()
        self._gzip.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        os.replace(self._partial, self.path)
        _sync_directory(self.path.parent)
        self._throttle.finish()


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def read(self, count: int = -1) -> bytes:
        count = len(self._data) if count < 0 else count
        chunk, self._data = self._data[:count], self._data[count:]
        return bytes(chunk)


def _sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX keeps it in the directory's own blocks)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _CountingReader:
    """The archive file, counting the (compressed) bytes read for progress."""

    def __init__(self, handle: IO[bytes], throttle: _Throttle) -> None:
        self._handle = handle
        self._throttle = throttle

    def read(self, count: int = -1) -> bytes:
        data = self._handle.read(count)
        self._throttle.add(len(data))
        return data

    def seek(self, offset: int) -> int:
        """Read forward only: gzip seeks just to rewind, which reading never does."""
        raise OSError("the archive is read once, from start to end")


@contextlib.contextmanager
def _reading_errors(archive: Path) -> Iterator[None]:
    """Turn what the gzip and tar readers raise on bad input into one clear error."""
    try:
        yield
    except EOFError:
        raise ArchiveDamagedError(
            f"{archive} is truncated (it ends before the archive does)"
        ) from None
    except tarfile.ReadError as exc:
        if "unexpected end" in str(exc):
            raise ArchiveDamagedError(
                f"{archive} is truncated (it ends before the archive does)"
            ) from None
        raise ArchiveDamagedError(f"{archive} is damaged ({exc})") from None
    except (gzip.BadGzipFile, zlib.error, tarfile.TarError) as exc:
        raise ArchiveDamagedError(f"{archive} is damaged ({exc})") from None


Destination = Callable[[str], Path | None]
"""Where a member is to be extracted to; None: only checked, not kept."""


def read_archive(
    archive: Path,
    destination: Destination,
    progress: ProgressCallback | None = None,
) -> Manifest:
    """Read the whole archive, extracting each member where ``destination`` says.

    Every member's size and SHA-256 is compared with the manifest, and the gzip
    checksum at the end is read too; any difference, a missing or unexpected member,
    or a truncated file raises :class:`ArchiveDamagedError`. Files already extracted
    are left for the caller to discard: nothing is written outside the paths
    ``destination`` returns.
    """
    try:
        raw = archive.open("rb")
        size = os.fstat(raw.fileno()).st_size
    except OSError as exc:
        raise BackupError(f"cannot read {archive}: {exc.strerror or exc}") from None
    throttle = _Throttle(progress, size)
    seen: dict[str, MemberDigest] = {}
    manifest_data: bytes | None = None
    with raw, _reading_errors(archive):
        compressed = gzip.GzipFile(fileobj=_CountingReader(raw, throttle), mode="rb")
        with tarfile.open(fileobj=compressed, mode="r|") as tar:
            for member in tar:
                name = check_member_name(member.name)
                if not seen and manifest_data is None and name != DATABASE_MEMBER:
                    raise ArchiveDamagedError(
                        f"{archive} is not a Ringfort backup (it starts with {name!r})"
                    )
                if name in seen or (name == MANIFEST_MEMBER and manifest_data is not None):
                    raise ArchiveDamagedError(f"{archive} holds {name} twice")
                if not member.isfile():
                    raise ArchiveDamagedError(f"{archive}: {name} is not a regular file")
                source = tar.extractfile(member)
                assert source is not None  # a regular file always has content
                if name == MANIFEST_MEMBER:
                    if member.size > _MAX_MANIFEST_BYTES:
                        raise ArchiveDamagedError(f"{archive}: its manifest.json is too big")
                    manifest_data = source.read()
                    continue
                seen[name] = _extract(source, destination(name), name, member)
                throttle.files += 1
        # tar stops at its end marker; reading on to the end of the gzip stream
        # makes gzip check its CRC and length, and finds anything appended.
        while compressed.read(_CHUNK):
            pass
    throttle.finish()
    if manifest_data is None:
        raise ArchiveDamagedError(
            f"{archive} has no manifest.json: it was cut short, or is not a Ringfort backup"
        )
    manifest = Manifest.from_json(manifest_data)
    _compare(archive, manifest, seen)
    return manifest


def _extract(
    source: IO[bytes], target: Path | None, name: str, member: tarfile.TarInfo
) -> MemberDigest:
    digest = hashlib.sha256()
    size = 0
    with contextlib.ExitStack() as stack:
        out: IO[bytes] | None = None
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Only the permission bits travel; never set-id or sticky bits from an archive.
            mode = (member.mode & 0o777) or 0o600
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            out = stack.enter_context(os.fdopen(fd, "wb"))
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if out is not None:
                out.write(chunk)
    if target is not None:
        os.utime(target, (member.mtime, member.mtime))
    return MemberDigest(name, size, digest.hexdigest())


def _compare(archive: Path, manifest: Manifest, seen: dict[str, MemberDigest]) -> None:
    listed = {member.path: member for member in manifest.members}
    missing = sorted(listed.keys() - seen.keys())
    if missing:
        raise ArchiveDamagedError(
            f"{archive} is damaged: {len(missing)} file(s) its manifest lists are missing"
            f" ({missing[0]}{', ...' if len(missing) > 1 else ''})"
        )
    extra = sorted(seen.keys() - listed.keys())
    if extra:
        raise ArchiveDamagedError(
            f"{archive} is damaged: it holds {extra[0]}, which its manifest does not list"
        )
    for name, found in seen.items():
        if found != listed[name]:
            raise ArchiveDamagedError(
                f"{archive} is damaged: {name} does not match its checksum in the manifest"
            )
    if DATABASE_MEMBER not in seen:
        raise ArchiveDamagedError(f"{archive} holds no database")


def describe(manifest: Manifest) -> dict[str, Any]:
    """The manifest as plain values for printing or JSON, without the member list."""
    return {
        "ringfort_version": manifest.ringfort_version,
        "created_at": manifest.created_at.isoformat(),
        "schema_revision": manifest.schema_revision,
        "source_database": manifest.source_database,
        "parts": list(manifest.parts),
        "files": len(manifest.members),
        "bytes": manifest.total_bytes,
    }
