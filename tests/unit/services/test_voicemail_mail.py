"""Voicemail e-mails: what they say, and how sending retries, against a real SMTP server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from ringfort.apps.voicemail import NewMessage
from ringfort.db.models import VoicemailMessage
from ringfort.errors import ValidationError
from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService
from ringfort.services.voicemail import MailboxEmail, VoicemailService
from ringfort.services.voicemail_mail import MailServer, MailTemplates, VoicemailMailer

NOON = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
AUDIO = b"RIFF" + bytes(40) + b"\x10\x20" * 100


class Inbox:
    def __init__(self) -> None:
        self.received: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(message_from_bytes(envelope.content, policy=default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


class Clock:
    def __init__(self) -> None:
        self.now = NOON

    def __call__(self) -> datetime:
        return self.now


async def a_mailbox(db: Database, tmp_path: Path, **options: bool) -> VoicemailService:
    await ExtensionService(db=db).add("101", "Anna")
    service = VoicemailService(db, tmp_path / "vm")
    await service.set_email("101", MailboxEmail("anna@example.com", **options))
    file = service.new_file("101")
    file.write_bytes(AUDIO)
    await service.save(NewMessage("101", "4501", '"Bob" <4501>', NOON, 12.4, file, "u-1"))
    return service


def mailer(
    db: Database, service: VoicemailService, port: int, clock: Clock, **extra: Any
) -> VoicemailMailer:
    return VoicemailMailer(
        db, service, MailServer("127.0.0.1", port, security="none", timeout=5),
        templates=MailTemplates(
            "Voicemail from {caller} ({seconds} s) {nonsense}",
            "{clid} for {mailbox}.\n{attachment}\n",
        ),
        retry=timedelta(seconds=30), clock=clock, **extra,
    )  # fmt: skip


async def row(db: Database) -> VoicemailMessage:
    async with db.session() as session:
        return (await session.scalars(select(VoicemailMessage))).one()


async def test_a_message_goes_out_with_its_recording(
    db: Database, tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    service = await a_mailbox(db, tmp_path)
    assert await mailer(db, service, port, Clock()).send_due() == 1
    (mail,) = inbox.received
    assert mail["To"] == "anna@example.com"
    # A template with an unknown field is sent as written rather than not at all.
    assert mail["Subject"] == "Voicemail from {caller} ({seconds} s) {nonsense}"
    body = mail.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    assert body.startswith('"Bob" <4501> for 101.\nThe recording is attached.')
    (attached,) = list(mail.iter_attachments())
    assert attached.get_content() == AUDIO
    assert attached.get_filename() == "voicemail-101-20261202-120000.wav"
    assert ((await row(db)).email_state, (await row(db)).email_error) == ("sent", None)
    assert await mailer(db, service, port, Clock()).send_due() == 0  # not sent twice


async def test_a_private_mailbox_gets_no_recording_and_keeps_no_copy(
    db: Database, tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    service = await a_mailbox(db, tmp_path, attach=False, delete_emailed=True)
    await mailer(db, service, port, Clock()).send_due()
    (mail,) = inbox.received
    assert list(mail.iter_attachments()) == []
    assert "The recording is in your mailbox." in mail.get_body().get_content()
    assert await service.messages() == []


async def test_failures_are_kept_retried_later_and_finally_given_up(
    db: Database, tmp_path: Path
) -> None:
    service = await a_mailbox(db, tmp_path)
    clock = Clock()
    sender = mailer(db, service, free_port(), clock, give_up=timedelta(minutes=5))
    assert await sender.send_due() == 1
    failed = await row(db)
    assert (failed.email_state, failed.email_attempts) == ("pending", 1)
    assert failed.email_next_at == NOON + timedelta(seconds=30)
    assert failed.email_error
    assert await service.email_backlog() == (1, 0, failed.email_error)
    assert await sender.send_due() == 0  # not due yet
    clock.now = NOON + timedelta(seconds=30)
    await sender.send_due()
    assert (await row(db)).email_next_at == clock.now + timedelta(seconds=60)  # doubled
    clock.now += timedelta(seconds=60)
    await sender.send_due()
    clock.now += timedelta(seconds=120)
    await sender.send_due()  # the next wait would pass the 5 minutes: given up
    given_up = await row(db)
    assert (given_up.email_state, given_up.email_attempts) == ("failed", 4)
    assert (await service.email_backlog())[:2] == (0, 1)
    assert len(await service.messages()) == 1  # the message itself stays


async def test_an_address_that_is_not_one_is_refused(db: Database, tmp_path: Path) -> None:
    await ExtensionService(db=db).add("101", "Anna")
    service = VoicemailService(db, tmp_path / "vm")
    with pytest.raises(ValidationError, match="not an e-mail address"):
        await service.set_email("101", MailboxEmail("anna at example.com"))
    off = await service.set_email("101", MailboxEmail(None))
    assert off.address is None
