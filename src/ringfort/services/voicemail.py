"""Voicemail messages: which extensions take them, and the messages as rows and files.

A message is ``<mailbox>/<time>-<token>.wav`` under the voicemail directory and a
``voicemail_messages`` row that names it. The file is complete before the row is
committed, so a row always has its audio; a crash between the two leaves a file
without a row, which is never shown (and is kept, not deleted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, func, select, update

from ringfort.apps.voicemail import Greeting, Mailbox, NewMessage
from ringfort.db.models import VOICEMAIL_FOLDERS, Extension, VoicemailMessage
from ringfort.db.repositories import ExtensionRepository
from ringfort.errors import NotFoundError, RemoteProtocolError, ValidationError
from ringfort.media.recorder import metadata_path
from ringfort.pbx.destination import Destination
from ringfort.rtp.wav import RATE, decode_wav, encode_wav
from ringfort.services.database import Database
from ringfort.services.extensions import existing_extension

__all__ = ["Greeting", "MailboxEmail", "MailboxOptions", "MessageView", "VoicemailService"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MessageView:
    """One message as the CLI and the API show it."""

    id: int
    mailbox: str
    folder: str
    """``INBOX`` (new) or ``Old`` (listened to)."""
    caller: str
    clid: str
    received_at: datetime
    seconds: float
    path: str
    """The WAV's path relative to the voicemail directory."""
    file: str
    """The WAV's full path."""
    uniqueid: str = ""
    """The call it was left in."""
    email_state: str | None = None
    """``pending``, ``sent`` or ``failed`` when the mailbox e-mails its messages."""
    email_error: str | None = None
    """Why the last e-mail attempt failed."""


@dataclass(frozen=True, slots=True)
class MailboxEmail:
    """Where a mailbox's messages are e-mailed, and how."""

    address: str | None
    attach: bool = True
    delete_emailed: bool = False


@dataclass(frozen=True, slots=True)
class MailboxOptions:
    """How an extension's mailbox behaves (None in an update: leave as it is)."""

    ring_seconds: int | None = None
    """How long the extension rings before the call goes to voicemail (0: the system's
    ``calls.ring_timeout``)."""
    operator: str | None = None
    """Where ``0`` during the greeting goes (a destination; "" for nowhere)."""
    max_messages: int | None = None
    max_seconds: int | None = None
    ask_pin: bool | None = None
    """False: ``*97`` from the owner's own phone skips the PIN."""


_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+")
_PIN = re.compile(r"[0-9]{4,16}")
GREETINGS_FOLDER = "greetings"


class VoicemailService:
    """Mailboxes and their messages (the voicemail application's `MessageStore`).

    Whether a call goes to voicemail is the call core's decision, from the extension's
    switch that its directory of extensions carries (`Credentials.voicemail`)."""

    def __init__(self, db: Database, directory: Path) -> None:
        self._db = db
        self.directory = directory
        self.on_change: Callable[[], None] | None = None
        """Called after a message was saved, marked or deleted here (the running server
        updates the phones' lamps at once)."""
        self.on_extension_change: Callable[[str], None] | None = None
        """Called with the number after its voicemail switch changed here (the running
        server's directory of extensions forgets what it cached, so the next call obeys
        at once; a change from another process lands within a couple of seconds)."""

    async def set_enabled(self, number: str, enabled: bool) -> None:
        """Turn voicemail on or off for extension ``number``."""
        async with self._db.session() as session, session.begin():
            extension = await existing_extension(session, number)
            extension.voicemail_enabled = enabled
        if self.on_extension_change is not None:
            self.on_extension_change(number)

    async def set_pin(self, number: str, pin: str | None) -> None:
        """Set (or, with None, clear) the mailbox's PIN: 4 to 16 digits."""
        if pin is not None and _PIN.fullmatch(pin) is None:
            raise ValidationError("a PIN is 4 to 16 digits", field="pin")
        async with self._db.session() as session, session.begin():
            extension = await existing_extension(session, number)
            extension.voicemail_pin = pin

    async def set_options(self, number: str, options: MailboxOptions) -> MailboxOptions:
        """Change what ``options`` gives of the mailbox's behaviour; return all of it."""
        operator = options.operator
        if operator:
            try:
                operator = str(Destination.parse(operator))
            except ValueError as error:
                raise ValidationError(str(error), field="operator") from None
        _check_range("ring_seconds", options.ring_seconds, 0, 600)
        _check_range("max_messages", options.max_messages, 1, 10_000)
        _check_range("max_seconds", options.max_seconds, 5, 3600)
        async with self._db.session() as session, session.begin():
            extension = await existing_extension(session, number)
            if options.ring_seconds is not None:
                extension.ring_seconds = options.ring_seconds or None
            if operator is not None:
                extension.voicemail_operator = operator or None
            if options.max_messages is not None:
                extension.voicemail_max_messages = options.max_messages
            if options.max_seconds is not None:
                extension.voicemail_max_seconds = options.max_seconds
            if options.ask_pin is not None:
                extension.voicemail_ask_pin = options.ask_pin
            result = _options(extension)
        if self.on_extension_change is not None:
            self.on_extension_change(number)
        return result

    async def options(self, number: str) -> MailboxOptions:
        """How the mailbox of ``number`` behaves."""
        async with self._db.session() as session:
            return _options(await existing_extension(session, number))

    async def mailbox(self, number: str) -> Mailbox | None:
        """The mailbox of extension ``number`` (its settings, greetings and message count);
        None if there is no such extension."""
        async with self._db.session() as session:
            extension = await ExtensionRepository(session=session).get(number)
            if extension is None:
                return None
            count = await session.scalar(
                select(func.count()).where(VoicemailMessage.mailbox == number)
            )
        operator = None
        if extension.voicemail_operator:
            try:
                operator = Destination.parse(extension.voicemail_operator)
            except ValueError as error:
                log.warning("mailbox %s: operator ignored: %s", number, error)
        greetings = await asyncio.to_thread(self.greetings, number)
        return Mailbox(
            number=number,
            enabled=extension.voicemail_enabled,
            pin=extension.voicemail_pin,
            ask_pin=extension.voicemail_ask_pin,
            operator=operator,
            max_messages=extension.voicemail_max_messages,
            max_seconds=float(extension.voicemail_max_seconds),
            messages=count or 0,
            greetings=greetings,
        )

    # -- greetings ------------------------------------------------------------------------------

    def greeting_path(self, number: str, kind: Greeting) -> Path:
        """Where the ``kind`` greeting of ``number`` is kept (it may not exist)."""
        return self.directory / number / GREETINGS_FOLDER / f"{kind.value}.wav"

    def greetings(self, number: str) -> dict[Greeting, Path]:
        """The greetings ``number`` has recorded."""
        found = {kind: self.greeting_path(number, kind) for kind in Greeting}
        return {kind: path for kind, path in found.items() if path.is_file()}

    def new_greeting_file(self, number: str) -> Path:
        """A fresh path beside the greetings, to record one into before it is kept."""
        folder = self.directory / number / GREETINGS_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"draft-{secrets.token_hex(4)}.wav"

    async def save_greeting(self, number: str, kind: Greeting, recorded: Path) -> None:
        """Make ``recorded`` (a file from `new_greeting_file`) the ``kind`` greeting."""
        await asyncio.to_thread(_replace, recorded, self.greeting_path(number, kind))

    async def import_greeting(self, number: str, kind: Greeting, wav: bytes) -> float:
        """Make a WAV file's audio (any rate, channels or encoding Ringfort reads) the ``kind``
        greeting of ``number``; its length in seconds."""
        async with self._db.session() as session:
            await existing_extension(session, number)
        try:
            pcm = await asyncio.to_thread(decode_wav, wav)
        except RemoteProtocolError as error:
            raise ValidationError(f"not a WAV file Ringfort can play: {error}") from None
        draft = self.new_greeting_file(number)
        await asyncio.to_thread(draft.write_bytes, encode_wav(pcm))
        await self.save_greeting(number, kind, draft)
        return len(pcm) / 2 / RATE

    async def delete_greeting(self, number: str, kind: Greeting) -> None:
        """Remove the ``kind`` greeting of ``number`` (nothing if it has none)."""
        await asyncio.to_thread(_remove, self.greeting_path(number, kind))

    async def set_email(self, number: str, email: MailboxEmail) -> MailboxEmail:
        """Where (and how) the messages of ``number`` are e-mailed; no address: not at all."""
        address = (email.address or "").strip() or None
        if address is not None and _ADDRESS.fullmatch(address) is None:
            raise ValidationError(
                f"{address!r} is not an e-mail address (name@example.com)", field="address"
            )
        async with self._db.session() as session, session.begin():
            extension = await existing_extension(session, number)
            extension.voicemail_email = address
            extension.voicemail_attach = email.attach
            extension.voicemail_delete_emailed = email.delete_emailed
        return MailboxEmail(address, email.attach, email.delete_emailed)

    async def email_of(self, number: str) -> MailboxEmail:
        """How ``number``'s messages are e-mailed."""
        async with self._db.session() as session:
            extension = await existing_extension(session, number)
        return MailboxEmail(
            extension.voicemail_email,
            extension.voicemail_attach,
            extension.voicemail_delete_emailed,
        )

    async def email_backlog(self) -> tuple[int, int, str | None]:
        """Messages waiting to be e-mailed, messages given up on, and the latest error."""
        async with self._db.session() as session:
            counts = dict(
                (
                    await session.execute(
                        select(VoicemailMessage.email_state, func.count())
                        .where(VoicemailMessage.email_state.in_(("pending", "failed")))
                        .group_by(VoicemailMessage.email_state)
                    )
                ).all()
            )
            error = await session.scalar(
                select(VoicemailMessage.email_error)
                .where(
                    VoicemailMessage.email_state.in_(("pending", "failed")),
                    VoicemailMessage.email_error.is_not(None),
                )
                .order_by(VoicemailMessage.id.desc())
                .limit(1)
            )
        return counts.get("pending", 0), counts.get("failed", 0), error

    async def mailboxes(self) -> list[tuple[str, int, int]]:
        """Every extension with voicemail on: (number, new messages, old messages)."""
        async with self._db.session() as session:
            numbers = (
                await session.scalars(
                    select(Extension.number).where(Extension.voicemail_enabled.is_(True))
                )
            ).all()
            counts = (
                await session.execute(
                    select(
                        VoicemailMessage.mailbox, VoicemailMessage.folder, func.count()
                    ).group_by(VoicemailMessage.mailbox, VoicemailMessage.folder)
                )
            ).all()
        found = {(mailbox, folder): count for mailbox, folder, count in counts}
        return [
            (number, found.get((number, "INBOX"), 0), found.get((number, "Old"), 0))
            for number in sorted(numbers, key=lambda n: (len(n), n))
        ]

    # -- the application's MessageStore ---------------------------------------------------------

    def new_file(self, mailbox: str) -> Path:
        """A fresh path for a message of ``mailbox`` (its folder is created if need be)."""
        folder = self.directory / mailbox
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return folder / f"{stamp}-{secrets.token_hex(4)}.wav"

    async def save(self, message: NewMessage) -> None:
        """Add the message's row (to be e-mailed if the mailbox says so); its file is complete
        already."""
        async with self._db.session() as session, session.begin():
            extension = await ExtensionRepository(session=session).get(message.mailbox)
            address = extension.voicemail_email if extension is not None else None
            session.add(self._row(message, address))
        self._changed()

    def _row(self, message: NewMessage, address: str | None) -> VoicemailMessage:
        return VoicemailMessage(
            mailbox=message.mailbox,
            folder="INBOX",
            caller=message.caller[:80],
            clid=message.clid[:160],
            received_at=message.received_at,
            seconds=round(message.seconds, 3),
            path=message.file.relative_to(self.directory).as_posix(),
            uniqueid=message.uniqueid,
            email_to=address,
            email_state="pending" if address else None,
            email_next_at=message.received_at if address else None,
        )

    def discard(self, file: Path) -> None:
        """Delete a recording that did not become a message."""
        _remove(file)

    # -- reading and managing -------------------------------------------------------------------

    async def messages(
        self, mailbox: str | None = None, *, folder: str | None = None
    ) -> list[MessageView]:
        """Messages, newest first; of one mailbox and folder when given."""
        if folder is not None and folder not in VOICEMAIL_FOLDERS:
            raise ValidationError(
                f"no folder {folder!r}; use {' or '.join(VOICEMAIL_FOLDERS)}", field="folder"
            )
        query = select(VoicemailMessage).order_by(
            VoicemailMessage.received_at.desc(), VoicemailMessage.id.desc()
        )
        if mailbox is not None:
            query = query.where(VoicemailMessage.mailbox == mailbox)
        if folder is not None:
            query = query.where(VoicemailMessage.folder == folder)
        async with self._db.session() as session:
            rows = (await session.scalars(query)).all()
        return [self._view(row) for row in rows]

    async def message(self, message_id: int) -> MessageView:
        """One message; NotFoundError if there is none with that id."""
        async with self._db.session() as session:
            row = await session.get(VoicemailMessage, message_id)
        if row is None:
            raise NotFoundError(f"no voicemail message {message_id}")
        return self._view(row)

    async def mark_read(self, message_id: int, *, read: bool = True) -> MessageView:
        """Move a message to ``Old`` (listened to), or back to ``INBOX``."""
        async with self._db.session() as session, session.begin():
            changed = await session.execute(
                update(VoicemailMessage)
                .where(VoicemailMessage.id == message_id)
                .values(folder="Old" if read else "INBOX")
            )
        if changed.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFoundError(f"no voicemail message {message_id}")
        self._changed()
        return await self.message(message_id)

    async def delete(self, message_id: int) -> None:
        """Delete a message: its row, then its file."""
        view = await self.message(message_id)
        async with self._db.session() as session, session.begin():
            await session.execute(delete(VoicemailMessage).where(VoicemailMessage.id == message_id))
        self._changed()
        try:
            await asyncio.to_thread(_remove, Path(view.file))
        except OSError as error:
            log.warning(
                "voicemail message %d: its file could not be deleted: %s", message_id, error
            )

    async def forward(self, message_id: int, mailbox: str) -> bool:
        """Put a copy of a message into ``mailbox`` as a new message (e-mailed if that
        mailbox e-mails); False if there is no such extension or its mailbox is full."""
        view = await self.message(message_id)
        target = await self.mailbox(mailbox)
        if target is None or target.messages >= target.max_messages:
            return False
        copy = self.new_file(mailbox)
        await asyncio.to_thread(shutil.copyfile, view.file, copy)
        await self.save(
            NewMessage(
                mailbox,
                view.caller,
                view.clid,
                view.received_at,
                view.seconds,
                copy,
                view.uniqueid,
            )
        )
        return True

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def _view(self, row: VoicemailMessage) -> MessageView:
        return MessageView(
            id=row.id,
            mailbox=row.mailbox,
            folder=row.folder,
            caller=row.caller,
            clid=row.clid,
            received_at=row.received_at,
            seconds=row.seconds,
            path=row.path,
            file=str(self.directory / row.path),
            uniqueid=row.uniqueid,
            email_state=row.email_state,
            email_error=row.email_error,
        )


def _remove(file: Path) -> None:
    """Delete a message's WAV and the metadata the recorder wrote beside it."""
    for path in (file, metadata_path(file)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _replace(source: Path, target: Path) -> None:
    """Move ``source`` over ``target`` in one step (a greeting is never half-written)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    with contextlib.suppress(FileNotFoundError):
        metadata_path(source).unlink()


def _check_range(field: str, value: int | None, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        raise ValidationError(f"{field} is {low} to {high}, not {value}", field=field)


def _options(extension: Extension) -> MailboxOptions:
    return MailboxOptions(
        ring_seconds=extension.ring_seconds or 0,
        operator=extension.voicemail_operator or "",
        max_messages=extension.voicemail_max_messages,
        max_seconds=extension.voicemail_max_seconds,
        ask_pin=extension.voicemail_ask_pin,
    )
