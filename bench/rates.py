"""What the stepped-rate benches share: one step's outcome, a process's CPU time, the verdict.

Used by bench/register.py and bench/calls/cps.py (which put this folder on
their import path).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, all threads (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # proc(5) fields 14 and 15 (utime, stime), counted here from field 3 (state).
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class RateStep:
    """The outcome of one offered rate; each bench adds what it measured besides."""

    rate: int
    seconds: float
    """Wall time the load ran."""
    created: int
    successful: int

    @property
    def failure_percent(self) -> float:
        """Attempts that did not complete, as a share of attempts started."""
        if self.created == 0:
            return 100.0
        return 100.0 * (self.created - self.successful) / self.created

    @property
    def achieved_rate(self) -> float:
        """Completed attempts per second of wall time."""
        return self.successful / self.seconds if self.seconds > 0 else 0.0


def print_verdict(steps: Sequence[RateStep], unit: str) -> None:
    """The highest rate under 1 % failures, and the highest that also kept up."""
    passing = [step.rate for step in steps if step.created and step.failure_percent < 1.0]
    if passing:
        print(f"\nhighest rate with < 1 % failures: {max(passing)} {unit}")
    else:
        print("\nno rate stayed under 1 % failures")
    # A short step can hide a growing queue inside the deadline; this one cannot.
    kept_up = [
        step.rate
        for step in steps
        if step.created and step.failure_percent < 1.0 and step.achieved_rate >= 0.95 * step.rate
    ]
    if kept_up:
        print(f"highest rate also completed at >= 95 % of the offered rate: {max(kept_up)}/s")


def reference_work_ms(cpu: int | None = None) -> float:
    """Milliseconds this machine takes now for a fixed piece of pure-Python work, best of 5.

    The work (splitting header-like lines, small dicts and strings) is not our code, so
    the figure means the same for every commit. On a shared virtual machine the same
    code runs up to half as fast again in one hour as in another; printed beside a
    bench's results, this says which kind of hour they came from. With ``cpu``, the
    work runs on that core (the one the server will use).
    """
    previous = os.sched_getaffinity(0)
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            _reference_work()
            best = min(best, time.perf_counter() - started)
    finally:
        os.sched_setaffinity(0, previous)
    return best * 1000.0


def _reference_work() -> None:
    lengths: dict[str, int] = {}
    for number in range(20_000):
        line = f"Via: SIP/2.0/UDP 10.0.{number % 250}.1:5060;branch=z9hG4bK{number};rport"
        _, _, value = line.partition(":")
        params = dict(part.partition("=")[::2] for part in value.split(";")[1:])
        lengths[params["branch"]] = len(value.strip())
