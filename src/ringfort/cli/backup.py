"""``ringfort backup``: one archive of the whole node, and putting it back."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from ringfort.cli.output import (
    EXIT_FAILURE,
    EXIT_USER_ERROR,
    fail,
    format_time,
    print_json,
    print_table,
)
from ringfort.cli.state import state_of
from ringfort.errors import RingfortError
from ringfort.services.backup import BackupLayout, BackupService, RestoreRefusedError
from ringfort.services.backup_archive import Progress, describe
from ringfort.settings import BACKUP_PARTS, Settings, backup_parts

T = TypeVar("T")

app = typer.Typer(
    help="Back up the database, voicemail, recordings, prompts and music on hold into one"
    " archive, and restore it. Backups run while the server runs; a restore needs it stopped."
    " The server also makes them on a schedule (RINGFORT_BACKUP__SCHEDULE).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

PROGRESS_ALWAYS_BYTES = 64 << 20
"""Above this much, progress is printed even when stderr is not a terminal (into a log)."""


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


class _ProgressPrinter:
    """Progress on stderr: one line redrawn on a terminal, a line per tenth elsewhere."""

    def __init__(self, verb: str, *, enabled: bool | None) -> None:
        self._verb = verb
        self._enabled = enabled
        self._terminal = sys.stderr.isatty()
        self._drawn = False
        self._last_tenth = -1

    def __call__(self, progress: Progress) -> None:
        big = progress.total_bytes >= PROGRESS_ALWAYS_BYTES
        if self._enabled is False or (self._enabled is None and not (self._terminal or big)):
            return
        percent = 100 * progress.done_bytes // max(progress.total_bytes, 1)
        line = (
            f"{self._verb}: {percent:3d}%  {_size(progress.done_bytes)} of"
            f" {_size(progress.total_bytes)}, {progress.files} files"
        )
        if self._terminal:
            sys.stderr.write(f"\r{line}\033[K")
            sys.stderr.flush()
            self._drawn = True
        elif percent // 10 > self._last_tenth:
            self._last_tenth = percent // 10
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    def done(self) -> None:
        """End the redrawn line so what follows starts on its own."""
        if self._drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._drawn = False


def _settings(ctx: typer.Context) -> Settings:
    return state_of(ctx).settings()


def _service(settings: Settings) -> BackupService:
    return BackupService(
        layout=BackupLayout.from_settings(settings), directory=settings.backup_directory
    )


def _run(coroutine: Coroutine[Any, Any, T], printer: _ProgressPrinter | None = None) -> T:
    try:
        return asyncio.run(coroutine)
    except RestoreRefusedError as exc:
        raise fail(str(exc), code=EXIT_USER_ERROR) from None
    except RingfortError as exc:
        raise fail(str(exc), code=EXIT_FAILURE) from None
    finally:
        if printer is not None:
            printer.done()


def _parts(text: str | None, settings: Settings) -> tuple[str, ...]:
    if text is None:
        return settings.backup.parts
    try:
        return backup_parts(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--include") from None


ProgressOption = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        help="Show progress on stderr; default: on a terminal, or for archives over 64 MB.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@app.command("create")
def create(
    ctx: typer.Context,
    to: Annotated[
        Path | None,
        typer.Option(
            "--to",
            metavar="DIR",
            help="Write the archive here; default RINGFORT_BACKUP__DIRECTORY, or the data"
            " directory's backups/.",
            show_default=False,
        ),
    ] = None,
    include: Annotated[
        str | None,
        typer.Option(
            "--include",
            metavar="PARTS",
            help=f"Besides the database (always there), a comma list of: {', '.join(BACKUP_PARTS)};"
            " 'none' for the database only. Default: RINGFORT_BACKUP__INCLUDE, which is all.",
            show_default=False,
        ),
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep",
            min=1,
            metavar="N",
            help="Then delete the archives in that directory beyond the newest N.",
            show_default=False,
        ),
    ] = None,
    progress: ProgressOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write a new archive: a snapshot of the database and copies of the files.

    Safe while the server runs. The archive is named ringfort-backup-<UTC time>.tar.gz,
    readable by its owner only (it holds the SIP passwords), and appears only once
    complete.
    """
    settings = _settings(ctx)
    parts = _parts(include, settings)
    service = _service(settings)
    printer = _ProgressPrinter("backing up", enabled=progress)
    result = _run(service.create(parts=parts, directory=to, progress=printer), printer)
    removed = service.prune(keep, result.path.parent) if keep is not None else []
    manifest = result.manifest
    if as_json:
        print_json(
            {
                "archive": str(result.path),
                "size": result.size,
                "seconds": round(result.seconds, 3),
                **describe(manifest),
                "removed": [str(path) for path in removed],
            }
        )
        return
    typer.echo(f"backup: {result.path}")
    typer.echo(
        f"  database at schema {manifest.schema_revision} ({manifest.source_database}),"
        f" {len(manifest.members) - 1} files; {_size(manifest.total_bytes)},"
        f" {_size(result.size)} compressed, in {result.seconds:.1f} s"
    )
    typer.echo(f"  parts: {', '.join(('database', *manifest.parts))}")
    if removed:
        typer.echo(f"  deleted {len(removed)} older backup(s), keeping the newest {keep}")


@app.command("restore")
def restore(
    ctx: typer.Context,
    archive: Annotated[Path, typer.Argument(help="The archive (ringfort-backup-*.tar.gz).")],
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Go ahead when the data directory (or database) already holds data; it is"
            " kept as <data dir>.before-restore-<time>, except a PostgreSQL database, which is"
            " replaced in place.",
        ),
    ] = False,
    progress: ProgressOption = None,
    as_json: JsonOption = False,
) -> None:
    """Put a node's data back from an archive, into the data directory of --data-dir.

    The whole archive is checked first (manifest, every checksum) and restored into a
    new directory beside the data directory; an older database is migrated there, and
    only then does it take the data directory's place. A damaged archive, or one from
    a newer Ringfort, is refused and nothing changes. Stop the server first.
    """
    settings = _settings(ctx)
    printer = _ProgressPrinter("restoring", enabled=progress)
    result = _run(_service(settings).restore(archive, replace=replace, progress=printer), printer)
    manifest = result.manifest
    if as_json:
        print_json(
            {
                "archive": str(result.archive),
                "data_dir": str(settings.data_dir.resolve()),
                **describe(manifest),
                "migrated_to": result.schema_revision,
                "previous": [str(path) for path in result.previous],
                "carried_over": list(result.carried_over),
                "seconds": round(result.seconds, 3),
            }
        )
        return
    typer.echo(f"restored {result.archive}")
    typer.echo(
        f"  made {format_time(manifest.created_at)} by Ringfort {manifest.ringfort_version}:"
        f" {len(manifest.members) - 1} files, {_size(manifest.total_bytes)}"
    )
    migrated = (
        f"migrated from {manifest.schema_revision}"
        if manifest.schema_revision != result.schema_revision
        else "as it was"
    )
    typer.echo(
        f"  into {settings.data_dir.resolve()}: database at schema {result.schema_revision}"
        f" ({migrated}), in {result.seconds:.1f} s"
    )
    for path in result.previous:
        typer.echo(f"  the data it replaced is in {path}")
    if result.carried_over:
        typer.echo(f"  kept from the old data directory: {', '.join(result.carried_over)}")


@app.command("verify")
def verify(
    ctx: typer.Context,
    archive: Annotated[Path, typer.Argument(help="The archive to check.")],
    progress: ProgressOption = None,
    as_json: JsonOption = False,
) -> None:
    """Read an archive through and check it as a restore would, changing nothing."""
    settings = _settings(ctx)
    printer = _ProgressPrinter("checking", enabled=progress)
    manifest = _run(_service(settings).verify(archive, progress=printer), printer)
    if as_json:
        print_json({"archive": str(archive), "ok": True, **describe(manifest)})
        return
    typer.echo(
        f"{archive}: ok, made {format_time(manifest.created_at)} by Ringfort"
        f" {manifest.ringfort_version}; database at schema {manifest.schema_revision}"
        f" ({manifest.source_database}), parts: {', '.join(('database', *manifest.parts))};"
        f" {len(manifest.members) - 1} files, {_size(manifest.total_bytes)}"
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            metavar="DIR",
            help="Look here; default the backup directory.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the archives in the backup directory, newest first (times are UTC)."""
    service = _service(_settings(ctx))
    found = service.archives(directory)
    if as_json:
        print_json(
            [
                {"archive": str(info.path), "size": info.size, "created_at": info.created_at}
                for info in found
            ]
        )
    elif not found:
        typer.echo(f"no backups in {directory or service.directory}")
    else:
        print_table(
            ("CREATED", "SIZE", "ARCHIVE"),
            [(format_time(info.created_at), _size(info.size), info.path) for info in found],
        )
