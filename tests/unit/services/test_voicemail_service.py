"""Voicemail messages as rows and files, and which extensions take them."""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ringfort.apps.voicemail import NewMessage
from ringfort.errors import NotFoundError, ValidationError
from ringfort.rtp.wav import encode_wav
from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService
from ringfort.services.store_ports import SqlExtensionDirectory
from ringfort.services.voicemail import Greeting, MailboxOptions, VoicemailService

NOON = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


async def a_message(
    service: VoicemailService, mailbox: str, caller: str, at: datetime, seconds: float = 5.0
) -> Path:
    file = service.new_file(mailbox)
    file.write_bytes(b"RIFF....WAVE")
    file.with_suffix(".json").write_text("{}")  # the recorder's metadata
    await service.save(
        NewMessage(mailbox, caller, f'"" <{caller}>', at, seconds, file, f"u-{caller}")
    )
    return file


async def test_the_voicemail_switch_reaches_the_call_cores_directory(
    db: Database, tmp_path: Path
) -> None:
    await ExtensionService(db=db).add("101", "Anna")
    await ExtensionService(db=db).add("102", "Boris")
    service = VoicemailService(db, tmp_path / "vm")

    async def switches() -> dict[str, bool]:
        directory = SqlExtensionDirectory(db=db)
        await directory.preload()
        found = {n: await directory.credentials(n) for n in ("101", "102")}
        return {n: c.voicemail for n, c in found.items() if c is not None}

    assert await switches() == {"101": False, "102": False}
    await service.set_enabled("101", True)
    assert await switches() == {"101": True, "102": False}
    assert (await SqlExtensionDirectory(db=db).credentials("101")).voicemail  # type: ignore[union-attr]
    assert await service.mailboxes() == [("101", 0, 0)]
    await service.set_enabled("101", False)
    assert await switches() == {"101": False, "102": False}
    with pytest.raises(NotFoundError, match="extension 999"):
        await service.set_enabled("999", True)


async def test_messages_are_listed_newest_first_and_move_between_folders(
    db: Database, tmp_path: Path
) -> None:
    await ExtensionService(db=db).add("101", "Anna")
    service = VoicemailService(db, tmp_path / "vm")
    await service.set_enabled("101", True)
    first = await a_message(service, "101", "4501", NOON)
    await a_message(service, "101", "4502", NOON + timedelta(minutes=1))
    await a_message(service, "102", "4503", NOON)
    listed = await service.messages("101")
    assert [m.caller for m in listed] == ["4502", "4501"]
    assert listed[1].file == str(first)
    assert listed[1].path == f"101/{first.name}"
    assert (listed[1].received_at, listed[1].seconds) == (NOON, 5.0)

    read = await service.mark_read(listed[1].id)
    assert read.folder == "Old"
    assert [m.caller for m in await service.messages("101", folder="INBOX")] == ["4502"]
    assert await service.mailboxes() == [("101", 1, 1)]
    assert (await service.mark_read(read.id, read=False)).folder == "INBOX"
    with pytest.raises(ValidationError, match="INBOX or Old"):
        await service.messages(folder="Trash")


async def test_deleting_a_message_removes_its_row_and_its_file(
    db: Database, tmp_path: Path
) -> None:
    service = VoicemailService(db, tmp_path / "vm")
    file = await a_message(service, "101", "4501", NOON)
    (message,) = await service.messages()
    await service.delete(message.id)
    assert await service.messages() == []
    assert not file.exists()
    assert not file.with_suffix(".json").exists()
    with pytest.raises(NotFoundError, match=f"no voicemail message {message.id}"):
        await service.delete(message.id)
    with pytest.raises(NotFoundError):
        await service.mark_read(message.id)


async def test_a_message_whose_file_is_gone_can_still_be_deleted(
    db: Database, tmp_path: Path
) -> None:
    service = VoicemailService(db, tmp_path / "vm")
    file = await a_message(service, "101", "4501", NOON)
    file.unlink()
    (message,) = await service.messages()
    await service.delete(message.id)
    assert await service.messages() == []


def test_new_files_are_unique_and_in_the_mailboxs_folder(tmp_path: Path) -> None:
    service = VoicemailService(None, tmp_path / "vm")  # type: ignore[arg-type]
    files = {service.new_file("101") for _ in range(50)}
    assert len(files) == 50
    assert all(f.parent == tmp_path / "vm" / "101" for f in files)
    assert (tmp_path / "vm" / "101").is_dir()


def a_wav(seconds: float, rate: int = 8000) -> bytes:
    samples = [
        round(8000 * math.sin(2 * math.pi * 440 * n / rate)) for n in range(int(seconds * rate))
    ]
    return encode_wav(struct.pack(f"<{len(samples)}h", *samples), rate)


def content(path: str) -> bytes | None:
    """The file's octets; None if it is gone."""
    file = Path(path)
    return file.read_bytes() if file.exists() else None


async def test_a_mailbox_carries_its_pin_options_greetings_and_count(
    db: Database, tmp_path: Path
) -> None:
    await ExtensionService(db=db).add("101", "Anna")
    service = VoicemailService(db, tmp_path / "vm")
    changed: list[str] = []
    service.on_extension_change = changed.append
    box = await service.mailbox("101")
    assert box is not None
    assert (box.pin, box.ask_pin, box.operator, box.max_messages, box.messages) == (
        None, True, None, 100, 0,
    )  # fmt: skip
    assert await service.mailbox("999") is None

    await service.set_pin("101", "4321")
    for bad in ("12", "12345678901234567", "12a4"):
        with pytest.raises(ValidationError, match="4 to 16 digits"):
            await service.set_pin("101", bad)
    options = await service.set_options(
        "101",
        MailboxOptions(ring_seconds=12, operator="extension:100", max_messages=2, ask_pin=False),
    )
    assert options == MailboxOptions(12, "extension:100", 2, 180, False)
    assert changed == ["101"]  # the call core forgets its cached ring time
    with pytest.raises(ValidationError, match="unknown destination kind"):
        await service.set_options("101", MailboxOptions(operator="nowhere:1"))
    with pytest.raises(ValidationError, match="max_messages is 1 to 10000"):
        await service.set_options("101", MailboxOptions(max_messages=0))

    directory = SqlExtensionDirectory(db=db)
    await directory.preload()
    assert (await directory.credentials("101")).ring_seconds == 12  # type: ignore[union-attr]

    seconds = await service.import_greeting("101", Greeting.BUSY, a_wav(1.5, rate=16000))
    assert abs(seconds - 1.5) < 0.01
    with pytest.raises(ValidationError, match="not a WAV"):
        await service.import_greeting("101", Greeting.NAME, b"not audio")
    await a_message(service, "101", "102", NOON)
    box = await service.mailbox("101")
    assert box is not None
    assert (box.pin, box.ask_pin, str(box.operator), box.max_messages, box.messages) == (
        "4321", False, "extension:100", 2, 1,
    )  # fmt: skip
    assert set(box.greetings) == {Greeting.BUSY}
    assert box.greetings[Greeting.BUSY].read_bytes()[22:24] == b"\x01\x00"  # mono

    # Recorded by phone: a draft becomes the greeting in one step.
    draft = service.new_greeting_file("101")
    draft.write_bytes(a_wav(0.5))
    await service.save_greeting("101", Greeting.TEMPORARY, draft)
    assert not draft.exists()
    assert set(service.greetings("101")) == {Greeting.BUSY, Greeting.TEMPORARY}
    await service.delete_greeting("101", Greeting.TEMPORARY)
    await service.delete_greeting("101", Greeting.TEMPORARY)  # already gone: fine
    assert set(service.greetings("101")) == {Greeting.BUSY}


async def test_a_forwarded_message_is_a_new_message_of_the_other_mailbox(
    db: Database, tmp_path: Path
) -> None:
    for number, name in (("101", "Anna"), ("102", "Boris")):
        await ExtensionService(db=db).add(number, name)
    service = VoicemailService(db, tmp_path / "vm")
    await a_message(service, "101", "555", NOON)
    (original,) = await service.messages("101")
    await service.mark_read(original.id)
    assert await service.forward(original.id, "102")
    (copy,) = await service.messages("102")
    assert (copy.folder, copy.caller, copy.seconds, copy.received_at) == (
        "INBOX", "555", 5.0, original.received_at,
    )  # fmt: skip
    assert copy.file != original.file
    assert content(copy.file) == content(original.file) is not None
    assert not await service.forward(original.id, "999")  # no such mailbox
    await service.set_options("102", MailboxOptions(max_messages=1))
    assert not await service.forward(original.id, "102")  # full
    await service.delete(original.id)
    assert content(copy.file) is not None  # the copy is its own
