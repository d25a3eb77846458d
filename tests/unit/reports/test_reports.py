"""Every report over one hand-written day of a call centre, checked against numbers worked out
by hand (SQLite always; PostgreSQL too when RINGFORT_TEST_PG_URL is set).

The day, 2026-05-14 (UTC). Queues ``sales`` (500, service level 10 s) and ``support`` (600).
Anna (agent 1) logs in to both at 08:00, Boris (2) is added to sales at 08:05.

| call | queue | joined | caller | what happened | wait | talk |
|---|---|---|---|---|---|---|
| c0 | sales | 05-13 23:59:50 | 4500 | Anna, caller hung up (the day before) | 5 | 25 |
| c1 | sales | 09:00:00 | 4501 | Anna, caller hung up; recorded | 4 | 60 |
| c2 | sales | 09:10:00 | 4502 | Boris rang 5 s unanswered; Anna, agent hung up | 12 | 120 |
| c3 | sales | 09:10:30 | 4503 | abandoned at position 2 | 25 | |
| c4 | support | 10:00:00 | 4504 | Anna, blind transfer to 200 | 40 | 300 |
| c5 | sales | 10:30:00 | 4505 | maximum wait, overflow | 120 | |
| c6 | support | 11:00:00 | 4506 | pressed the exit key | 8 | |

Boris pauses for lunch 12:00-12:30 and is removed at 14:00; Anna logs off sales at 13:00
and stays in support.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from centre_day import DAY, NEXT_DAY, at

from ringfort.apps.queue.config import DayCounts
from ringfort.errors import ValidationError
from ringfort.reports.catalogue import parse_period, parse_zone, run_report
from ringfort.reports.export import export_lines
from ringfort.reports.model import Kind, Report, ReportQuery
from ringfort.reports.render import display, to_csv
from ringfort.reports.sessions import sessions_report
from ringfort.services.database import Database
from ringfort.services.queue_directory import QueueDirectoryService


def day(**filters: object) -> ReportQuery:
    return ReportQuery(start=DAY, end=NEXT_DAY, **filters)  # type: ignore[arg-type]


def column(report: Report, key: str) -> list[object]:
    return [row[key] for row in report.rows]


async def test_answered_calls_are_listed_with_queue_agent_caller_times_and_recording(
    centre: Database,
) -> None:
    report = await run_report(centre, "answered", day())
    assert [
        (r["queue_number"], r["queue"], r["agent"], r["agent_name"], r["time"], r["caller"],
         r["wait"], r["talk"], r["ended_by"], r["recording"])
        for r in report.rows
    ] == [
        ("500", "sales", "1", "Anna", at("09:00:00"), "4501", 4, 60, "caller", "L1"),
        ("500", "sales", "1", "Anna", at("09:10:00"), "4502", 12, 120, "agent", ""),
        ("600", "support", "1", "Anna", at("10:00:00"), "4504", 40, 300, "transfer", ""),
    ]  # fmt: skip
    assert report.summary == {
        "answered": 3, "wait_total": 56, "wait_average": 19, "wait_min": 4, "wait_max": 40,
        "talk_total": 480, "talk_average": 160, "talk_min": 60, "talk_max": 300,
    }  # fmt: skip


async def test_a_call_belongs_to_the_day_it_joined_the_queue(centre: Database) -> None:
    before = ReportQuery(start=DAY - timedelta(days=1), end=DAY)
    report = await run_report(centre, "answered", before)
    assert [(r["caller"], r["wait"], r["talk"]) for r in report.rows] == [("4500", 5, 25)]


async def test_lost_calls_say_how_long_the_caller_waited_and_why_they_left(
    centre: Database,
) -> None:
    report = await run_report(centre, "lost", day())
    assert [(r["queue"], r["time"], r["caller"], r["wait"], r["reason"]) for r in report.rows] == [
        ("sales", at("09:10:30"), "4503", 25, "abandon"),
        ("sales", at("10:30:00"), "4505", 120, "timeout"),
        ("support", at("11:00:00"), "4506", 8, "key"),
    ]
    assert report.summary == {
        "lost": 3, "wait_total": 153, "wait_average": 51, "wait_min": 8, "wait_max": 120,
    }  # fmt: skip


async def test_per_agent_and_per_queue_totals_with_who_ended_the_calls(centre: Database) -> None:
    agents = await run_report(centre, "agents", day())
    assert agents.rows == [
        {
            "agent": "1", "agent_name": "Anna", "answered": 3,
            "wait_total": 56, "wait_average": 19, "talk_total": 480, "talk_average": 160,
            "by_caller": 1, "by_caller_pct": 33.3, "by_agent": 1, "by_agent_pct": 33.3,
            "transferred": 1, "transferred_pct": 33.3,
        }
    ]  # fmt: skip
    queues = await run_report(centre, "queues", day())
    sales, support = queues.rows
    assert (sales["offered"], sales["answered"], sales["answered_pct"], sales["lost"]) == (
        4, 2, 50.0, 2,
    )  # fmt: skip
    # (25 + 120) / 2 = 72.5: halves round up.
    assert (sales["lost_wait_average"], sales["wait_total"], sales["talk_average"]) == (73, 16, 90)
    assert (sales["by_caller_pct"], sales["by_agent_pct"], sales["transferred_pct"]) == (
        50.0, 50.0, 0.0,
    )  # fmt: skip
    assert (support["queue_number"], support["offered"], support["answered"]) == ("600", 2, 1)
    assert (support["transferred"], support["transferred_pct"], support["lost"]) == (1, 100.0, 1)


async def test_service_level_buckets_and_both_asterisk_formulas(centre: Database) -> None:
    report = await run_report(centre, "service-level", day())
    by_bucket = {r["wait"]: (r["answered"], r["lost"]) for r in report.rows}
    assert by_bucket == {
        "<= 5": (1, 0), "<= 10": (0, 1), "<= 15": (1, 0), "<= 30": (0, 1), "<= 45": (1, 0),
        "<= 60": (0, 0), "<= 90": (0, 0), "<= 120": (0, 1), "<= 300": (0, 0), "> 300": (0, 0),
    }  # fmt: skip
    assert column(report, "answered_cumulative_pct")[:3] == [33.3, 33.3, 66.7]
    assert report.summary["threshold"] == 20
    # Answered within 20 s: c1 and c2. Abandoned: c3, after 25 s (not within).
    assert report.summary["service_level"] == 66.7  # 2 of 3 answered
    assert report.summary["service_level_abandoned"] == 50.0  # (2 + 0) of (3 + 1)
    assert report.summary["service_level_offered"] == 33.3  # 2 of 6 offered
    # A queue's own threshold (sales: 10 s) is used when the report is for that queue.
    sales = await run_report(centre, "service-level", day(queue="sales"))
    assert (sales.summary["threshold"], sales.summary["service_level"]) == (10, 50.0)
    assert (await run_report(centre, "service-level", day(service_level=45))).summary[
        "service_level"
    ] == 100.0


async def test_distribution_by_hour_fills_every_hour_and_shifts_with_the_time_zone(
    centre: Database,
) -> None:
    report = await run_report(centre, "distribution", day(by="hour-of-day"))
    assert len(report.rows) == 24
    hours = {r["period"]: r for r in report.rows if r["offered"]}
    counts = {
        h: (r["offered"], r["answered"], r["transferred"], r["lost"]) for h, r in hours.items()
    }
    assert counts == {
        "09:00": (3, 2, 0, 1), "10:00": (2, 1, 1, 1), "11:00": (1, 0, 0, 1),
    }  # fmt: skip
    assert (hours["09:00"]["wait_average"], hours["09:00"]["talk_average"]) == (8, 90)
    assert hours["09:00"]["answered_pct"] == 66.7
    moscow = ZoneInfo("Europe/Moscow")
    start, end = parse_period("2026-05-14", None, moscow)
    local = await run_report(
        centre, "distribution", ReportQuery(start=start, end=end, zone=moscow, by="hour")
    )
    busy = {r["period"]: r["offered"] for r in local.rows if r["offered"]}
    # Moscow's day of the 14th began at 21:00 UTC on the 13th, so c0 is in it.
    assert busy == {"2026-05-14 02:00": 1, "2026-05-14 12:00": 3, "2026-05-14 13:00": 2,
                    "2026-05-14 14:00": 1}  # fmt: skip
    months = await run_report(
        centre,
        "distribution",
        ReportQuery(start=DAY - timedelta(days=20), end=NEXT_DAY, by="month"),
    )
    assert [(r["period"], r["offered"]) for r in months.rows] == [("2026-04", 0), ("2026-05", 7)]


async def test_totals_of_the_day(centre: Database) -> None:
    report = await run_report(centre, "totals", day())
    assert report.summary == {
        "offered": 6, "answered": 3, "answered_pct": 50.0, "lost": 3, "lost_pct": 50.0,
        "transferred": 1, "max_waiting": 2,
        "talk_total": 480, "talk_average": 160, "talk_min": 60, "talk_max": 300,
        "wait_total": 56, "wait_average": 19, "wait_min": 4, "wait_max": 40,
        "lost_wait_total": 153, "lost_wait_average": 51, "lost_wait_min": 8, "lost_wait_max": 120,
    }  # fmt: skip


async def test_filters_by_caller_agent_and_queue(centre: Database) -> None:
    by_caller = await run_report(centre, "answered", day(caller="4502"))
    assert [r["callid"] for r in by_caller.rows] == ["c2"]
    assert (await run_report(centre, "lost", day(caller="4502"))).rows == []
    assert (await run_report(centre, "answered", day(agent="2"))).rows == []
    support = await run_report(centre, "totals", day(queue="support"))
    assert (support.summary["offered"], support.summary["answered"]) == (2, 1)


async def test_sessions_cut_to_the_period_and_activity_per_agent_and_queue(
    centre: Database,
) -> None:
    async with centre.session() as session:
        report = await sessions_report(session, day(), now=NEXT_DAY + timedelta(hours=1))
    assert [
        (r["agent"], r["queue"], r["state"], r["reason"], r["seconds"]) for r in report.rows
    ] == [
        ("1", "sales", "logged-in", "", 5 * 3600),
        ("1", "support", "logged-in", "", 16 * 3600),
        ("2", "sales", "logged-in", "", 5 * 3600 + 55 * 60),
        ("2", "sales", "paused", "lunch", 1800),
    ]
    activity = await run_report(centre, "activity", day())
    rows = {(r["agent"], r["queue"]): r for r in activity.rows}
    anna_sales = rows["1", "sales"]
    assert (anna_sales["answered"], anna_sales["talk"], anna_sales["calls_per_hour"]) == (
        2,
        180,
        0.4,
    )
    assert anna_sales["occupancy_pct"] == 1.0  # 180 s of 5 h
    boris = rows["2", "sales"]
    assert (boris["logged_in"], boris["paused"], boris["paused_by_reason"]) == (
        21300, 1800, {"lunch": 1800},
    )  # fmt: skip
    assert (boris["answered"], boris["missed"], boris["occupancy_pct"]) == (0, 1, 0.0)


async def test_an_agent_still_logged_in_is_counted_up_to_now(centre: Database) -> None:
    async with centre.session() as session:
        report = await sessions_report(session, day(agent="1", queue="support"), now=at("12:00:00"))
    assert [(r["seconds"], r["to"]) for r in report.rows] == [(4 * 3600, None)]


async def test_csv_has_a_header_of_keys_and_seconds_as_numbers(centre: Database) -> None:
    text = to_csv(await run_report(centre, "answered", day()))
    lines = text.splitlines()
    assert lines[0].startswith("queue_number,queue,agent,agent_name,time,caller,wait,talk,")
    assert lines[1].startswith("500,sales,1,Anna,2026-05-14T09:00:00+00:00,4501,4,60,caller,L1,")
    totals = to_csv(await run_report(centre, "totals", day())).splitlines()
    assert totals[0].startswith("offered,answered,answered_pct,lost")
    assert totals[1].startswith("6,3,50.0,3,50.0")
    assert display(3725, Kind.SECONDS) == "1:02:05"


async def test_the_export_is_asterisks_queue_log_format(centre: Database) -> None:
    lines = [line async for line in export_lines(centre, start=DAY, end=NEXT_DAY)]
    epoch = int(at("09:00:00").timestamp())
    assert f"{epoch}|c1|sales|NONE|ENTERQUEUE||4501|1\n" in lines
    assert f"{epoch + 64}|c1|sales|Agent/1|COMPLETECALLER|4|60|1\n" in lines
    assert f"{int(at('12:00:00').timestamp())}|NONE|sales|Agent/2|PAUSE|lunch\n" in lines
    assert len(lines) == 24  # the day's events; c0's two of the 13th are left out
    sales = [line async for line in export_lines(centre, queue="support")]
    assert all("|support|" in line for line in sales)
    assert len(sales) == 6


def test_periods_as_people_type_them() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start, end = parse_period("2026-05", None, berlin)
    assert (start.isoformat(), end.isoformat()) == (
        "2026-05-01T00:00:00+02:00", "2026-06-01T00:00:00+02:00",
    )  # fmt: skip
    start, end = parse_period("2026-05-01", "2026-05-31", UTC)
    assert end - start == timedelta(days=31)
    start, end = parse_period("2026", None, UTC)
    assert (start.year, end.year, end.month) == (2026, 2027, 1)
    start, end = parse_period("2026-05-14T08:00", "2026-05-14T09:30+00:00", UTC)
    assert end - start == timedelta(hours=1, minutes=30)
    now = datetime(2026, 5, 14, 22, 30, tzinfo=UTC)
    start, end = parse_period(None, None, berlin, now=now)
    assert start.isoformat() == "2026-05-15T00:00:00+02:00"  # already the 15th in Berlin
    with pytest.raises(ValidationError, match="from: expected a year"):
        parse_period("14.05.2026", None, UTC)
    with pytest.raises(ValidationError, match="unknown time zone"):
        parse_zone("Mars/Olympus")
    with pytest.raises(ValidationError, match="end after it starts"):
        ReportQuery(start=DAY, end=DAY)


async def test_unknown_report_and_grouping_are_refused(centre: Database) -> None:
    with pytest.raises(ValidationError, match="no report 'nope'; the reports are answered"):
        await run_report(centre, "nope", day())
    with pytest.raises(ValidationError, match="by must be one of"):
        await run_report(centre, "distribution", day(by="fortnight"))


async def test_the_live_states_today_is_counted_from_the_log(centre: Database) -> None:
    counts = await QueueDirectoryService(db=centre).counts_since(at("09:05:00"))
    # Since 09:05: c2 answered after 12 s (sales' service level is 10 s), c3 and c5 lost;
    # c4 answered after 40 s and c6 lost in support.
    assert counts == {
        "sales": DayCounts(answered=1, answered_in_time=0, lost=2),
        "support": DayCounts(answered=1, answered_in_time=0, lost=1),
    }
    morning = await QueueDirectoryService(db=centre).counts_since(at("08:00:00"))
    assert morning["sales"] == DayCounts(answered=2, answered_in_time=1, lost=2)


async def test_a_page_of_a_listing_keeps_the_summary_of_the_whole(centre: Database) -> None:
    page = await run_report(centre, "answered", day(limit=1, offset=1))
    assert [r["caller"] for r in page.rows] == ["4502"]
    assert (page.summary["answered"], page.summary["talk_total"]) == (3, 480)
    rest = await run_report(centre, "lost", day(offset=2))
    assert [r["caller"] for r in rest.rows] == ["4506"]
    assert rest.summary["lost"] == 3
    async with centre.session() as session:
        sessions = await sessions_report(session, day(limit=2), now=NEXT_DAY)
    assert (len(sessions.rows), sessions.summary["intervals"]) == (2, 4)
    with pytest.raises(ValidationError, match="limit must be 1 to"):
        day(limit=0)
