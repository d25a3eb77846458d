"""Agents over HTTP: added, listed, changed (PIN never shown), deleted."""

from __future__ import annotations

import httpx


async def test_an_agent_is_added_read_changed_and_deleted(api: httpx.AsyncClient) -> None:
    added = await api.post(
        "/api/v1/agents", json={"number": "7", "name": "Anna", "pin": "1234", "wrapup": 10}
    )
    assert added.status_code == 201, added.text
    assert added.json() == {"number": "7", "name": "Anna", "wrapup": 10.0}
    assert "pin" not in (await api.get("/api/v1/agents/7")).json()

    renamed = await api.patch("/api/v1/agents/7", json={"name": "Anna K", "pin": "4321"})
    assert renamed.json() == {"number": "7", "name": "Anna K", "wrapup": 10.0}
    kept = await api.patch("/api/v1/agents/7", json={"name": "Anna K."})
    assert kept.json()["wrapup"] == 10.0  # left out: stays
    cleared = await api.patch("/api/v1/agents/7", json={"wrapup": None})
    assert cleared.json()["wrapup"] is None  # null: back to each queue's wrap-up

    assert (await api.delete("/api/v1/agents/7")).status_code == 204
    missing = await api.get("/api/v1/agents/7")
    assert missing.status_code == 404
    assert "no agent 7" in missing.json()["detail"]
    assert (await api.delete("/api/v1/agents/7")).status_code == 404


async def test_agent_errors_name_the_field(api: httpx.AsyncClient) -> None:
    short_pin = await api.post("/api/v1/agents", json={"number": "7", "name": "A", "pin": "12"})
    assert (short_pin.status_code, short_pin.json()["field"]) == (400, "pin")
    bad_number = await api.post(
        "/api/v1/agents", json={"number": "seven", "name": "A", "pin": "1234"}
    )
    assert (bad_number.status_code, bad_number.json()["field"]) == (400, "number")
    negative = await api.post(
        "/api/v1/agents", json={"number": "7", "name": "A", "pin": "1234", "wrapup": -1}
    )
    assert (negative.status_code, negative.json()["field"]) == (422, "wrapup")

    await api.post("/api/v1/agents", json={"number": "7", "name": "A", "pin": "1234"})
    same_pin = await api.post("/api/v1/agents", json={"number": "8", "name": "B", "pin": "1234"})
    assert same_pin.status_code == 409
    assert same_pin.json()["detail"] == "that PIN is taken; choose another"


async def test_agents_page_sort_and_search(api: httpx.AsyncClient) -> None:
    for number, name, pin in (("1", "Zoe", "1111"), ("2", "Adam", "2222"), ("3", "Maya", "3333")):
        await api.post("/api/v1/agents", json={"number": number, "name": name, "pin": pin})
    by_name = (await api.get("/api/v1/agents", params={"order": "name"})).json()
    assert [a["name"] for a in by_name["items"]] == ["Adam", "Maya", "Zoe"]
    page = (await api.get("/api/v1/agents", params={"limit": 2, "offset": 2})).json()
    assert ([a["number"] for a in page["items"]], page["total"]) == (["3"], 3)
    found = (await api.get("/api/v1/agents", params={"search": "ay"})).json()
    assert [a["name"] for a in found["items"]] == ["Maya"]
