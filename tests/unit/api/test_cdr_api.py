"""Call records over HTTP: filtered, sorted, searched and paged by the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from ringfort.services.cdr import CdrService
from ringfort.services.database import Database

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def records(db: Database) -> None:
    service = CdrService(db=db)
    calls = [
        ("c1", "101", "102", "ANSWERED", 0, 30),
        ("c2", "102", "103", "NO ANSWER", 1, 0),
        ("c3", "101", "500", "ANSWERED", 2, 90),
        ("c4", "103", "101", "BUSY", 3, 0),
    ]
    for uniqueid, src, dst, disposition, hour, talk in calls:
        start = START + timedelta(hours=hour)
        answer = start + timedelta(seconds=5) if disposition == "ANSWERED" else None
        await service.add(
            uniqueid=uniqueid,
            linkedid=uniqueid,
            src=src,
            dst=dst,
            clid=f'"Caller {src}" <{src}>',
            start=start,
            answer=answer,
            end=start + timedelta(seconds=5 + talk),
            disposition=disposition,
        )


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["uniqueid"] for item in response.json()["items"]]


async def test_records_are_newest_first_and_paged(api: httpx.AsyncClient, records: None) -> None:
    assert ids(await api.get("/api/v1/cdr")) == ["c4", "c3", "c2", "c1"]
    page = await api.get("/api/v1/cdr", params={"limit": 2, "offset": 1})
    assert ids(page) == ["c3", "c2"]
    assert (page.json()["total"], page.json()["limit"], page.json()["offset"]) == (4, 2, 1)
    oldest = await api.get("/api/v1/cdr", params={"direction": "asc"})
    assert ids(oldest) == ["c1", "c2", "c3", "c4"]
    longest = await api.get("/api/v1/cdr", params={"order": "billsec", "limit": 1})
    assert ids(longest) == ["c3"]
    one = (await api.get("/api/v1/cdr/c3")).json()
    assert (one["src"], one["dst"], one["billsec"], one["disposition"]) == (
        "101",
        "500",
        90,
        "ANSWERED",
    )
    assert (await api.get("/api/v1/cdr/nope")).status_code == 404


async def test_records_are_filtered_and_searched(api: httpx.AsyncClient, records: None) -> None:
    assert ids(await api.get("/api/v1/cdr", params={"src": "101"})) == ["c3", "c1"]
    assert ids(await api.get("/api/v1/cdr", params={"dst": "101"})) == ["c4"]
    answered = await api.get("/api/v1/cdr", params={"disposition": "answered"})
    assert ids(answered) == ["c3", "c1"]
    no_answer = await api.get("/api/v1/cdr", params={"disposition": "NO ANSWER"})
    assert ids(no_answer) == ["c2"]
    window = await api.get(
        "/api/v1/cdr", params={"since": "2026-12-01T10:00:00Z", "until": "2026-12-01T12:00"}
    )
    assert ids(window) == ["c3", "c2"]
    local = await api.get("/api/v1/cdr", params={"since": "2026-12-01T14:00:00+03:00"})
    assert ids(local) == ["c4", "c3"]
    assert ids(await api.get("/api/v1/cdr", params={"search": "caller 103"})) == ["c4"]
    # LIKE's wildcards are taken as text.
    assert ids(await api.get("/api/v1/cdr", params={"search": "%"})) == []


async def test_bad_filters_name_the_field(api: httpx.AsyncClient) -> None:
    disposition = await api.get("/api/v1/cdr", params={"disposition": "LOST"})
    assert (disposition.status_code, disposition.json()["field"]) == (400, "disposition")
    since = await api.get("/api/v1/cdr", params={"since": "yesterday"})
    assert (since.status_code, since.json()["field"]) == (422, "since")
    order = await api.get("/api/v1/cdr", params={"order": "clid"})
    assert (order.status_code, order.json()["field"]) == (400, "order")
    assert "billsec" in order.json()["detail"]
    far = await api.get("/api/v1/cdr", params={"since": "0001-01-01T00:00:00+05:00"})
    assert (far.status_code, far.json()["field"]) == (400, "since")
