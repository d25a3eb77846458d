"""Music on hold: which folder's music plays, loaded off the event loop and kept up to date."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

from ringfort.media.prompts import SHIPPED_PROMPTS, Clip, PromptNotFoundError, load_file

__all__ = ["RECHECK_SECONDS", "SHIPPED_MUSIC", "MusicOnHold"]

log = logging.getLogger(__name__)

SHIPPED_MUSIC = SHIPPED_PROMPTS / "moh" / "default"
"""The music installed with Ringfort: the last folder to look in."""
RECHECK_SECONDS = 5.0
"""How stale the music may be: folders are looked at again at most this often."""

_Signature = tuple[int, int]
"""A file's modification time (ns) and size: when either changes, the file is read again."""


@dataclass(frozen=True, slots=True)
class _File:
    """What became of one WAV file the last time it was looked at."""

    signature: _Signature
    clip: Clip | None
    """None when it could not be decoded."""


@dataclass(slots=True)
class _Scan:
    """One look through the folders: the music chosen and what to tell the operator."""

    files: dict[Path, _File] = field(default_factory=dict)
    """Every WAV file looked at, usable or not: the cache for the next look."""
    folder: Path | None = None
    """The folder whose music plays, or None if no folder has any."""
    clips: list[Clip] = field(default_factory=list)
    folder_problems: dict[Path, str] = field(default_factory=dict)
    """Folders that exist but cannot be listed, and why."""
    warnings: list[str] = field(default_factory=list)
    """New problems, each to be logged once."""


class MusicOnHold:
    """The music a held or waiting caller hears, from the first of ``folders`` that has any.

    ``folders`` go from the administrator's (``<data_dir>/moh``) to :data:`SHIPPED_MUSIC`
    last.  The first folder holding at least one WAV file (``.wav`` in any case; hidden
    files are passed over) that decodes wins, and its files play in name order, ignoring
    case (``01-intro.wav``, ``02-theme.wav``).  Any WAV Ringfort can read will do: it is
    converted to 8 kHz once, off the event loop, and kept.

    The folders are looked at again at most every ``recheck`` seconds (by ``clock``, a
    monotonic clock): a file added, removed or changed (by modification time or size) is
    picked up with no restart, and only changed files are decoded again.  A file that
    cannot be decoded is passed over with one warning naming it and what is wrong, given
    again only if the file changes.
    """

    def __init__(
        self,
        folders: Sequence[Path],
        *,
        recheck: float = RECHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        executor: Executor | None = None,
    ) -> None:
        self._folders = list(folders)
        self._recheck = recheck
        self._clock = clock
        self._executor = executor
        self._checked_at: float | None = None
        self._last = _Scan()
        self._loading: asyncio.Task[list[Clip]] | None = None

    @property
    def folders(self) -> list[Path]:
        """The folders looked in, first choice first."""
        return list(self._folders)

    @property
    def folder(self) -> Path | None:
        """The folder the music came from at the last look, or None if none had any."""
        return self._last.folder

    async def clips(self) -> list[Clip]:
        """The music to play, in order; [] when no folder holds any usable file.

        With [] the caller gets silence, not ringback: a held caller who hears ringing
        thinks the call is being put through somewhere.  Decoding happens in an
        executor; callers that arrive while the folders are being read share that one
        read, and a caller that is cancelled does not cancel it for the others.
        """
        if self._loading is None:
            checked = self._checked_at
            if checked is not None and self._clock() - checked < self._recheck:
                return list(self._last.clips)
            self._loading = asyncio.create_task(self._refresh())
        return list(await asyncio.shield(self._loading))

    async def _refresh(self) -> list[Clip]:
        try:
            started = self._clock()
            loop = asyncio.get_running_loop()
            previous = self._last
            scan = await loop.run_in_executor(
                self._executor, _look, self._folders, previous.files, previous.folder_problems
            )
            for warning in scan.warnings:
                log.warning("music on hold: %s", warning)
            first = self._checked_at is None
            if first or scan.folder != previous.folder or not _same(scan.clips, previous.clips):
                _log_choice(scan, self._folders)
            self._last = scan
            self._checked_at = started
            return scan.clips
        finally:
            self._loading = None


def _same(new: list[Clip], old: list[Clip]) -> bool:
    # An unchanged file keeps its Clip object: identity says "nothing new" without
    # comparing megabytes of audio.
    return len(new) == len(old) and all(a is b for a, b in zip(new, old, strict=True))


def _log_choice(scan: _Scan, folders: Sequence[Path]) -> None:
    if scan.folder is None:
        searched = ", ".join(str(folder) for folder in folders)
        log.warning(
            "music on hold: no playable WAV file in %s; held callers hear silence", searched
        )
        return
    seconds = sum(clip.duration for clip in scan.clips)
    log.info("music on hold: %d file(s), %.0f s, from %s", len(scan.clips), seconds, scan.folder)


def _look(
    folders: Sequence[Path], known: dict[Path, _File], known_problems: dict[Path, str]
) -> _Scan:
    """List the folders in order and decode what is new or changed (blocking: an executor's)."""
    scan = _Scan()
    for folder in folders:
        try:
            paths = _wav_files(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue  # the administrator's folder need not exist
        except OSError as error:
            problem = f"cannot list {folder}: {error.strerror or error}"
            scan.folder_problems[folder] = problem
            if known_problems.get(folder) != problem:
                scan.warnings.append(problem)
            continue
        clips: list[Clip] = []
        for path in paths:
            loaded = _load(path, known.get(path), scan.warnings)
            if loaded is None:
                continue
            scan.files[path] = loaded
            if loaded.clip is not None:
                clips.append(loaded.clip)
        if clips:
            scan.folder, scan.clips = folder, clips
            break
    return scan


def _wav_files(folder: Path) -> list[Path]:
    paths = [
        path
        for path in folder.iterdir()
        if path.suffix.lower() == ".wav" and not path.name.startswith(".") and path.is_file()
    ]
    return sorted(paths, key=lambda path: (path.name.casefold(), path.name))


def _load(path: Path, known: _File | None, warnings: list[str]) -> _File | None:
    """The file decoded, reusing ``known`` if unchanged; None if it vanished meanwhile."""
    try:
        status = path.stat()
    except OSError:
        return None
    signature = (status.st_mtime_ns, status.st_size)
    if known is not None and known.signature == signature:
        return known
    try:
        return _File(signature, load_file(path))
    except PromptNotFoundError as error:
        warnings.append(f"skipping {error}")
    # A file an operator dropped in must never stop the music for everyone else,
    # whatever the decoder makes of it.
    except Exception as error:
        warnings.append(f"skipping {path}: {type(error).__name__}: {error}")
    return _File(signature, None)
