"""Time conditions over HTTP: hours and holidays, checked by field, and asked where a call goes."""

from __future__ import annotations

import httpx
import pytest

from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService

OFFICE = {
    "name": "office",
    "timezone": "Europe/Moscow",
    "rules": ["mon-fri 09:00-18:00"],
    "holidays": ["2026-12-31"],
    "match": "extension:101",
    "nomatch": "hangup",
}


@pytest.fixture
async def desk(db: Database) -> None:
    await ExtensionService(db=db).add("101", "Desk")


async def test_a_time_condition_is_added_changed_checked_and_deleted(
    api: httpx.AsyncClient, desk: None
) -> None:
    added = await api.post("/api/v1/timeconditions", json={**OFFICE, "number": "800"})
    assert added.status_code == 201, added.text
    assert added.json()["rules"] == ["mon-fri 09:00-18:00"]

    inside = await api.get("/api/v1/timeconditions/office/check", params={"at": "2026-12-02T10:00"})
    assert inside.status_code == 200, inside.text
    assert (inside.json()["inside"], inside.json()["destination"]) == (True, "extension:101")
    holiday = await api.get(
        "/api/v1/timeconditions/office/check", params={"at": "2026-12-31T10:00"}
    )
    assert (holiday.json()["holiday"], holiday.json()["destination"]) == (True, "hangup")
    nonsense = await api.get("/api/v1/timeconditions/office/check", params={"at": "noon"})
    assert (nonsense.status_code, nonsense.json()["field"]) == (400, "at")

    changed = await api.patch(
        "/api/v1/timeconditions/office", json={"rules": ["mon-sat 08:00-20:00"], "number": None}
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["rules"], changed.json()["number"]) == (["mon-sat 08:00-20:00"], None)
    assert changed.json()["holidays"] == ["2026-12-31"]  # stays

    body = {key: value for key, value in OFFICE.items() if key != "name"}
    replaced = await api.put("/api/v1/timeconditions/office", json={**body, "holidays": []})
    assert replaced.json()["holidays"] == []

    assert (await api.delete("/api/v1/timeconditions/office")).status_code == 204
    assert (await api.get("/api/v1/timeconditions/office")).status_code == 404


async def test_time_condition_errors_name_the_field(api: httpx.AsyncClient, desk: None) -> None:
    zone = await api.post("/api/v1/timeconditions", json={**OFFICE, "timezone": "Mars/Base"})
    assert (zone.status_code, zone.json()["field"]) == (400, "timezone")
    rules = await api.post("/api/v1/timeconditions", json={**OFFICE, "rules": ["someday"]})
    assert (rules.status_code, rules.json()["field"]) == (400, "rules")
    holiday = await api.post("/api/v1/timeconditions", json={**OFFICE, "holidays": ["31.12"]})
    assert (holiday.status_code, holiday.json()["field"]) == (400, "holidays")
    missing = await api.post("/api/v1/timeconditions", json={**OFFICE, "match": None})
    assert (missing.status_code, missing.json()["field"]) == (400, "match")
    loop = await api.post("/api/v1/timeconditions", json={**OFFICE, "nomatch": "timecond:office"})
    assert (loop.status_code, loop.json()["field"]) == (400, "nomatch")
    assert (await api.post("/api/v1/timeconditions", json=OFFICE)).status_code == 201
    assert (await api.post("/api/v1/timeconditions", json=OFFICE)).status_code == 409
    assert (await api.get("/api/v1/timeconditions/nope/check")).status_code == 404


async def test_time_conditions_page_sort_and_search(api: httpx.AsyncClient, desk: None) -> None:
    for name in ("weekend", "office", "lunch"):
        await api.post("/api/v1/timeconditions", json={**OFFICE, "name": name})
    listed = (await api.get("/api/v1/timeconditions")).json()
    assert [c["name"] for c in listed["items"]] == ["lunch", "office", "weekend"]
    reverse = await api.get("/api/v1/timeconditions", params={"order": "name", "direction": "desc"})
    assert [c["name"] for c in reverse.json()["items"]] == ["weekend", "office", "lunch"]
    found = (await api.get("/api/v1/timeconditions", params={"search": "EEK"})).json()
    assert [c["name"] for c in found["items"]] == ["weekend"]
