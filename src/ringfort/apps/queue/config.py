"""A queue's configuration and its members as the queue application runs them.

Built by services from the database; the application never reads the store itself.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from ringfort.apps.queue.strategy import Strategy
from ringfort.pbx.destination import Destination, DestinationKind

__all__ = ["AgentInfo", "EmptyRule", "MemberState", "QueueConfig"]

_HANGUP = Destination(DestinationKind.HANGUP)


class EmptyRule(enum.StrEnum):
    """Which agents must be there for a caller to join a queue (or to stay in it).

    For joining, ``ALWAYS`` lets everyone in; for staying, ``NEVER`` never sends
    anyone out. Otherwise the caller goes to the overflow destination when no
    agent is ``LOGGEDIN`` (paused or not) or ``AVAILABLE`` (logged in, not paused).
    """

    ALWAYS = "always"
    NEVER = "never"
    LOGGEDIN = "loggedin"
    AVAILABLE = "available"


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """A queue: its number, how it rings agents, its limits and what waiting callers hear.

    Times are seconds; ``max_wait`` and ``max_length`` of 0 mean no limit.
    """

    name: str
    number: str | None = None
    strategy: Strategy = Strategy.RINGALL
    ring_timeout: float = 15.0
    retry_delay: float = 5.0
    wrapup: float = 0.0
    max_wait: float = 0.0
    max_length: int = 0
    overflow: Destination = _HANGUP
    """Where callers go who wait ``max_wait``, find the queue full, or cannot join or stay."""
    join_empty: EmptyRule = EmptyRule.ALWAYS
    leave_empty: EmptyRule = EmptyRule.NEVER
    announce_position: bool = False
    announce_first: float = 15.0
    announce_every: float = 60.0
    periodic_prompt: str | None = None
    periodic_every: float = 0.0
    exit_key: str | None = None
    exit_destination: Destination | None = None
    record: bool = False
    autopause: int = 0
    """Pause an agent after this many unanswered rings in a row; 0: never."""
    service_level: int = 20
    """Seconds: calls answered within it count as served in time."""


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """An agent as a login at a phone finds them (by PIN)."""

    number: str
    name: str
    wrapup: float | None = None
    """The agent's own wrap-up time, used in every queue instead of the queue's."""


@dataclass(frozen=True, slots=True)
class MemberState:
    """An agent's place in one queue as stored: penalty, login and pause."""

    queue: str
    agent: str
    """The agent's number."""
    name: str
    penalty: int = 0
    phone: str | None = None
    """The extension the agent is logged in at; None when logged out."""
    logged_in_at: datetime | None = None
    paused: bool = False
    pause_reason: str | None = None
    paused_at: datetime | None = None
    wrapup: float | None = None
    """The agent's own wrap-up time, if set."""

    @property
    def logged_in(self) -> bool:
        """Whether the agent is logged in to the queue."""
        return self.phone is not None


@dataclass(frozen=True, slots=True)
class DayCounts:
    """A queue's calls so far today, as the live state counts them."""

    answered: int = 0
    answered_in_time: int = 0
    """Answered within the queue's service level."""
    lost: int = 0
