"""The call centre's live state: who waits in which queue, which agent is free, who rings whom.

One `CallCentre` per node holds every queue's waiting callers and every agent's
state, and decides which agents ring for which caller (`dispatch`). It is
event-driven: a caller joining, an attempt ending, a phone going idle, a
wrap-up ending, a login or an unpause each run `dispatch` at once, so a free
agent is offered the next caller within the same turn of the event loop.

Who is logged in where (and paused) is stored; the centre keeps a copy,
reloaded every second and right after a change made in this process, so a
supervisor's change from the command line or another node reaches it too.
What only the running node knows (ringing, talking, wrap-up, rings missed in a
row) lives here.

Every change of a caller's life is published as a `QueueLogged` event in
Asterisk's terms (see ``events.py``); services store them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from typing import Any

from ringfort.apps.queue import events
from ringfort.apps.queue.config import EmptyRule, MemberState, QueueConfig
from ringfort.apps.queue.events import NONE, AgentStateChanged, QueueLogged
from ringfort.apps.queue.phones import PhoneActivity, PhoneState
from ringfort.apps.queue.ports import QueueDirectory
from ringfort.apps.queue.strategy import Candidate, Rotation, choose
from ringfort.bus import EventBus
from ringfort.disposition import HangupBy
from ringfort.pbx.control import CallControl, Transfer

__all__ = ["AgentState", "CallCentre", "Waiter"]

log = logging.getLogger(__name__)

REFRESH_SECONDS = 1.0
"""How often the stored logins and pauses are read again."""
AUTOPAUSE_REASON = "autopause"


class AgentState(enum.StrEnum):
    """What an agent is doing, as the live panel shows it."""

    LOGGED_OUT = "logged-out"
    AVAILABLE = "available"
    RINGING = "ringing"
    ON_CALL = "on-call"
    WRAPUP = "wrap-up"
    PAUSED = "paused"


@dataclass(eq=False)
class Waiter:
    """A caller waiting in a queue."""

    queue: str
    call: CallControl
    priority: int
    joined: float
    """Monotonic seconds when the caller joined."""
    joined_at: datetime
    position: int
    """The position the caller joined at (Asterisk's ``origposition``)."""
    offer: asyncio.Future[list[str]]
    """Resolved with the agents to ring when the centre has some for this caller."""
    retry_at: float = 0.0
    """Not rung again before this (the queue's retry delay after an attempt)."""
    held: float = 0.0
    """Seconds the caller waited before an agent answered."""
    ringing: list[str] = field(default_factory=list)
    tried: set[str] = field(default_factory=set)
    """Agents rung without an answer since the caller joined (tried last while others are free)."""


@dataclass(eq=False)
class _Agent:
    """What the running node knows of an agent beyond what is stored."""

    number: str
    name: str = ""
    phone: str | None = None
    wrapup: float | None = None
    ringing_for: Waiter | None = None
    talking_in: str | None = None
    """The queue whose caller the agent is talking to."""
    caller: str | None = None
    wrapup_until: float = 0.0
    missed: int = 0
    """Rings in a row not answered (for auto-pause)."""
    since: float = 0.0
    """Monotonic seconds when the agent's state last changed."""
    state: AgentState = AgentState.LOGGED_OUT
    calls: dict[str, int] = field(default_factory=dict)
    last_ended: dict[str, float] = field(default_factory=dict)


@dataclass(eq=False)
class _Queue:
    config: QueueConfig
    waiting: list[Waiter] = field(default_factory=list)
    rotation: Rotation = field(default_factory=Rotation)
    hold_average: float | None = None
    """Asterisk's running hold time: each new one weighs a quarter."""
    day: date | None = None
    answered: int = 0
    answered_in_time: int = 0
    lost: int = 0


class CallCentre:
    """Queues' waiting callers, agents' states, and the choice of whom to ring."""

    def __init__(
        self,
        directory: QueueDirectory,
        bus: EventBus,
        phones: PhoneActivity,
        *,
        clock: Callable[[], float] | None = None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        rng: random.Random | None = None,
        refresh_every: float = REFRESH_SECONDS,
        zone: tzinfo = UTC,
    ) -> None:
        self._directory = directory
        self._zone = zone
        self._bus = bus
        self._phones = phones
        self._clock = clock or asyncio.get_running_loop().time
        self._wall = wall
        self._rng = rng or random.Random()
        self._refresh_every = refresh_every
        self._members: list[MemberState] = []
        self._agents: dict[str, _Agent] = {}
        self._queues: dict[str, _Queue] = {}
        self._task: asyncio.Task[None] | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        phones.on_idle(self._phone_idle)

    # -- life -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load who is logged in where and today's counts, and keep the logins fresh."""
        await self.refresh()
        await self._load_today()
        self._task = asyncio.get_running_loop().create_task(self._keep_fresh(), name="call-centre")

    async def stop(self) -> None:
        """Stop reloading; callers still waiting are left to their calls' ends."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for pending in list(self._tasks):
            pending.cancel()

    async def _load_today(self) -> None:
        """Take up today's answered and lost calls from the log, so a restart does not zero them."""
        today = self._today()
        midnight = datetime.combine(today, time(), tzinfo=self._zone)
        try:
            counts = await self._directory.counts_since(midnight)
            for name, count in counts.items():
                config = await self._directory.queue(name)
                if config is None:
                    continue
                queue = self._queue(config)
                queue.day = today
                queue.answered = count.answered
                queue.answered_in_time = count.answered_in_time
                queue.lost = count.lost
        except Exception:
            log.warning("could not read today's queue calls; counting from now", exc_info=True)

    def _today(self) -> date:
        return self._wall().astimezone(self._zone).date()

    async def _keep_fresh(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_every)
            try:
                await self.refresh()
            except Exception:
                # The database may be away for a while: carry on with what we know.
                log.warning("could not reload queue members", exc_info=True)

    async def refresh(self) -> None:
        """Read logins and pauses again, then offer callers to whoever became free."""
        members = await self._directory.members()
        self._members = members
        # A queue with agents is on the live panel before its first caller.
        for name in {member.queue for member in members} - self._queues.keys():
            config = await self._directory.queue(name)
            if config is not None:
                self._queue(config)
        for member in members:
            agent = self._agents.get(member.agent)
            if agent is None:
                agent = self._agents[member.agent] = _Agent(member.agent, since=self._clock())
            agent.name = member.name
            agent.wrapup = member.wrapup
            if member.phone is not None:
                agent.phone = member.phone
        logged_in = {member.agent for member in members if member.logged_in}
        for agent in self._agents.values():
            if agent.number not in logged_in:
                agent.phone = None
            self._update_state(agent)
        self.dispatch()

    async def queue_config(self, name: str) -> QueueConfig | None:
        """The queue's configuration as stored now (read per caller, like menus)."""
        config = await self._directory.queue(name)
        if config is not None:
            self._queue(config)
        return config

    # -- callers ----------------------------------------------------------------------------------

    def refusal(self, config: QueueConfig) -> str | None:
        """Why a caller cannot join now (``FULL`` or ``JOINEMPTY``), or None."""
        queue = self._queue(config)
        if config.max_length and len(queue.waiting) >= config.max_length:
            return events.FULL
        if not self._has_agents(config.name, config.join_empty):
            return events.JOINEMPTY
        return None

    def refuse(self, config: QueueConfig, call: CallControl, why: str) -> None:
        """Log a caller turned away at the door (no ENTERQUEUE before it)."""
        self._log(call.uniqueid, config.name, NONE, why, "0", "0", "0")
        queue = self._queue(config)
        self._roll_day(queue)
        queue.lost += 1

    def join(self, config: QueueConfig, call: CallControl, *, priority: int = 0) -> Waiter:
        """Put the caller in line (behind callers of equal or higher priority) and log it."""
        queue = self._queue(config)
        loop = asyncio.get_running_loop()
        index = len(queue.waiting)
        while index > 0 and queue.waiting[index - 1].priority < priority:
            index -= 1
        waiter = Waiter(
            config.name,
            call,
            priority,
            self._clock(),
            self._wall(),
            index + 1,
            loop.create_future(),
        )
        queue.waiting.insert(index, waiter)
        self._log(
            call.uniqueid, config.name, NONE, events.ENTERQUEUE, "", call.caller, str(index + 1)
        )
        self.dispatch()
        return waiter

    def phone_of(self, agent: str) -> str | None:
        """The extension ``agent`` is logged in at, or None."""
        found = self._agents.get(agent)
        return None if found is None else found.phone

    def position(self, waiter: Waiter) -> int:
        """The caller's place in line now, from 1; 0 once out of the line."""
        queue = self._queues.get(waiter.queue)
        if queue is None or waiter not in queue.waiting:
            return 0
        return queue.waiting.index(waiter) + 1

    def expected_wait(self, queue_name: str) -> float | None:
        """The queue's running average hold time, or None before its first answered call."""
        queue = self._queues.get(queue_name)
        return None if queue is None else queue.hold_average

    def must_leave(self, waiter: Waiter) -> bool:
        """Whether the leave rule sends the caller out (no agents left as it requires)."""
        queue = self._queues.get(waiter.queue)
        if queue is None:
            return False
        return not self._has_agents(waiter.queue, queue.config.leave_empty)

    def leave(self, waiter: Waiter, event: str, *data: str) -> None:
        """The caller leaves the line without an agent: hung up, waited too long, left the
        queue by rule or by key. ``data`` are the event's fields before the standard
        ``position|origposition|waittime``."""
        queue = self._queues.get(waiter.queue)
        if queue is None or waiter not in queue.waiting:
            return
        position = queue.waiting.index(waiter) + 1
        queue.waiting.remove(waiter)
        self._release_ringing(waiter)
        if not waiter.offer.done():
            waiter.offer.cancel()
        waited = self._clock() - waiter.joined
        self._log(
            waiter.call.uniqueid,
            waiter.queue,
            NONE,
            event,
            *data,
            str(position),
            str(waiter.position),
            _seconds(waited),
        )
        self._roll_day(queue)
        queue.lost += 1
        self.dispatch()

    # -- attempts ---------------------------------------------------------------------------------

    def answered(self, waiter: Waiter, agent_number: str, bridge: str, rang: float) -> None:
        """An agent took the caller: out of the line, ``CONNECT``, the agent is on the call."""
        queue = self._queues[waiter.queue]
        if waiter in queue.waiting:
            queue.waiting.remove(waiter)
        others = [number for number in waiter.ringing if number != agent_number]
        self._release_ringing(waiter)
        held = waiter.held = self._clock() - waiter.joined
        agent = self._agents.get(agent_number)
        if agent is not None:
            agent.talking_in = waiter.queue
            agent.caller = waiter.call.caller
            agent.missed = 0
            self._update_state(agent)
        for number in others:
            self._log(waiter.call.uniqueid, waiter.queue, number, events.RINGCANCELED, _ms(rang))
        self._log(
            waiter.call.uniqueid,
            waiter.queue,
            agent_number,
            events.CONNECT,
            _seconds(held),
            bridge,
            _seconds(rang),
        )
        self._roll_day(queue)
        queue.answered += 1
        if held <= queue.config.service_level:
            queue.answered_in_time += 1
        queue.hold_average = (
            held if queue.hold_average is None else (3 * queue.hold_average + held) / 4
        )
        self.dispatch()

    def not_answered(self, waiter: Waiter, rang: float, *, cancelled: bool) -> None:
        """The agents rung for ``waiter`` did not answer (or the ringing was stopped)."""
        agents = list(waiter.ringing)
        self._release_ringing(waiter)
        queue = self._queues.get(waiter.queue)
        retry = queue.config.retry_delay if queue is not None else 0.0
        waiter.retry_at = self._clock() + retry
        waiter.tried.update(agents)
        if not waiter.offer.done():
            waiter.offer.cancel()
        waiter.offer = asyncio.get_running_loop().create_future()
        event = events.RINGCANCELED if cancelled else events.RINGNOANSWER
        for number in agents:
            self._log(waiter.call.uniqueid, waiter.queue, number, event, _ms(rang))
            agent = self._agents.get(number)
            if agent is None or cancelled:
                continue
            agent.missed += 1
            limit = queue.config.autopause if queue is not None else 0
            if limit and agent.missed >= limit:
                agent.missed = 0
                # Paused here at once, so the dispatch below does not ring them again
                # before the stored pause comes back with the next refresh.
                self._members = [
                    dataclasses.replace(member, paused=True, pause_reason=AUTOPAUSE_REASON)
                    if member.agent == number and member.logged_in
                    else member
                    for member in self._members
                ]
                self._update_state(agent)
                self._spawn(self._autopause(number))
        if retry > 0:
            self._later(retry, self.dispatch)
        self.dispatch()

    def completed(
        self,
        waiter: Waiter,
        agent_number: str,
        by: HangupBy | None,
        talk: float,
        *,
        transfer: Transfer | None = None,
    ) -> None:
        """The caller's conversation with the agent is over: log who ended it (or how the
        agent transferred the caller), start wrap-up."""
        queue = self._queues.get(waiter.queue)
        held, talked, position = _seconds(waiter.held), _seconds(talk), str(waiter.position)
        # The talk time is the agent's with this caller; what follows a transfer is
        # someone else's.
        if transfer is not None and transfer.attended:
            # Asterisk's form for a caller joined to the target's call: BRIDGE and its id.
            self._log(
                waiter.call.uniqueid, waiter.queue, agent_number, events.ATTENDEDTRANSFER,
                ATTENDED_METHOD, transfer.uniqueid or "", held, talked, position,
            )  # fmt: skip
        elif transfer is not None:
            self._log(
                waiter.call.uniqueid, waiter.queue, agent_number, events.BLINDTRANSFER,
                transfer.number, TRANSFER_CONTEXT, held, talked, position,
            )  # fmt: skip
        else:
            # A hang-up by the system (a dead line) is not the caller's doing: it counts as
            # the agent's side, as in Asterisk.
            event = events.COMPLETECALLER if by is HangupBy.CALLER else events.COMPLETEAGENT
            self._log(
                waiter.call.uniqueid, waiter.queue, agent_number, event, held, talked, position
            )
        agent = self._agents.get(agent_number)
        if agent is None:
            return
        now = self._clock()
        agent.talking_in = None
        agent.caller = None
        agent.calls[waiter.queue] = agent.calls.get(waiter.queue, 0) + 1
        agent.last_ended[waiter.queue] = now
        wrapup = (
            agent.wrapup
            if agent.wrapup is not None
            else (queue.config.wrapup if queue is not None else 0.0)
        )
        agent.wrapup_until = now + wrapup
        self._update_state(agent)
        if wrapup > 0:
            self._later(wrapup, self._wrapup_over, agent)
        self.dispatch()

    # -- choosing agents --------------------------------------------------------------------------

    def dispatch(self) -> None:
        """Offer free agents to waiting callers, longest-waiting first across queues.

        Each caller not already ringing someone and past its retry delay gets the
        agents its queue's strategy picks among those free; as many callers are
        served at once as there are free agents (Asterisk's ``autofill``).
        """
        now = self._clock()
        waiting = [
            waiter
            for queue in self._queues.values()
            for waiter in queue.waiting
            if not waiter.ringing and not waiter.offer.done() and waiter.retry_at <= now
        ]
        if not waiting:
            return
        # Nothing to do while every agent is busy: the common state of a full queue, and
        # dispatch runs on every change, so it must cost nothing then.
        if not any(self._free(agent, now) for agent in self._agents.values()):
            return
        waiting.sort(key=lambda waiter: (-waiter.priority, waiter.joined))
        # Each queue's members are looked at once per dispatch, not once per caller.
        candidates_of: dict[str, list[Candidate]] = {}
        for waiter in waiting:
            queue = self._queues[waiter.queue]
            candidates = candidates_of.get(waiter.queue)
            if candidates is None:
                candidates = candidates_of[waiter.queue] = self._candidates(queue, now)
            if not any(candidate.free for candidate in candidates):
                continue
            chosen = choose(
                queue.config.strategy,
                candidates,
                rotation=queue.rotation,
                rng=self._rng,
                excluded=frozenset(waiter.tried),
            )
            if not chosen:
                continue
            waiter.ringing = chosen
            for number in chosen:
                agent = self._agents[number]
                agent.ringing_for = waiter
                self._update_state(agent)
            waiter.offer.set_result(chosen)
            # Whoever rings now is not free for the next caller, in any of their queues.
            taken = set(chosen)
            for name, listed in candidates_of.items():
                candidates_of[name] = [
                    dataclasses.replace(c, free=False) if c.member in taken else c for c in listed
                ]

    def _candidates(self, queue: _Queue, now: float) -> list[Candidate]:
        found = []
        for member in self._members:
            if member.queue != queue.config.name or not member.logged_in:
                continue
            agent = self._agents.get(member.agent)
            if agent is None:
                continue
            found.append(
                Candidate(
                    member.agent,
                    member.penalty,
                    agent.calls.get(queue.config.name, 0),
                    agent.last_ended.get(queue.config.name),
                    free=not member.paused and self._free(agent, now),
                )
            )
        return found

    def _free(self, agent: _Agent, now: float) -> bool:
        if agent.phone is None or agent.ringing_for is not None or agent.talking_in is not None:
            return False
        if now < agent.wrapup_until:
            return False
        return self._phones.state(agent.phone) is PhoneState.IDLE

    def _has_agents(self, queue_name: str, rule: EmptyRule) -> bool:
        if rule in (EmptyRule.ALWAYS, EmptyRule.NEVER):
            return True
        for member in self._members:
            if member.queue != queue_name or not member.logged_in:
                continue
            if rule is EmptyRule.LOGGEDIN or not member.paused:
                return True
        return False

    # -- live state -------------------------------------------------------------------------------

    def agent_state(self, number: str) -> AgentState:
        """An agent's state now."""
        agent = self._agents.get(number)
        return AgentState.LOGGED_OUT if agent is None else self._state_of(agent)

    def snapshot(self) -> dict[str, Any]:
        """Every queue and agent as the live panel shows them (JSON-able)."""
        now = self._clock()
        # One pass over the members, not one per queue and two per agent: a 50-agent centre
        # is asked for this many times a second by its panels.
        of_queue: dict[str, list[MemberState]] = {}
        of_agent: dict[str, list[MemberState]] = {}
        for member in self._members:
            of_agent.setdefault(member.agent, []).append(member)
            if member.logged_in:
                of_queue.setdefault(member.queue, []).append(member)
        queues = []
        for name, queue in sorted(self._queues.items()):
            self._roll_day(queue)
            waits = [now - waiter.joined for waiter in queue.waiting]
            served = queue.answered + queue.lost
            queues.append(
                {
                    "name": name,
                    "number": queue.config.number,
                    "strategy": queue.config.strategy.value,
                    "waiting": [
                        {
                            "uniqueid": waiter.call.uniqueid,
                            "caller": waiter.call.caller,
                            "position": index + 1,
                            "wait": round(now - waiter.joined, 1),
                            "priority": waiter.priority,
                            "ringing": list(waiter.ringing),
                        }
                        for index, waiter in enumerate(queue.waiting)
                    ],
                    "longest_wait": round(max(waits, default=0.0), 1),
                    "agents": [
                        {
                            "agent": member.agent,
                            "penalty": member.penalty,
                            "paused": member.paused,
                            "reason": member.pause_reason,
                        }
                        for member in of_queue.get(name, ())
                    ],
                    "answered_today": queue.answered,
                    "lost_today": queue.lost,
                    "service_level_today": (
                        round(100 * queue.answered_in_time / served, 1) if served else None
                    ),
                }
            )
        agents = []
        for number, agent in sorted(self._agents.items()):
            mine = of_agent.get(number, [])
            state = self._state_of(agent, mine)
            agents.append(
                {
                    "agent": number,
                    "name": agent.name,
                    "phone": agent.phone,
                    "state": state.value,
                    "seconds_in_state": round(now - agent.since, 1),
                    "caller": agent.caller,
                    "queue": agent.talking_in,
                    "queues": [member.queue for member in mine if member.logged_in],
                    "calls": dict(agent.calls),
                }
            )
        return {"queues": queues, "agents": agents}

    # -- internals --------------------------------------------------------------------------------

    def _queue(self, config: QueueConfig) -> _Queue:
        queue = self._queues.get(config.name)
        if queue is None:
            queue = self._queues[config.name] = _Queue(config)
        else:
            queue.config = config
        return queue

    def _state_of(self, agent: _Agent, mine: list[MemberState] | None = None) -> AgentState:
        if mine is None:
            mine = [member for member in self._members if member.agent == agent.number]
        if agent.phone is None or not any(member.logged_in for member in mine):
            return AgentState.LOGGED_OUT
        if agent.ringing_for is not None:
            return AgentState.RINGING
        phone = self._phones.state(agent.phone)
        if agent.talking_in is not None or phone is PhoneState.BUSY:
            return AgentState.ON_CALL
        if phone is PhoneState.RINGING:
            return AgentState.RINGING
        if self._clock() < agent.wrapup_until:
            return AgentState.WRAPUP
        if all(member.paused for member in mine if member.logged_in):
            return AgentState.PAUSED
        return AgentState.AVAILABLE

    def _update_state(self, agent: _Agent) -> None:
        state = self._state_of(agent)
        if state is not agent.state:
            agent.state = state
            agent.since = self._clock()
            ringing = agent.ringing_for
            self._bus.publish(
                AgentStateChanged(
                    self._wall(),
                    agent.number,
                    agent.name,
                    state.value,
                    agent.phone,
                    agent.talking_in or (ringing.queue if ringing is not None else None),
                    agent.caller or (ringing.call.caller if ringing is not None else None),
                )
            )

    def _release_ringing(self, waiter: Waiter) -> None:
        for number in waiter.ringing:
            agent = self._agents.get(number)
            if agent is not None and agent.ringing_for is waiter:
                agent.ringing_for = None
                self._update_state(agent)
        waiter.ringing = []

    def _phone_idle(self, phone: str) -> None:
        touched = False
        for agent in self._agents.values():
            if agent.phone == phone:
                self._update_state(agent)
                touched = True
        if touched:
            self.dispatch()

    def _wrapup_over(self, agent: _Agent) -> None:
        self._update_state(agent)
        self.dispatch()

    async def _autopause(self, number: str) -> None:
        log.info("agent %s missed too many calls in a row: paused", number)
        try:
            await self._directory.pause(None, number, AUTOPAUSE_REASON)
            await self.refresh()
        except Exception:
            log.exception("could not auto-pause agent %s", number)

    def _later(self, delay: float, callback: Callable[..., None], *args: Any) -> None:
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            callback(*args)

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _roll_day(self, queue: _Queue) -> None:
        today = self._today()
        if queue.day != today:
            queue.day = today
            queue.answered = queue.answered_in_time = queue.lost = 0

    def _log(self, callid: str, queue: str, agent: str, event: str, *data: str) -> None:
        self._bus.publish(QueueLogged(self._wall(), callid, queue, agent, event, tuple(data)))


ATTENDED_METHOD = "BRIDGE"
"""How Asterisk logs an attended transfer that joined the caller to the target's call."""
TRANSFER_CONTEXT = "default"
"""The dial-plan context of a transfer as Asterisk logs it; Ringfort has one number plan."""


def _seconds(value: float) -> str:
    """Whole seconds, as Asterisk writes hold and talk times."""
    return str(max(0, round(value)))


def _ms(value: float) -> str:
    return str(max(0, round(value * 1000)))
