"""The queue event log as the queue application publishes it: Asterisk's event names and fields.

Each `QueueLogged` is one line of the log (``time|callid|queue|agent|event|data1|...``);
the application publishes them on the bus and services store them in batches, so
logging never waits on the database. Events of logins and pauses are written by
the services that make those changes, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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

NONE = "NONE"
"""The ``callid`` or ``agent`` of an event that has none (Asterisk writes ``NONE``)."""

ENTERQUEUE = "ENTERQUEUE"
"""A caller joined: ``url``, ``callerid``, ``position``."""
CONNECT = "CONNECT"
"""An agent answered: ``holdtime``, ``bridged uniqueid`` (the CDR row of the agent's leg),
``ringtime``."""
COMPLETECALLER = "COMPLETECALLER"
"""The caller hung up a connected call: ``holdtime``, ``calltime``, ``origposition``."""
COMPLETEAGENT = "COMPLETEAGENT"
"""The agent hung up a connected call: ``holdtime``, ``calltime``, ``origposition``."""
ABANDON = "ABANDON"
"""The caller hung up while waiting: ``position``, ``origposition``, ``waittime``."""
EXITWITHTIMEOUT = "EXITWITHTIMEOUT"
"""The caller waited the maximum and left for the overflow: ``position``, ``origposition``,
``waittime``."""
EXITEMPTY = "EXITEMPTY"
"""No agent was left by the leave rule: ``position``, ``origposition``, ``waittime``."""
EXITWITHKEY = "EXITWITHKEY"
"""The caller pressed the exit key: ``key``, ``position``, ``origposition``, ``waittime``."""
JOINEMPTY = "JOINEMPTY"
"""The caller could not join by the join rule (no ENTERQUEUE before it): ``position``,
``origposition``, ``waittime`` (all 0 here)."""
FULL = "FULL"
"""The queue was at its maximum length (no ENTERQUEUE before it)."""
RINGNOANSWER = "RINGNOANSWER"
"""An agent was rung and did not answer: ``ringtime`` in milliseconds."""
RINGCANCELED = "RINGCANCELED"
"""An agent's ringing was stopped (the caller left, or another agent answered): ``ringtime``
in milliseconds."""
AGENTLOGIN = "AGENTLOGIN"
"""The agent logged in from a phone: ``channel`` (``PJSIP/<extension>``)."""
AGENTLOGOFF = "AGENTLOGOFF"
"""The agent logged out from a phone: ``channel``, ``logintime`` (seconds)."""
ADDMEMBER = "ADDMEMBER"
"""A supervisor logged the agent in: ``channel``."""
REMOVEMEMBER = "REMOVEMEMBER"
"""A supervisor logged the agent out: ``channel``."""
PAUSE = "PAUSE"
"""The agent was paused: ``reason``."""
UNPAUSE = "UNPAUSE"
"""The agent was unpaused: ``reason``."""
BLINDTRANSFER = "BLINDTRANSFER"
"""The agent transferred the caller: ``extension``, ``context``, ``holdtime``, ``calltime``,
``origposition``."""
ATTENDEDTRANSFER = "ATTENDEDTRANSFER"
"""The agent transferred the caller after talking to the target: ``method``, ``target``,
``holdtime``, ``calltime``, ``origposition``."""


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
