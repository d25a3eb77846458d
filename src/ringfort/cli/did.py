"""``ringfort did``: inbound numbers (DIDs) and where their calls go."""

from __future__ import annotations

from typing import Annotated

import typer

from ringfort.cli.output import format_time, print_json, print_table, to_record
from ringfort.cli.state import run_with_database, state_of
from ringfort.services.database import Database
from ringfort.services.dids import DidService, DidView

app = typer.Typer(
    help="DIDs: inbound numbers and where their calls go (a menu, a queue, an extension...).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

Number = Annotated[str, typer.Argument(metavar="NUMBER", help="The DID: 1 to 20 digits.")]


@app.command("add")
def add(
    ctx: typer.Context,
    number: Number,
    destination: Annotated[
        str,
        typer.Option(
            "--destination", metavar="DEST", help="Where calls go: ivr:main, queue:sales, ..."
        ),
    ],
    description: Annotated[str, typer.Option("--description", help="What it is for.")] = "",
) -> None:
    """Add a DID: calls to NUMBER go to DEST."""

    async def action(db: Database) -> DidView:
        return await DidService(db=db).add(number, destination, description)

    found = run_with_database(state_of(ctx).settings(), action)
    typer.echo(f"DID {found.number} -> {found.destination}")


@app.command("set")
def set_(
    ctx: typer.Context,
    number: Number,
    destination: Annotated[
        str | None, typer.Option("--destination", metavar="DEST", show_default=False)
    ] = None,
    description: Annotated[str | None, typer.Option("--description", show_default=False)] = None,
) -> None:
    """Change where a DID's calls go, or its description."""

    async def action(db: Database) -> DidView:
        return await DidService(db=db).update(
            number, destination=destination, description=description
        )

    found = run_with_database(state_of(ctx).settings(), action)
    typer.echo(f"DID {found.number} -> {found.destination}")


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List the DIDs."""

    async def action(db: Database) -> list[DidView]:
        return await DidService(db=db).list()

    found = run_with_database(state_of(ctx).settings(), action)
    if as_json:
        print_json([to_record(did) for did in found])
    elif not found:
        typer.echo("no DIDs (ringfort did add NUMBER --destination ivr:main)")
    else:
        print_table(
            ("NUMBER", "DESTINATION", "DESCRIPTION", "ADDED"),
            [(d.number, d.destination, d.description, format_time(d.created_at)) for d in found],
        )


@app.command("remove")
def remove(ctx: typer.Context, number: Number) -> None:
    """Delete a DID."""

    async def action(db: Database) -> None:
        await DidService(db=db).remove(number)

    run_with_database(state_of(ctx).settings(), action)
    typer.echo(f"DID {number} removed")
