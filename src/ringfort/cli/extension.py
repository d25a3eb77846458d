"""``ringfort extension``: add, list, remove extensions, set their passwords and forwarding."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from ringfort.cli.output import format_time, print_json, print_table, to_record
from ringfort.cli.state import run_with_database, state_of
from ringfort.services.database import Database
from ringfort.services.extensions import (
    FORWARDS,
    ExtensionService,
    ExtensionView,
    ForwardingChange,
)

app = typer.Typer(
    help="Manage extensions: the numbers phones register as.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

PasswordOption = Annotated[
    str | None,
    typer.Option(
        "--password",
        metavar="PW",
        help=(
            "SIP password: 8 to 128 printable ASCII characters, no spaces. Omit it to have a"
            " strong one generated and printed; '-' reads it from standard input (keeps it out"
            " of the process list and shell history)."
        ),
        show_default=False,
    ),
]


STDIN = "-"
"""Given as the password, it means: read the password from standard input."""


def _read_password(password: str | None) -> str | None:
    if password == STDIN:
        return sys.stdin.readline().rstrip("\r\n")
    return password


@app.command("add")
def add(
    ctx: typer.Context,
    number: Annotated[
        str, typer.Argument(metavar="NUMBER", help="The extension number: 2 to 15 digits.")
    ],
    name: Annotated[
        str,
        typer.Option(
            "--name", metavar="NAME", help="Who or what the extension is (1 to 80 characters)."
        ),
    ],
    password: PasswordOption = None,
) -> None:
    """Add an extension.

    Prints the generated password when --password is not given; configure the
    phone with the number as user name and that password.
    """
    settings = state_of(ctx).settings()
    secret = _read_password(password)

    async def action(db: Database) -> tuple[ExtensionView, str]:
        return await ExtensionService(db=db).add(number, name, secret)

    view, in_force = run_with_database(settings, action)
    typer.echo(f"added extension {view.number} ({view.name})")
    if secret is None:
        typer.echo(f"password: {in_force}")


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print a JSON list of {number, name, created_at, dnd, forward_*}."
        ),
    ] = False,
) -> None:
    """List every extension in number order."""
    settings = state_of(ctx).settings()

    async def action(db: Database) -> list[ExtensionView]:
        return await ExtensionService(db=db).list()

    views = run_with_database(settings, action)
    if as_json:
        print_json([to_record(view) for view in views])
    elif not views:
        typer.echo("no extensions; add one with: ringfort extension add NUMBER --name NAME")
    else:
        print_table(
            ("NUMBER", "NAME", "CREATED", "FORWARDING"),
            [
                (view.number, view.name, format_time(view.created_at), _forwarding(view))
                for view in views
            ],
        )


def _forwarding(view: ExtensionView) -> str:
    """``dnd, always 103, no answer 500``; ``-`` when nothing is set."""
    parts = ["dnd"] if view.dnd else []
    for name in FORWARDS:
        target = getattr(view, f"forward_{name}")
        if target:
            parts.append(f"{name.replace('_', ' ')} {target}")
    return ", ".join(parts) or "-"


@app.command("remove")
def remove(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(metavar="NUMBER", help="The extension to remove.")],
) -> None:
    """Remove an extension and forget its phones' registrations."""
    settings = state_of(ctx).settings()

    async def action(db: Database) -> None:
        await ExtensionService(db=db).remove(number)

    run_with_database(settings, action)
    typer.echo(f"removed extension {number}")


@app.command("set-password")
def set_password(
    ctx: typer.Context,
    number: Annotated[
        str, typer.Argument(metavar="NUMBER", help="The extension whose password changes.")
    ],
    password: PasswordOption = None,
) -> None:
    """Set an extension's SIP password; a new strong one is generated and printed if none is given.

    Phones registered with the old password keep working until they next
    register (at most the registration interval).
    """
    settings = state_of(ctx).settings()
    secret = _read_password(password)

    async def action(db: Database) -> str:
        return await ExtensionService(db=db).set_password(number, secret)

    in_force = run_with_database(settings, action)
    if secret is None:
        typer.echo(f"password: {in_force}")
    else:
        typer.echo(f"password of extension {number} changed")


_FORWARD_HELP = (
    "A number someone has (extension, menu, queue, time condition, DID); '' or 'off'"
    " switches this forward off."
)


def _forward_option(name: str) -> Any:
    return typer.Option(name, metavar="NUMBER", help=_FORWARD_HELP, show_default=False)


@app.command("forward")
def forward(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(metavar="NUMBER", help="The extension.")],
    always: Annotated[str | None, _forward_option("--always")] = None,
    busy: Annotated[str | None, _forward_option("--busy")] = None,
    no_answer: Annotated[str | None, _forward_option("--no-answer")] = None,
    dnd: Annotated[
        bool | None,
        typer.Option(
            "--dnd/--no-dnd",
            help="Do-not-disturb: calls find the extension busy (its busy forward or its"
            " mailbox's busy greeting take them).",
            show_default=False,
        ),
    ] = None,
    off: Annotated[
        bool, typer.Option("--off", help="Switch every forward and do-not-disturb off.")
    ] = False,
) -> None:
    """Show or set an extension's call forwarding and do-not-disturb.

    --always sends every call to the number without ringing the extension; --busy
    takes calls that find it busy (or declined, or in do-not-disturb); --no-answer
    takes calls not answered in the ring time or with no phone registered. A forward
    wins over the mailbox. Phones set the same with feature codes (*72, *90, *52, *78;
    see docs/calls.md). Without options, prints what is set.
    """
    settings = state_of(ctx).settings()
    if off:
        change = ForwardingChange(always="", busy="", no_answer="", dnd=False)
    else:
        change = ForwardingChange(
            always=_forward_value(always),
            busy=_forward_value(busy),
            no_answer=_forward_value(no_answer),
            dnd=dnd,
        )

    async def action(db: Database) -> ExtensionView:
        service = ExtensionService(db=db)
        if change == ForwardingChange():
            return await service.get(number)
        return await service.set_forwarding(number, change)

    view = run_with_database(settings, action)
    typer.echo(f"extension {view.number}: {_forwarding(view)}")


def _forward_value(value: str | None) -> str | None:
    if value is None:
        return None
    return "" if value.strip().lower() in ("", "off", "none") else value
