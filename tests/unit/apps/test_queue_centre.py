"""The call centre's choices: who rings for which caller, wrap-up, auto-pause, the log."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from datetime import UTC, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest

from ringfort.apps.queue import events
from ringfort.apps.queue.centre import AgentState, CallCentre, Waiter
from ringfort.apps.queue.config import AgentInfo, DayCounts, EmptyRule, MemberState, QueueConfig
from ringfort.apps.queue.events import QueueLogged
from ringfort.apps.queue.phones import PhoneActivity
from ringfort.apps.queue.strategy import Strategy
from ringfort.bus import EventBus
from ringfort.disposition import Disposition, HangupBy
from ringfort.pbx.call_events import CallAnswered, CallEnded, CallStarted
from ringfort.pbx.control import CallControl


class Directory:
    """An in-memory QueueDirectory."""

    def __init__(self, *queues: QueueConfig) -> None:
        self.queues = {queue.name: queue for queue in queues}
        self.rows: list[MemberState] = []
        self.paused: list[tuple[str | None, str, str]] = []
        self.counts: dict[str, DayCounts] = {}
        self.counted_since: datetime | None = None

    def add(self, queue: str, agent: str, phone: str | None, penalty: int = 0) -> None:
        self.rows.append(MemberState(queue, agent, f"Agent {agent}", penalty, phone))

    async def queue(self, name: str) -> QueueConfig | None:
        return self.queues.get(name)

    async def queue_by_number(self, number: str) -> QueueConfig | None:
        return next((q for q in self.queues.values() if q.number == number), None)

    async def members(self) -> list[MemberState]:
        return list(self.rows)

    async def agent_by_pin(self, pin: str) -> AgentInfo | None:
        return None

    async def agent_at_phone(self, queue: str, phone: str) -> MemberState | None:
        return None

    async def log_in(self, queue: str, agent: str, phone: str, *, by_agent: bool) -> MemberState:
        raise NotImplementedError

    async def log_out(self, queue: str, agent: str, *, by_agent: bool) -> MemberState | None:
        raise NotImplementedError

    async def pause(self, queue: str | None, agent: str, reason: str) -> list[MemberState]:
        self.paused.append((queue, agent, reason))
        changed = []
        for index, row in enumerate(self.rows):
            if row.agent == agent and (queue is None or row.queue == queue):
                self.rows[index] = dataclasses.replace(row, paused=True, pause_reason=reason)
                changed.append(self.rows[index])
        return changed

    async def unpause(self, queue: str | None, agent: str) -> list[MemberState]:
        raise NotImplementedError

    async def counts_since(self, since: datetime) -> dict[str, DayCounts]:
        self.counted_since = since
        return self.counts


class Caller:
    """What the centre reads of a caller's CallControl."""

    def __init__(self, uniqueid: str, caller: str) -> None:
        self.uniqueid = uniqueid
        self.caller = caller


class Rig:
    def __init__(self, directory: Directory, **kwargs: Any) -> None:
        self.directory = directory
        self.bus = EventBus()
        self.phones = PhoneActivity()
        self.phones.attach(self.bus)
        self.log: list[QueueLogged] = []
        self.bus.subscribe(QueueLogged, self.log.append)
        self.centre = CallCentre(
            directory, self.bus, self.phones, rng=random.Random(7), refresh_every=3600, **kwargs
        )
        self.count = 0

    async def start(self) -> None:
        await self.centre.start()

    def join(self, queue: str, caller: str = "200", priority: int = 0) -> Waiter:
        self.count += 1
        call = cast(CallControl, Caller(f"u-{self.count}", caller))
        return self.centre.join(self.directory.queues[queue], call, priority=priority)

    def events(self, *names: str) -> list[tuple[str, str, tuple[str, ...]]]:
        return [(e.agent, e.event, e.data) for e in self.log if not names or e.event in names]

    def talk(self, waiter: Waiter, agent: str, by: HangupBy = HangupBy.CALLER) -> None:
        self.centre.answered(waiter, agent, f"b-{waiter.call.uniqueid}", 1.0)
        self.centre.completed(waiter, agent, by, 30.0)


def offered(waiter: Waiter) -> list[str] | None:
    return waiter.offer.result() if waiter.offer.done() else None


def queue(name: str = "sales", **kwargs: Any) -> QueueConfig:
    return QueueConfig(name, number="500", **kwargs)


async def started(directory: Directory, **kwargs: Any) -> Rig:
    rig = Rig(directory, **kwargs)
    await rig.start()
    return rig


async def test_ringall_rings_every_free_agent_of_the_lowest_penalty() -> None:
    directory = Directory(queue(strategy=Strategy.RINGALL))
    directory.add("sales", "1", "101")
    directory.add("sales", "2", "102")
    directory.add("sales", "3", "103", penalty=1)
    rig = await started(directory)
    waiter = rig.join("sales")
    assert offered(waiter) == ["1", "2"]
    assert rig.centre.agent_state("1") is AgentState.RINGING
    assert rig.centre.agent_state("3") is AgentState.AVAILABLE


async def test_a_higher_penalty_rings_only_when_no_lower_one_is_free() -> None:
    directory = Directory(queue(strategy=Strategy.LINEAR))
    directory.add("sales", "1", "101")
    directory.add("sales", "2", "102", penalty=2)
    rig = await started(directory)
    first, second = rig.join("sales"), rig.join("sales")
    # Agent 1 rings for the first caller, so the second gets the penalty-2 agent.
    assert offered(first) == ["1"]
    assert offered(second) == ["2"]


async def test_leastrecent_offers_the_agent_whose_last_call_ended_longest_ago() -> None:
    clock = [100.0]
    directory = Directory(queue(strategy=Strategy.LEASTRECENT))
    for agent in ("1", "2", "3"):
        directory.add("sales", agent, f"10{agent}")
    rig = await started(directory, clock=lambda: clock[0])
    # Calls end in the order 2, 3, 1: the next callers go to 2, 3, 1 in that order.
    for agent in ("2", "3", "1"):
        waiter = rig.join("sales")
        waiter.offer = asyncio.get_running_loop().create_future()  # take it out of the offer
        rig.talk(waiter, agent)
        clock[0] += 10
    order = []
    for _ in range(3):
        waiter = rig.join("sales")
        chosen = offered(waiter)
        assert chosen is not None
        order.append(chosen[0])
        rig.talk(waiter, chosen[0])
        clock[0] += 10
    assert order == ["2", "3", "1"]


async def test_fewestcalls_counts_calls_per_queue() -> None:
    directory = Directory(queue("sales", strategy=Strategy.FEWESTCALLS), queue("help"))
    directory.add("sales", "1", "101")
    directory.add("sales", "2", "102")
    directory.add("help", "1", "101")
    rig = await started(directory)
    # Agent 1 takes two calls from "help" and one from "sales"; agent 2 two from "sales".
    for name, agent in (("help", "1"), ("help", "1"), ("sales", "1")):
        waiter = rig.join(name)
        rig.centre.not_answered(waiter, 0.0, cancelled=True)
        rig.talk(waiter, agent)
    for _ in range(2):
        waiter = rig.join("sales")
        rig.centre.not_answered(waiter, 0.0, cancelled=True)
        rig.talk(waiter, "2")
    # In "sales" agent 1 has 1 call and agent 2 has 2: agent 1 is next, whatever "help" says.
    assert offered(rig.join("sales")) == ["1"]
    agents = {a["agent"]: a for a in rig.centre.snapshot()["agents"]}
    assert agents["1"]["calls"] == {"help": 2, "sales": 1}
    assert agents["2"]["calls"] == {"sales": 2}


async def test_rrmemory_goes_round_from_the_agent_rung_last() -> None:
    directory = Directory(queue(strategy=Strategy.RRMEMORY))
    for agent in ("1", "2", "3"):
        directory.add("sales", agent, f"10{agent}")
    rig = await started(directory)
    order = []
    for _ in range(4):
        waiter = rig.join("sales")
        chosen = offered(waiter)
        assert chosen is not None
        order.append(chosen[0])
        rig.talk(waiter, chosen[0])
    assert order == ["1", "2", "3", "1"]


async def test_an_agent_in_wrapup_is_not_rung_until_it_is_over() -> None:
    directory = Directory(queue(strategy=Strategy.LINEAR, wrapup=0.2))
    directory.add("sales", "1", "101")
    rig = await started(directory)
    waiter = rig.join("sales")
    rig.talk(waiter, "1")
    assert rig.centre.agent_state("1") is AgentState.WRAPUP
    second = rig.join("sales")
    assert offered(second) is None
    await asyncio.sleep(0.3)
    assert offered(second) == ["1"]


async def test_an_agents_own_wrapup_applies_in_every_queue() -> None:
    directory = Directory(queue("sales", wrapup=0.0), queue("help", wrapup=0.0))
    directory.rows.append(MemberState("sales", "1", "A", 0, "101", wrapup=0.2))
    directory.rows.append(MemberState("help", "1", "A", 0, "101", wrapup=0.2))
    rig = await started(directory)
    rig.talk(rig.join("sales"), "1")
    waiting_in_help = rig.join("help")
    assert offered(waiting_in_help) is None
    await asyncio.sleep(0.3)
    assert offered(waiting_in_help) == ["1"]


async def test_an_agent_ringing_for_one_queue_is_not_offered_by_another() -> None:
    directory = Directory(queue("sales"), queue("help"))
    directory.add("sales", "1", "101")
    directory.add("help", "1", "101")
    rig = await started(directory)
    in_sales = rig.join("sales")
    in_help = rig.join("help")
    assert offered(in_sales) == ["1"]
    assert offered(in_help) is None
    rig.centre.not_answered(in_sales, 15.0, cancelled=False)
    # Freed: the help caller (now the only one not in a retry delay) gets the agent.
    assert offered(in_help) == ["1"]


async def test_autopause_after_the_configured_misses_in_a_row() -> None:
    directory = Directory(queue(autopause=2, retry_delay=0.0))
    directory.add("sales", "1", "101")
    rig = await started(directory)
    waiter = rig.join("sales")
    rig.centre.not_answered(waiter, 15.0, cancelled=False)
    assert offered(waiter) == ["1"]
    rig.centre.not_answered(waiter, 15.0, cancelled=False)
    await asyncio.sleep(0.05)
    assert directory.paused == [(None, "1", "autopause")]
    assert rig.centre.agent_state("1") is AgentState.PAUSED
    assert offered(waiter) is None
    assert [event for _, event, _ in rig.events(events.RINGNOANSWER)] == ["RINGNOANSWER"] * 2


async def test_a_cancelled_ring_is_not_a_miss() -> None:
    directory = Directory(queue(autopause=1, retry_delay=0.0))
    directory.add("sales", "1", "101")
    rig = await started(directory)
    waiter = rig.join("sales")
    rig.centre.not_answered(waiter, 2.5, cancelled=True)
    await asyncio.sleep(0.05)
    assert directory.paused == []
    assert rig.events(events.RINGCANCELED) == [("1", "RINGCANCELED", ("2500",))]


async def test_a_phone_in_another_call_is_not_rung_and_is_offered_when_it_ends() -> None:
    directory = Directory(queue())
    directory.add("sales", "1", "101")
    rig = await started(directory)
    now = datetime.now(UTC)
    rig.bus.publish(CallStarted("x", "x", "101", "300", '"" <101>', now))
    assert rig.centre.agent_state("1") is AgentState.ON_CALL
    waiter = rig.join("sales")
    assert offered(waiter) is None
    rig.bus.publish(
        CallEnded(
            "x",
            "x",
            "101",
            "300",
            clid="",
            start=now,
            answer=now,
            end=now,
            disposition=Disposition.ANSWERED,
            hangup_by=HangupBy.CALLER,
            cause="normal",
            status=200,
        )
    )
    assert offered(waiter) == ["1"]


async def test_a_phone_rung_among_several_is_free_once_another_answers() -> None:
    phones = PhoneActivity()
    bus = EventBus()
    phones.attach(bus)
    idle: list[str] = []
    phones.on_idle(idle.append)
    now = datetime.now(UTC)
    bus.publish(CallStarted("b", "c", "200", "101&102", "", now))
    assert phones.state("101").value == "ringing"
    bus.publish(CallAnswered("b", "c", "200", "102", now))
    assert idle == ["101"]
    assert phones.state("102").value == "busy"


async def test_a_phone_in_two_calls_is_idle_only_when_the_last_one_ends() -> None:
    phones = PhoneActivity()
    bus = EventBus()
    phones.attach(bus)
    idle: list[str] = []
    phones.on_idle(idle.append)
    now = datetime.now(UTC)

    def ended(uniqueid: str, src: str, dst: str) -> CallEnded:
        return CallEnded(
            uniqueid, uniqueid, src, dst, clid="", start=now, answer=now, end=now,
            disposition=Disposition.ANSWERED, hangup_by=HangupBy.CALLER, cause="normal",
            status=200,
        )  # fmt: skip

    bus.publish(CallStarted("a", "a", "101", "102", "", now))
    bus.publish(CallStarted("b", "b", "103", "101&104", "", now))
    bus.publish(CallAnswered("b", "b", "103", "104", now))
    assert idle == []  # 101 still makes call a
    assert phones.busy_phones() == {"101", "102", "103", "104"}
    bus.publish(ended("a", "101", "102"))
    assert sorted(idle) == ["101", "102"]
    bus.publish(ended("b", "103", "104"))
    assert sorted(idle) == ["101", "102", "103", "104"]
    assert phones.busy_phones() == set()
    assert phones.state("101").value == "idle"


async def test_join_and_leave_rules_and_the_maximum_length() -> None:
    directory = Directory(
        queue(join_empty=EmptyRule.AVAILABLE, leave_empty=EmptyRule.LOGGEDIN, max_length=1)
    )
    rig = await started(directory)
    config = directory.queues["sales"]
    assert rig.centre.refusal(config) == events.JOINEMPTY
    directory.rows.append(MemberState("sales", "1", "A", 0, "101", paused=True))
    await rig.centre.refresh()
    # Logged in but paused: not enough to join, enough to stay.
    assert rig.centre.refusal(config) == events.JOINEMPTY
    directory.rows[0] = dataclasses.replace(directory.rows[0], paused=False)
    await rig.centre.refresh()
    assert rig.centre.refusal(config) is None
    waiter = rig.join("sales")
    assert rig.centre.refusal(config) == events.FULL
    directory.rows[0] = dataclasses.replace(directory.rows[0], paused=True)
    await rig.centre.refresh()
    assert not rig.centre.must_leave(waiter)
    directory.rows.clear()
    await rig.centre.refresh()
    assert rig.centre.must_leave(waiter)


async def test_higher_priority_callers_go_first() -> None:
    directory = Directory(queue())
    rig = await started(directory)
    low = rig.join("sales", "201")
    high = rig.join("sales", "202", priority=5)
    assert rig.centre.position(high) == 1
    assert rig.centre.position(low) == 2
    assert [data for _, _, data in rig.events(events.ENTERQUEUE)] == [
        ("", "201", "1"),
        ("", "202", "1"),
    ]


async def test_a_callers_life_is_logged_in_asterisks_terms() -> None:
    clock = [0.0]
    directory = Directory(queue())
    directory.add("sales", "1", "101")
    directory.add("sales", "2", "102")
    rig = await started(directory, clock=lambda: clock[0])
    waiter = rig.join("sales", "205")
    assert offered(waiter) == ["1", "2"]
    clock[0] = 7.4
    rig.centre.answered(waiter, "2", "bridge-1", 3.2)
    clock[0] = 50.0
    rig.centre.completed(waiter, "2", HangupBy.CALLEE, 42.6)
    lost = rig.join("sales", "206")
    clock[0] = 61.0
    rig.centre.not_answered(lost, 4.0, cancelled=True)
    rig.centre.leave(lost, events.ABANDON)
    assert rig.events() == [
        ("NONE", "ENTERQUEUE", ("", "205", "1")),
        ("1", "RINGCANCELED", ("3200",)),
        ("2", "CONNECT", ("7", "bridge-1", "3")),
        ("2", "COMPLETEAGENT", ("7", "43", "1")),
        ("NONE", "ENTERQUEUE", ("", "206", "1")),
        ("1", "RINGCANCELED", ("4000",)),
        ("2", "RINGCANCELED", ("4000",)),
        ("NONE", "ABANDON", ("1", "1", "11")),
    ]
    live = rig.centre.snapshot()["queues"][0]
    assert (live["answered_today"], live["lost_today"], live["service_level_today"]) == (
        1,
        1,
        50.0,
    )


@pytest.mark.parametrize("by", [HangupBy.CALLER, HangupBy.CALLEE])
async def test_who_hung_up_decides_completecaller_or_completeagent(by: HangupBy) -> None:
    directory = Directory(queue())
    directory.add("sales", "1", "101")
    rig = await started(directory)
    rig.talk(rig.join("sales"), "1", by)
    expected = "COMPLETECALLER" if by is HangupBy.CALLER else "COMPLETEAGENT"
    assert [event for _, event, _ in rig.events(expected)] == [expected]


async def test_todays_counts_are_taken_up_from_the_log_at_start_from_local_midnight() -> None:
    directory = Directory(queue(service_level=20))
    directory.counts["sales"] = DayCounts(answered=8, answered_in_time=6, lost=2)
    berlin = ZoneInfo("Europe/Berlin")
    wall = datetime(2026, 5, 14, 23, 30, tzinfo=UTC)  # already the 15th in Berlin
    rig = await started(directory, zone=berlin, wall=lambda: wall)
    assert directory.counted_since == datetime(2026, 5, 15, tzinfo=berlin)
    (sales,) = rig.centre.snapshot()["queues"]
    assert (sales["answered_today"], sales["lost_today"], sales["service_level_today"]) == (
        8,
        2,
        60.0,
    )
    waiter = rig.join("sales")
    rig.centre.leave(waiter, "ABANDON")
    assert rig.centre.snapshot()["queues"][0]["lost_today"] == 3
    await rig.centre.stop()
