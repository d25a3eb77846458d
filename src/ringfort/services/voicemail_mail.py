"""Voicemail to e-mail: each new message of a mailbox with an address goes out by SMTP.

A message to send is marked ``pending`` in its row when it is saved; this sender
takes the due ones off the event loop's hot path (a call never waits for it),
composes the e-mail (who called, when, how long; the WAV attached unless the
mailbox says not to) and hands it to the mail server. A failure is logged, kept
in the row (``ringfort status`` shows it) and retried after a wait that doubles
each time up to an hour; after ``give_up`` the message is marked ``failed`` and
stays in the mailbox. State lives in the database, so a restart carries on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Literal

import aiosmtplib
from sqlalchemy import select, update

from ringfort.apps.voicemail import NewMessage
from ringfort.db.models import VoicemailMessage
from ringfort.errors import NotFoundError
from ringfort.periodic import Periodic
from ringfort.services.database import Database
from ringfort.services.voicemail import VoicemailService

__all__ = ["MailServer", "MailTemplates", "VoicemailMailer", "compose"]

log = logging.getLogger(__name__)

MAX_RETRY = timedelta(hours=1)
BATCH = 20
"""Messages taken per look: a backlog drains in turns, and the newest are not starved."""
_ERROR_ROOM = 500


@dataclass(frozen=True, slots=True)
class MailServer:
    """How to reach the mail server."""

    host: str
    port: int = 25
    security: Literal["auto", "starttls", "tls", "none"] = "auto"
    username: str | None = None
    password: str | None = None
    sender: str = "Ringfort <voicemail@localhost>"
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class MailTemplates:
    """The subject and text of a message's e-mail (``str.format`` fields)."""

    subject: str = "New voicemail from {caller} ({seconds} s)"
    body: str = "{clid} left you a message of {seconds} seconds in mailbox {mailbox} on {time}.\n"


@dataclass(frozen=True, slots=True)
class _Due:
    """A message whose e-mail is due, with where it goes and how often it was tried."""

    id: int
    message: NewMessage
    to: str
    attempts: int


def compose(due: _Due, templates: MailTemplates, sender: str, audio: bytes | None) -> EmailMessage:
    """The e-mail of one message (``audio``: the WAV to attach, or None)."""
    left = due.message
    when = left.received_at.astimezone()
    fields = {
        "mailbox": left.mailbox,
        "caller": left.caller,
        "clid": left.clid,
        "time": when.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "seconds": f"{left.seconds:.0f}",
        "attachment": "The recording is attached."
        if audio is not None
        else "The recording is in your mailbox.",
    }
    message = EmailMessage()
    message["From"] = sender
    message["To"] = due.to
    message["Subject"] = _fill(templates.subject, fields)
    message["Date"] = format_datetime(when)
    message["Message-ID"] = make_msgid(domain="ringfort")
    message.set_content(_fill(templates.body, fields))
    if audio is not None:
        stamp = left.received_at.strftime("%Y%m%d-%H%M%S")
        message.add_attachment(
            audio, maintype="audio", subtype="wav", filename=f"voicemail-{left.mailbox}-{stamp}.wav"
        )
    return message


def _fill(template: str, fields: dict[str, str]) -> str:
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError) as error:
        # A template with a field that does not exist still sends something readable.
        log.warning("voicemail e-mail template %r: %s", template, error)
        return template


class VoicemailMailer:
    """Sends the due voicemail e-mails, retrying with back-off."""

    def __init__(
        self,
        db: Database,
        voicemail: VoicemailService,
        server: MailServer,
        *,
        templates: MailTemplates | None = None,
        retry: timedelta = timedelta(seconds=30),
        give_up: timedelta = timedelta(hours=72),
        interval: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._voicemail = voicemail
        self._server = server
        self._templates = templates or MailTemplates()
        self._retry = retry
        self._give_up = give_up
        self._clock = clock
        self._sender = Periodic(self._drain, interval, "sending voicemail e-mail")

    def start(self) -> None:
        """Begin sending in the background."""
        self._sender.start()

    async def close(self) -> None:
        """Stop (what is not sent yet stays pending for the next start)."""
        await self._sender.close()

    def poke(self) -> None:
        """Look for due messages now (one was just left)."""
        self._sender.poke()

    async def _drain(self) -> None:
        while await self.send_due() == BATCH:
            pass

    async def send_due(self) -> int:
        """Send (or try) the messages due now; returns how many were tried."""
        now = self._clock()
        async with self._db.session() as session:
            rows = (
                await session.scalars(
                    select(VoicemailMessage)
                    .where(
                        VoicemailMessage.email_state == "pending",
                        VoicemailMessage.email_next_at <= now,
                    )
                    .order_by(VoicemailMessage.email_next_at)
                    .limit(BATCH)
                )
            ).all()
            due = [
                _Due(
                    row.id,
                    NewMessage(
                        row.mailbox,
                        row.caller,
                        row.clid,
                        row.received_at,
                        row.seconds,
                        self._voicemail.directory / row.path,
                        row.uniqueid,
                    ),
                    row.email_to or "",
                    row.email_attempts,
                )
                for row in rows
            ]
        for message in due:
            await self._send(message)
        return len(due)

    async def _send(self, due: _Due) -> None:
        try:
            options = await self._voicemail.email_of(due.message.mailbox)
        except NotFoundError:
            # The extension was deleted: its address went with it.
            await self._mark(due.id, email_state="failed", email_error="the mailbox is gone")
            return
        audio = None
        if options.attach:
            try:
                audio = await asyncio.to_thread(due.message.file.read_bytes)
            except OSError as error:
                log.warning("voicemail %d: the recording cannot be read: %s", due.id, error)
        email = compose(due, self._templates, self._server.sender, audio)
        server = self._server
        try:
            await aiosmtplib.send(
                email,
                hostname=server.host,
                port=server.port,
                username=server.username,
                password=server.password,
                use_tls=server.security == "tls",
                start_tls={"starttls": True, "none": False}.get(server.security),
                timeout=server.timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            await self._failed(due, f"{type(error).__name__}: {error}")
            return
        log.info("voicemail %d for %s e-mailed to %s", due.id, due.message.mailbox, due.to)
        await self._mark(due.id, email_state="sent", email_error=None, email_next_at=None)
        if options.delete_emailed:
            await self._voicemail.delete(due.id)

    async def _failed(self, due: _Due, error: str) -> None:
        attempts = due.attempts + 1
        now = self._clock()
        wait = min(self._retry * 2 ** (attempts - 1), MAX_RETRY)
        if now + wait - due.message.received_at > self._give_up:
            log.error(
                "voicemail %d for %s: e-mail to %s given up after %d attempts: %s",
                due.id, due.message.mailbox, due.to, attempts, error,
            )  # fmt: skip
            await self._mark(
                due.id, email_state="failed", email_attempts=attempts,
                email_error=error[:_ERROR_ROOM], email_next_at=None,
            )  # fmt: skip
            return
        log.warning(
            "voicemail %d for %s: e-mail to %s failed (attempt %d; next in %.0f s): %s",
            due.id, due.message.mailbox, due.to, attempts, wait.total_seconds(), error,
        )  # fmt: skip
        await self._mark(
            due.id, email_attempts=attempts, email_error=error[:_ERROR_ROOM],
            email_next_at=now + wait,
        )  # fmt: skip

    async def _mark(self, message_id: int, **values: object) -> None:
        async with self._db.session() as session, session.begin():
            await session.execute(
                update(VoicemailMessage).where(VoicemailMessage.id == message_id).values(**values)
            )
