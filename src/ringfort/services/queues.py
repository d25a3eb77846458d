"""Queues and agents: adding, changing, listing and deleting them, with checks naming the field."""

from __future__ import annotations

import builtins
import dataclasses
import re
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ringfort.apps.queue.config import AgentInfo, EmptyRule, MemberState, QueueConfig
from ringfort.apps.queue.strategy import Strategy
from ringfort.db.models import Agent, Queue, QueueMember
from ringfort.errors import ConflictError, NotFoundError, ValidationError
from ringfort.pbx.destination import Destination, is_name, is_number
from ringfort.services.database import Database
from ringfort.services.numberplan import ensure_number_free, ensure_unreferenced

__all__ = [
    "JOIN_RULES",
    "LEAVE_RULES",
    "STRATEGIES",
    "AgentService",
    "QueueService",
    "coerce_settings",
    "member_from_row",
    "queue_from_row",
    "queue_values",
]

PIN_PATTERN = re.compile(r"[0-9]{4,16}")
_QUEUE_FIELDS = {field.name for field in dataclasses.fields(QueueConfig)} - {"name"}


STRATEGIES = tuple(strategy.value for strategy in Strategy)
JOIN_RULES = ("always", "loggedin", "available")
LEAVE_RULES = ("never", "loggedin", "available")


def coerce_settings(options: dict[str, Any]) -> dict[str, Any]:
    """Queue settings as interfaces give them (text for destinations, strategies and rules)
    turned into QueueConfig values; ValidationError naming the field otherwise."""
    changes = dict(options)
    for field in ("overflow", "exit_destination"):
        value = changes.get(field)
        if isinstance(value, str):
            try:
                changes[field] = Destination.parse(value)
            except ValueError as error:
                raise ValidationError(f"{field}: {error}", field=field) from None
    for field, kind, allowed in (
        ("strategy", Strategy, STRATEGIES),
        ("join_empty", EmptyRule, JOIN_RULES),
        ("leave_empty", EmptyRule, LEAVE_RULES),
    ):
        value = changes.get(field)
        if isinstance(value, str):
            if value not in allowed:
                raise ValidationError(
                    f"{field} {value!r}: use one of {', '.join(allowed)}", field=field
                )
            changes[field] = kind(value)
    return changes


def queue_from_row(row: Queue) -> QueueConfig:
    """A stored queue as the queue application runs it."""
    return QueueConfig(
        name=row.name,
        number=row.number,
        strategy=Strategy(row.strategy),
        ring_timeout=row.ring_timeout,
        retry_delay=row.retry_delay,
        wrapup=row.wrapup,
        max_wait=row.max_wait,
        max_length=row.max_length,
        overflow=Destination.parse(row.overflow),
        join_empty=EmptyRule(row.join_empty),
        leave_empty=EmptyRule(row.leave_empty),
        announce_position=row.announce_position,
        announce_first=row.announce_first,
        announce_every=row.announce_every,
        periodic_prompt=row.periodic_prompt,
        periodic_every=row.periodic_every,
        exit_key=row.exit_key,
        exit_destination=(
            Destination.parse(row.exit_destination) if row.exit_destination else None
        ),
        record=row.record,
        autopause=row.autopause,
        service_level=row.service_level,
    )


def member_from_row(member: QueueMember, queue: Queue, agent: Agent) -> MemberState:
    """A stored member row as the call centre reads it."""
    return MemberState(
        queue=queue.name,
        agent=agent.number,
        name=agent.name,
        penalty=member.penalty,
        phone=member.phone,
        logged_in_at=member.logged_in_at,
        paused=member.paused,
        pause_reason=member.pause_reason,
        paused_at=member.paused_at,
        wrapup=agent.wrapup,
    )


def queue_values(config: QueueConfig) -> dict[str, Any]:
    """Checked column values of ``config``; ValidationError naming the field otherwise."""
    if not is_name(config.name):
        raise ValidationError(
            f"queue name {config.name!r}: use 1 to 64 of a-z, 0-9, '-' and '_'", field="name"
        )
    if config.number is not None and not is_number(config.number):
        raise ValidationError(f"number {config.number!r}: digits only", field="number")
    for field in ("ring_timeout",):
        if getattr(config, field) <= 0:
            raise ValidationError(f"{field} must be more than 0 seconds", field=field)
    for field in (
        "retry_delay",
        "wrapup",
        "max_wait",
        "max_length",
        "announce_first",
        "announce_every",
        "periodic_every",
        "autopause",
    ):
        if getattr(config, field) < 0:
            raise ValidationError(f"{field} cannot be negative", field=field)
    if config.service_level <= 0:
        raise ValidationError("service_level must be at least 1 second", field="service_level")
    if config.join_empty is EmptyRule.NEVER:
        raise ValidationError(
            "join_empty is one of always, loggedin, available", field="join_empty"
        )
    if config.leave_empty is EmptyRule.ALWAYS:
        raise ValidationError(
            "leave_empty is one of never, loggedin, available", field="leave_empty"
        )
    if config.exit_key is not None and (
        len(config.exit_key) != 1 or config.exit_key not in "0123456789*#"
    ):
        raise ValidationError("exit_key is one key: 0-9, * or #", field="exit_key")
    if config.exit_key is not None and config.exit_destination is None:
        raise ValidationError("an exit_key needs an exit_destination", field="exit_destination")
    return {
        "name": config.name,
        "number": config.number,
        "strategy": config.strategy.value,
        "ring_timeout": config.ring_timeout,
        "retry_delay": config.retry_delay,
        "wrapup": config.wrapup,
        "max_wait": config.max_wait,
        "max_length": config.max_length,
        "overflow": str(config.overflow),
        "join_empty": config.join_empty.value,
        "leave_empty": config.leave_empty.value,
        "announce_position": config.announce_position,
        "announce_first": config.announce_first,
        "announce_every": config.announce_every,
        "periodic_prompt": config.periodic_prompt,
        "periodic_every": config.periodic_every,
        "exit_key": config.exit_key,
        "exit_destination": (
            str(config.exit_destination) if config.exit_destination is not None else None
        ),
        "record": config.record,
        "autopause": config.autopause,
        "service_level": config.service_level,
    }


class QueueService:
    """Queues as configuration: the number space they share, and where they send callers."""

    def __init__(self, *, db: Database) -> None:
        self._db = db

    async def add(self, name: str, **settings: Any) -> QueueConfig:
        """Store a new queue (settings as QueueConfig fields, text accepted for destinations,
        the strategy and the rules); ConflictError if its name or number is taken."""
        unknown = set(settings) - _QUEUE_FIELDS
        if unknown:
            raise ValidationError(f"unknown queue setting {sorted(unknown)[0]!r}", field="name")
        config = QueueConfig(name, **coerce_settings(settings))
        values = queue_values(config)
        async with self._db.session() as session:
            if await _queue_row(session, config.name) is not None:
                raise ConflictError(f"there is already a queue {config.name}; choose another name")
            if config.number is not None:
                await ensure_number_free(session, config.number)
            session.add(Queue(**values))
            await session.commit()
        return config

    async def update(self, name: str, **changes: Any) -> QueueConfig:
        """Change some settings of queue ``name`` (QueueConfig field names)."""
        unknown = set(changes) - _QUEUE_FIELDS
        if unknown:
            raise ValidationError(f"unknown queue setting {sorted(unknown)[0]!r}", field="name")
        async with self._db.session() as session:
            row = await _queue_row(session, name)
            if row is None:
                raise NotFoundError(f"there is no queue {name}; see 'ringfort queue list'")
            config = dataclasses.replace(queue_from_row(row), **coerce_settings(changes))
            values = queue_values(config)
            if config.number is not None and config.number != row.number:
                await ensure_number_free(session, config.number)
            for key, value in values.items():
                setattr(row, key, value)
            await session.commit()
        return config

    async def get(self, name: str) -> QueueConfig:
        """The queue ``name``; NotFoundError if there is none."""
        async with self._db.session() as session:
            row = await _queue_row(session, name)
            if row is None:
                raise NotFoundError(f"there is no queue {name}; see 'ringfort queue list'")
            return queue_from_row(row)

    async def list(self) -> list[QueueConfig]:
        """Every queue, by name."""
        async with self._db.session() as session:
            rows = await session.scalars(select(Queue).order_by(Queue.name))
            return [queue_from_row(row) for row in rows]

    async def delete(self, name: str) -> None:
        """Remove queue ``name`` (and its members); refused while something sends calls to it."""
        async with self._db.session() as session:
            row = await _queue_row(session, name)
            if row is None:
                raise NotFoundError(f"there is no queue {name}; see 'ringfort queue list'")
            await ensure_unreferenced(session, Destination.parse(f"queue:{name}"), f"queue {name}")
            await session.execute(delete(QueueMember).where(QueueMember.queue_id == row.id))
            await session.delete(row)
            await session.commit()

    async def members(self, name: str) -> builtins.list[MemberState]:
        """The agents of queue ``name`` (logged in or not), by penalty then agent."""
        async with self._db.session() as session:
            result = await session.execute(
                select(QueueMember, Queue, Agent)
                .join(Queue, QueueMember.queue_id == Queue.id)
                .join(Agent, QueueMember.agent_id == Agent.id)
                .where(Queue.name == name)
                .order_by(QueueMember.penalty, Agent.number)
            )
            return [member_from_row(m, q, a) for m, q, a in result]

    async def remove_member(self, name: str, agent: str) -> None:
        """Take ``agent`` out of queue ``name`` (penalty and all); NotFoundError if not a member.

        Log the agent out first (QueueDirectoryService.log_out) so the queue log
        records the end of their login.
        """
        async with self._db.session() as session:
            _queue, _agent, member = await _membership(session, name, agent)
            if member is None:
                raise NotFoundError(f"agent {agent} is not a member of queue {name}")
            await session.delete(member)
            await session.commit()

    async def set_penalty(self, name: str, agent: str, penalty: int) -> None:
        """Make ``agent`` a member of queue ``name`` with ``penalty`` (kept across logins)."""
        if penalty < 0:
            raise ValidationError("penalty cannot be negative", field="penalty")
        async with self._db.session() as session:
            queue, found, member = await _membership(session, name, agent)
            if member is None:
                session.add(QueueMember(queue_id=queue.id, agent_id=found.id, penalty=penalty))
            else:
                member.penalty = penalty
            await session.commit()


class AgentService:
    """Agents: a number, a name and the PIN they log in with from any phone."""

    def __init__(self, *, db: Database) -> None:
        self._db = db

    async def add(
        self, number: str, name: str, pin: str, *, wrapup: float | None = None
    ) -> AgentInfo:
        """Store a new agent; the PIN must be unique (it identifies the agent at a phone)."""
        _check_agent(number, name, pin, wrapup)
        async with self._db.session() as session:
            if await session.scalar(select(Agent.id).where(Agent.number == number)) is not None:
                raise ConflictError(f"there is already an agent {number}; choose another number")
            await _ensure_pin_free(session, pin)
            session.add(Agent(number=number, name=name, pin=pin, wrapup=wrapup))
            await session.commit()
        return AgentInfo(number, name, wrapup)

    async def update(
        self,
        number: str,
        *,
        name: str | None = None,
        pin: str | None = None,
        wrapup: float | None = None,
        clear_wrapup: bool = False,
    ) -> AgentInfo:
        """Change an agent's name, PIN or own wrap-up time."""
        async with self._db.session() as session:
            row = await _agent_row(session, number)
            new_name = row.name if name is None else name
            new_pin = row.pin if pin is None else pin
            new_wrapup = None if clear_wrapup else (row.wrapup if wrapup is None else wrapup)
            _check_agent(number, new_name, new_pin, new_wrapup)
            if new_pin != row.pin:
                await _ensure_pin_free(session, new_pin)
            row.name, row.pin, row.wrapup = new_name, new_pin, new_wrapup
            await session.commit()
            return AgentInfo(number, new_name, new_wrapup)

    async def get(self, number: str) -> AgentInfo:
        """The agent ``number`` (never their PIN); NotFoundError if there is none."""
        async with self._db.session() as session:
            row = await _agent_row(session, number)
            return AgentInfo(row.number, row.name, row.wrapup)

    async def list(self) -> list[AgentInfo]:
        """Every agent, by number (never their PINs)."""
        async with self._db.session() as session:
            rows = await session.scalars(select(Agent).order_by(Agent.number))
            return [AgentInfo(row.number, row.name, row.wrapup) for row in rows]

    async def delete(self, number: str) -> None:
        """Remove an agent (and their places in queues)."""
        async with self._db.session() as session:
            row = await _agent_row(session, number)
            await session.execute(delete(QueueMember).where(QueueMember.agent_id == row.id))
            await session.delete(row)
            await session.commit()


def _check_agent(number: str, name: str, pin: str, wrapup: float | None) -> None:
    if not is_number(number):
        raise ValidationError(f"agent number {number!r}: 1 to 20 digits", field="number")
    if not name.strip() or len(name) > 80:
        raise ValidationError("the name must be 1 to 80 characters", field="name")
    if PIN_PATTERN.fullmatch(pin) is None:
        raise ValidationError("the PIN must be 4 to 16 digits", field="pin")
    if wrapup is not None and wrapup < 0:
        raise ValidationError("wrapup cannot be negative", field="wrapup")


async def _ensure_pin_free(session: AsyncSession, pin: str) -> None:
    if await session.scalar(select(Agent.id).where(Agent.pin == pin)) is not None:
        # Whose it is stays unsaid: the PIN is the agent's secret.
        raise ConflictError("that PIN is taken; choose another")


async def _membership(
    session: AsyncSession, name: str, agent: str
) -> tuple[Queue, Agent, QueueMember | None]:
    """Queue ``name``, agent ``agent`` and the agent's place in it (None: not a member);
    NotFoundError when the queue or the agent does not exist."""
    queue = await _queue_row(session, name)
    if queue is None:
        raise NotFoundError(f"there is no queue {name}; see 'ringfort queue list'")
    found = await _agent_row(session, agent)
    member = await session.scalar(
        select(QueueMember).where(
            QueueMember.queue_id == queue.id, QueueMember.agent_id == found.id
        )
    )
    return queue, found, member


async def _queue_row(session: AsyncSession, name: str) -> Queue | None:
    row: Queue | None = await session.scalar(select(Queue).where(Queue.name == name))
    return row


async def _agent_row(session: AsyncSession, number: str) -> Agent:
    row: Agent | None = await session.scalar(select(Agent).where(Agent.number == number))
    if row is None:
        raise NotFoundError(f"there is no agent {number}; see 'ringfort agent list'")
    return row
