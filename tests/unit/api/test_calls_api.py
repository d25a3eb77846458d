"""Calls in progress over HTTP: listed from the node's call table, hung up by uniqueid."""

from __future__ import annotations

from typing import Any

import httpx


async def test_calls_in_progress_are_listed_and_hung_up(
    api: httpx.AsyncClient, fake_calls: Any
) -> None:
    fake_calls.add("u1", "101", "102")
    fake_calls.add("u2", "103", "500", answered=False)
    listed = (await api.get("/api/v1/calls")).json()
    assert [c["uniqueid"] for c in listed["items"]] == ["u1", "u2"]
    first = listed["items"][0]
    assert (first["src"], first["dst"], first["state"], first["held"]) == (
        "101",
        "102",
        "answered",
        False,
    )
    ringing = await api.get("/api/v1/calls", params={"search": "500"})
    assert [c["state"] for c in ringing.json()["items"]] == ["ringing"]
    by_src = await api.get("/api/v1/calls", params={"order": "src", "direction": "desc"})
    assert [c["src"] for c in by_src.json()["items"]] == ["103", "101"]
    assert (await api.get("/api/v1/calls/u1")).json()["clid"] == '"Desk" <101>'

    gone = await api.delete("/api/v1/calls/u1")
    assert gone.status_code == 204
    assert fake_calls.hung_up == [("u1", "administrator")]
    again = await api.delete("/api/v1/calls/u1")
    assert again.status_code == 404
    assert "no call u1 is in progress" in again.json()["detail"]
    assert (await api.get("/api/v1/calls/u1")).status_code == 404
    assert (await api.get("/api/v1/calls")).json()["total"] == 1
