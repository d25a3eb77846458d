"""/metrics: the Prometheus text format, and the counters of ended calls."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from ringfort.bus import EventBus
from ringfort.disposition import Disposition, HangupBy
from ringfort.pbx.call_events import CallEnded
from ringfort.services.metrics import CallOutcomes, Metric, render

AT = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def test_families_render_as_prometheus_text() -> None:
    text = render(
        [
            Metric.single("ringfort_active_calls", "gauge", "Calls in progress.", 3),
            Metric(
                "ringfort_queue_waiting",
                "gauge",
                "Callers waiting.",
                [({"queue": 'sa"les\\'}, 2), ({"queue": "b"}, 0.5)],
            ),
        ]
    )
    assert text == (
        "# HELP ringfort_active_calls Calls in progress.\n"
        "# TYPE ringfort_active_calls gauge\n"
        "ringfort_active_calls 3\n"
        "# HELP ringfort_queue_waiting Callers waiting.\n"
        "# TYPE ringfort_queue_waiting gauge\n"
        'ringfort_queue_waiting{queue="sa\\"les\\\\"} 2\n'
        'ringfort_queue_waiting{queue="b"} 0.5\n'
    )


def test_ended_calls_are_counted_by_disposition() -> None:
    bus = EventBus()
    outcomes = CallOutcomes()
    outcomes.attach(bus)
    for disposition in (Disposition.ANSWERED, Disposition.ANSWERED, Disposition.BUSY):
        bus.publish(
            CallEnded(
                uniqueid="u",
                linkedid="u",
                src="101",
                dst="102",
                clid="101",
                start=AT,
                answer=None,
                end=AT,
                disposition=disposition,
                hangup_by=HangupBy.CALLER,
                cause="normal",
                status=200,
            )
        )
    samples = {labels["disposition"]: value for labels, value in outcomes.metric().samples}
    assert samples == {"ANSWERED": 2, "NO ANSWER": 0, "BUSY": 1, "FAILED": 0, "CANCELLED": 0}


async def test_the_endpoint_serves_the_text_format(api: httpx.AsyncClient) -> None:
    answer = await api.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "ringfort_active_calls 2\n" in answer.text
