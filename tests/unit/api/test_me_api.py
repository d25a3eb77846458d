"""The user's own page over HTTP: their queues and pauses, their calls, their mailbox only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from ringfort.api.app import create_app
from ringfort.apps.voicemail import NewMessage
from ringfort.services.audit import AuditService
from ringfort.services.cdr import CdrService
from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService
from ringfort.services.queue_directory import QueueDirectoryService
from ringfort.services.queues import AgentService, QueueService
from ringfort.services.status import StatusService
from ringfort.services.users import UserService
from ringfort.services.voicemail import VoicemailService

PASSWORD = "agent password 1"


@pytest.fixture
async def voicemail(db: Database, tmp_path: Path) -> VoicemailService:
    for number in ("101", "102"):
        await ExtensionService(db=db).add(number, name=f"Desk {number}", password="secret-pass-1")
    users = UserService(db)
    await users.add("ann", PASSWORD, "admin")
    await users.add("ada", PASSWORD, "agent", extension="101", agent="11")
    await users.add("bob", PASSWORD, "agent")
    return VoicemailService(db, tmp_path / "voicemail")


@pytest.fixture
async def client(db: Database, voicemail: VoicemailService) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        status=StatusService(db=db), sip_ready=lambda: True, db=db, voicemail=voicemail,
        users=UserService(db), audit=AuditService(db),
    )  # fmt: skip
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ringfort.test") as http:
        yield http


async def log_in(http: httpx.AsyncClient, username: str) -> dict[str, str]:
    answer = await http.post(
        "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    return {"X-CSRF-Token": answer.json()["csrf"]}


async def message_for(voicemail: VoicemailService, mailbox: str, caller: str) -> int:
    file = voicemail.new_file(mailbox)
    file.write_bytes(b"RIFF" + bytes(40) + b"\x01\x02" * 400)
    await voicemail.save(
        NewMessage(mailbox, caller, f"<{caller}>", datetime.now(UTC), 2.0, file, f"u-{caller}")
    )
    (found,) = [m for m in await voicemail.messages(mailbox) if m.caller == caller]
    return found.id


async def test_an_agent_logs_in_pauses_and_sees_their_queues(
    client: httpx.AsyncClient, db: Database
) -> None:
    await QueueService(db=db).add("help", number="510")
    await QueueService(db=db).add("sales", number="520")
    await AgentService(db=db).add("11", "Ada", "1111")
    directory = QueueDirectoryService(db=db)
    for queue in ("help", "sales"):  # a member of both, logged in to neither
        await directory.log_in(queue, "11", "101", by_agent=False)
        await directory.log_out(queue, "11", by_agent=False)
    headers = await log_in(client, "ada")
    me = (await client.get("/api/v1/me")).json()
    assert (me["username"], me["extension"], me["agent"]) == ("ada", "101", "11")
    assert [(q["queue"], q["logged_in"]) for q in me["queues"]] == [
        ("help", False),
        ("sales", False),
    ]
    joined = await client.put("/api/v1/me/queues/help", json={}, headers=headers)
    assert joined.status_code == 200, joined.text
    assert joined.json()["phone"] == "101"  # at the user's own extension
    paused = await client.post("/api/v1/me/pause", json={"reason": "lunch"}, headers=headers)
    assert [(m["queue"], m["paused"], m["pause_reason"]) for m in paused.json()] == [
        ("help", True, "lunch")
    ]
    me = (await client.get("/api/v1/me")).json()
    assert [(q["queue"], q["logged_in"], q["paused"]) for q in me["queues"]] == [
        ("help", True, True),
        ("sales", False, False),
    ]
    assert (await client.post("/api/v1/me/unpause", headers=headers)).status_code == 200
    left = await client.delete("/api/v1/me/queues/help", headers=headers)
    assert left.json()["phone"] is None
    again = await client.delete("/api/v1/me/queues/help", headers=headers)
    assert again.status_code == 404


async def test_an_agent_hears_only_their_own_messages(
    client: httpx.AsyncClient, voicemail: VoicemailService
) -> None:
    mine = await message_for(voicemail, "101", "555")
    theirs = await message_for(voicemail, "102", "666")
    headers = await log_in(client, "ada")
    listed = (await client.get("/api/v1/me/voicemail")).json()
    assert [m["id"] for m in listed] == [mine]
    assert listed[0]["audio"] == f"/api/v1/me/voicemail/{mine}/audio"
    audio = await client.get(f"/api/v1/me/voicemail/{mine}/audio", headers={"Range": "bytes=0-3"})
    assert (audio.status_code, audio.content) == (206, b"RIFF")
    assert (await client.get(f"/api/v1/me/voicemail/{theirs}/audio")).status_code == 404
    assert (
        await client.delete(f"/api/v1/me/voicemail/{theirs}", headers=headers)
    ).status_code == 404
    read = await client.patch(f"/api/v1/me/voicemail/{mine}", json={"read": True}, headers=headers)
    assert read.json()["folder"] == "Old"
    assert (await client.delete(f"/api/v1/me/voicemail/{mine}", headers=headers)).status_code == 204
    assert (await client.get("/api/v1/me/voicemail")).json() == []
    # The admin's routes stay closed to an agent.
    assert (await client.get("/api/v1/voicemail/messages")).status_code == 403


async def test_an_agent_sees_the_calls_of_their_extension_today(
    client: httpx.AsyncClient, db: Database
) -> None:
    cdrs = CdrService(db=db)
    now = datetime.now(UTC)
    for uniqueid, src, dst in (("a", "101", "102"), ("b", "102", "101"), ("c", "102", "103")):
        await cdrs.add(
            uniqueid=uniqueid, linkedid=uniqueid, src=src, dst=dst, clid=f"<{src}>", start=now,
            answer=now, end=now, disposition="ANSWERED", hangup_by="caller",
        )  # fmt: skip
    await log_in(client, "ada")
    calls = (await client.get("/api/v1/me/calls")).json()
    assert sorted(call["uniqueid"] for call in calls) == ["a", "b"]
    assert (await client.get("/api/v1/me/calls?days=40")).status_code == 400


async def test_a_user_who_is_no_agent_is_told_what_to_ask_for(client: httpx.AsyncClient) -> None:
    headers = await log_in(client, "bob")
    me = (await client.get("/api/v1/me")).json()
    assert (me["agent"], me["queues"]) == (None, [])
    paused = await client.post("/api/v1/me/pause", json={"reason": "lunch"}, headers=headers)
    assert paused.status_code == 409
    assert "ringfort user set bob --agent N" in paused.json()["detail"]
    calls = await client.get("/api/v1/me/calls")
    assert calls.status_code == 409
    assert "--extension N" in calls.json()["detail"]


async def test_a_user_sets_the_forwarding_of_their_own_extension(
    client: httpx.AsyncClient, db: Database
) -> None:
    headers = await log_in(client, "ada")
    mine = await client.get("/api/v1/me/forwarding")
    assert mine.json() == {
        "extension": "101", "dnd": False, "always": None, "busy": None, "no_answer": None,
    }  # fmt: skip
    changed = await client.patch(
        "/api/v1/me/forwarding", json={"dnd": True, "busy": "102"}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["dnd"], changed.json()["busy"]) == (True, "102")
    stored = await ExtensionService(db=db).get("101")
    assert (stored.dnd, stored.forward_busy) == (True, "102")
    refused = await client.patch("/api/v1/me/forwarding", json={"always": "999"}, headers=headers)
    assert (refused.status_code, refused.json()["field"]) == (400, "always")
    off = await client.patch("/api/v1/me/forwarding", json={"busy": ""}, headers=headers)
    assert off.json()["busy"] is None
    # Someone else's extension is the admin's to change, not this user's.
    other = await client.patch(
        "/api/v1/extensions/102/forwarding", json={"dnd": True}, headers=headers
    )
    assert other.status_code == 403


async def test_a_user_without_an_extension_has_no_forwarding_to_set(
    client: httpx.AsyncClient,
) -> None:
    headers = await log_in(client, "bob")
    mine = await client.get("/api/v1/me/forwarding")
    assert mine.status_code == 409
    assert "--extension N" in mine.json()["detail"]
    changed = await client.patch("/api/v1/me/forwarding", json={"dnd": True}, headers=headers)
    assert changed.status_code == 409
