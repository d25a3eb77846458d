"""The live call-centre state over HTTP, and the feed that fans queue events out to listeners."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx

from ringfort.api.app import create_app
from ringfort.apps.queue.events import AgentStateChanged, QueueLogged
from ringfort.bus import EventBus
from ringfort.services.live import LISTENER_BACKLOG, LiveFeed

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
STATE: dict[str, Any] = {
    "queues": [{"name": "sales", "waiting": [], "answered_today": 3}],
    "agents": [{"agent": "1", "state": "available"}],
}


class NoStatus:
    async def registrations(self, now: float) -> list[object]:
        return []

    async def blocked(self, now: float) -> list[object]:
        return []


async def test_snapshots_of_queues_and_agents_and_clear_404s() -> None:
    feed = LiveFeed(EventBus(), lambda: STATE)
    app = create_app(status=NoStatus(), sip_ready=lambda: True, callcentre=feed)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/api/v1/live")).json() == STATE
        assert (await client.get("/api/v1/live/queues/sales")).json()["answered_today"] == 3
        assert (await client.get("/api/v1/live/agents/1")).json()["state"] == "available"
        missing = await client.get("/api/v1/live/queues/nope")
        assert missing.status_code == 404
        assert "nope" in missing.json()["detail"]


async def test_listeners_get_queue_events_and_agent_states_in_order() -> None:
    bus = EventBus()
    feed = LiveFeed(bus, lambda: STATE)
    async with feed.listen() as listener:
        bus.publish(QueueLogged(NOW, "c-1", "sales", "NONE", "ENTERQUEUE", ("", "205", "1")))
        bus.publish(AgentStateChanged(NOW, "1", "Anna", "ringing", "101", "sales", "205"))
        first = await asyncio.wait_for(listener.get(), 1)
        second = await asyncio.wait_for(listener.get(), 1)
    assert (first["type"], first["event"], first["data"]) == (
        "queue-event",
        "ENTERQUEUE",
        ["", "205", "1"],
    )
    assert (second["type"], second["state"], second["caller"]) == ("agent-state", "ringing", "205")
    assert feed.listeners == 0


async def test_a_listener_that_falls_behind_is_told_to_resync() -> None:
    bus = EventBus()
    feed = LiveFeed(bus, lambda: STATE)
    async with feed.listen() as listener:
        for index in range(LISTENER_BACKLOG + 5):
            bus.publish(QueueLogged(NOW, f"c-{index}", "sales", "NONE", "ENTERQUEUE", ()))
        assert (await listener.get())["type"] == "resync"
        assert listener.qsize() < LISTENER_BACKLOG
