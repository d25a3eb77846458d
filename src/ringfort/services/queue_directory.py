"""The queue application's storage: queues, agents, and logins and pauses with their log lines.

Each login, logout, pause and unpause changes ``queue_members`` and appends its
``queue_log`` line in one transaction, so the log and the state never disagree
(and a report of logged-in time never counts a login that did not happen).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ringfort.apps.queue import events
from ringfort.apps.queue.config import AgentInfo, DayCounts, MemberState, QueueConfig
from ringfort.apps.queue.events import NONE, channel_of
from ringfort.db.expressions import seconds_of
from ringfort.db.models import PAUSE_REASON_LENGTH, Agent, Queue, QueueLogEntry, QueueMember
from ringfort.db.repositories import ExtensionRepository
from ringfort.errors import NotFoundError, ValidationError
from ringfort.queuelog import LOST_OUTCOMES
from ringfort.services.database import Database
from ringfort.services.queues import member_from_row, queue_from_row

__all__ = ["QueueDirectoryService"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class QueueDirectoryService:
    """Implements `ringfort.apps.queue.ports.QueueDirectory` on the database."""

    def __init__(self, *, db: Database, now: Callable[[], datetime] = _utc_now) -> None:
        self._db = db
        self._now = now

    async def queue(self, name: str) -> QueueConfig | None:
        """The queue called ``name``, or None."""
        async with self._db.session() as session:
            row = await session.scalar(select(Queue).where(Queue.name == name))
            return None if row is None else queue_from_row(row)

    async def queue_by_number(self, number: str) -> QueueConfig | None:
        """The queue whose number is ``number``, or None."""
        async with self._db.session() as session:
            row = await session.scalar(select(Queue).where(Queue.number == number))
            return None if row is None else queue_from_row(row)

    async def members(self) -> list[MemberState]:
        """Every agent's place in every queue, in the order they were added."""
        async with self._db.session() as session:
            result = await session.execute(
                select(QueueMember, Queue, Agent)
                .join(Queue, QueueMember.queue_id == Queue.id)
                .join(Agent, QueueMember.agent_id == Agent.id)
                .order_by(QueueMember.id)
            )
            return [member_from_row(m, q, a) for m, q, a in result]

    async def agent_by_pin(self, pin: str) -> AgentInfo | None:
        """The agent whose PIN is ``pin``, or None."""
        async with self._db.session() as session:
            row = await session.scalar(select(Agent).where(Agent.pin == pin))
            return None if row is None else AgentInfo(row.number, row.name, row.wrapup)

    async def agent_at_phone(self, queue: str, phone: str) -> MemberState | None:
        """The agent logged in to ``queue`` at ``phone``, or None."""
        async with self._db.session() as session:
            result = await session.execute(
                select(QueueMember, Queue, Agent)
                .join(Queue, QueueMember.queue_id == Queue.id)
                .join(Agent, QueueMember.agent_id == Agent.id)
                .where(Queue.name == queue, QueueMember.phone == phone)
            )
            found = result.first()
            return None if found is None else member_from_row(*found)

    async def counts_since(self, since: datetime) -> dict[str, DayCounts]:
        """Each queue's calls logged since ``since``: answered (``CONNECT``; in time when the
        hold was within the queue's service level) and lost (left, or turned away)."""
        hold = seconds_of(QueueLogEntry.data1)
        answered = (
            select(
                QueueLogEntry.queuename,
                func.count(),
                func.coalesce(func.sum(case((hold <= Queue.service_level, 1), else_=0)), 0),
            )
            .outerjoin(Queue, Queue.name == QueueLogEntry.queuename)
            .where(QueueLogEntry.event == events.CONNECT, QueueLogEntry.time >= since)
            .group_by(QueueLogEntry.queuename)
        )
        lost = (
            select(QueueLogEntry.queuename, func.count())
            .where(QueueLogEntry.event.in_(LOST_OUTCOMES), QueueLogEntry.time >= since)
            .group_by(QueueLogEntry.queuename)
        )
        counts: dict[str, DayCounts] = {}
        async with self._db.session() as session:
            for name, count, in_time in await session.execute(answered):
                counts[name] = DayCounts(answered=count, answered_in_time=in_time)
            for name, count in await session.execute(lost):
                counts[name] = dataclasses.replace(counts.get(name, DayCounts()), lost=count)
        return counts

    async def log_in(self, queue: str, agent: str, phone: str, *, by_agent: bool) -> MemberState:
        """Log ``agent`` in to ``queue`` at ``phone``; moves them from another phone.

        A supervisor's login (``by_agent`` False) must name an extension: an agent
        at a phone nobody has would be rung for ever in vain.
        """
        async with self._db.session() as session:
            queue_row, agent_row = await _rows(session, queue, agent)
            if not by_agent and await ExtensionRepository(session=session).get(phone) is None:
                raise NotFoundError(
                    f"there is no extension {phone} to log agent {agent} in at;"
                    " see 'ringfort extension list'"
                )
            member = await _member(session, queue_row, agent_row)
            now = self._now()
            if member.phone is not None and member.phone != phone:
                self._logout_line(session, queue, agent, member, by_agent, now)
            if member.phone != phone:
                member.phone = phone
                member.logged_in_at = now
                event = events.AGENTLOGIN if by_agent else events.ADDMEMBER
                session.add(self._line(now, queue, agent, event, channel_of(phone)))
            await session.commit()
            return member_from_row(member, queue_row, agent_row)

    async def log_out(self, queue: str, agent: str, *, by_agent: bool) -> MemberState | None:
        """Log ``agent`` out of ``queue``; None if they were not logged in."""
        async with self._db.session() as session:
            queue_row, agent_row = await _rows(session, queue, agent)
            member = await _member(session, queue_row, agent_row)
            if member.phone is None:
                return None
            self._logout_line(session, queue, agent, member, by_agent, self._now())
            member.phone = None
            member.logged_in_at = None
            member.paused, member.pause_reason, member.paused_at = False, None, None
            await session.commit()
            return member_from_row(member, queue_row, agent_row)

    async def pause(self, queue: str | None, agent: str, reason: str) -> list[MemberState]:
        """Pause ``agent`` in ``queue`` (every queue they are logged in to when None)."""
        if not reason or len(reason) > PAUSE_REASON_LENGTH or not reason.isprintable():
            raise ValidationError(
                f"a pause reason is 1 to {PAUSE_REASON_LENGTH} printable characters",
                field="reason",
            )
        return await self._set_paused(queue, agent, True, reason)

    async def unpause(self, queue: str | None, agent: str) -> list[MemberState]:
        """Unpause ``agent`` in ``queue`` (every queue when None)."""
        return await self._set_paused(queue, agent, False, "")

    async def _set_paused(
        self, queue: str | None, agent: str, paused: bool, reason: str
    ) -> list[MemberState]:
        async with self._db.session() as session:
            query = (
                select(QueueMember, Queue, Agent)
                .join(Queue, QueueMember.queue_id == Queue.id)
                .join(Agent, QueueMember.agent_id == Agent.id)
                .where(Agent.number == agent, QueueMember.phone.is_not(None))
            )
            if queue is not None:
                query = query.where(Queue.name == queue)
            rows = list(await session.execute(query))
            if not rows:
                where = f"queue {queue}" if queue is not None else "any queue"
                raise NotFoundError(f"agent {agent} is not logged in to {where}")
            now = self._now()
            changed = []
            for member, queue_row, agent_row in rows:
                if member.paused == paused:
                    continue
                previous = member.pause_reason or ""
                member.paused = paused
                member.pause_reason = reason if paused else None
                member.paused_at = now if paused else None
                event = events.PAUSE if paused else events.UNPAUSE
                session.add(
                    self._line(now, queue_row.name, agent, event, reason if paused else previous)
                )
                changed.append(member_from_row(member, queue_row, agent_row))
            await session.commit()
            return changed

    def _logout_line(
        self,
        session: AsyncSession,
        queue: str,
        agent: str,
        member: QueueMember,
        by_agent: bool,
        now: datetime,
    ) -> None:
        assert member.phone is not None
        channel = channel_of(member.phone)
        if by_agent:
            since = member.logged_in_at or now
            seconds = str(max(0, round((now - since).total_seconds())))
            session.add(self._line(now, queue, agent, events.AGENTLOGOFF, channel, seconds))
        else:
            session.add(self._line(now, queue, agent, events.REMOVEMEMBER, channel))

    @staticmethod
    def _line(now: datetime, queue: str, agent: str, event: str, *data: str) -> QueueLogEntry:
        fields = [*data, "", "", "", "", ""][:5]
        return QueueLogEntry(
            time=now,
            callid=NONE,
            queuename=queue,
            agent=agent,
            event=event,
            data1=fields[0],
            data2=fields[1],
            data3=fields[2],
            data4=fields[3],
            data5=fields[4],
        )


async def _rows(session: AsyncSession, queue: str, agent: str) -> tuple[Queue, Agent]:
    queue_row = await session.scalar(select(Queue).where(Queue.name == queue))
    if queue_row is None:
        raise NotFoundError(f"there is no queue {queue}; see 'ringfort queue list'")
    agent_row = await session.scalar(select(Agent).where(Agent.number == agent))
    if agent_row is None:
        raise NotFoundError(f"there is no agent {agent}; see 'ringfort agent list'")
    return queue_row, agent_row


async def _member(session: AsyncSession, queue: Queue, agent: Agent) -> QueueMember:
    member = await session.scalar(
        select(QueueMember).where(
            QueueMember.queue_id == queue.id, QueueMember.agent_id == agent.id
        )
    )
    if member is None:
        member = QueueMember(queue_id=queue.id, agent_id=agent.id, penalty=0, paused=False)
        session.add(member)
        await session.flush()
    return member
