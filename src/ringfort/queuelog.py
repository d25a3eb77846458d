"""The queue log's vocabulary: Asterisk's event names, and which of them end a caller's stay.

The queue application writes these events, services count them for the live state and
reports sum them; the names are a file format (Asterisk's ``queue_log``) that other tools
read, so they are spelled out once here for all of them.
"""

from __future__ import annotations

__all__ = [
    "ABANDON",
    "ADDMEMBER",
    "AGENTLOGIN",
    "AGENTLOGOFF",
    "ANSWERED_OUTCOMES",
    "ATTENDEDTRANSFER",
    "BLINDTRANSFER",
    "COMPLETEAGENT",
    "COMPLETECALLER",
    "COMPLETED",
    "CONNECT",
    "ENTERQUEUE",
    "EXITEMPTY",
    "EXITWITHKEY",
    "EXITWITHTIMEOUT",
    "FULL",
    "JOINEMPTY",
    "LEFT",
    "LOST_OUTCOMES",
    "NONE",
    "OUTCOMES",
    "PAUSE",
    "REMOVEMEMBER",
    "RINGCANCELED",
    "RINGNOANSWER",
    "TRANSFERRED",
    "TURNED_AWAY",
    "UNPAUSE",
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
"""The agent transferred the caller after talking to the target: ``method`` (``BRIDGE``:
the caller was joined to the agent's call with the target), ``bridge`` (the uniqueid of the
caller's conversation with the target, its CDR row), ``holdtime``, ``calltime``,
``origposition``."""

COMPLETED = (COMPLETECALLER, COMPLETEAGENT)
"""A conversation with an agent ended by one side."""
TRANSFERRED = (BLINDTRANSFER, ATTENDEDTRANSFER)
"""A conversation with an agent ended by the agent handing the caller on."""
ANSWERED_OUTCOMES = COMPLETED + TRANSFERRED
"""The events that end an answered caller's stay in a queue."""
LEFT = (ABANDON, EXITWITHTIMEOUT, EXITEMPTY)
"""The caller left the line without an agent (``position|origposition|waittime``)."""
TURNED_AWAY = (JOINEMPTY, FULL)
"""The caller was not let in (no ENTERQUEUE before these)."""
LOST_OUTCOMES = (*LEFT, EXITWITHKEY, *TURNED_AWAY)
"""The events that end a lost caller's stay."""
OUTCOMES = ANSWERED_OUTCOMES + LOST_OUTCOMES
"""Every event that ends a caller's stay: exactly one per stay."""
