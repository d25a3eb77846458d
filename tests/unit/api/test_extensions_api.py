"""Extensions over HTTP: added, listed a page at a time, renamed, re-passworded, removed."""

from __future__ import annotations

import httpx

from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService


async def test_an_extension_is_added_read_renamed_and_removed(api: httpx.AsyncClient) -> None:
    added = await api.post("/api/v1/extensions", json={"number": "101", "name": "Desk"})
    assert added.status_code == 201, added.text
    body = added.json()
    assert (body["number"], body["name"]) == ("101", "Desk")
    assert len(body["password"]) == 20  # generated, so shown this once

    given = await api.post(
        "/api/v1/extensions", json={"number": "102", "name": "Lab", "password": "secret-pass-2"}
    )
    assert "password" not in given.json()  # the client knows it already

    one = await api.get("/api/v1/extensions/101")
    assert one.json()["name"] == "Desk"
    assert "password" not in one.json()

    renamed = await api.patch("/api/v1/extensions/101", json={"name": "Front desk"})
    assert renamed.json()["name"] == "Front desk"
    assert (await api.get("/api/v1/extensions/101")).json()["name"] == "Front desk"

    gone = await api.delete("/api/v1/extensions/101")
    assert gone.status_code == 204
    missing = await api.get("/api/v1/extensions/101")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "extension 101 does not exist"


async def test_a_password_is_set_or_generated(api: httpx.AsyncClient, db: Database) -> None:
    await api.post("/api/v1/extensions", json={"number": "101", "name": "Desk"})
    chosen = await api.put("/api/v1/extensions/101/password", json={"password": "another-pw-1"})
    assert chosen.json() == {"number": "101"}
    generated = await api.put("/api/v1/extensions/101/password", json={})
    assert len(generated.json()["password"]) == 20
    short = await api.put("/api/v1/extensions/101/password", json={"password": "short"})
    assert (short.status_code, short.json()["field"]) == (400, "password")
    assert "at least 8" in short.json()["detail"]
    absent = await api.put("/api/v1/extensions/999/password", json={})
    assert absent.status_code == 404


async def test_errors_name_the_field(api: httpx.AsyncClient) -> None:
    bad_number = await api.post("/api/v1/extensions", json={"number": "1x", "name": "Desk"})
    assert bad_number.status_code == 400
    assert bad_number.json()["field"] == "number"
    assert "2 to 15 digits" in bad_number.json()["detail"]

    missing = await api.post("/api/v1/extensions", json={"name": "Desk"})
    assert missing.status_code == 422
    assert missing.json()["field"] == "number"
    assert missing.json()["detail"] == "number: Field required"

    misspelt = await api.post(
        "/api/v1/extensions", json={"number": "103", "name": "Desk", "pasword": "x"}
    )
    assert (misspelt.status_code, misspelt.json()["field"]) == (422, "pasword")

    no_body = await api.post("/api/v1/extensions")
    assert no_body.status_code == 422
    assert no_body.json()["detail"] == "a JSON body is required"
    broken = await api.post(
        "/api/v1/extensions", content=b'{"number": ', headers={"content-type": "application/json"}
    )
    assert (broken.status_code, broken.json()["field"]) == (422, "body")
    assert broken.json()["detail"] == "the body is not valid JSON (at character 11)"
    listed = await api.post("/api/v1/extensions", json=["101"])
    assert listed.json()["detail"] == "the body must be a JSON object"

    await api.post("/api/v1/extensions", json={"number": "103", "name": "Desk"})
    taken = await api.post("/api/v1/extensions", json={"number": "103", "name": "Other"})
    assert (taken.status_code, taken.json()["detail"]) == (409, "extension 103 already exists")

    empty_name = await api.patch("/api/v1/extensions/103", json={"name": "  "})
    assert (empty_name.status_code, empty_name.json()["field"]) == (400, "name")


async def test_lists_page_sort_and_search(api: httpx.AsyncClient, db: Database) -> None:
    service = ExtensionService(db=db)
    for number, name in (("101", "Reception"), ("102", "Sales desk"), ("103", "Warehouse")):
        await service.add(number, name)

    everything = (await api.get("/api/v1/extensions")).json()
    assert [e["number"] for e in everything["items"]] == ["101", "102", "103"]
    assert (everything["total"], everything["limit"], everything["offset"]) == (3, 50, 0)

    page = (await api.get("/api/v1/extensions", params={"limit": 1, "offset": 1})).json()
    assert [e["number"] for e in page["items"]] == ["102"]
    assert page["total"] == 3

    by_name = await api.get("/api/v1/extensions", params={"order": "name", "direction": "desc"})
    assert [e["name"] for e in by_name.json()["items"]] == ["Warehouse", "Sales desk", "Reception"]

    found = (await api.get("/api/v1/extensions", params={"search": "DESK"})).json()
    assert ([e["number"] for e in found["items"]], found["total"]) == (["102"], 1)

    bad_order = await api.get("/api/v1/extensions", params={"order": "password"})
    assert bad_order.status_code == 400
    assert bad_order.json()["field"] == "order"
    assert "number, name, created_at" in bad_order.json()["detail"]

    too_many = await api.get("/api/v1/extensions", params={"limit": 1001})
    assert (too_many.status_code, too_many.json()["field"]) == (422, "limit")
    bad_direction = await api.get("/api/v1/extensions", params={"direction": "up"})
    assert (bad_direction.status_code, bad_direction.json()["field"]) == (422, "direction")


async def test_an_extension_a_menu_sends_calls_to_is_kept(api: httpx.AsyncClient) -> None:
    await api.post("/api/v1/extensions", json={"number": "101", "name": "Desk"})
    menu = await api.post("/api/v1/menus", json={"name": "main", "options": {"1": "extension:101"}})
    assert menu.status_code == 201, menu.text
    refused = await api.delete("/api/v1/extensions/101")
    assert refused.status_code == 409
    assert "menu main (key 1)" in refused.json()["detail"]


async def test_forwarding_is_set_changed_and_switched_off(api: httpx.AsyncClient) -> None:
    for number in ("101", "102", "103"):
        await api.post("/api/v1/extensions", json={"number": number, "name": f"Desk {number}"})
    url = "/api/v1/extensions/101/forwarding"
    first = await api.patch(url, json={"always": "102", "no_answer": "103", "dnd": True})
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["forward_always"], body["forward_busy"], body["forward_no_answer"]) == (
        "102",
        None,
        "103",
    )
    assert body["dnd"] is True
    # What is left out stays; null switches a forward off.
    second = await api.patch(url, json={"always": None, "busy": "102"})
    body = second.json()
    assert (body["forward_always"], body["forward_busy"], body["forward_no_answer"]) == (
        None,
        "102",
        "103",
    )
    assert body["dnd"] is True
    listed = (await api.get("/api/v1/extensions")).json()["items"]
    assert [item["forward_busy"] for item in listed] == ["102", None, None]


async def test_a_forward_to_nobody_or_to_itself_is_refused_and_changes_nothing(
    api: httpx.AsyncClient,
) -> None:
    await api.post("/api/v1/extensions", json={"number": "101", "name": "Desk"})
    url = "/api/v1/extensions/101/forwarding"
    nobody = await api.patch(url, json={"busy": "999", "dnd": True})
    assert (nobody.status_code, nobody.json()["field"]) == (400, "busy")
    assert "999 is nobody's number" in nobody.json()["detail"]
    itself = await api.patch(url, json={"always": "101"})
    assert (itself.status_code, itself.json()["field"]) == (400, "always")
    letters = await api.patch(url, json={"no_answer": "12a"})
    assert (letters.status_code, letters.json()["field"]) == (400, "no_answer")
    unknown = await api.patch(url, json={"sometimes": "102"})
    assert unknown.status_code == 422
    absent = await api.patch("/api/v1/extensions/999/forwarding", json={"dnd": True})
    assert absent.status_code == 404
    kept = (await api.get("/api/v1/extensions/101")).json()
    assert (kept["dnd"], kept["forward_busy"]) == (False, None)
