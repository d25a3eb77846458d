"""Queues over HTTP: settings added, changed and checked by field; members with penalties."""

from __future__ import annotations

import httpx
import pytest

from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService
from ringfort.services.queues import AgentService


@pytest.fixture
async def people(db: Database) -> None:
    await AgentService(db=db).add("1", "Anna", "1111")
    await AgentService(db=db).add("2", "Boris", "2222")
    await ExtensionService(db=db).add("101", "Desk")


async def test_a_queue_is_added_read_changed_and_deleted(api: httpx.AsyncClient) -> None:
    added = await api.post(
        "/api/v1/queues",
        json={"name": "sales", "number": "500", "strategy": "leastrecent", "max_wait": 300},
    )
    assert added.status_code == 201, added.text
    body = added.json()
    assert (body["strategy"], body["max_wait"], body["overflow"]) == ("leastrecent", 300, "hangup")
    assert body["ring_timeout"] == 15  # left out: the default

    changed = await api.patch(
        "/api/v1/queues/sales", json={"overflow": "hangup", "wrapup": 5, "number": None}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["wrapup"], changed.json()["number"]) == (5, None)
    assert changed.json()["strategy"] == "leastrecent"  # left out: stays
    assert (await api.get("/api/v1/queues/sales")).json()["wrapup"] == 5

    assert (await api.delete("/api/v1/queues/sales")).status_code == 204
    missing = await api.get("/api/v1/queues/sales")
    assert missing.status_code == 404
    assert "there is no queue sales" in missing.json()["detail"]


async def test_queue_errors_name_the_field(api: httpx.AsyncClient) -> None:
    strategy = await api.post("/api/v1/queues", json={"name": "q", "strategy": "loudest"})
    assert (strategy.status_code, strategy.json()["field"]) == (400, "strategy")
    assert "ringall" in strategy.json()["detail"]
    overflow = await api.post("/api/v1/queues", json={"name": "q", "overflow": "nowhere:1"})
    assert (overflow.status_code, overflow.json()["field"]) == (400, "overflow")
    name = await api.post("/api/v1/queues", json={"name": "Sales Team"})
    assert (name.status_code, name.json()["field"]) == (400, "name")
    exit_key = await api.post("/api/v1/queues", json={"name": "q", "exit_key": "5"})
    assert (exit_key.status_code, exit_key.json()["field"]) == (400, "exit_destination")
    typed = await api.post("/api/v1/queues", json={"name": "q", "max_length": "many"})
    assert (typed.status_code, typed.json()["field"]) == (422, "max_length")

    await api.post("/api/v1/queues", json={"name": "q", "number": "500"})
    twice = await api.post("/api/v1/queues", json={"name": "q"})
    assert twice.status_code == 409
    number = await api.post("/api/v1/queues", json={"name": "r", "number": "500"})
    assert number.status_code == 409
    assert (await api.patch("/api/v1/queues/nope", json={"wrapup": 1})).status_code == 404


async def test_members_get_a_penalty_and_are_removed(api: httpx.AsyncClient, people: None) -> None:
    await api.post("/api/v1/queues", json={"name": "sales"})
    member = await api.put("/api/v1/queues/sales/members/1", json={"penalty": 2})
    assert member.status_code == 200, member.text
    assert (member.json()["agent"], member.json()["penalty"], member.json()["phone"]) == (
        "1",
        2,
        None,
    )
    await api.put("/api/v1/queues/sales/members/2", json={"penalty": 0})
    members = (await api.get("/api/v1/queues/sales/members")).json()
    assert [m["agent"] for m in members["items"]] == ["2", "1"]  # by penalty
    by_agent = await api.get(
        "/api/v1/queues/sales/members", params={"order": "agent", "direction": "asc"}
    )
    assert [m["agent"] for m in by_agent.json()["items"]] == ["1", "2"]

    # Logged in at a phone by the supervisor route, then removed: logged out first.
    login = await api.put("/api/v1/queues/sales/agents/1", json={"phone": "101"})
    assert login.json()["penalty"] == 2
    assert (await api.delete("/api/v1/queues/sales/members/1")).status_code == 204
    left = (await api.get("/api/v1/queues/sales/members")).json()
    assert [m["agent"] for m in left["items"]] == ["2"]
    again = await api.delete("/api/v1/queues/sales/members/1")
    assert again.status_code == 404
    assert "not a member" in again.json()["detail"]

    negative = await api.put("/api/v1/queues/sales/members/2", json={"penalty": -1})
    assert (negative.status_code, negative.json()["field"]) == (422, "penalty")
    nobody = await api.put("/api/v1/queues/sales/members/9", json={"penalty": 1})
    assert nobody.status_code == 404
    no_queue = await api.get("/api/v1/queues/nope/members")
    assert no_queue.status_code == 404


async def test_queues_page_sort_and_search(api: httpx.AsyncClient) -> None:
    for name, number in (("support", "600"), ("sales", "500"), ("billing", "700")):
        await api.post("/api/v1/queues", json={"name": name, "number": number})
    listed = (await api.get("/api/v1/queues")).json()
    assert [q["name"] for q in listed["items"]] == ["billing", "sales", "support"]
    by_number = await api.get("/api/v1/queues", params={"order": "number", "direction": "desc"})
    assert [q["number"] for q in by_number.json()["items"]] == ["700", "600", "500"]
    found = (await api.get("/api/v1/queues", params={"search": "S", "limit": 1})).json()
    assert (found["total"], [q["name"] for q in found["items"]]) == (2, ["sales"])
