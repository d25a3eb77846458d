"""``ringfort cdr``: reading call detail records."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from ringfort.cli.output import fail, format_time, print_json, print_table, to_record
from ringfort.cli.state import run_with_database, state_of
from ringfort.services.cdr import DEFAULT_LIST_LIMIT, CdrService, CdrView
from ringfort.services.database import Database

app = typer.Typer(
    help="Call detail records: who called whom, when, for how long.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def parse_since(text: str) -> datetime:
    """An ISO 8601 date or time; one without an offset is local time."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise fail(
            f"since: expected an ISO 8601 date or time (2024-05-31 or 2024-05-31T08:00+02:00),"
            f" got {text!r}"
        ) from None
    # astimezone() reads a naive time as local time, which is what a person typing it means.
    return value.astimezone()


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
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", min=1, help="Print at most this many records.")
    ] = DEFAULT_LIST_LIMIT,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of records.")] = False,
) -> None:
    """List call records, newest first. Times are UTC."""
    settings = state_of(ctx).settings()
    start = None if since is None else parse_since(since)

    async def action(db: Database) -> list[CdrView]:
        return await CdrService(db=db).list(since=start, limit=limit)

    records = run_with_database(settings, action)
    if as_json:
        print_json([to_record(record) for record in records])
    elif not records:
        typer.echo("no call records")
    else:
        print_table(
            ("START", "SRC", "DST", "DISPOSITION", "DURATION", "BILLSEC", "HANGUP BY"),
            [
                (
                    format_time(record.start),
                    record.src,
                    record.dst,
                    record.disposition,
                    record.duration,
                    record.billsec,
                    record.hangup_by or "",
                )
                for record in records
            ],
        )
