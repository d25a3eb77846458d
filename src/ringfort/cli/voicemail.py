"""``ringfort voicemail``: the messages callers left, and the mailboxes' PINs, options and
greetings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ringfort.cli.output import format_time, print_json, print_table, to_record
from ringfort.cli.state import run_with_database, state_of
from ringfort.services.database import Database
from ringfort.services.voicemail import (
    Greeting,
    MailboxEmail,
    MailboxOptions,
    MessageView,
    VoicemailService,
)

Extension = Annotated[str, typer.Argument(help="The extension.")]

app = typer.Typer(
    help="Voicemail: callers who do not reach an extension (busy, no answer, no phone"
    " registered) leave a message in its mailbox.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _service(ctx: typer.Context, db: Database) -> VoicemailService:
    settings = state_of(ctx).settings()
    return VoicemailService(db, settings.voicemail_directory)


def _switch(ctx: typer.Context, number: str, enabled: bool) -> None:
    settings = state_of(ctx).settings()

    async def action(db: Database) -> None:
        await _service(ctx, db).set_enabled(number, enabled)

    run_with_database(settings, action)
    state = "on" if enabled else "off"
    typer.echo(f"voicemail for {number}: {state}")
    if enabled and not settings.voicemail.enabled:
        typer.echo("note: RINGFORT_VOICEMAIL__ENABLED is false, so no call goes to voicemail")


@app.command("enable")
def enable(
    ctx: typer.Context,
    number: Extension,
) -> None:
    """Turn voicemail on for an extension: busy, unanswered (after calls.ring_timeout) and
    unregistered calls go to its mailbox."""
    _switch(ctx, number, True)


@app.command("disable")
def disable(
    ctx: typer.Context,
    number: Extension,
) -> None:
    """Turn voicemail off for an extension (its messages are kept)."""
    _switch(ctx, number, False)


@app.command("email")
def email(
    ctx: typer.Context,
    number: Extension,
    address: Annotated[
        str | None,
        typer.Argument(
            help="Where new messages go; leave out to show the setting.", show_default=False
        ),
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="Stop e-mailing this mailbox.")] = False,
    no_attach: Annotated[
        bool, typer.Option("--no-attach", help="Say who called and when, without the recording.")
    ] = False,
    delete_emailed: Annotated[
        bool, typer.Option("--delete-emailed", help="Delete each message once it is e-mailed.")
    ] = False,
) -> None:
    """E-mail each new message of a mailbox (needs RINGFORT_SMTP__HOST on the server)."""
    settings = state_of(ctx).settings()

    async def action(db: Database) -> MailboxEmail:
        service = _service(ctx, db)
        if address is None and not off:
            return await service.email_of(number)
        return await service.set_email(
            number, MailboxEmail(None if off else address, not no_attach, delete_emailed)
        )

    found = run_with_database(settings, action)
    if found.address is None:
        typer.echo(f"mailbox {number}: not e-mailed")
        return
    attach = "with the recording" if found.attach else "without the recording"
    after = ", then deleted" if found.delete_emailed else ""
    typer.echo(f"mailbox {number}: new messages e-mailed to {found.address}, {attach}{after}")
    if settings.smtp.host is None:
        typer.echo("note: RINGFORT_SMTP__HOST is not set, so nothing is sent yet")


@app.command("mailboxes")
def mailboxes(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List the extensions with voicemail on, with their new and old message counts."""
    settings = state_of(ctx).settings()

    async def action(db: Database) -> list[tuple[str, int, int]]:
        return await _service(ctx, db).mailboxes()

    found = run_with_database(settings, action)
    if as_json:
        print_json([{"mailbox": n, "new": new, "old": old} for n, new, old in found])
    elif not found:
        typer.echo("no extension has voicemail on (ringfort voicemail enable NUMBER)")
    else:
        print_table(("MAILBOX", "NEW", "OLD"), found)


@app.command("list")
def list_(
    ctx: typer.Context,
    mailbox: Annotated[
        str | None,
        typer.Argument(help="Only this mailbox (extension number).", show_default=False),
    ] = None,
    folder: Annotated[
        str | None,
        typer.Option("--folder", help="INBOX (new) or Old (listened to).", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List messages, newest first, with the file that holds each. Times are UTC."""
    settings = state_of(ctx).settings()

    async def action(db: Database) -> list[MessageView]:
        return await _service(ctx, db).messages(mailbox, folder=folder)

    messages = run_with_database(settings, action)
    if as_json:
        print_json([to_record(message) for message in messages])
    elif not messages:
        typer.echo("no messages")
    else:
        print_table(
            ("ID", "MAILBOX", "FOLDER", "RECEIVED", "FROM", "SECONDS", "FILE"),
            [
                (
                    message.id,
                    message.mailbox,
                    message.folder,
                    format_time(message.received_at),
                    message.clid,
                    f"{message.seconds:.1f}",
                    message.file,
                )
                for message in messages
            ],
        )


@app.command("read")
def read(
    ctx: typer.Context,
    message_id: Annotated[int, typer.Argument(metavar="ID", help="The message's id.")],
    unread: Annotated[
        bool, typer.Option("--unread", help="Put it back among the new messages.")
    ] = False,
) -> None:
    """Mark a message listened to (moved to Old), or new again with --unread."""
    settings = state_of(ctx).settings()

    async def action(db: Database) -> MessageView:
        return await _service(ctx, db).mark_read(message_id, read=not unread)

    message = run_with_database(settings, action)
    typer.echo(f"message {message.id} of {message.mailbox} is in {message.folder}")


@app.command("delete")
def delete(
    ctx: typer.Context,
    message_id: Annotated[int, typer.Argument(metavar="ID", help="The message's id.")],
) -> None:
    """Delete a message and its file."""
    settings = state_of(ctx).settings()

    async def action(db: Database) -> None:
        await _service(ctx, db).delete(message_id)

    run_with_database(settings, action)
    typer.echo(f"message {message_id} deleted")


@app.command("set-pin")
def set_pin(
    ctx: typer.Context,
    number: Extension,
    pin: Annotated[
        str | None,
        typer.Argument(help="4 to 16 digits; leave out with --clear.", show_default=False),
    ] = None,
    clear: Annotated[
        bool,
        typer.Option(
            "--clear", help="No PIN: only the owner's own phone (*97) reaches the mailbox."
        ),
    ] = False,
) -> None:
    """Set the PIN that opens a mailbox from the phone (*97 asks it unless the mailbox is set
    not to; the voicemail main number *98 always does)."""
    if (pin is None) == (not clear):
        raise typer.BadParameter("give a PIN, or --clear to remove it")
    settings = state_of(ctx).settings()

    async def action(db: Database) -> None:
        await _service(ctx, db).set_pin(number, None if clear else pin)

    run_with_database(settings, action)
    typer.echo(f"mailbox {number}: PIN {'removed' if clear else 'set'}")


@app.command("options")
def options(
    ctx: typer.Context,
    number: Extension,
    ring_seconds: Annotated[
        int | None,
        typer.Option(
            "--ring-seconds",
            help="How long the phones ring before the call goes to voicemail"
            " (0: RINGFORT_CALLS__RING_TIMEOUT).",
            show_default=False,
        ),
    ] = None,
    operator: Annotated[
        str | None,
        typer.Option(
            "--operator",
            metavar="DESTINATION",
            help="Where a caller pressing 0 during the greeting goes, e.g. extension:100"
            ' ("" for nowhere).',
            show_default=False,
        ),
    ] = None,
    max_messages: Annotated[
        int | None,
        typer.Option("--max-messages", help="A full mailbox takes no more.", show_default=False),
    ] = None,
    max_seconds: Annotated[
        int | None,
        typer.Option("--max-seconds", help="The longest message.", show_default=False),
    ] = None,
    ask_pin: Annotated[
        bool | None,
        typer.Option(
            "--ask-pin/--no-ask-pin",
            help="Whether *97 from the owner's own phone asks the PIN.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show or change how a mailbox behaves: ring time, operator, limits, PIN at *97."""
    settings = state_of(ctx).settings()
    change = MailboxOptions(ring_seconds, operator, max_messages, max_seconds, ask_pin)

    async def action(db: Database) -> MailboxOptions:
        service = _service(ctx, db)
        if change == MailboxOptions():
            return await service.options(number)
        return await service.set_options(number, change)

    found = run_with_database(settings, action)
    if as_json:
        print_json(to_record(found))
        return
    ring = f"{found.ring_seconds} s" if found.ring_seconds else "the system's ring timeout"
    typer.echo(
        f"mailbox {number}: rings {ring}; operator {found.operator or 'none'};"
        f" at most {found.max_messages} messages of {found.max_seconds} s;"
        f" *97 {'asks' if found.ask_pin else 'does not ask'} the PIN"
    )


@app.command("greeting")
def greeting(
    ctx: typer.Context,
    number: Extension,
    kind: Annotated[
        Greeting | None,
        typer.Argument(help="Which greeting; leave out to list them.", show_default=False),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Argument(
            help="A WAV file to use (any rate or channels; it is converted).",
            show_default=False,
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove this greeting.")] = False,
) -> None:
    """List a mailbox's greetings, or set one from a WAV file, or remove one. Callers hear the
    temporary greeting if there is one, else the busy or unavailable one, else the name
    followed by "is not available", else a generated one. Owners can record them by phone
    too (*97, then 0)."""
    settings = state_of(ctx).settings()
    if kind is None and (file is not None or delete):
        raise typer.BadParameter("name the greeting: " + ", ".join(g.value for g in Greeting))

    async def action(db: Database) -> str:
        service = _service(ctx, db)
        if kind is None:
            await service.options(number)  # the extension must exist
            found = service.greetings(number)
            if not found:
                return f"mailbox {number}: no greetings recorded"
            return "\n".join(f"{k.value}\t{path}" for k, path in found.items())
        if delete:
            await service.delete_greeting(number, kind)
            return f"mailbox {number}: {kind.value} greeting removed"
        if file is None:
            path = service.greeting_path(number, kind)
            return str(path) if path.is_file() else f"mailbox {number}: no {kind.value} greeting"
        seconds = await service.import_greeting(number, kind, file.read_bytes())
        return f"mailbox {number}: {kind.value} greeting set ({seconds:.1f} s)"

    typer.echo(run_with_database(settings, action))
