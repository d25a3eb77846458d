"""What a supervisor of some queues sees of the live state and its event stream."""

from __future__ import annotations

from typing import Any

from ringfort.bus import EventBus
from ringfort.services.live import LiveFeed

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
