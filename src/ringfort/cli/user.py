"""``ringfort user``: the people who log in to the web interface and the API, and API tokens."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from ringfort.cli.output import format_time, print_json, print_table, to_record
from ringfort.cli.state import run_with_database, state_of
from ringfort.services.database import Database
from ringfort.services.users import ROLES, UserService, UserView

T = TypeVar("T")

app = typer.Typer(
    help="Users of the web interface and the API: admins (everything), supervisors (the"
    " live panel, reports, agents) and agents (their own state and voicemail).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

Username = Annotated[str, typer.Argument(metavar="NAME", help="The username.")]
PasswordOption = Annotated[
    str | None,
    typer.Option(
        "--password",
        metavar="PW",
        help="At least 8 characters. Omit it to have a strong one generated and printed;"
        " '-' reads it from standard input (keeps it out of the process list and history).",
        show_default=False,
    ),
]


def _password(given: str | None) -> tuple[str, bool]:
    """The password to set, and whether it was generated (and must be shown)."""
    if given == "-":
        return sys.stdin.readline().rstrip("\r\n"), False
    if given is None:
        return secrets.token_urlsafe(12), True
    return given, False


def _run(ctx: typer.Context, action: Callable[[UserService], Awaitable[T]]) -> T:
    async def with_users(db: Database) -> T:
        return await action(UserService(db))

    return run_with_database(state_of(ctx).settings(), with_users)


@app.command("add")
def add(
    ctx: typer.Context,
    username: Username,
    role: Annotated[
        str, typer.Option("--role", help=f"One of {', '.join(ROLES)}.", show_default=False)
    ],
    password: PasswordOption = None,
    extension: Annotated[
        str | None, typer.Option("--extension", help="Their own extension (phone, mailbox).")
    ] = None,
    agent: Annotated[
        str | None, typer.Option("--agent", help="The call-centre agent they are (number).")
    ] = None,
    language: Annotated[str, typer.Option("--language", help="en or ru.")] = "en",
    queues: Annotated[
        str | None,
        typer.Option("--queues", metavar="A,B", help="A supervisor's queues (default: all)."),
    ] = None,
) -> None:
    """Add a user. The first admin ends the open first-start mode of the web interface."""
    secret, generated = _password(password)

    async def action(users: UserService) -> UserView:
        return await users.add(
            username,
            secret,
            role,
            extension=extension,
            agent=agent,
            language=language,
            queues=(queues or "").split(","),
        )

    user = _run(ctx, action)
    typer.echo(f"user {user.username} ({user.role}) added")
    if generated:
        typer.echo(f"password: {secret}")


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List the users."""

    async def action(users: UserService) -> list[UserView]:
        return await users.all()

    found = _run(ctx, action)
    if as_json:
        print_json([to_record(user) for user in found])
    elif not found:
        typer.echo("no users (ringfort user add NAME --role admin)")
    else:
        print_table(
            ("USER", "ROLE", "EXTENSION", "AGENT", "QUEUES", "LANGUAGE", "STATE", "CREATED"),
            [
                (
                    u.username,
                    u.role,
                    u.extension or "",
                    u.agent or "",
                    ",".join(u.queues) or ("all" if u.role == "supervisor" else ""),
                    u.language,
                    "disabled" if u.disabled else "active",
                    format_time(u.created_at),
                )
                for u in found
            ],
        )


@app.command("passwd")
def passwd(ctx: typer.Context, username: Username, password: PasswordOption = None) -> None:
    """Set a user's password (their browser sessions end)."""
    secret, generated = _password(password)

    async def action(users: UserService) -> None:
        await users.set_password(username, secret)

    _run(ctx, action)
    typer.echo(f"password of {username} changed")
    if generated:
        typer.echo(f"password: {secret}")


@app.command("set")
def set_(
    ctx: typer.Context,
    username: Username,
    role: Annotated[str | None, typer.Option("--role", show_default=False)] = None,
    extension: Annotated[str | None, typer.Option("--extension", show_default=False)] = None,
    agent: Annotated[str | None, typer.Option("--agent", show_default=False)] = None,
    language: Annotated[str | None, typer.Option("--language", show_default=False)] = None,
    queues: Annotated[
        str | None,
        typer.Option(
            "--queues",
            metavar="A,B",
            help="A supervisor's queues ('' for all).",
            show_default=False,
        ),
    ] = None,
    disabled: Annotated[
        bool | None,
        typer.Option(
            "--disable/--enable", help="A disabled user cannot log in.", show_default=False
        ),
    ] = None,
) -> None:
    """Change a user's role, extension or language, or disable them (not the last admin)."""

    async def action(users: UserService) -> UserView:
        return await users.update(
            username,
            role=role,
            extension=extension,
            agent=agent,
            language=language,
            disabled=disabled,
            queues=None if queues is None else queues.split(","),
        )

    user = _run(ctx, action)
    state = "disabled" if user.disabled else "active"
    typer.echo(f"user {user.username}: {user.role}, {state}")


@app.command("remove")
def remove(ctx: typer.Context, username: Username) -> None:
    """Delete a user with their sessions and tokens (not the last admin)."""

    async def action(users: UserService) -> None:
        await users.remove(username)

    _run(ctx, action)
    typer.echo(f"user {username} removed")


@app.command("token")
def token(
    ctx: typer.Context,
    username: Username,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Create a token for this purpose (shown once)."),
    ] = None,
    revoke: Annotated[
        int | None, typer.Option("--revoke", metavar="ID", help="Revoke this token.")
    ] = None,
) -> None:
    """List a user's API tokens, create one (--name) or revoke one (--revoke ID). Programs send
    it as 'Authorization: Bearer <token>'."""

    async def action(users: UserService) -> str:
        if name is not None:
            return await users.create_token(username, name)
        if revoke is not None:
            await users.revoke_token(username, revoke)
            return f"token {revoke} of {username} revoked"
        rows = await users.tokens(username)
        if not rows:
            return f"{username} has no tokens"
        return "\n".join(
            f"{token_id}\t{label}\tcreated {format_time(created)}"
            f"\tlast used {format_time(used) if used else 'never'}"
            for token_id, label, created, used in rows
        )

    typer.echo(_run(ctx, action))
