"""One hand-written day of a call centre in the queue log (the table is in test_reports.py),
and the fixture that stores it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import insert

from ringfort.api.app import create_app
from ringfort.db.models import QueueLogEntry
from ringfort.services.cdr import CdrService
from ringfort.services.database import Database
from ringfort.services.queues import AgentService, QueueService
from ringfort.services.status import StatusService

DAY = datetime(2026, 5, 14, tzinfo=UTC)
NEXT_DAY = DAY + timedelta(days=1)


def at(clock: str, day: datetime = DAY) -> datetime:
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return day + timedelta(hours=hours, minutes=minutes, seconds=seconds)


LOG: list[tuple[datetime, str, str, str, str, tuple[str, ...]]] = [
    (
        at("23:59:50", DAY - timedelta(days=1)),
        "c0",
        "sales",
        "NONE",
        "ENTERQUEUE",
        ("", "4500", "1"),
    ),
    (at("08:00:00"), "NONE", "sales", "1", "AGENTLOGIN", ("PJSIP/4401",)),
    (at("08:00:00"), "NONE", "support", "1", "AGENTLOGIN", ("PJSIP/4401",)),
    (at("23:59:55", DAY - timedelta(days=1)), "c0", "sales", "1", "CONNECT", ("5", "L0", "1")),
    (at("00:00:20"), "c0", "sales", "1", "COMPLETECALLER", ("5", "25", "1")),
    (at("08:05:00"), "NONE", "sales", "2", "ADDMEMBER", ("PJSIP/4402",)),
    (at("09:00:00"), "c1", "sales", "NONE", "ENTERQUEUE", ("", "4501", "1")),
    (at("09:00:04"), "c1", "sales", "1", "CONNECT", ("4", "L1", "2")),
    (at("09:01:04"), "c1", "sales", "1", "COMPLETECALLER", ("4", "60", "1")),
    (at("09:10:00"), "c2", "sales", "NONE", "ENTERQUEUE", ("", "4502", "1")),
    (at("09:10:05"), "c2", "sales", "2", "RINGNOANSWER", ("5000",)),
    (at("09:10:30"), "c3", "sales", "NONE", "ENTERQUEUE", ("", "4503", "2")),
    (at("09:10:12"), "c2", "sales", "1", "CONNECT", ("12", "L2", "1")),
    (at("09:10:55"), "c3", "sales", "NONE", "ABANDON", ("1", "2", "25")),
    (at("09:12:12"), "c2", "sales", "1", "COMPLETEAGENT", ("12", "120", "1")),
    (at("10:00:00"), "c4", "support", "NONE", "ENTERQUEUE", ("", "4504", "1")),
    (at("10:00:40"), "c4", "support", "1", "CONNECT", ("40", "L4", "3")),
    (at("10:05:40"), "c4", "support", "1", "BLINDTRANSFER", ("200", "default", "40", "300", "1")),
    (at("10:30:00"), "c5", "sales", "NONE", "ENTERQUEUE", ("", "4505", "1")),
    (at("10:32:00"), "c5", "sales", "NONE", "EXITWITHTIMEOUT", ("1", "1", "120")),
    (at("11:00:00"), "c6", "support", "NONE", "ENTERQUEUE", ("", "4506", "1")),
    (at("11:00:08"), "c6", "support", "NONE", "EXITWITHKEY", ("1", "1", "1", "8")),
    (at("12:00:00"), "NONE", "sales", "2", "PAUSE", ("lunch",)),
    (at("12:30:00"), "NONE", "sales", "2", "UNPAUSE", ("lunch",)),
    (at("13:00:00"), "NONE", "sales", "1", "AGENTLOGOFF", ("PJSIP/4401", "18000")),
    (at("14:00:00"), "NONE", "sales", "2", "REMOVEMEMBER", ("PJSIP/4402",)),
]


@pytest.fixture
async def centre(db: Database) -> Database:
    queues = QueueService(db=db)
    await queues.add("sales", number="500", service_level=10)
    await queues.add("support", number="600")
    agents = AgentService(db=db)
    await agents.add("1", "Anna", "1111")
    await agents.add("2", "Boris", "2222")
    await CdrService(db=db).add(
        uniqueid="L1", linkedid="c1", src="4501", dst="4401", clid="<4501>",
        start=at("09:00:02"), answer=at("09:00:04"), end=at("09:01:04"),
        disposition="ANSWERED", hangup_by="caller", recording="2026/05/14/L1.wav",
    )  # fmt: skip
    rows = []
    for time, callid, queue, agent, event, data in LOG:
        padded = (*data, "", "", "", "", "")[:5]
        rows.append(
            {"time": time, "callid": callid, "queuename": queue, "agent": agent, "event": event,
             **{f"data{i + 1}": value for i, value in enumerate(padded)}}
        )  # fmt: skip
    async with db.session() as session:
        await session.execute(insert(QueueLogEntry), rows)
        await session.commit()
    return db


@pytest.fixture
async def client(centre: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The API over the centre's day (no logins: a test of the report routes)."""
    app = create_app(status=StatusService(db=centre), sip_ready=lambda: True, db=centre)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http
