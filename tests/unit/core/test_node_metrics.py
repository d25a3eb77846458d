"""The node's /metrics families, read before it starts: every family there, all at zero."""

from __future__ import annotations

from pathlib import Path

from ringfort.runtime import Node
from ringfort.services.metrics import render
from ringfort.settings import Settings


def test_a_node_reports_every_family_before_it_starts(tmp_path: Path) -> None:
    node = Node(Settings(data_dir=tmp_path / "data"))
    families = {metric.name: metric for metric in node.metrics()}
    assert set(families) == {
        "ringfort_registrations",
        "ringfort_active_calls",
        "ringfort_calls_total",
        "ringfort_queue_waiting",
        "ringfort_agents",
        "ringfort_sip_messages_total",
        "ringfort_rtp_packets_relayed_total",
        "ringfort_media_ports_in_use",
        "ringfort_errors_total",
    }
    text = render(families.values())
    assert "ringfort_active_calls 0\n" in text
    assert 'ringfort_calls_total{disposition="NO ANSWER"} 0\n' in text
    assert 'ringfort_agents{state="paused"} 0\n' in text
    assert 'ringfort_sip_messages_total{direction="out"} 0\n' in text
    assert 'ringfort_errors_total{kind="logged"} 0\n' in text
    assert all(
        metric.kind == "counter" for name, metric in families.items() if name.endswith("_total")
    )
