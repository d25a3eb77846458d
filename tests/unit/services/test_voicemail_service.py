"""Voicemail messages as rows and files, and which extensions take them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ringfort.apps.voicemail import NewMessage
from ringfort.errors import NotFoundError, ValidationError
from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService
from ringfort.services.store_ports import SqlExtensionDirectory
from ringfort.services.voicemail import VoicemailService

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
