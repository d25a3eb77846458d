"""Voicemail over HTTP: mailboxes switched on, messages listed, played, marked and deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from ringfort.api.app import create_app
from ringfort.apps.voicemail import NewMessage
from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService
from ringfort.services.status import StatusService
from ringfort.services.voicemail import VoicemailService

AUDIO = b"RIFF" + bytes(40) + b"\x01\x02" * 400


@pytest.fixture
async def service(db: Database, tmp_path: Path) -> VoicemailService:
    await ExtensionService(db=db).add("101", name="Desk", password="secret-pass-1")
    return VoicemailService(db, tmp_path / "voicemail")


@pytest.fixture
async def client(db: Database, service: VoicemailService) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(status=StatusService(db=db), sip_ready=lambda: True, voicemail=service)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def leave(service: VoicemailService) -> Path:
    file = service.new_file("101")
    file.write_bytes(AUDIO)
    await service.save(
        NewMessage(
            "101", "4501", '"Ann" <4501>', datetime(2026, 12, 2, tzinfo=UTC), 3.5, file, "u-1"
        )
    )
    return file


async def test_a_mailbox_is_switched_on_and_its_messages_counted(
    client: httpx.AsyncClient, service: VoicemailService
) -> None:
    assert (await client.get("/api/v1/voicemail/mailboxes")).json() == []
    on = await client.put("/api/v1/voicemail/mailboxes/101", json={"enabled": True})
    assert on.json() == {"mailbox": "101", "enabled": True}
    await leave(service)
    assert (await client.get("/api/v1/voicemail/mailboxes")).json() == [
        {"mailbox": "101", "new": 1, "old": 0}
    ]
    missing = await client.put("/api/v1/voicemail/mailboxes/999", json={"enabled": True})
    assert missing.status_code == 404
    assert "extension 999" in missing.json()["detail"]


async def test_a_message_is_listed_played_marked_and_deleted(
    client: httpx.AsyncClient, service: VoicemailService
) -> None:
    file = await leave(service)
    (listed,) = (await client.get("/api/v1/voicemail/messages", params={"mailbox": "101"})).json()
    assert (listed["caller"], listed["folder"], listed["seconds"]) == ("4501", "INBOX", 3.5)
    assert "file" not in listed  # the server's own path stays on the server
    audio = await client.get(listed["audio"])
    assert audio.status_code == 200
    assert audio.headers["content-type"] == "audio/wav"
    assert audio.content == AUDIO
    part = await client.get(listed["audio"], headers={"Range": "bytes=0-3"})
    assert (part.status_code, part.content) == (206, b"RIFF")

    marked = await client.patch(f"/api/v1/voicemail/messages/{listed['id']}", json={"read": True})
    assert marked.json()["folder"] == "Old"
    assert (await client.get("/api/v1/voicemail/messages", params={"folder": "INBOX"})).json() == []

    gone = await client.delete(f"/api/v1/voicemail/messages/{listed['id']}")
    assert gone.status_code == 204
    assert not file.exists()
    again = await client.get(f"/api/v1/voicemail/messages/{listed['id']}")
    assert again.status_code == 404


async def test_bad_requests_get_a_clear_4xx(client: httpx.AsyncClient) -> None:
    folder = await client.get("/api/v1/voicemail/messages", params={"folder": "Trash"})
    assert folder.status_code == 400
    assert folder.json()["field"] == "folder"
    assert (await client.get("/api/v1/voicemail/messages/abc")).status_code == 422
    assert (await client.delete("/api/v1/voicemail/messages/42")).status_code == 404
    assert (await client.patch("/api/v1/voicemail/messages/42", json={})).status_code == 422
