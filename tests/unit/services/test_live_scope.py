"""What a supervisor of some queues sees of the live state and its event stream."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from ringfort.apps.queue.events import QueueLogged
from ringfort.bus import EventBus
from ringfort.services.live import DOCUMENT_MAX_AGE, LiveFeed

STATE: dict[str, Any] = {
    "queues": [{"name": "help"}, {"name": "sales"}],
    "agents": [
        {"agent": "11", "queues": ["help"], "queue": None},
        {"agent": "12", "queues": ["sales"], "queue": None},
        {"agent": "13", "queues": [], "queue": "help"},  # still talking to a help caller
        {"agent": "14", "queues": [], "queue": None},
    ],
}


def test_a_scoped_supervisor_sees_their_queues_and_their_agents() -> None:
    feed = LiveFeed(EventBus(), lambda: STATE)
    seen = feed.visible(STATE, frozenset({"help"}))
    assert [q["name"] for q in seen["queues"]] == ["help"]
    assert [a["agent"] for a in seen["agents"]] == ["11", "13"]
    assert feed.visible(STATE, None) is STATE


def test_the_stream_carries_only_their_queues_events_and_agents() -> None:
    feed = LiveFeed(EventBus(), lambda: STATE)
    help_only = frozenset({"help"})
    assert feed.shows({"type": "queue-event", "queue": "help"}, help_only)
    assert not feed.shows({"type": "queue-event", "queue": "sales"}, help_only)
    assert feed.shows({"type": "agent-state", "agent": "11"}, help_only)
    assert not feed.shows({"type": "agent-state", "agent": "12"}, help_only)
    assert feed.shows({"type": "resync"}, help_only)
    assert feed.shows({"type": "queue-event", "queue": "sales"}, None)


def test_the_whole_state_is_made_again_after_an_event_or_half_a_second() -> None:
    bus, clock, made = EventBus(), [100.0], []

    def snapshot() -> dict[str, Any]:
        made.append(clock[0])
        return {"queues": [], "agents": [{"agent": "11", "queues": ["sales"], "made": len(made)}]}

    feed = LiveFeed(bus, snapshot, clock=lambda: clock[0])
    first = feed.document()
    assert json.loads(first)["agents"][0]["made"] == 1
    clock[0] += DOCUMENT_MAX_AGE - 0.1
    assert feed.document() is first
    bus.publish(QueueLogged(datetime(2026, 12, 2, tzinfo=UTC), "c1", "help", "11", "PAUSE"))
    second = feed.document()
    assert json.loads(second)["agents"][0]["made"] == 2
    clock[0] += DOCUMENT_MAX_AGE
    assert json.loads(feed.document())["agents"][0]["made"] == 3
    # A supervisor of some queues gets their part, made for them.
    assert json.loads(feed.document(frozenset({"help"}))) == {"queues": [], "agents": []}
    assert len(made) == 4
