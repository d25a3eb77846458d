"""``ringfort report``: the call-centre reports, and the queue log as Asterisk's text file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ringfort.cli.output import fail, print_json, print_table
from ringfort.cli.state import run_with_database, state_of
from ringfort.errors import ValidationError
from ringfort.reports.catalogue import (
    REPORTS,
    parse_period,
    parse_zone,
    run_report,
    typed_query,
)
from ringfort.reports.export import export_lines
from ringfort.reports.model import Report, ReportQuery
from ringfort.reports.render import display, table_cells, to_csv
from ringfort.services.database import Database

FORMATS = ("table", "csv", "json")

app = typer.Typer(
    help="Call-centre reports for a period, from the queue log.\n\n"
    "ringfort report NAME --from 2026-05 shows a month; dates are whole days in the"
    " report's time zone (--tz, default the server's). Each report prints a table,"
    " or CSV or JSON with --format.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

From = Annotated[
    str | None,
    typer.Option(
        "--from",
        metavar="WHEN",
        help="Start: a year (2026), month (2026-05), date (2026-05-01) or time"
        " (2026-05-01T08:00). Default: today.",
        show_default=False,
    ),
]
To = Annotated[
    str | None,
    typer.Option(
        "--to",
        metavar="WHEN",
        help="End: a year, month or date is included whole; a time is where it stops."
        " Default: the end of the --from day, month or year.",
        show_default=False,
    ),
]
QueueFilter = Annotated[
    str | None, typer.Option("--queue", metavar="NAME", help="Only this queue.")
]
Tz = Annotated[
    str | None,
    typer.Option(
        "--tz",
        metavar="ZONE",
        help="Time zone of the dates and of the times shown (Europe/Berlin, UTC)."
        " Default: the server's.",
        show_default=False,
    ),
]


def _query(
    start: str | None,
    end: str | None,
    tz: str | None,
    queue: str | None,
    agent: str | None,
    caller: str | None,
    service_level: int | None,
    by: str,
    limit: int | None = None,
    offset: int = 0,
) -> ReportQuery:
    try:
        return typed_query(
            start, end, tz, queue=queue, agent=agent, caller=caller,
            service_level=service_level, by=by, limit=limit, offset=offset,
        )  # fmt: skip
    except ValidationError as error:
        raise fail(str(error)) from None


def _print(report: Report, output_format: str) -> None:
    if output_format == "json":
        print_json(report.as_json())
        return
    if output_format == "csv":
        sys.stdout.write(to_csv(report))
        return
    period = report.query.filters()
    typer.echo(f"{report.title}, {period['from']} to {period['to']}")
    if report.columns:
        if report.rows:
            print_table(
                [c.header for c in report.columns], table_cells(report.columns, report.rows)
            )
        else:
            typer.echo("no calls in this period")
    if report.summary_columns:
        if report.columns:
            typer.echo("")
        width = max(len(c.header) for c in report.summary_columns)
        for column in report.summary_columns:
            value = display(report.summary.get(column.key), column.kind)
            typer.echo(f"{column.header + ':':<{width + 1}} {value}")


def _report_command(name: str) -> None:
    spec = REPORTS[name]

    def command(
        ctx: typer.Context,
        start: From = None,
        end: To = None,
        queue: QueueFilter = None,
        agent: Annotated[
            str | None, typer.Option("--agent", metavar="NUMBER", help="Only this agent.")
        ] = None,
        caller: Annotated[
            str | None,
            typer.Option("--caller", metavar="NUMBER", help="Only calls from this number."),
        ] = None,
        tz: Tz = None,
        by: Annotated[
            str,
            typer.Option(
                "--by",
                metavar="PERIOD",
                help="distribution: hour, hour-of-day, day, weekday or month.",
            ),
        ] = "day",
        service_level: Annotated[
            int | None,
            typer.Option(
                "--service-level",
                metavar="SECONDS",
                min=1,
                max=3600,
                help="service-level: the target wait. Default: the queue's (with --queue),"
                " else 20.",
                show_default=False,
            ),
        ] = None,
        output_format: Annotated[
            str,
            typer.Option("--format", metavar="FORMAT", help="table, csv or json."),
        ] = "table",
        limit: Annotated[
            int | None,
            typer.Option(
                "--limit",
                metavar="N",
                min=1,
                help="answered, lost, sessions: at most N rows (the summary covers all).",
                show_default=False,
            ),
        ] = None,
        offset: Annotated[
            int, typer.Option("--offset", metavar="N", min=0, help="Rows to skip first.")
        ] = 0,
    ) -> None:
        if output_format not in FORMATS:
            raise fail(f"--format must be one of {', '.join(FORMATS)}, got {output_format!r}")
        query = _query(start, end, tz, queue, agent, caller, service_level, by, limit, offset)
        settings = state_of(ctx).settings()

        async def action(db: Database) -> Report:
            return await run_report(db, name, query)

        _print(run_with_database(settings, action), output_format)

    command.__doc__ = spec.summary[0].upper() + spec.summary[1:] + "."
    app.command(name)(command)


for _name in REPORTS:
    _report_command(_name)


@app.command("queue-log")
def queue_log(
    ctx: typer.Context,
    start: From = None,
    end: To = None,
    queue: QueueFilter = None,
    tz: Tz = None,
    everything: Annotated[
        bool, typer.Option("--all", help="The whole log, whatever --from and --to say.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write here instead of stdout."),
    ] = None,
) -> None:
    """The queue log as Asterisk's queue_log file (epoch|callid|queue|agent|EVENT|data...),
    for QueueMetrics, Asternic and other tools that read it."""
    if everything:
        first = last = None
    else:
        try:
            first, last = parse_period(start, end, parse_zone(tz))
        except ValidationError as error:
            raise fail(str(error)) from None
    settings = state_of(ctx).settings()

    async def action(db: Database) -> int:
        count = 0
        handle = sys.stdout if output is None else output.open("w", encoding="utf-8")
        try:
            async for line in export_lines(db, start=first, end=last, queue=queue):
                handle.write(line)
                count += 1
        finally:
            if output is not None:
                handle.close()
        return count

    count = run_with_database(settings, action)
    if output is not None:
        typer.echo(f"{count} events written to {output}", err=True)
