"""The queue event log as the queue application publishes it: Asterisk's event names and fields.

The event names are in `ringfort.queuelog`, re-exported here for the application.
Each `QueueLogged` is one line of the log (``time|callid|queue|agent|event|data1|...``);
the application publishes them on the bus and services store them in batches, so
logging never waits on the database. Events of logins and pauses are written by
the services that make those changes, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ringfort.queuelog import (
    ABANDON,
    ADDMEMBER,
    AGENTLOGIN,
    AGENTLOGOFF,
    ATTENDEDTRANSFER,
    BLINDTRANSFER,
    COMPLETEAGENT,
    COMPLETECALLER,
    CONNECT,
    ENTERQUEUE,
    EXITEMPTY,
    EXITWITHKEY,
    EXITWITHTIMEOUT,
    FULL,
    JOINEMPTY,
    NONE,
    PAUSE,
    REMOVEMEMBER,
    RINGCANCELED,
    RINGNOANSWER,
    UNPAUSE,
)

__all__ = [
    "ABANDON",
    "ADDMEMBER",
    "AGENTLOGIN",
    "AGENTLOGOFF",
    "ATTENDEDTRANSFER",
    "BLINDTRANSFER",
    "COMPLETEAGENT",
    "COMPLETECALLER",
    "CONNECT",
    "ENTERQUEUE",
    "EXITEMPTY",
    "EXITWITHKEY",
    "EXITWITHTIMEOUT",
    "FULL",
    "JOINEMPTY",
    "NONE",
    "PAUSE",
    "REMOVEMEMBER",
    "RINGCANCELED",
    "RINGNOANSWER",
    "UNPAUSE",
    "AgentStateChanged",
    "QueueLogged",
    "channel_of",
]


def channel_of(phone: str) -> str:
    """The channel name Asterisk-reading tools expect for an agent's phone."""
    return f"PJSIP/{phone}"


@dataclass(frozen=True, slots=True)
class QueueLogged:
    """One queue event, as published on the bus."""

    time: datetime
    callid: str
    queue: str
    agent: str
    event: str
    data: tuple[str, ...] = ()
    """Up to five parameters, as text (seconds as whole numbers, like Asterisk)."""


@dataclass(frozen=True, slots=True)
class AgentStateChanged:
    """An agent's state changed (for the live panel; not part of the queue log)."""

    time: datetime
    agent: str
    name: str
    state: str
    """``logged-out``, ``available``, ``ringing``, ``on-call``, ``wrap-up`` or ``paused``."""
    phone: str | None
    queue: str | None
    """The queue whose caller the agent is ringing for or talking to, if any."""
    caller: str | None
