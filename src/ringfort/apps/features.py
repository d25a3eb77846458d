"""Feature codes dialled from phones, looked up before the dial plan.

``*45<queue>`` logs in or out, ``*46<queue>`` pauses or unpauses; ``*97`` is the
caller's own mailbox and ``*98`` the voicemail main menu; a parking slot's number
picks up the call parked there. The caller's own forwarding, as on most PBXs:
``*72<number>`` forwards every call, ``*90<number>`` busy calls, ``*52<number>``
unanswered ones, and ``*73``, ``*91``, ``*53`` switch each off; ``*78`` and ``*79``
switch do-not-disturb on and off, ``*76`` toggles it.
"""

from __future__ import annotations

from collections.abc import Container

from ringfort.pbx.destination import Destination, DestinationKind, is_number
from ringfort.pbx.ports import DialPlan

__all__ = [
    "AGENT_LOGIN",
    "AGENT_PAUSE",
    "DND_OFF",
    "DND_ON",
    "DND_TOGGLE",
    "FORWARD_OFF",
    "FORWARD_ON",
    "MY_VOICEMAIL",
    "VOICEMAIL_MAIN",
    "FeatureCodes",
    "split_feature",
    "split_forwarding",
]

AGENT_LOGIN = "*45"
"""``*45<queue number>``: log in with the PIN, or log out if logged in at this phone."""
AGENT_PAUSE = "*46"
"""``*46<queue number>``: pause, or unpause if paused."""
_CODES = (AGENT_LOGIN, AGENT_PAUSE)
MY_VOICEMAIL = "*97"
"""The caller's own mailbox (the PIN asked unless the mailbox says not)."""
VOICEMAIL_MAIN = "*98"
"""The voicemail main menu: any mailbox, by number and PIN."""


FORWARD_ON = {"*72": "always", "*90": "busy", "*52": "no_answer"}
"""``*72<number>``: forward every call there; ``*90``: busy calls; ``*52``: unanswered ones
(and calls when no phone is registered). Dialled without the number, it is asked for."""
FORWARD_OFF = {"*73": "always", "*91": "busy", "*53": "no_answer"}
"""Switch that forward off again."""
DND_ON, DND_OFF, DND_TOGGLE = "*78", "*79", "*76"
"""Do-not-disturb on, off, and the other way round."""
_DND_CODES = (DND_ON, DND_OFF, DND_TOGGLE)


def split_forwarding(dialled: str) -> tuple[str, str] | None:
    """``("*72", "103")`` for ``*72103``, ``("*72", "")`` for ``*72`` (the number is asked
    for), ``("*73", "")`` for ``*73``, ``("*78", "")``; None if ``dialled`` is no
    forwarding or do-not-disturb code."""
    code, rest = dialled[:3], dialled[3:]
    if code in FORWARD_ON and (not rest or is_number(rest)):
        return code, rest
    if (code in FORWARD_OFF or code in _DND_CODES) and not rest:
        return code, ""
    return None


def split_feature(dialled: str) -> tuple[str, str] | None:
    """``("*45", "500")`` for ``*45500``; None if ``dialled`` is not a feature code."""
    for code in _CODES:
        if dialled.startswith(code) and is_number(dialled[len(code) :]):
            return code, dialled[len(code) :]
    return None


class FeatureCodes:
    """The call core's DialPlan: feature codes first, then the configured numbers."""

    def __init__(self, plan: DialPlan, *, parking: Container[str] = ()) -> None:
        self._plan = plan
        self._parking = parking

    async def resolve(self, number: str) -> Destination | None:
        """A feature destination for a feature code; else what the dial plan says; else a
        parking slot. A menu, queue or time condition given a slot's number keeps it: what
        was configured wins over the lot's default range."""
        if (
            split_feature(number) is not None
            or split_forwarding(number) is not None
            or number == MY_VOICEMAIL
        ):
            return Destination(DestinationKind.FEATURE, number)
        if number == VOICEMAIL_MAIN:
            return Destination(DestinationKind.VOICEMAIL)
        destination = await self._plan.resolve(number)
        if destination is None and number in self._parking:
            return Destination(DestinationKind.FEATURE, number)
        return destination
