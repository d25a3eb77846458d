"""The reports over HTTP: JSON and CSV, clear 4xx answers, and the queue log file."""

from __future__ import annotations

import httpx
from centre_day import at

DAY_UTC = {"from": "2026-05-14", "tz": "UTC"}


async def test_a_report_as_json_has_its_period_columns_rows_and_summary(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/reports/lost", params=DAY_UTC)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["report"], body["from"], body["to"], body["timezone"]) == (
        "lost",
        "2026-05-14T00:00:00+00:00",
        "2026-05-15T00:00:00+00:00",
        "UTC",
    )
    assert [c["key"] for c in body["columns"]][:4] == ["queue_number", "queue", "time", "caller"]
    assert [(r["caller"], r["wait"], r["reason"]) for r in body["rows"]] == [
        ("4503", 25, "abandon"),
        ("4505", 120, "timeout"),
        ("4506", 8, "key"),
    ]
    assert body["rows"][0]["time"] == at("09:10:30").isoformat()
    assert body["summary"]["wait_max"] == 120


async def test_filters_and_the_time_zone_reach_the_report(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/reports/answered", params={**DAY_UTC, "tz": "Europe/Moscow", "caller": "4502"}
    )
    rows = response.json()["rows"]
    assert [(r["caller"], r["time"]) for r in rows] == [("4502", "2026-05-14T12:10:00+03:00")]
    per_queue = await client.get("/api/v1/reports/queues", params={**DAY_UTC, "queue": "support"})
    assert [r["queue"] for r in per_queue.json()["rows"]] == ["support"]


async def test_csv_comes_as_a_download(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/reports/service-level", params={**DAY_UTC, "format": "csv"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="service-level-2026-05-14.csv"' in response.headers["content-disposition"]
    lines = response.text.splitlines()
    assert lines[0] == (
        "wait,answered,answered_pct,answered_cumulative_pct,lost,lost_pct,lost_cumulative_pct"
    )
    assert lines[1] == "<= 5,1,33.3,33.3,0,0.0,0.0"


async def test_bad_requests_get_a_4xx_that_says_what_is_wrong(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/reports/nope", params=DAY_UTC)
    assert missing.status_code == 404
    assert "the reports are answered" in missing.json()["detail"]
    bad_date = await client.get("/api/v1/reports/lost", params={"from": "14/05/2026"})
    assert bad_date.status_code == 400
    assert "from: expected a year" in bad_date.json()["detail"]
    bad_zone = await client.get("/api/v1/reports/lost", params={**DAY_UTC, "tz": "Mars/Base"})
    assert (bad_zone.status_code, "unknown time zone" in bad_zone.json()["detail"]) == (400, True)
    backwards = await client.get(
        "/api/v1/reports/lost", params={"from": "2026-05-14T10:00", "to": "2026-05-14T09:00"}
    )
    assert backwards.status_code == 400
    bad_by = await client.get("/api/v1/reports/distribution", params={**DAY_UTC, "by": "week"})
    assert (bad_by.status_code, "by must be one of" in bad_by.json()["detail"]) == (400, True)
    bad_format = await client.get("/api/v1/reports/lost", params={**DAY_UTC, "format": "pdf"})
    assert bad_format.status_code == 422
    listed = await client.get("/api/v1/reports")
    assert "service-level" in [r["name"] for r in listed.json()]


async def test_the_queue_log_downloads_in_asterisks_format(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/queue-log", params={**DAY_UTC, "queue": "sales"})
    assert response.status_code == 200
    lines = response.text.splitlines()
    epoch = int(at("09:00:00").timestamp())
    assert f"{epoch}|c1|sales|NONE|ENTERQUEUE||4501|1" in lines
    assert all(line.split("|")[2] == "sales" for line in lines)
    everything = await client.get("/api/v1/queue-log", params={"all": "true"})
    assert len(everything.text.splitlines()) == 26


async def test_a_listing_comes_a_page_at_a_time(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/reports/answered", params={**DAY_UTC, "limit": 2, "offset": 0}
    )
    body = response.json()
    assert (len(body["rows"]), body["summary"]["answered"], body["limit"]) == (2, 3, 2)
    too_big = await client.get("/api/v1/reports/answered", params={**DAY_UTC, "limit": 10**6})
    assert too_big.status_code == 422
