"""Made reports are handed out again until their tables change here or they grow old; the
same report asked for at once is made once."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from centre_day import at
from sqlalchemy import insert, select

from ringfort.db.models import Cdr, QueueLogEntry
from ringfort.reports.cache import ReportCache
from ringfort.reports.catalogue import run_report, typed_query
from ringfort.reports.model import Report, ReportQuery
from ringfort.services.database import Database
from ringfort.services.queues import QueueService

DAY_UTC = {"from": "2026-05-14", "tz": "UTC"}


async def test_only_committed_writes_to_a_table_count(db: Database) -> None:
    cdr = frozenset({"cdr"})
    before = db.writes(cdr)
    async with db.session() as session:
        await session.scalar(select(Cdr.id).limit(1))  # a read
        await session.execute(insert(Cdr).values(**_record("u-1")))
        await session.rollback()
    assert db.writes(cdr) == before
    async with db.session() as session:
        await session.execute(insert(Cdr).values(**_record("u-2")))
        assert db.writes(cdr) == before  # written, not yet committed
        await session.commit()
    assert db.writes(cdr) == before + 1
    await QueueService(db=db).add("sales", number="500")  # the ORM, another table
    assert db.writes(cdr) == before + 1
    assert db.writes(frozenset({"queues"})) == 1


def _record(uniqueid: str) -> dict[str, object]:
    return {
        "uniqueid": uniqueid, "linkedid": uniqueid, "src": "101", "dst": "102", "clid": "",
        "start": at("09:00:00"), "answer": None, "end": at("09:00:10"),
        "duration": 10, "billsec": 0, "disposition": "NO ANSWER", "hangup_by": "caller",
    }  # fmt: skip


class Maker:
    """Stands in for the database work: counts the reports made, each held until released."""

    def __init__(self) -> None:
        self.made = 0
        self.running = 0
        self.most_at_once = 0
        self.release = asyncio.Event()
        self.fail = False

    async def __call__(self, name: str, query: ReportQuery) -> Report:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await self.release.wait()
            if self.fail:
                raise ValueError("the database went away")
            self.made += 1
            return Report(name, name, query, (), [{"made": self.made}])
        finally:
            self.running -= 1


QUERY = typed_query("2026-05", None, "UTC")


async def test_askers_at_once_share_one_making_and_later_ones_the_kept_report() -> None:
    maker, clock, writes = Maker(), [0.0], [0]
    cache = ReportCache(maker, lambda: writes[0], at_once=2, clock=lambda: clock[0])
    askers = [asyncio.create_task(cache.get("totals", QUERY)) for _ in range(5)]
    await asyncio.sleep(0)
    maker.release.set()
    reports = await asyncio.gather(*askers)
    assert maker.made == 1
    assert all(r is reports[0] for r in reports)
    assert await cache.get("totals", QUERY) is reports[0]

    writes[0] += 1  # a call ended: made again
    again = await cache.get("totals", QUERY)
    assert again.rows == [{"made": 2}]
    clock[0] += 29.0
    assert await cache.get("totals", QUERY) is again
    clock[0] += 1.0  # too old: another process may have written
    assert (await cache.get("totals", QUERY)).rows == [{"made": 3}]


async def test_at_most_so_many_are_made_at_once_and_failures_are_not_kept() -> None:
    maker = Maker()
    cache = ReportCache(maker, lambda: 0, at_once=2)
    months = [typed_query(f"2026-0{m}", None, "UTC") for m in range(1, 6)]
    askers = [asyncio.create_task(cache.get("totals", month)) for month in months]
    await asyncio.sleep(0.01)
    assert maker.running == 2
    maker.release.set()
    await asyncio.gather(*askers)
    assert maker.most_at_once == 2
    assert maker.made == 5

    maker.fail = True
    other = typed_query("2026-07", None, "UTC")
    with pytest.raises(ValueError, match="went away"):
        await cache.get("totals", other)
    maker.fail = False
    assert (await cache.get("totals", other)).rows == [{"made": 6}]


async def test_one_asker_giving_up_does_not_stop_the_others() -> None:
    maker = Maker()
    cache = ReportCache(maker, lambda: 0)
    first = asyncio.create_task(cache.get("totals", QUERY))
    second = asyncio.create_task(cache.get("totals", QUERY))
    await asyncio.sleep(0)
    first.cancel()
    maker.release.set()
    assert (await second).rows == [{"made": 1}]
    assert first.cancelled()


async def test_a_call_logged_after_a_report_is_in_the_next_one(
    client: httpx.AsyncClient, centre: Database
) -> None:
    first = (await client.get("/api/v1/reports/lost", params=DAY_UTC)).json()
    assert [r["caller"] for r in first["rows"]] == ["4503", "4505", "4506"]
    async with centre.session() as session:
        await session.execute(
            insert(QueueLogEntry),
            [
                {"time": at("15:00:00"), "callid": "c9", "queuename": "sales", "agent": "NONE",
                 "event": "ENTERQUEUE", "data1": "", "data2": "4509", "data3": "1"},
                {"time": at("15:00:30"), "callid": "c9", "queuename": "sales", "agent": "NONE",
                 "event": "ABANDON", "data1": "1", "data2": "1", "data3": "30"},
            ],
        )  # fmt: skip
        await session.commit()
    second = (await client.get("/api/v1/reports/lost", params=DAY_UTC)).json()
    assert [r["caller"] for r in second["rows"]] == ["4503", "4505", "4506", "4509"]


async def test_the_api_makes_a_report_once_for_repeated_askers(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = []

    async def counted(db: Database, name: str, query: ReportQuery) -> Report:
        made.append(name)
        return await run_report(db, name, query)

    monkeypatch.setattr("ringfort.api.reports.run_report", counted)
    answers = [await client.get("/api/v1/reports/totals", params=DAY_UTC) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].json() == answers[2].json()
    assert made == ["totals"]
