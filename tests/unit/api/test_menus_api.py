"""Menus over HTTP: the same documents as the YAML files, checked against the number plan."""

from __future__ import annotations

import httpx
import pytest

from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService


@pytest.fixture
async def desks(db: Database) -> None:
    await ExtensionService(db=db).add("101", "Desk")
    await ExtensionService(db=db).add("102", "Lab")


async def test_a_menu_is_added_read_replaced_changed_and_deleted(
    api: httpx.AsyncClient, desks: None
) -> None:
    added = await api.post(
        "/api/v1/menus",
        json={"name": "main", "number": "700", "options": {"1": "extension:101", "#": "hangup"}},
    )
    assert added.status_code == 201, added.text
    menu = added.json()
    assert menu["options"] == {"1": "extension:101", "#": "hangup"}
    assert (menu["greeting"], menu["timeout"], menu["direct_dial"]) == (["welcome"], 5, True)

    changed = await api.patch("/api/v1/menus/main", json={"timeout": 8, "greeting": ["hello"]})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["timeout"], changed.json()["greeting"]) == (8, ["hello"])
    assert changed.json()["options"] == {"1": "extension:101", "#": "hangup"}  # stays

    replaced = await api.put("/api/v1/menus/main", json={"options": {"2": "extension:102"}})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["options"] == {"2": "extension:102"}
    assert replaced.json()["number"] is None  # replaced whole: left out is the default
    assert replaced.json()["timeout"] == 5

    assert (await api.get("/api/v1/menus/main")).json() == replaced.json()
    assert (await api.delete("/api/v1/menus/main")).status_code == 204
    assert (await api.get("/api/v1/menus/main")).status_code == 404
    assert (await api.put("/api/v1/menus/main", json={})).status_code == 404


async def test_menu_errors_name_the_field(api: httpx.AsyncClient, desks: None) -> None:
    dead_end = await api.post(
        "/api/v1/menus", json={"name": "main", "options": {"1": "extension:999"}}
    )
    assert dead_end.status_code == 400
    assert dead_end.json()["field"] == "options.1"
    assert "999" in dead_end.json()["detail"]
    timeout = await api.post("/api/v1/menus", json={"name": "main", "timeout": 0.1})
    assert (timeout.status_code, timeout.json()["field"]) == (400, "timeout")
    keys = await api.post("/api/v1/menus", json={"name": "main", "options": {"1a": "hangup"}})
    assert (keys.status_code, keys.json()["field"]) == (400, "options")
    name = await api.post("/api/v1/menus", json={"name": "Main"})
    assert (name.status_code, name.json()["field"]) == (400, "name")
    assert "lower case" in name.json()["detail"]
    taken = await api.post("/api/v1/menus", json={"name": "main", "number": "101"})
    assert taken.status_code == 409
    await api.post("/api/v1/menus", json={"name": "main"})
    again = await api.post("/api/v1/menus", json={"name": "main"})
    assert again.status_code == 409


async def test_a_menu_others_lead_to_is_kept(api: httpx.AsyncClient) -> None:
    await api.post("/api/v1/menus", json={"name": "sales"})
    await api.post("/api/v1/menus", json={"name": "main", "options": {"2": "ivr:sales"}})
    refused = await api.delete("/api/v1/menus/sales")
    assert refused.status_code == 409
    assert "main" in refused.json()["detail"]


async def test_menus_page_sort_and_search(api: httpx.AsyncClient) -> None:
    for name, number in (("main", "700"), ("after-hours", "701"), ("sales", "702")):
        await api.post("/api/v1/menus", json={"name": name, "number": number})
    listed = (await api.get("/api/v1/menus", params={"limit": 2})).json()
    assert ([m["name"] for m in listed["items"]], listed["total"]) == (["after-hours", "main"], 3)
    by_number = await api.get("/api/v1/menus", params={"order": "number", "direction": "desc"})
    assert [m["number"] for m in by_number.json()["items"]] == ["702", "701", "700"]
    found = (await api.get("/api/v1/menus", params={"search": "HOURS"})).json()
    assert [m["name"] for m in found["items"]] == ["after-hours"]
