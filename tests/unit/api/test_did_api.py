"""DIDs over HTTP: added, listed and searched, changed, refused with the field named, deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from ringfort.api.app import create_app
from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService
from ringfort.services.status import StatusService


@pytest.fixture
async def client(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    await ExtensionService(db=db).add("101", "Desk")
    app = create_app(status=StatusService(db=db), sip_ready=lambda: True, db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ringfort.test") as http:
        yield http


async def test_dids_are_managed_over_http(client: httpx.AsyncClient) -> None:
    made = await client.post(
        "/api/v1/dids",
        json={"number": "74951230000", "destination": "extension:101", "description": "main"},
    )
    assert made.status_code == 201
    assert made.json()["destination"] == "extension:101"
    await client.post("/api/v1/dids", json={"number": "88001234567", "destination": "hangup"})
    listed = (await client.get("/api/v1/dids?search=7495")).json()
    assert (listed["total"], listed["items"][0]["number"]) == (1, "74951230000")
    ordered = (await client.get("/api/v1/dids?order=number&direction=desc")).json()
    assert [d["number"] for d in ordered["items"]] == ["88001234567", "74951230000"]

    clash = await client.post("/api/v1/dids", json={"number": "101", "destination": "hangup"})
    assert clash.status_code == 409
    nowhere = await client.post("/api/v1/dids", json={"number": "555", "destination": "queue:none"})
    assert (nowhere.status_code, nowhere.json()["field"]) == (400, "destination")
    missing = await client.post("/api/v1/dids", json={"number": "556"})
    assert (missing.status_code, missing.json()["field"]) == (422, "destination")

    changed = await client.patch("/api/v1/dids/74951230000", json={"destination": "hangup"})
    assert changed.json()["destination"] == "hangup"
    assert (await client.delete("/api/v1/dids/74951230000")).status_code == 204
    assert (await client.get("/api/v1/dids/74951230000")).status_code == 404
