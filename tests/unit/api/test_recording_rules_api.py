"""Recording rules over HTTP: added (a duplicate is a 409), listed, deleted."""

from __future__ import annotations

import httpx


async def test_a_rule_is_added_listed_and_deleted(api: httpx.AsyncClient) -> None:
    added = await api.post(
        "/api/v1/recording-rules", json={"kind": "extension", "target": "101", "direction": "out"}
    )
    assert added.status_code == 201, added.text
    rule = added.json()
    assert (rule["kind"], rule["target"], rule["direction"]) == ("extension", "101", "out")
    assert rule["description"] == "calls from extension 101"
    prefix = await api.post("/api/v1/recording-rules", json={"kind": "prefix", "target": "00"})
    assert prefix.json()["direction"] == "both"

    assert (await api.get(f"/api/v1/recording-rules/{rule['id']}")).json() == rule
    listed = (await api.get("/api/v1/recording-rules")).json()
    assert [r["target"] for r in listed["items"]] == ["101", "00"]
    by_target = await api.get("/api/v1/recording-rules", params={"order": "target"})
    assert [r["target"] for r in by_target.json()["items"]] == ["00", "101"]
    searched = await api.get("/api/v1/recording-rules", params={"search": "PREFIX"})
    assert [r["target"] for r in searched.json()["items"]] == ["00"]

    assert (await api.delete(f"/api/v1/recording-rules/{rule['id']}")).status_code == 204
    assert (await api.get(f"/api/v1/recording-rules/{rule['id']}")).status_code == 404
    assert (await api.delete(f"/api/v1/recording-rules/{rule['id']}")).status_code == 404


async def test_rule_errors_name_the_field(api: httpx.AsyncClient) -> None:
    kind = await api.post("/api/v1/recording-rules", json={"kind": "trunk", "target": "1"})
    assert (kind.status_code, kind.json()["field"]) == (400, "kind")
    target = await api.post("/api/v1/recording-rules", json={"kind": "number", "target": "x"})
    assert (target.status_code, target.json()["field"]) == (400, "target")
    direction = await api.post(
        "/api/v1/recording-rules", json={"kind": "number", "target": "5", "direction": "in"}
    )
    assert (direction.status_code, direction.json()["field"]) == (400, "direction")
    await api.post("/api/v1/recording-rules", json={"kind": "number", "target": "5"})
    twice = await api.post("/api/v1/recording-rules", json={"kind": "number", "target": "5"})
    assert twice.status_code == 409  # a clash, though the service's error is also a bad value
    assert "already records calls to 5" in twice.json()["detail"]
    assert (await api.get("/api/v1/recording-rules/abc")).status_code == 422
