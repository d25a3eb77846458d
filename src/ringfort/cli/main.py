"""The ``ringfort`` command: global options, ``init``, ``serve``, ``status`` and the subcommands."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ringfort.cli import (
    backup,
    cdr,
    did,
    extension,
    ivr,
    queue,
    recording,
    report,
    timecond,
    user,
    voicemail,
)
from ringfort.cli.output import EXIT_FAILURE, fail, print_json, print_table, to_record
from ringfort.cli.state import CliState, run_with_database, state_of
from ringfort.errors import RingfortError
from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService
from ringfort.services.status import BlockView, RegistrationView, StatusService
from ringfort.services.voicemail import VoicemailService
from ringfort.settings import DEFAULT_DATA_DIR, HostPort

app = typer.Typer(
    name="ringfort",
    help="Ringfort: an always-on phone system and call centre.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    # Locals may hold passwords; a crash report must not print them.
    pretty_exceptions_show_locals=False,
)
app.add_typer(extension.app, name="extension")
app.add_typer(cdr.app, name="cdr")
app.add_typer(ivr.app, name="ivr")
app.add_typer(timecond.app, name="timecond")
app.add_typer(recording.app, name="recording")
app.add_typer(queue.app, name="queue")
app.add_typer(queue.agent_app, name="agent")
app.add_typer(report.app, name="report")
app.add_typer(voicemail.app, name="voicemail")
app.add_typer(user.app, name="user")
app.add_typer(did.app, name="did")
app.add_typer(backup.app, name="backup")


@app.callback()
def main(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            metavar="DIR",
            envvar="RINGFORT_DATA_DIR",
            help="Where the database, recordings and voicemail live.",
            show_default=f"./{DEFAULT_DATA_DIR}",
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            metavar="URL",
            envvar="RINGFORT_DATABASE_URL",
            help="SQLAlchemy URL of the database (postgresql+asyncpg://... for a cluster);"
            " default: an SQLite file in the data directory.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Ringfort: an always-on phone system and call centre.

    Every command opens the database and upgrades its schema if needed, so a
    fresh data directory just works. Other settings come from RINGFORT_*
    environment variables (RINGFORT_SIP__LISTEN, RINGFORT_SECURITY__REALM, ...).
    """
    ctx.obj = CliState(data_dir=data_dir, database_url=database_url)


@app.command()
def init(
    ctx: typer.Context,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo", help="Also create extensions 101 and 102 and print their passwords."
        ),
    ] = False,
) -> None:
    """Create the data directory and the database, and say where they are."""
    settings = state_of(ctx).settings()
    data_dir = settings.data_dir.resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"cannot create data directory {data_dir}: {exc}", code=EXIT_FAILURE) from None

    async def action(db: Database) -> tuple[str, str | None, bool, list[tuple[str, str, str]]]:
        created = await ExtensionService(db=db).ensure_demo() if demo else []
        return db.display_url, await db.current_revision(), db.migrated_on_open, created

    url, revision, migrated, created = run_with_database(settings, action)
    typer.echo(f"data directory: {data_dir}")
    typer.echo(f"database:       {url}")
    typer.echo(f"schema:         {revision} ({'migrated now' if migrated else 'up to date'})")
    if not demo:
        return
    if created:
        typer.echo("demo extensions (user name = number):")
        for number, name, password in created:
            typer.echo(f"  {number}  {name}  password: {password}")
    existing = sorted({"101", "102"} - {number for number, _, _ in created})
    if existing:
        typer.echo(
            f"demo extension{'s' if len(existing) > 1 else ''} {' and '.join(existing)} already"
            " exist; to see a password again, set a new one: ringfort extension set-password"
            f" {existing[0]}"
        )


def _host_port(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(HostPort.parse(value))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command()
def serve(
    ctx: typer.Context,
    sip: Annotated[
        str | None,
        typer.Option(
            "--sip",
            metavar="HOST:PORT",
            callback=_host_port,
            help="Listen for SIP (UDP and TCP) here; default 127.0.0.1:5060 or"
            " RINGFORT_SIP__LISTEN.",
            show_default=False,
        ),
    ] = None,
    http: Annotated[
        str | None,
        typer.Option(
            "--http",
            metavar="HOST:PORT",
            callback=_host_port,
            help="Serve the web UI and REST API here; default 127.0.0.1:8080 or"
            " RINGFORT_HTTP__LISTEN.",
            show_default=False,
        ),
    ] = None,
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Create demo extensions 101 and 102 if missing."),
    ] = False,
) -> None:
    """Run the phone system until interrupted (Ctrl-C or SIGTERM)."""
    overrides: dict[str, Any] = {}
    if sip is not None:
        overrides["sip"] = {"listen": sip}
    if http is not None:
        overrides["http"] = {"listen": http}
    settings = state_of(ctx).settings(**overrides)

    # Imported here: the composition root pulls in every layer, which the
    # other commands never need.
    from ringfort import runtime

    try:
        import uvloop
    except ImportError:
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(runtime.serve(settings, demo=demo))
    except KeyboardInterrupt:
        pass
    except RingfortError as exc:
        raise fail(str(exc), code=EXIT_FAILURE) from None


def _print_status(registrations: list[RegistrationView], blocked: list[BlockView]) -> None:
    typer.echo(f"registrations: {len(registrations)}")
    if registrations:
        print_table(
            ("NUMBER", "CONTACT", "SOURCE", "TRANSPORT", "EXPIRES IN", "NAT", "USER AGENT"),
            [
                (
                    view.number,
                    view.contact,
                    view.source,
                    view.transport,
                    f"{view.expires_in}s",
                    "yes" if view.behind_nat else "no",
                    view.user_agent or "",
                )
                for view in registrations
            ],
        )
    typer.echo(f"blocked addresses: {len(blocked)}")
    if blocked:
        print_table(
            ("ADDRESS", "UNTIL", "LEFT", "FAILURES", "REASON"),
            [
                (
                    view.address,
                    view.blocked_until,
                    f"{view.seconds_left}s",
                    view.failures,
                    view.reason,
                )
                for view in blocked
            ],
        )


@app.command()
def status(
    ctx: typer.Context,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help='Print {"registrations": [...], "blocked": [...], "voicemail_email": {...}}'
            " as JSON.",
        ),
    ] = False,
) -> None:
    """Show registered phones, blocked addresses, and voicemail e-mail not yet sent.

    Read from the database, which a running server keeps up to date, so this
    works from another shell while the server runs.
    """
    settings = state_of(ctx).settings()

    async def action(
        db: Database,
    ) -> tuple[list[RegistrationView], list[BlockView], tuple[int, int, str | None]]:
        service = StatusService(db=db)
        now = time.time()
        backlog = await VoicemailService(db, settings.voicemail_directory).email_backlog()
        return await service.registrations(now), await service.blocked(now), backlog

    registrations, blocked, (pending, failed, error) = run_with_database(settings, action)
    if as_json:
        print_json(
            {
                "registrations": [to_record(view) for view in registrations],
                "blocked": [to_record(view) for view in blocked],
                "voicemail_email": {"pending": pending, "failed": failed, "last_error": error},
            }
        )
        return
    _print_status(registrations, blocked)
    if pending or failed:
        typer.echo(f"voicemail e-mail: {pending} waiting, {failed} given up")
        if error:
            typer.echo(f"  last error: {error}")


def run() -> None:
    """Entry point of the ``ringfort`` console script."""
    app(prog_name="ringfort")
