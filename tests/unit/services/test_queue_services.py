"""Queues, agents and logins in the database: checks, the shared number space, and the log lines
written with each login, logout and pause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from ringfort.apps.ivr.config import IvrMenu, MenuOption
from ringfort.apps.queue.events import QueueLogged
from ringfort.db.models import QueueLogEntry
from ringfort.errors import ConflictError, NotFoundError, ValidationError
from ringfort.pbx.destination import Destination, DestinationKind
from ringfort.services.database import Database
from ringfort.services.dialplan import DialPlanService
from ringfort.services.extensions import ExtensionService
from ringfort.services.ivr import IvrService
from ringfort.services.queue_directory import QueueDirectoryService
from ringfort.services.queue_log_writer import QueueLogWriter
from ringfort.services.queues import AgentService, QueueService


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def log_rows(db: Database) -> list[tuple[str, str, str, str, str]]:
    async with db.session() as session:
        rows = await session.scalars(select(QueueLogEntry).order_by(QueueLogEntry.id))
        return [(r.queuename, r.agent, r.event, r.data1, r.data2) for r in rows]


async def test_a_queue_takes_a_number_nobody_else_has_and_the_dial_plan_finds_it(
    db: Database,
) -> None:
    await ExtensionService(db=db).add("101", name="A", password="secret-pass-1")
    queues = QueueService(db=db)
    with pytest.raises(ConflictError, match="extension 101"):
        await queues.add("sales", number="101")
    await queues.add("sales", number="500", strategy="leastrecent", overflow="extension:101")
    with pytest.raises(ConflictError, match="queue sales"):
        await ExtensionService(db=db).add("500", name="B", password="secret-pass-2")
    assert await DialPlanService(db).resolve("500") == Destination(DestinationKind.QUEUE, "sales")
    stored = await queues.get("sales")
    assert stored.strategy.value == "leastrecent"
    assert stored.overflow == Destination(DestinationKind.EXTENSION, "101")


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"strategy": "fastest"}, "strategy"),
        ({"ring_timeout": 0}, "ring_timeout"),
        ({"overflow": "nowhere:1"}, "overflow"),
        ({"join_empty": "never"}, "join_empty"),
        ({"exit_key": "1"}, "exit_destination"),
        ({"number": "5a"}, "number"),
    ],
)
async def test_bad_queue_settings_name_the_field(
    db: Database, settings: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await QueueService(db=db).add("sales", **settings)
    assert caught.value.field == field


async def test_agent_pins_are_unique_and_never_listed(db: Database) -> None:
    agents = AgentService(db=db)
    await agents.add("1", "Anna", "1111")
    with pytest.raises(ConflictError, match="PIN is taken") as caught:
        await agents.add("2", "Boris", "1111")
    assert "Anna" not in str(caught.value)
    with pytest.raises(ValidationError):
        await agents.add("2", "Boris", "12")
    assert [a.number for a in await agents.list()] == ["1"]


async def test_logins_logouts_and_pauses_write_their_log_lines(db: Database) -> None:
    clock = Clock()
    await QueueService(db=db).add("sales", number="500")
    await AgentService(db=db).add("7", "Anna", "4321")
    await ExtensionService(db=db).add("4402", name="Desk", password="secret-pass-1")
    directory = QueueDirectoryService(db=db, now=clock)
    with pytest.raises(NotFoundError, match="no extension 4403"):
        await directory.log_in("sales", "7", "4403", by_agent=False)
    assert (await directory.agent_by_pin("4321")) is not None
    assert await directory.agent_by_pin("0000") is None
    member = await directory.log_in("sales", "7", "4401", by_agent=True)
    assert (member.phone, member.logged_in) == ("4401", True)
    assert (await directory.agent_at_phone("sales", "4401")) is not None
    clock.now += timedelta(minutes=5)
    await directory.pause(None, "7", "lunch")
    await directory.unpause("sales", "7")
    # A supervisor logging the agent in at another phone moves them there.
    await directory.log_in("sales", "7", "4402", by_agent=False)
    clock.now += timedelta(seconds=90)
    await directory.log_out("sales", "7", by_agent=True)
    assert await directory.log_out("sales", "7", by_agent=True) is None
    with pytest.raises(NotFoundError):
        await directory.pause("sales", "7", "lunch")
    with pytest.raises(ValidationError, match="pause reason"):
        await directory.pause("sales", "7", "x" * 65)
    assert await log_rows(db) == [
        ("sales", "7", "AGENTLOGIN", "PJSIP/4401", ""),
        ("sales", "7", "PAUSE", "lunch", ""),
        ("sales", "7", "UNPAUSE", "lunch", ""),
        ("sales", "7", "REMOVEMEMBER", "PJSIP/4401", ""),
        ("sales", "7", "ADDMEMBER", "PJSIP/4402", ""),
        ("sales", "7", "AGENTLOGOFF", "PJSIP/4402", "90"),
    ]


async def test_the_writer_stores_published_events_in_order(db: Database) -> None:
    writer = QueueLogWriter(db=db, batch_delay=0.01)
    writer.start()
    now = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    writer.on_queue_logged(QueueLogged(now, "c-1", "sales", "NONE", "ENTERQUEUE", ("", "205", "1")))
    writer.on_queue_logged(QueueLogged(now, "c-1", "sales", "7", "CONNECT", ("4", "b-1", "2")))
    writer.on_queue_logged(QueueLogged(now, "c-1", "sales", "7", "X", tuple("123456")))
    await writer.stop()
    assert writer.pending == 0
    assert await log_rows(db) == [
        ("sales", "NONE", "ENTERQUEUE", "", "205"),
        ("sales", "7", "CONNECT", "4", "b-1"),
    ]


async def test_a_deleted_queue_is_gone_and_its_number_free(db: Database) -> None:
    queues = QueueService(db=db)
    await queues.add("sales", number="500")
    await queues.delete("sales")
    with pytest.raises(NotFoundError):
        await queues.get("sales")
    await queues.add("help", number="500")


async def test_what_a_queue_overflows_or_exits_to_cannot_be_removed_under_it(db: Database) -> None:
    await ExtensionService(db=db).add("101", name="A", password="secret-pass-1")
    await IvrService(db=db).add(IvrMenu(name="main", number="800"))
    await QueueService(db=db).add(
        "sales", number="500", overflow="ivr:main", exit_key="1", exit_destination="extension:101"
    )
    with pytest.raises(ConflictError, match="queue sales"):
        await IvrService(db=db).delete("main")
    with pytest.raises(ConflictError, match=r"queue sales \(exit key\)"):
        await ExtensionService(db=db).remove("101")
    await QueueService(db=db).delete("sales")
    await IvrService(db=db).delete("main")
    await ExtensionService(db=db).remove("101")


async def test_a_queue_reached_with_a_priority_is_still_in_use(db: Database) -> None:
    await QueueService(db=db).add("sales", number="500")
    vip = Destination.parse("queue:sales;priority=5")
    await IvrService(db=db).add(IvrMenu(name="main", number="800", options=(MenuOption("1", vip),)))
    stored = await IvrService(db=db).get("main")
    assert stored.options[0].destination == vip
    with pytest.raises(ConflictError, match="menu main"):
        await QueueService(db=db).delete("sales")
