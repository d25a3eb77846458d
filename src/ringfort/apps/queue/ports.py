"""What the queue application needs from storage, as a Protocol (services implement it)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ringfort.apps.queue.config import AgentInfo, DayCounts, MemberState, QueueConfig

__all__ = ["QueueDirectory"]


class QueueDirectory(Protocol):
    """Queues, agents and who is logged in where.

    Logins, logouts and pauses change the store and write their queue-log event
    (``AGENTLOGIN``, ``AGENTLOGOFF``, ``ADDMEMBER``, ``REMOVEMEMBER``, ``PAUSE``,
    ``UNPAUSE``) in one transaction, so the log and the state never disagree.
    """

    async def queue(self, name: str) -> QueueConfig | None:
        """The queue called ``name``, or None."""
        ...

    async def queue_by_number(self, number: str) -> QueueConfig | None:
        """The queue whose number is ``number`` (for ``*45<number>``), or None."""
        ...

    async def members(self) -> list[MemberState]:
        """Every agent's place in every queue, logged in or not."""
        ...

    async def agent_by_pin(self, pin: str) -> AgentInfo | None:
        """The agent whose PIN is ``pin``, or None."""
        ...

    async def agent_at_phone(self, queue: str, phone: str) -> MemberState | None:
        """The agent logged in to ``queue`` at extension ``phone``, or None."""
        ...

    async def log_in(self, queue: str, agent: str, phone: str, *, by_agent: bool) -> MemberState:
        """Log ``agent`` in to ``queue`` at ``phone`` (moving them if logged in elsewhere).

        ``by_agent``: from their phone (``AGENTLOGIN``), else by a supervisor
        (``ADDMEMBER``). A member row is made with penalty 0 if there is none.
        """
        ...

    async def log_out(self, queue: str, agent: str, *, by_agent: bool) -> MemberState | None:
        """Log ``agent`` out of ``queue`` (``AGENTLOGOFF`` or ``REMOVEMEMBER``); None if they
        were not logged in. The member row (and its penalty) stays."""
        ...

    async def pause(self, queue: str | None, agent: str, reason: str) -> list[MemberState]:
        """Pause ``agent`` in ``queue`` (every queue they are logged in to when None)."""
        ...

    async def unpause(self, queue: str | None, agent: str) -> list[MemberState]:
        """Unpause ``agent`` in ``queue`` (every queue when None)."""
        ...

    async def counts_since(self, since: datetime) -> dict[str, DayCounts]:
        """Each queue's answered (and in time) and lost calls logged since ``since``, so the
        live state's "today" survives a restart."""
        ...
