"""Voicemail to e-mail with a real SMTP server (aiosmtpd) in the test.

A baresip caller leaves a message for 4412, whose mailbox e-mails new messages:
the e-mail arrives with the WAV attached, and the attached audio holds the
caller's tone. With the mail server down, the message is kept, ``ringfort status``
shows the failure, and the e-mail goes out once the server is back. A mailbox
set to privacy gets no attachment and its message is deleted once sent.
"""

from __future__ import annotations

import contextlib
import email
import json
import queue
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from callkit import CallServer, call_server
from harness import BaresipFactory, ServerFactory
from peers import RingfortServer, free_port_block, wait_until
from test_calls_baresip import CALLER_TONE_HZ, read_wav, tone_seconds
from test_voicemail import (
    CALLER,
    MESSAGE_SECONDS,
    OWNER,
    caller_phone,
    leave_message,
    switch_voicemail,
    the_message,
)

pytestmark = pytest.mark.peers

ADDRESS = "owner@example.com"


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.received: queue.Queue[EmailMessage] = queue.Queue()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.put(email.message_from_bytes(envelope.content, policy=default))  # type: ignore[arg-type]
        return "250 Message accepted"

    def next(self, timeout: float) -> EmailMessage:
        try:
            return self.received.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no e-mail within {timeout} s") from None


@contextlib.contextmanager
def mail_server(port: int) -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def smtp_port() -> int:
    return free_port_block(1)


@pytest.fixture
def office(ringfort_factory: ServerFactory, smtp_port: int) -> CallServer:
    setup = call_server(
        ringfort_factory, [CALLER, OWNER], name="vmail", size=20, media__rtp_timeout="0",
        smtp__host="127.0.0.1", smtp__port=str(smtp_port),
        voicemail__email_retry_seconds="1",
    )  # fmt: skip
    switch_voicemail(setup.server, on=True)
    setup.server.cli("voicemail", "email", OWNER, ADDRESS)
    return setup


def attachment_of(mail: EmailMessage, tmp_path: Path) -> Path:
    (part,) = list(mail.iter_attachments())
    assert part.get_content_type() == "audio/wav"
    saved = tmp_path / "attached.wav"
    saved.write_bytes(part.get_content())
    return saved


def email_status(server: RingfortServer) -> dict[str, Any]:
    return json.loads(server.cli("status", "--json").stdout)["voicemail_email"]  # type: ignore[no-any-return]


def test_a_new_message_is_e_mailed_with_its_recording(
    office: CallServer, baresip_factory: BaresipFactory, smtp_port: int, tmp_path: Path
) -> None:
    server = office.server
    with mail_server(smtp_port) as inbox:
        leave_message(caller_phone(baresip_factory, server, tmp_path), server, busy=False)
        mail = inbox.next(timeout=15)
    assert mail["To"] == ADDRESS
    assert CALLER in mail["Subject"]
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    assert f"mailbox {OWNER}" in text.get_content()
    heard, rate = read_wav(attachment_of(mail, tmp_path))
    assert tone_seconds(heard, rate, CALLER_TONE_HZ) >= MESSAGE_SECONDS - 1.0
    # The attachment is the message itself, byte for byte.
    message = the_message(server)
    assert (tmp_path / "attached.wav").read_bytes() == Path(message["file"]).read_bytes()
    assert message["email_state"] == "sent"


def test_with_the_mail_server_down_the_message_waits_and_goes_out_later(
    office: CallServer, baresip_factory: BaresipFactory, smtp_port: int, tmp_path: Path
) -> None:
    server = office.server
    leave_message(caller_phone(baresip_factory, server, tmp_path), server, busy=False)
    message = the_message(server)  # kept, whatever the mail server does
    wait_until(
        lambda: email_status(server)["last_error"], timeout=10, what="the failure in the status"
    )
    status = email_status(server)
    assert status["pending"] == 1
    assert "Connect" in status["last_error"] or "refused" in status["last_error"]
    assert "voicemail e-mail: 1 waiting" in server.cli("status").stdout
    with mail_server(smtp_port) as inbox:
        mail = inbox.next(timeout=20)  # retried 1, 2, 4, 8 s after the first attempt
    assert mail["To"] == ADDRESS
    wait_until(lambda: email_status(server)["pending"] == 0, timeout=5, what="the backlog gone")
    assert Path(message["file"]).exists()


def test_a_private_mailbox_gets_no_attachment_and_keeps_no_copy(
    office: CallServer, baresip_factory: BaresipFactory, smtp_port: int, tmp_path: Path
) -> None:
    server = office.server
    server.cli("voicemail", "email", OWNER, ADDRESS, "--no-attach", "--delete-emailed")
    with mail_server(smtp_port) as inbox:
        leave_message(caller_phone(baresip_factory, server, tmp_path), server, busy=False)
        mail = inbox.next(timeout=15)
    assert list(mail.iter_attachments()) == []
    wait_until(
        lambda: json.loads(server.cli("voicemail", "list", "--json").stdout) == [],
        timeout=5,
        what="the message deleted once e-mailed",
    )
