"""Queue load: callers waiting in a queue with music and announcements, SIPp agents answering.

Starts its own ``ringfort serve`` (pinned to one core with ``taskset``) with a queue
on number 600 (``leastrecent``, no wrap-up, position announced after 5 s and every
15 s, a periodic prompt every 20 s) and ``--agents`` extensions, each a SIPp UAS
registered from its own port and logged in to the queue. An agent's phone answers at
once, talks (``--talk-ms`` on average, each agent its own length; ``--same-talk``
for all the same, so that calls end in bursts) and hangs up. This process is the
callers, on the other core: it keeps ``--callers`` calls in the queue for
``--duration`` seconds (a new call for each one that ends), each sending G.711
silence as a phone does.

It prints the server's CPU over the run, the calls the agents answered, and the time
from an agent hanging up (its BYE leaving the phone) to the next call ringing it
(the next INVITE reaching the phone), from the agents' own message logs: median,
p95 and maximum. Target: median under 50 ms.

    bench/queue_load.sh                                  # 100 callers, 20 agents, 30 s
    bench/queue_load.sh --callers 50 --agents 10 --duration 20 --talk-ms 2000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import sys
import time
from datetime import datetime
from pathlib import Path

from ivr_load import MenuCallers
from media_load import OutgoingCall, Phones
from server_under_test import (
    CpuMeter,
    Party,
    ServerSlot,
    SippCallee,
    add_server_options,
    install_stop_signals,
    options_server,
    percentile,
    run_bench,
    tool_path,
    wait_for_idle,
)

HERE = Path(__file__).resolve().parent
QUEUE_NUMBER = "600"
FIRST_AGENT = 2001

_ENTRY = re.compile(
    r"^-{10,} (?P<stamp>[^\n]*)\n[A-Z]+ message (?P<direction>sent|received)[^\n]*\n\n"
    r"(?P<first>[^\n]*)",
    re.MULTILINE,
)
_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2})[ \t](\d{2}:\d{2}:\d{2}\.\d+)")
"""SIPp's message log stamps each message with its local date and time, microseconds."""


def free_to_ring_ms(message_log: Path) -> list[float]:
    """For each BYE an agent's phone sent, the milliseconds until the next INVITE reached it."""
    if not message_log.exists():
        return []
    gaps: list[float] = []
    freed: float | None = None
    for entry in _ENTRY.finditer(message_log.read_text(errors="replace")):
        found = _STAMP.search(entry["stamp"])
        if found is None:
            continue
        at = datetime.fromisoformat(f"{found[1]}T{found[2]}").timestamp()
        first = entry["first"].strip()
        if entry["direction"] == "sent" and first.startswith("BYE "):
            # A retransmitted BYE does not free the agent again.
            freed = at if freed is None else freed
        elif entry["direction"] == "received" and first.startswith("INVITE ") and freed is not None:
            gaps.append(1000.0 * (at - freed))
            freed = None
    return gaps


def answered_calls(agent: SippCallee) -> int:
    """Calls the agent's SIPp completed, from its statistics file."""
    path = agent.workdir / f"{agent.tag}_stat.csv"
    if not path.exists():
        return 0
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    if len(lines) < 2:
        return 0
    header, last = lines[0].split(";"), lines[-1].split(";")
    row = dict(zip(header, last, strict=False))
    try:
        return int(row.get("SuccessfulCall(C)", "0") or 0)
    except ValueError:
        return 0


async def keep_callers(phones: Phones, callers: int, seconds: float, setup_rate: float) -> int:
    """Keep ``callers`` calls in the queue for ``seconds``; the number of calls placed."""
    loop = asyncio.get_running_loop()
    live: list[OutgoingCall] = []
    placed = 0
    stop_at = loop.time() + seconds
    while loop.time() < stop_at:
        live = [call for call in live if not call.ended.done()]
        while len(live) < callers and loop.time() < stop_at:
            live.append(await phones.place_call())
            placed += 1
            await asyncio.sleep(1.0 / setup_rate)
        await asyncio.sleep(0.05)
    for call in live:
        if call.answered.done() and call.answered.result() is True and not call.ended.done():
            phones.hang_up(call)
    await asyncio.gather(
        *(asyncio.wait_for(asyncio.shield(call.ended), 20.0) for call in live),
        return_exceptions=True,
    )
    return placed


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="queue_load.sh",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--callers", type=int, default=100, help="calls kept in the queue")
    parser.add_argument("--agents", type=int, default=20, help="SIPp agents logged in")
    parser.add_argument(
        "--talk-ms", type=int, default=3000, help="agents' average talk time (spread +-40 %%)"
    )
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument(
        "--same-talk",
        action="store_true",
        help="every agent talks exactly --talk-ms: their calls end in bursts (the worst case)",
    )
    parser.add_argument("--setup-rate", type=float, default=50.0, help="calls placed per second")
    parser.add_argument("--strategy", default="leastrecent", help="the queue's strategy")
    parser.add_argument("--server-cpu", default="0", help="taskset CPU list for the server")
    parser.add_argument("--sipp-cpu", default="1", help="taskset CPU list for the agents")
    add_server_options(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    options = parse_arguments(argv)
    install_stop_signals(180 + options.duration + options.agents * 2)
    if (os.cpu_count() or 1) > 1 and options.server_cpu == "0":
        os.sched_setaffinity(0, {1})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(
        resource.RLIMIT_NOFILE, (min(hard, max(soft, 16 * options.callers + 1024)), hard)
    )
    sipp = tool_path("sipp")
    if sipp is None:
        print("sipp is not installed (apt-get install sip-tester)", file=sys.stderr)
        return 1
    agents: list[SippCallee] = []

    def body(workdir: Path, slot: ServerSlot) -> int:
        try:
            # SIPp agents send no RTP; the bench must not end their calls for it.
            server = slot.server = options_server(
                workdir, options, extra_env={"RINGFORT_MEDIA__RTP_TIMEOUT": "0"}
            )
            server.cli(
                "queue", "add", "load", "--number", QUEUE_NUMBER, "--strategy", options.strategy,
                "--ring-timeout", "15", "--retry-delay", "1", "--wrapup", "0",
                "--announce-position", "--announce-first", "5", "--announce-every", "15",
                "--periodic-prompt", "queue-wait", "--periodic-every", "20",
            )  # fmt: skip
            for index in range(options.agents):
                party = Party(str(FIRST_AGENT + index), f"bench-agent-{FIRST_AGENT + index}")
                server.add_extension(party.number, name=f"Agent {index}", password=party.password)
                server.cli("agent", "add", "--number", party.number, "--name", f"Agent {index}",
                           "--pin", str(500000 + index))  # fmt: skip
                server.cli("queue", "add-agent", "load", "--agent", party.number,
                           "--phone", party.number)  # fmt: skip
                agents.append(
                    SippCallee(
                        sipp=sipp,
                        server=server,
                        workdir=workdir,
                        cpu=options.sipp_cpu,
                        party=party,
                        scenario=HERE / "agent_answer_talk_bye.xml",
                        tag=f"agent{party.number}",
                        trace=True,
                    )
                )
            server.start()
            print(
                f"ringfort pid {server.pid} on CPU {options.server_cpu}; queue on {QUEUE_NUMBER},"
                f" {options.agents} agents talking {options.talk_ms} ms, {options.callers} callers"
            )
            for index, agent in enumerate(agents):
                agent.register()
                # Talk times spread over +-40 % (the same each run): agents whose calls all
                # ended in the same millisecond would measure a burst, not a centre.
                spread = (
                    1.0
                    if options.same_talk
                    else 0.6 + 0.8 * ((index * 7) % len(agents)) / max(1, len(agents) - 1)
                )
                agent.start(options.duration + 60, "-d", str(round(options.talk_ms * spread)))
            assert server.pid is not None
            meter = CpuMeter([server.pid])
            meter.start()
            started = time.monotonic()
            # The menu bench's callers: they send silence and count what they hear.
            phones = MenuCallers(
                server=server.sip_target, ptime_ms=20, late_ms=60.0, dialled=QUEUE_NUMBER
            )

            async def run() -> int:
                await phones.open()
                try:
                    return await keep_callers(
                        phones, options.callers, options.duration, options.setup_rate
                    )
                finally:
                    await phones.close()

            placed = asyncio.run(run())
            elapsed = time.monotonic() - started
            cpu = meter.percent()
            for agent in agents:
                agent.stop()
            left, _ = wait_for_idle(server, timeout=10.0)
            gaps = [gap for agent in agents for gap in free_to_ring_ms(agent.message_log)]
            answered = sum(answered_calls(agent) for agent in agents)
            print(f"\n{elapsed:.0f} s: {placed} calls placed, {answered} answered by agents")
            print(f"server CPU {cpu:.0f} % of one core")
            median, p95 = percentile(gaps, 50), percentile(gaps, 95)
            if median is None or p95 is None:
                print("no agent was rung again after hanging up: nothing to measure")
                return 1
            print(
                f"agent free -> next call ringing it: median {median:.1f} ms, p95 {p95:.1f} ms,"
                f" max {max(gaps):.1f} ms over {len(gaps)} hand-overs"
                f" ({'meets' if median < 50 else 'misses'} the 50 ms median target)"
            )
            print(f"calls left on the server afterwards: {left}")
        finally:
            for agent in agents:
                agent.stop()
        return 0

    return run_bench("ringfort-bench-queue-", keep=options.keep, body=body)


if __name__ == "__main__":
    sys.exit(main())
