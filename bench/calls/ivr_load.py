"""IVR load: N concurrent callers in an auto-attendant menu, each hearing a prompt Ringfort plays.

Starts its own ``ringfort serve`` (pinned to one core with ``taskset``) with a menu on
number 800 whose greeting lasts minutes. This process is the callers, on the other core:
it places N calls to 800 (answering the 407 challenge), each sending G.711 silence as a
phone does, and counts the prompt packets each receives.

Per step it prints the server's CPU and the prompt packets received per second against
the 50 per call that 20 ms frames need; the target is 200 concurrent prompt streams
within one core.

    bench/ivr_load.sh                          # 50, 100, 200 callers, 15 s each
    bench/ivr_load.sh --calls 100,300 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media_load import Endpoint, Phones, process_cpu_seconds, set_up_calls
from server_under_test import (
    CpuMeter,
    RingfortServer,
    ServerStartError,
    add_server_options,
    call_server,
    install_stop_signals,
    server_status,
    wait_for_idle,
)

DEFAULT_CALLS = (50, 100, 200)
MENU_NUMBER = "800"
FRAMES_PER_SECOND = 50
GREETING = ",".join(["welcome"] * 20)
"""About two minutes of prompt: longer than any step, so every caller is always hearing one."""


class PromptEndpoint(Endpoint):
    """A caller's media socket: sends silence as a phone does, counts the prompt that arrives.

    Prompt packets carry no send time, so nothing but the count is measured.
    """

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.received += 1


class MenuCallers(Phones):
    """The media benchmark's caller, dialling the menu, with prompt-counting sockets."""

    endpoint_type = PromptEndpoint


@dataclass(frozen=True)
class Step:
    """One load level's figures."""

    calls: int
    answered: int
    server_cpu_percent: float
    generator_cpu_percent: float
    received_per_second: float
    legs: int | None
    left_after: int | None

    @property
    def delivered_percent(self) -> float:
        """Prompt packets received against 50 per call per second."""
        wanted = self.answered * FRAMES_PER_SECOND
        return 100.0 * self.received_per_second / wanted if wanted else 0.0


async def run_step(
    server: RingfortServer, phones: Phones, calls: int, seconds: float, setup_rate: float
) -> Step:
    """Put ``calls`` callers in the menu, measure ``seconds``, hang up."""
    loop = asyncio.get_running_loop()
    try:
        placed, answered = await set_up_calls(phones, calls, setup_rate)
        await asyncio.sleep(1.0)
        assert server.pid is not None
        meter = CpuMeter([server.pid])
        received_before = sum(call.endpoint.received for call in placed)
        own_before = process_cpu_seconds()
        meter.start()
        window_started = time.monotonic()
        await asyncio.sleep(seconds)
        window = time.monotonic() - window_started
        server_cpu = meter.percent()
        own_cpu = 100.0 * (process_cpu_seconds() - own_before) / window
        received = sum(call.endpoint.received for call in placed) - received_before
        status = await loop.run_in_executor(None, server_status, server)
        legs = status.get("media", {}).get("legs")
        for call in placed:
            if call.answered.done() and call.answered.result() is True:
                phones.hang_up(call)
        await asyncio.gather(
            *(asyncio.wait_for(asyncio.shield(call.ended), 20.0) for call in placed),
            return_exceptions=True,
        )
    finally:
        phones.end_step()
    left, _ = await loop.run_in_executor(None, lambda: wait_for_idle(server, timeout=5.0))
    return Step(
        calls=calls,
        answered=answered,
        server_cpu_percent=server_cpu,
        generator_cpu_percent=own_cpu,
        received_per_second=received / window,
        legs=legs if isinstance(legs, int) else None,
        left_after=left,
    )


def print_table(steps: list[Step]) -> None:
    """One line per step."""
    header = (
        f"{'callers':>7} {'up':>5} {'legs':>5} {'prompt pkt/s':>12} {'delivered %':>11} "
        f"{'srv CPU%':>8} {'gen CPU%':>8} {'left':>4}"
    )
    print(header)
    print("-" * len(header))
    for step in steps:
        print(
            f"{step.calls:>7} {step.answered:>5} {step.legs if step.legs is not None else '-':>5} "
            f"{step.received_per_second:>12.0f} {step.delivered_percent:>11.1f} "
            f"{step.server_cpu_percent:>8.0f} {step.generator_cpu_percent:>8.0f} "
            f"{step.left_after if step.left_after is not None else '-':>4}"
        )
    print(
        "\ndelivered % = prompt packets received / (50 per answered caller per second); "
        "srv CPU% is of one core (the server is pinned to one)."
    )


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="ivr_load.sh",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--calls", default=",".join(map(str, DEFAULT_CALLS)))
    parser.add_argument("--duration", type=float, default=15.0, help="seconds measured per step")
    parser.add_argument("--setup-rate", type=float, default=50.0, help="calls set up per second")
    parser.add_argument("--server-cpu", default="0", help="taskset CPU list for the server")
    add_server_options(parser)
    return parser.parse_args(argv)


async def run(options: argparse.Namespace, server: RingfortServer, steps: list[Step]) -> None:
    """Every step on one server, with one set of callers."""
    phones = MenuCallers(server=server.sip_target, ptime_ms=20, late_ms=60.0, dialled=MENU_NUMBER)
    await phones.open()
    try:
        for calls in [int(c) for c in options.calls.split(",") if c.strip()]:
            step = await run_step(server, phones, calls, options.duration, options.setup_rate)
            steps.append(step)
            print(
                f"  {calls} callers ({step.answered} up): server CPU "
                f"{step.server_cpu_percent:.0f} %, {step.delivered_percent:.1f} % of prompt "
                "packets delivered",
                flush=True,
            )
            if not server.alive:
                print("the server died", file=sys.stderr)
                break
    finally:
        await phones.close()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    options = parse_arguments(argv)
    counts = [int(c) for c in options.calls.split(",") if c.strip()]
    install_stop_signals(120 + sum(c / options.setup_rate + options.duration + 30 for c in counts))
    if (os.cpu_count() or 1) > 1 and options.server_cpu == "0":
        os.sched_setaffinity(0, {1})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(
        resource.RLIMIT_NOFILE, (min(hard, max(soft, 16 * max(counts) + 1024)), hard)
    )
    workdir = Path(tempfile.mkdtemp(prefix="ringfort-bench-ivr-"))
    steps: list[Step] = []
    server: RingfortServer | None = None
    try:
        server = call_server(
            workdir,
            cpu=options.server_cpu,
            log_level=options.log_level,
            port_low=options.port_low,
            port_high=options.port_high,
        )
        server.cli(
            "ivr", "add", "load", "--number", MENU_NUMBER, "--greeting", GREETING,
            "--no-direct-dial", "--timeout", "60", "--retries", "0",
        )  # fmt: skip
        server.start()
        print(f"ringfort pid {server.pid} on CPU {options.server_cpu}; menu on {MENU_NUMBER}")
        asyncio.run(run(options, server, steps))
    except (ServerStartError, RuntimeError, TimeoutError) as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        if server is not None:
            server.stop()
        if options.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print_table(steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
