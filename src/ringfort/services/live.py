"""The call centre as it happens, for the API and the web panel: a snapshot and a stream of events.

The running node's `CallCentre` knows the live state; this feed hands it to
interfaces (which may not reach into applications) as plain JSON-able dicts,
and fans the queue's events out to every listener of the event stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from ringfort.apps.queue.events import AgentStateChanged, QueueLogged
from ringfort.bus import EventBus

__all__ = ["LiveFeed"]

DOCUMENT_MAX_AGE = 0.5
"""Seconds the whole state's JSON is handed out again before it is made anew, when no queue
event or agent state change has made it out of date sooner: the waits and times in state
in it are then at most this old."""

LISTENER_BACKLOG = 1000
"""Events held for a slow listener; past it the oldest go and the listener is told to re-read."""


class LiveFeed:
    """Snapshots of queues and agents, and their events as they happen."""

    def __init__(
        self,
        bus: EventBus,
        snapshot: Callable[[], dict[str, Any]],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._snapshot = snapshot
        self._clock = clock
        self._listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self._document: bytes | None = None
        self._document_made = 0.0
        bus.subscribe(QueueLogged, self._on_queue_logged)
        bus.subscribe(AgentStateChanged, self._on_agent_state)

    def snapshot(self) -> dict[str, Any]:
        """Every queue and agent now."""
        return self._snapshot()

    def document(self, queues: frozenset[str] | None = None) -> bytes:
        """The state as a JSON document (`visible` to a supervisor of ``queues``).

        The whole state's is kept and handed out again until an event changes the state or
        it is `DOCUMENT_MAX_AGE` old: a wall of panels polling it many times a second then
        costs little more than sending it.
        """
        if queues is not None:
            return _json(self.visible(self._snapshot(), queues))
        now = self._clock()
        if self._document is None or now - self._document_made >= DOCUMENT_MAX_AGE:
            self._document = _json(self._snapshot())
            self._document_made = now
        return self._document

    def queue(self, name: str) -> dict[str, Any] | None:
        """One queue now, or None if it has had no caller or agent since the start."""
        return next((q for q in self._snapshot()["queues"] if q["name"] == name), None)

    def agent(self, number: str) -> dict[str, Any] | None:
        """One agent now, or None if not known to the running node."""
        return next((a for a in self._snapshot()["agents"] if a["agent"] == number), None)

    def visible(self, snapshot: dict[str, Any], queues: frozenset[str] | None) -> dict[str, Any]:
        """``snapshot`` as a supervisor of ``queues`` sees it: those queues, and the agents
        logged in to one of them or talking in one (None: everything)."""
        if queues is None:
            return snapshot
        return {
            "queues": [q for q in snapshot["queues"] if q["name"] in queues],
            "agents": [
                a
                for a in snapshot["agents"]
                if queues.intersection(a["queues"]) or a.get("queue") in queues
            ],
        }

    def shows(self, message: dict[str, Any], queues: frozenset[str] | None) -> bool:
        """Whether a supervisor of ``queues`` gets the stream's ``message``."""
        if queues is None or message["type"] == "resync":
            return True
        if message["type"] == "queue-event":
            return message.get("queue") in queues
        visible = self.visible(self._snapshot(), queues)["agents"]
        return any(agent["agent"] == message.get("agent") for agent in visible)

    @contextlib.asynccontextmanager
    async def listen(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """A queue of events (``{"type": ..., ...}``) for as long as the context lasts."""
        listener: asyncio.Queue[dict[str, Any]] = asyncio.Queue(LISTENER_BACKLOG)
        self._listeners.add(listener)
        try:
            yield listener
        finally:
            self._listeners.discard(listener)

    @property
    def listeners(self) -> int:
        """How many streams are open."""
        return len(self._listeners)

    def _on_queue_logged(self, event: QueueLogged) -> None:
        self._fan_out(
            {
                "type": "queue-event",
                "time": event.time.isoformat(),
                "callid": event.callid,
                "queue": event.queue,
                "agent": event.agent,
                "event": event.event,
                "data": list(event.data),
            }
        )

    def _on_agent_state(self, event: AgentStateChanged) -> None:
        fields = dataclasses.asdict(event)
        fields["time"] = event.time.isoformat()
        self._fan_out({"type": "agent-state", **fields})

    def _fan_out(self, message: dict[str, Any]) -> None:
        self._document = None  # the state changed
        for listener in self._listeners:
            if listener.full():
                # A listener this far behind has lost track: it is told to read the snapshot again.
                with contextlib.suppress(asyncio.QueueEmpty):
                    while not listener.empty():
                        listener.get_nowait()
                listener.put_nowait({"type": "resync"})
            listener.put_nowait(message)


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()
