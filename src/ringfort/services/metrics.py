"""Metrics in the Prometheus text exposition format, and the counters only events can give.

The composition root gathers the numbers the node already keeps (registrations,
calls, queues, SIP and RTP counters) into :class:`Metric` families when scraped;
nothing here runs on a packet's or a message's path.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ringfort.bus import EventBus
from ringfort.disposition import Disposition
from ringfort.pbx.call_events import CallEnded

__all__ = ["CONTENT_TYPE", "CallOutcomes", "ErrorLogCounter", "Metric", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""What Prometheus expects of a scrape in the text format."""


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric family: its samples, each with its labels."""

    name: str
    kind: str
    """``counter`` or ``gauge``."""
    help: str
    samples: list[tuple[Mapping[str, str], float]] = field(default_factory=list)

    @classmethod
    def single(cls, name: str, kind: str, help: str, value: float) -> Metric:
        """A family of one sample without labels."""
        return cls(name, kind, help, [({}, value)])


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _value(value: float) -> str:
    if value == int(value):
        return str(int(value))
    return repr(float(value))


def render(metrics: Iterable[Metric]) -> str:
    """The families as Prometheus text: ``# HELP``, ``# TYPE`` and one line per sample."""
    lines: list[str] = []
    for metric in metrics:
        lines.append(f"# HELP {metric.name} {_escape(metric.help)}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for labels, value in metric.samples:
            shown = ",".join(f'{key}="{_escape(text)}"' for key, text in labels.items())
            lines.append(
                f"{metric.name}{{{shown}}} {_value(value)}"
                if shown
                else f"{metric.name} {_value(value)}"
            )
    return "\n".join(lines) + "\n"


class CallOutcomes:
    """Calls ended since the node started, by disposition (a CDR row each)."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def attach(self, bus: EventBus) -> None:
        """Count every CallEnded the bus carries."""
        bus.subscribe(CallEnded, self.on_call_ended)

    def on_call_ended(self, event: CallEnded) -> None:
        """One more call ended so."""
        self._counts[event.disposition.value] += 1

    def metric(self) -> Metric:
        """``ringfort_calls_total`` with every disposition, those not seen yet at 0."""
        return Metric(
            "ringfort_calls_total",
            "counter",
            "Call legs ended since the server started, by CDR disposition.",
            [({"disposition": d.value}, self._counts[d.value]) for d in Disposition],
        )


class ErrorLogCounter(logging.Handler):
    """Counts the errors logged (ERROR and worse): faults the server met and carried on."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        """One more error."""
        self.count += 1
