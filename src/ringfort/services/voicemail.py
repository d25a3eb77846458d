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
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ringfort.apps.voicemail import NewMessage
from ringfort.db.models import VOICEMAIL_FOLDERS, Extension, VoicemailMessage
from ringfort.db.repositories import ExtensionRepository
from ringfort.errors import NotFoundError, ValidationError
from ringfort.media.recorder import metadata_path
from ringfort.services.database import Database

__all__ = ["MailboxEmail", "MessageView", "VoicemailService"]

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


_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+")


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
            extension = await _extension(session, number)
            extension.voicemail_enabled = enabled
        if self.on_extension_change is not None:
            self.on_extension_change(number)

    async def set_email(self, number: str, email: MailboxEmail) -> MailboxEmail:
        """Where (and how) the messages of ``number`` are e-mailed; no address: not at all."""
        address = (email.address or "").strip() or None
        if address is not None and _ADDRESS.fullmatch(address) is None:
            raise ValidationError(
                f"{address!r} is not an e-mail address (name@example.com)", field="address"
            )
        async with self._db.session() as session, session.begin():
            extension = await _extension(session, number)
            extension.voicemail_email = address
            extension.voicemail_attach = email.attach
            extension.voicemail_delete_emailed = email.delete_emailed
        return MailboxEmail(address, email.attach, email.delete_emailed)

    async def email_of(self, number: str) -> MailboxEmail:
        """How ``number``'s messages are e-mailed."""
        async with self._db.session() as session:
            extension = await _extension(session, number)
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
            email_state=row.email_state,
            email_error=row.email_error,
        )


def _remove(file: Path) -> None:
    """Delete a message's WAV and the metadata the recorder wrote beside it."""
    for path in (file, metadata_path(file)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


async def _extension(session: AsyncSession, number: str) -> Extension:
    """The extension ``number``; NotFoundError naming it when there is none."""
    extension = await ExtensionRepository(session=session).get(number)
    if extension is None:
        raise NotFoundError(f"extension {number} does not exist")
    return extension
