"""``ringfort recording``: which calls are recorded, the recordings there are, deleting old ones."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from ringfort.cli.output import (
    EXIT_USER_ERROR,
    fail,
    format_time,
    print_json,
    print_table,
    to_record,
)
from ringfort.cli.state import run_with_database, state_of
from ringfort.services.database import Database
from ringfort.services.recording_rules import (
    RecordingRuleRecord,
    RecordingRuleService,
    RuleDirection,
    RuleKind,
)
from ringfort.services.recordings import (
    DEFAULT_LIST_LIMIT,
    PurgeReport,
    RecordingService,
    RecordingView,
)

app = typer.Typer(
    help=(
        "Call recordings: the rules that choose which calls are recorded, the recordings"
        " there are (WAV files with JSON metadata under the recordings directory, default"
        " DATA_DIR/recordings or RINGFORT_RECORDING__DIRECTORY) and deleting old ones."
        " See docs/recording.md."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)
rule_app = typer.Typer(
    help=(
        "Manage recording rules. A call is recorded from its answer when any rule matches it:"
        " an extension's calls (out, in or both), calls to a number, or calls to numbers"
        " starting with a prefix. Either party can also start or pause a recording during a"
        " call with the toggle key (*1). A change reaches a running server within 2 seconds."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(rule_app, name="rule")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _parse_time(text: str, option: str) -> datetime:
    """An ISO 8601 date or time; one without an offset is local time."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise fail(
            f"{option}: expected an ISO 8601 date or time (2026-11-22 or"
            f" 2026-11-22T08:00+02:00), got {text!r}"
        ) from None
    # astimezone() reads a naive time as local time, which is what a person typing it means.
    return value.astimezone()


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def _seconds(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}"


@rule_app.command("add")
def rule_add(
    ctx: typer.Context,
    extension: Annotated[
        str | None,
        typer.Option(
            "--extension",
            metavar="NUMBER",
            help="Record this extension's calls (which ones: --direction).",
            show_default=False,
        ),
    ] = None,
    direction: Annotated[
        RuleDirection | None,
        typer.Option(
            "--direction",
            help="With --extension: calls it makes (out), calls to it (in) or both."
            " [default: both]",
            show_default=False,
        ),
    ] = None,
    number: Annotated[
        str | None,
        typer.Option(
            "--number",
            metavar="NUMBER",
            help="Record every call to exactly this number.",
            show_default=False,
        ),
    ] = None,
    prefix: Annotated[
        str | None,
        typer.Option(
            "--prefix",
            metavar="DIGITS",
            help="Record every call to a number starting with these digits, e.g. 00 for"
            " international calls.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Add a rule: give exactly one of --extension, --number or --prefix.

    \b
    Examples:
      ringfort recording rule add --extension 101
      ringfort recording rule add --extension 102 --direction in
      ringfort recording rule add --prefix 00
    """
    settings = state_of(ctx).settings()
    given = [
        (kind, target)
        for kind, target in (
            (RuleKind.EXTENSION, extension),
            (RuleKind.NUMBER, number),
            (RuleKind.PREFIX, prefix),
        )
        if target is not None
    ]
    if len(given) != 1:
        raise fail("give exactly one of --extension, --number or --prefix")
    kind, target = given[0]
    if direction is not None and kind is not RuleKind.EXTENSION:
        raise fail(f"--direction goes with --extension only; a {kind} rule records every call")

    async def action(db: Database) -> RecordingRuleRecord:
        return await RecordingRuleService(db=db).add(kind, target, direction or RuleDirection.BOTH)

    rule = run_with_database(settings, action)
    typer.echo(f"added rule {rule.id}: record {rule.describe()}")


@rule_app.command("list")
def rule_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the recording rules with their ids."""
    settings = state_of(ctx).settings()

    async def action(db: Database) -> list[RecordingRuleRecord]:
        return await RecordingRuleService(db=db).list()

    rules = run_with_database(settings, action)
    if as_json:
        print_json([to_record(rule) for rule in rules])
    elif not rules:
        typer.echo(
            "no recording rules; add one with: ringfort recording rule add --extension NUMBER"
        )
    else:
        print_table(
            ("ID", "KIND", "TARGET", "DIRECTION", "RECORDS"),
            [(rule.id, rule.kind, rule.target, rule.direction, rule.describe()) for rule in rules],
        )


@rule_app.command("delete")
def rule_delete(
    ctx: typer.Context,
    rule_id: Annotated[
        int,
        typer.Argument(
            metavar="ID", help="The rule's id, as rule list shows it.", show_default=False
        ),
    ],
) -> None:
    """Delete a recording rule. Calls already being recorded go on being recorded."""
    settings = state_of(ctx).settings()

    async def action(db: Database) -> RecordingRuleRecord:
        return await RecordingRuleService(db=db).delete(rule_id)

    rule = run_with_database(settings, action)
    typer.echo(f"deleted rule {rule.id} ({rule.describe()})")


@app.command("list")
def list_(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="ISO",
            help="Only calls that started at or after this time (local time unless it has an"
            " offset).",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="ISO",
            help="Only calls that started before this time (local time unless it has an offset).",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int,
        typer.Option("--limit", metavar="N", min=1, help="Print at most this many recordings."),
    ] = DEFAULT_LIST_LIMIT,
    as_json: JsonOption = False,
) -> None:
    """List recorded calls, newest first, with their files. Times are UTC.

    A call whose file is gone (deleted by hand, or never written) is listed as
    "missing".
    """
    settings = state_of(ctx).settings()
    start = None if since is None else _parse_time(since, "since")
    end = None if until is None else _parse_time(until, "until")

    async def action(db: Database) -> list[RecordingView]:
        return await RecordingService(db=db, directory=settings.recording_directory).list(
            since=start, until=end, limit=limit
        )

    recordings = run_with_database(settings, action)
    if as_json:
        print_json([to_record(recording) for recording in recordings])
    elif not recordings:
        typer.echo("no recordings")
    else:
        print_table(
            ("START", "UNIQUEID", "SRC", "DST", "SECONDS", "PAUSES", "SIZE", "FILE"),
            [
                (
                    format_time(recording.start),
                    recording.uniqueid,
                    recording.src,
                    recording.dst,
                    _seconds(recording.seconds),
                    len(recording.pauses),
                    _size(recording.size),
                    recording.path if recording.exists else f"{recording.path} (missing)",
                )
                for recording in recordings
            ],
        )


@app.command("show")
def show(
    ctx: typer.Context,
    uniqueid: Annotated[
        str,
        typer.Argument(
            metavar="UNIQUEID",
            help="The call's uniqueid, as recording list or cdr list shows it.",
            show_default=False,
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Show one call's recording: its file, how long it is and where it was paused."""
    settings = state_of(ctx).settings()

    async def action(db: Database) -> RecordingView:
        return await RecordingService(db=db, directory=settings.recording_directory).show(uniqueid)

    recording = run_with_database(settings, action)
    if as_json:
        print_json(to_record(recording))
        return
    typer.echo(f"call: {recording.uniqueid} (linkedid {recording.linkedid})")
    typer.echo(f"from {recording.src} to {recording.dst}, started {format_time(recording.start)}")
    state = f"{_size(recording.size)}" if recording.exists else "missing"
    typer.echo(f"file: {recording.file} ({state})")
    if recording.problem:
        typer.echo(f"problem: {recording.problem}")
    if recording.channels is not None:
        layout = "stereo, caller left, callee right" if recording.channels == 2 else "mono"
        typer.echo(f"channels: {recording.channels} ({layout})")
    if recording.started is not None:
        ended = format_time(recording.ended) if recording.ended else "not finished"
        typer.echo(f"recorded: {format_time(recording.started)} to {ended}")
    typer.echo(f"seconds of audio: {_seconds(recording.seconds)}")
    if not recording.pauses:
        typer.echo("pauses: none")
        return
    typer.echo("pauses:")
    for pause in recording.pauses:
        until = format_time(pause.ended) if pause.ended else "the end"
        typer.echo(
            f"  at {pause.at:.1f} s: {pause.seconds:.1f} s of {pause.reason or 'pause'}"
            f" ({format_time(pause.started)} to {until})"
        )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _print_purge(report: PurgeReport, days: int) -> None:
    typer.echo(
        f"{'would delete' if report.dry_run else 'deleted'}"
        f" {_count(len(report.recordings), 'recording')} that ended more than"
        f" {_count(days, 'day')} ago (before {format_time(report.cutoff)}):"
        f" {_count(report.files, 'file')}, {_size(report.bytes)}"
    )
    rows = _count(report.cdr_rows_cleared, "call record")
    if report.dry_run:
        typer.echo(f"{rows} would no longer name a recording")
        for path in report.recordings:
            typer.echo(f"  {path}")
    else:
        verb = "names" if report.cdr_rows_cleared == 1 else "name"
        typer.echo(f"{rows} no longer {verb} a recording")
    for problem in report.problems:
        typer.echo(f"warning: {problem}", err=True)


@app.command("purge")
def purge(
    ctx: typer.Context,
    older_than: Annotated[
        int | None,
        typer.Option(
            "--older-than",
            metavar="DAYS",
            min=1,
            help="Delete recordings that ended more than this many days ago. [default:"
            " RINGFORT_RECORDING__RETENTION_DAYS]",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Only list what would be deleted; change nothing."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete old recordings (WAV and metadata) and clear them from their call records.

    Every file under the recordings directory is considered, also those no call
    record names; date folders left empty are removed. A running server does
    this once a day by itself when RINGFORT_RECORDING__RETENTION_DAYS is set.
    Files that cannot be read or deleted are reported as warnings and left.
    """
    settings = state_of(ctx).settings()
    days = older_than if older_than is not None else settings.recording.retention_days
    if days <= 0:
        raise fail(
            "recordings are kept for ever by default: pass --older-than DAYS or set"
            " RINGFORT_RECORDING__RETENTION_DAYS",
            code=EXIT_USER_ERROR,
        )

    async def action(db: Database) -> PurgeReport:
        return await RecordingService(db=db, directory=settings.recording_directory).purge(
            days, dry_run=dry_run
        )

    report = run_with_database(settings, action)
    if as_json:
        record: dict[str, Any] = to_record(report)
        record["older_than_days"] = days
        print_json(record)
        for problem in report.problems:
            typer.echo(f"warning: {problem}", err=True)
        return
    _print_purge(report, days)
