"""Report speed on a year of a busy call centre: about 2 million queue events.

Generates (once; the database is kept for the next run) a year of a 50-agent
centre: four queues, agents in two queues each, 08:00-20:00 on weekdays and
fewer calls at weekends, about 600,000 callers (85 % answered, some after a
missed ring; the rest abandon or time out), logins, logouts and lunch pauses.
Then it times every report for one month (June) and for the whole year, and
the queue_log export of the month, on SQLite and, with --pg-url, PostgreSQL.

    .venv/bin/python bench/reports.py                         # SQLite in /tmp
    .venv/bin/python bench/reports.py --pg-url postgresql+asyncpg://user@127.0.0.1/db

Targets (issue): < 1 s per report for a month and < 5 s for a year on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from ringfort.db.models import Agent, QueueLogEntry
from ringfort.reports.catalogue import REPORTS, run_report
from ringfort.reports.export import export_lines
from ringfort.reports.model import ReportQuery
from ringfort.services.database import Database
from ringfort.services.queues import AgentService, QueueService

YEAR = 2025
QUEUES = ("sales", "support", "billing", "vip")
AGENTS = 50
WEEKDAY_CALLS = 2000
WEEKEND_CALLS = 900
BATCH = 20_000
YEAR_START = datetime(YEAR, 1, 1, tzinfo=UTC)
YEAR_END = datetime(YEAR + 1, 1, 1, tzinfo=UTC)


def _agents_of(queue_index: int) -> list[str]:
    return [
        str(1000 + a)
        for a in range(AGENTS)
        if a % len(QUEUES) in (queue_index, (queue_index + 1) % len(QUEUES))
    ]


def _day_events(day: datetime, rng: random.Random, serial: Iterator[int]) -> list[dict[str, Any]]:
    """One day's events, in time order."""
    events: list[tuple[datetime, str, str, str, str, tuple[str, ...]]] = []
    weekend = day.weekday() >= 5
    opening, closing = day + timedelta(hours=8), day + timedelta(hours=20)
    working = list(range(AGENTS)) if not weekend else list(range(0, AGENTS, 3))
    for a in working:
        agent = str(1000 + a)
        queues = [QUEUES[a % len(QUEUES)], QUEUES[(a + 1) % len(QUEUES)]]
        login = opening + timedelta(seconds=rng.randint(0, 1200))
        logout = closing - timedelta(seconds=rng.randint(0, 1200))
        lunch = day + timedelta(hours=12, seconds=rng.randint(0, 7200))
        for queue in queues:
            events.append((login, "NONE", queue, agent, "AGENTLOGIN", (f"PJSIP/{agent}",)))
            events.append((lunch, "NONE", queue, agent, "PAUSE", ("lunch",)))
            events.append(
                (lunch + timedelta(minutes=30), "NONE", queue, agent, "UNPAUSE", ("lunch",))
            )
            seconds = str(int((logout - login).total_seconds()))
            events.append(
                (logout, "NONE", queue, agent, "AGENTLOGOFF", (f"PJSIP/{agent}", seconds))
            )
    calls = WEEKEND_CALLS if weekend else WEEKDAY_CALLS
    for _ in range(calls):
        callid = f"{day:%Y%m%d}-{next(serial)}"
        q = rng.choices(range(len(QUEUES)), weights=(5, 4, 2, 1))[0]
        queue = QUEUES[q]
        entered = opening + timedelta(seconds=rng.randint(0, 12 * 3600 - 1))
        caller = str(rng.randint(2_000_000, 2_999_999))
        position = str(rng.choices((1, 2, 3, 4, 5, 6), weights=(40, 25, 15, 10, 6, 4))[0])
        events.append((entered, callid, queue, "NONE", "ENTERQUEUE", ("", caller, position)))
        agents = _agents_of(q)
        wait = int(rng.expovariate(1 / 18))
        if rng.random() < 0.85:
            agent = rng.choice(agents)
            if rng.random() < 0.2:
                missed = rng.choice(agents)
                events.append((entered + timedelta(seconds=min(wait, 15)), callid, queue, missed,
                               "RINGNOANSWER", ("15000",)))  # fmt: skip
            talk = int(rng.lognormvariate(5.0, 0.7))
            connected = entered + timedelta(seconds=wait)
            events.append((connected, callid, queue, agent, "CONNECT",
                           (str(wait), f"{callid}-a", str(rng.randint(1, 9)))))  # fmt: skip
            ended = connected + timedelta(seconds=talk)
            end_event = rng.choices(("COMPLETECALLER", "COMPLETEAGENT", "BLINDTRANSFER"),
                                    weights=(60, 35, 5))[0]  # fmt: skip
            data = (
                ("200", "default", str(wait), str(talk), position)
                if end_event == "BLINDTRANSFER"
                else (str(wait), str(talk), position)
            )
            events.append((ended, callid, queue, agent, end_event, data))
        else:
            gave_up = rng.choices(("ABANDON", "EXITWITHTIMEOUT"), weights=(85, 15))[0]
            wait = wait if gave_up == "ABANDON" else 300
            events.append((entered + timedelta(seconds=wait), callid, queue, "NONE", gave_up,
                           ("1", position, str(wait))))  # fmt: skip
    events.sort(key=lambda e: e[0])
    return [
        {"time": t, "callid": c, "queuename": q, "agent": a, "event": e,
         **{f"data{i + 1}": v for i, v in enumerate((*d, "", "", "", "", "")[:5])}}
        for t, c, q, a, e, d in events
    ]  # fmt: skip


async def generate(
    db: Database,
    *,
    start: datetime = YEAR_START,
    end: datetime = YEAR_END,
) -> int:
    """Fill the log with the days from ``start`` to ``end`` (midnights, UTC; by default the
    year), unless it already has events; the number of events."""
    async with db.session() as session:
        count = await session.scalar(select(func.count()).select_from(QueueLogEntry))
        if count:
            print(f"using the {count:,} events already stored")
            return int(count)
    queues = QueueService(db=db)
    for index, name in enumerate(QUEUES):
        await queues.add(name, number=str(700 + index))
    agents = AgentService(db=db)
    for a in range(AGENTS):
        await agents.add(str(1000 + a), f"Agent {a}", str(100_000 + a))
    rng = random.Random(2025)
    serial = iter(range(10**9))
    total = 0
    started = time.perf_counter()
    day = start
    pending: list[dict[str, Any]] = []
    while day < end:
        pending += _day_events(day, rng, serial)
        day += timedelta(days=1)
        if len(pending) >= BATCH or day >= end:
            async with db.engine.begin() as connection:
                await connection.execute(insert(QueueLogEntry), pending)
            total += len(pending)
            pending = []
            if day.day == 1:
                print(f"  {day - timedelta(days=1):%Y-%m}: {total:,} events"
                      f" ({time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip
    return total


async def time_reports(db: Database) -> None:
    month = ReportQuery(
        start=datetime(YEAR, 6, 1, tzinfo=UTC), end=datetime(YEAR, 7, 1, tzinfo=UTC)
    )
    year = ReportQuery(
        start=datetime(YEAR, 1, 1, tzinfo=UTC), end=datetime(YEAR + 1, 1, 1, tzinfo=UTC)
    )
    async with db.session() as session:
        some_agent = await session.scalar(select(Agent.number).limit(1))
    print(f"{'report':<28} {'month (s)':>10} {'year (s)':>10} {'rows (year)':>12}")
    cases: list[tuple[str, str, dict[str, Any]]] = [(name, name, {}) for name in REPORTS]
    cases += [
        ("distribution --by hour", "distribution", {"by": "hour"}),
        ("answered --queue sales", "answered", {"queue": "sales"}),
        ("answered --agent", "answered", {"agent": some_agent}),
        ("answered --caller", "answered", {"caller": "2500000"}),
        ("answered --limit 1000", "answered", {"limit": 1000}),
        ("answered --limit 1000 --offset", "answered", {"limit": 1000, "offset": 100_000}),
    ]
    for label, name, filters in cases:
        timings = []
        rows = 0
        for period in (month, year):
            query = ReportQuery(start=period.start, end=period.end, **filters)
            started = time.perf_counter()
            report = await run_report(db, name, query)
            timings.append(time.perf_counter() - started)
            rows = len(report.rows)
        print(f"{label:<28} {timings[0]:>10.3f} {timings[1]:>10.3f} {rows:>12,}", flush=True)
    started = time.perf_counter()
    lines = 0
    async for _ in export_lines(db, start=month.start, end=month.end):
        lines += 1
    print(f"{'queue-log export (month)':<28} {time.perf_counter() - started:>10.3f}"
          f" {'':>10} {lines:>12,}")  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", type=Path, default=Path("/tmp/ringfort-bench-reports.db"),
                        help="SQLite file (kept between runs)")  # fmt: skip
    parser.add_argument("--pg-url", help="also a PostgreSQL database (its tables are kept)")
    parser.add_argument("--skip-sqlite", action="store_true")
    options = parser.parse_args()
    urls = [] if options.skip_sqlite else [f"sqlite+aiosqlite:///{options.sqlite}"]
    if options.pg_url:
        urls.append(options.pg_url)
    for url in urls:
        db = Database(url=url)
        await db.open()
        try:
            print(f"== {db.display_url}")
            total = await generate(db)
            print(f"{total:,} queue events in {YEAR}")
            await time_reports(db)
        finally:
            await db.close()


if __name__ == "__main__":
    asyncio.run(main())
