"""Calls in progress on the running node: listing them, and hanging one up.

The call core is handed in by the composition root as a :class:`CallTable`;
what leaves this module are plain views, so interfaces never touch a call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from ringfort.errors import NotFoundError
from ringfort.pbx.call import Call

__all__ = ["CALL_SEARCHED", "CALL_SORTABLE", "CallService", "CallTable", "CallView"]

CALL_SORTABLE = ("uniqueid", "src", "dst", "start", "answer", "state", "seconds")
CALL_SEARCHED = ("uniqueid", "src", "dst", "clid")


class CallTable(Protocol):
    """The call core as this service needs it (the B2BUA)."""

    def calls(self) -> list[Call]:
        """The calls in progress."""
        ...  # pragma: no cover

    def hang_up(self, uniqueid: str, *, cause: str = ...) -> bool:
        """End a call; False when there is no such call."""
        ...  # pragma: no cover


@dataclass(frozen=True, slots=True)
class CallView:
    """One call in progress."""

    uniqueid: str
    src: str
    dst: str
    clid: str
    start: datetime
    answer: datetime | None
    state: str
    """``setup``, ``ringing`` or ``answered``."""
    seconds: float
    """Since the call started."""
    held: bool
    """One side has put the other on hold."""
    recording: bool
    """Being recorded now."""
    connected_to: str | None
    """For a call an application (a menu, a queue) put through: the number it rings or
    talks to."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CallService:
    """Lists and hangs up the calls of the node it runs in."""

    def __init__(self, table: CallTable, *, now: Callable[[], datetime] = _utc_now) -> None:
        self._table = table
        self._now = now

    def list(self) -> Sequence[CallView]:
        """Every call in progress, oldest first."""
        now = self._now()
        views = [
            CallView(
                uniqueid=call.uniqueid,
                src=call.src,
                dst=call.dst,
                clid=call.clid,
                start=call.start,
                answer=call.answer,
                state=call.state.value,
                seconds=round(max(0.0, (now - call.start).total_seconds()), 1),
                held=call.held_by is not None,
                recording=call.recording is not None and not call.recording.toggled_off,
                connected_to=None if call.bridge is None else call.bridge.dst,
            )
            for call in self._table.calls()
            if not call.ended
        ]
        return sorted(views, key=lambda view: view.start)

    def get(self, uniqueid: str) -> CallView:
        """The call ``uniqueid``; NotFoundError when it is not in progress."""
        for view in self.list():
            if view.uniqueid == uniqueid:
                return view
        raise NotFoundError(f"no call {uniqueid} is in progress; list them with GET /api/v1/calls")

    def hang_up(self, uniqueid: str) -> None:
        """End the call ``uniqueid`` (its CDR says: hung up by the system, cause administrator)."""
        if not self._table.hang_up(uniqueid, cause="administrator"):
            raise NotFoundError(f"no call {uniqueid} is in progress; it may have ended already")
