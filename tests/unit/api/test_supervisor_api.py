"""A supervisor's actions over HTTP: log agents in and out, pause and unpause, with clear 4xx."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from ringfort.api.app import create_app
from ringfort.db.models import QueueLogEntry
from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService
from ringfort.services.queues import AgentService, QueueService
from ringfort.services.status import StatusService


@pytest.fixture
async def client(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    await QueueService(db=db).add("sales", number="500")
    await QueueService(db=db).add("support", number="600")
    await AgentService(db=db).add("1", "Anna", "1111")
    await ExtensionService(db=db).add("101", name="Desk", password="secret-pass-1")
    app = create_app(status=StatusService(db=db), sip_ready=lambda: True, db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def events(db: Database) -> list[tuple[str, str, str]]:
    async with db.session() as session:
        rows = await session.scalars(select(QueueLogEntry).order_by(QueueLogEntry.id))
        return [(r.queuename, r.event, r.data1) for r in rows]


async def test_log_in_pause_unpause_and_log_out_write_the_queue_log(
    client: httpx.AsyncClient, db: Database
) -> None:
    login = await client.put("/api/v1/queues/sales/agents/1", json={"phone": "101", "penalty": 2})
    assert login.status_code == 200, login.text
    assert (login.json()["phone"], login.json()["penalty"]) == ("101", 2)
    await client.put("/api/v1/queues/support/agents/1", json={"phone": "101"})
    paused = await client.post("/api/v1/agents/1/pause", json={"reason": "training"})
    assert sorted(m["queue"] for m in paused.json()) == ["sales", "support"]
    assert all(m["pause_reason"] == "training" for m in paused.json())
    unpaused = await client.post("/api/v1/agents/1/unpause", json={"queue": "support"})
    assert [m["queue"] for m in unpaused.json()] == ["support"]
    out = await client.delete("/api/v1/queues/sales/agents/1")
    assert (out.status_code, out.json()["phone"]) == (200, None)
    assert await events(db) == [
        ("sales", "ADDMEMBER", "PJSIP/101"),
        ("support", "ADDMEMBER", "PJSIP/101"),
        ("sales", "PAUSE", "training"),
        ("support", "PAUSE", "training"),
        ("support", "UNPAUSE", "training"),
        ("sales", "REMOVEMEMBER", "PJSIP/101"),
    ]


async def test_refusals_say_what_is_wrong(client: httpx.AsyncClient) -> None:
    no_phone = await client.put("/api/v1/queues/sales/agents/1", json={"phone": "999"})
    assert no_phone.status_code == 404
    assert "no extension 999" in no_phone.json()["detail"]
    no_queue = await client.put("/api/v1/queues/nope/agents/1", json={"phone": "101"})
    assert (no_queue.status_code, "no queue nope" in no_queue.json()["detail"]) == (404, True)
    no_agent = await client.put("/api/v1/queues/sales/agents/9", json={"phone": "101"})
    assert no_agent.status_code == 404
    not_in = await client.delete("/api/v1/queues/sales/agents/1")
    assert (not_in.status_code, "not logged in" in not_in.json()["detail"]) == (404, True)
    not_logged = await client.post("/api/v1/agents/1/pause", json={"reason": "lunch"})
    assert not_logged.status_code == 404
    await client.put("/api/v1/queues/sales/agents/1", json={"phone": "101"})
    long_reason = await client.post("/api/v1/agents/1/pause", json={"reason": "x" * 80})
    assert (long_reason.status_code, long_reason.json()["field"]) == (400, "reason")
    malformed = await client.put("/api/v1/queues/sales/agents/1", json={"penalty": -1})
    assert malformed.status_code == 422
