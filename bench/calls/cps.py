"""Calls per second through the B2BUA: SIPp caller -> Ringfort -> SIPp callee, at rising rates.

Starts its own ``ringfort serve`` (pinned to one core with ``taskset``) on a fresh data
directory with extensions 101 and 102, registers a SIPp UAS as 102, then for each rate
has a SIPp UAC place short signalling-only calls from 101 to 102 for a fixed time:

    INVITE -> 407 -> ACK, INVITE with Proxy-Authorization -> 100/180 -> 200 -> ACK,
    hold, BYE -> 200   (Ringfort forwards each call to the UAS as a call of its own)

Per step it prints calls placed, failures, calls completed per second, the time from
the first and from the authenticated INVITE to the 200 (p50/p95, from SIPp's
``-trace_rtt``), and the CPU used by the server and by both SIPps; then the highest
rate that stayed under 1 % failures. Every process it starts is stopped before it exits.

    bench/calls_cps.sh                                      # 100..350 calls/s, 30 s each
    bench/calls_cps.sh --duration 10 --rates 100,200 --hold-ms 0
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from server_under_test import (
    CALLEE,
    CALLER,
    LOCALHOST,
    CpuMeter,
    MachineMeter,
    RateStep,
    RingfortServer,
    ServerStartError,
    SippCallee,
    add_server_options,
    call_server,
    free_port_block,
    install_stop_signals,
    percentile,
    print_verdict,
    read_sipp_stats,
    reference_work_ms,
    stop_process,
    tool_path,
    wait_for_idle,
    wait_with_cpu,
)

HERE = Path(__file__).resolve().parent
DEFAULT_RATES = (100, 150, 200, 250, 300, 350)
RTD_SETUP = 1
"""SIPp timer from the first INVITE to the 200 (challenge round trip included)."""
RTD_INVITE = 2
"""SIPp timer from the authenticated INVITE to the 200."""


@dataclass(frozen=True)
class Step(RateStep):
    """The outcome of one rate (``seconds``: the caller's run less its last call's hold)."""

    failed: int
    setup_ms: tuple[float | None, float | None]
    """p50 and p95 of first INVITE -> 200."""
    invite_ms: tuple[float | None, float | None]
    """p50 and p95 of authenticated INVITE -> 200."""
    server_cpu_percent: float
    sipp_cpu_percent: float
    others_cpu_percent: float
    """What the rest of the machine used meanwhile (other people's work), in % of a core."""
    returncode: int
    active_after: int | None
    """Calls the server still reported active a few seconds after the step."""


def caller_scenario(workdir: Path, hold_ms: int) -> Path:
    """The caller's scenario with its hold made a wait that tolerates a late 407.

    Under load a 407 to the first INVITE is sent again (the INVITE was retransmitted,
    or the ACK was late: RFC 3261 §17.2.1) and may arrive during the hold. SIPp
    aborts a call on a message that comes while it pauses, so the hold becomes a
    receive of that 407 which times out after the hold time (an expected timeout,
    not a failure). SIPp does not expand keywords in ``timeout``, hence a file per run.
    """
    text = (HERE / "uac_short_call.xml").read_text()
    if hold_ms > 0:
        hold = (
            f'<label id="hold"/>\n'
            f'  <recv response="407" timeout="{hold_ms}" ontimeout="hang_up" next="hold"/>\n'
            f'  <label id="hang_up"/>'
        )
    else:
        hold = ""
    path = workdir / "uac_short_call.xml"
    element = "\n  <pause/>\n"
    if element not in text:
        raise RuntimeError(f"no hold (<pause/>) in {HERE / 'uac_short_call.xml'}")
    path.write_text(text.replace(element, f"\n  {hold}\n"))
    return path


def read_rtt(path: Path) -> dict[int, list[float]]:
    """Response times in ms per SIPp timer number, from a ``-trace_rtt`` file."""
    found: dict[int, list[float]] = {}
    if not path.exists():
        return found
    with path.open(newline="", errors="replace") as handle:
        for row in csv.DictReader(handle, delimiter=";"):
            try:
                found.setdefault(int(row["rtd_no"]), []).append(float(row["response_time_ms"]))
            except (KeyError, TypeError, ValueError):
                continue
    return found


def run_step(
    *,
    sipp: str,
    server: RingfortServer,
    callee: SippCallee,
    workdir: Path,
    rate: int,
    seconds: float,
    hold_ms: int,
    deadline_ms: int,
) -> Step:
    """Place calls at ``rate`` per second for ``seconds``; measure the step."""
    tag = f"rate{rate}"
    stepdir = workdir / tag
    stepdir.mkdir(exist_ok=True)
    calls = max(1, round(rate * seconds))
    command = callee._command(
        server.sip_address,
        "-sf", str(caller_scenario(stepdir, hold_ms)),
        "-i", LOCALHOST, "-p", str(free_port_block(1)),
        "-mi", LOCALHOST, "-mp", str(free_port_block(4)),
        "-s", CALLEE.number, "-key", "caller", CALLER.number,
        "-au", CALLER.number, "-ap", CALLER.password,
        "-auth_uri", f"{CALLEE.number}@{server.sip_address}",
        "-r", str(rate), "-rp", "1000", "-m", str(calls),
        # Open loop: SIPp's default cap on calls in progress would slow the offered rate
        # down to what the server manages, and hide the overload as a lower rate.
        "-l", str(max(1000, rate * 60)),
        "-d", str(hold_ms),
        # A call step that waits longer than this fails, so an overloaded server shows
        # as failures rather than as a queue that grows for the whole step.
        "-recv_timeout", str(deadline_ms),
        "-timeout", f"{int(seconds + hold_ms / 1000 + deadline_ms / 1000) + 30}s",
        "-nostdin",
        "-trace_stat", "-stf", str(stepdir / "uac_stat.csv"), "-fd", "5",
        "-trace_err", "-error_file", str(stepdir / "uac_errors.log"),
        "-trace_rtt", "-rtt_freq", "100",
    )  # fmt: skip
    assert server.pid is not None
    assert callee.proc is not None
    server_meter = CpuMeter([server.pid])
    with (stepdir / "uac_stdout.log").open("wb") as out:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=stepdir,
        )  # fmt: skip
        try:
            callee_meter = CpuMeter([callee.proc.pid])
            machine_meter = MachineMeter()
            machine_meter.start()
            server_meter.start()
            callee_meter.start()
            started = time.monotonic()
            status, caller_cpu = wait_with_cpu(proc, seconds + (hold_ms + deadline_ms) / 1000 + 40)
            elapsed = time.monotonic() - started
            server_cpu = server_meter.percent()
            sipp_cpu_used = callee_meter.percent() + 100.0 * caller_cpu / elapsed
            others_cpu = machine_meter.percent() - server_cpu - sipp_cpu_used
            returncode = -9 if status is None else status
        finally:
            stop_process(proc, grace=1.0)
    stats = read_sipp_stats(stepdir / "uac_stat.csv")
    rtt: dict[int, list[float]] = {}
    for path in stepdir.glob("*_rtt.csv"):
        for number, values in read_rtt(path).items():
            rtt.setdefault(number, []).extend(values)
    setup = rtt.get(RTD_SETUP, [])
    invite = rtt.get(RTD_INVITE, [])
    active_after, _ = wait_for_idle(server, timeout=5.0)
    return Step(
        rate=rate,
        seconds=max(0.001, elapsed - hold_ms / 1000),
        created=int(stats.get("TotalCallCreated", "0") or 0),
        successful=int(stats.get("SuccessfulCall(C)", "0") or 0),
        failed=int(stats.get("FailedCall(C)", "0") or 0),
        setup_ms=(percentile(setup, 50), percentile(setup, 95)),
        invite_ms=(percentile(invite, 50), percentile(invite, 95)),
        server_cpu_percent=server_cpu,
        sipp_cpu_percent=sipp_cpu_used,
        others_cpu_percent=max(0.0, others_cpu),
        returncode=returncode,
        active_after=active_after,
    )


def _ms(value: float | None) -> str:
    return f"{value:.0f}" if value is not None else "-"


def print_table(steps: list[Step]) -> None:
    """One line per rate."""
    header = (
        f"{'rate/s':>6} {'calls':>6} {'ok':>6} {'fail %':>6} {'ok/s':>6} "
        f"{'setup p50/p95 ms':>16} {'INVITE p50/p95 ms':>17} "
        f"{'srv CPU%':>8} {'SIPp CPU%':>9} {'others%':>7} {'left':>5} {'rc':>3}"
    )
    print(header)
    print("-" * len(header))
    for step in steps:
        setup = f"{_ms(step.setup_ms[0])}/{_ms(step.setup_ms[1])}"
        invite = f"{_ms(step.invite_ms[0])}/{_ms(step.invite_ms[1])}"
        left = "-" if step.active_after is None else str(step.active_after)
        print(
            f"{step.rate:>6} {step.created:>6} {step.successful:>6} "
            f"{step.failure_percent:>6.2f} {step.achieved_rate:>6.0f} "
            f"{setup:>16} {invite:>17} "
            f"{step.server_cpu_percent:>8.0f} {step.sipp_cpu_percent:>9.0f} "
            f"{step.others_cpu_percent:>7.0f} {left:>5} {step.returncode:>3}"
        )
    print(
        "setup = first INVITE -> 200 (with the 407 round trip); INVITE = authenticated "
        "INVITE -> 200;\nSIPp CPU% = caller + callee SIPp together; others% = the rest of "
        "the machine (not this benchmark);\nleft = calls still active at the server 5 s after "
        "the step"
    )


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="calls_cps.sh",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--rates",
        default=",".join(map(str, DEFAULT_RATES)),
        help="comma-separated calls per second, tried in order",
    )
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per rate")
    parser.add_argument("--hold-ms", type=int, default=1000, help="answered call length (ms)")
    parser.add_argument(
        "--deadline-ms",
        type=int,
        default=5000,
        help="a call fails when an answer it waits for takes longer than this (ms)",
    )
    parser.add_argument(
        "--stop-above", type=float, default=10.0, help="stop after a step with more %% failures"
    )
    parser.add_argument("--server-cpu", default="0", help="taskset CPU list for the server")
    parser.add_argument(
        "--sipp-cpu", default=None, help="taskset CPU list for both SIPps (default: the other CPU)"
    )
    add_server_options(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    options = parse_arguments(argv)
    sipp = tool_path("sipp")
    if sipp is None:
        print("sipp is not installed (apt-get install sip-tester)", file=sys.stderr)
        return 2
    rates = [int(rate) for rate in options.rates.split(",") if rate.strip()]
    per_step = options.duration + (options.hold_ms + options.deadline_ms) / 1000 + 50
    install_stop_signals(60 + len(rates) * per_step)
    cpus = os.cpu_count() or 1
    sipp_cpu = options.sipp_cpu or ("1" if cpus > 1 and options.server_cpu == "0" else None)

    workdir = Path(tempfile.mkdtemp(prefix="ringfort-bench-cps-"))
    steps: list[Step] = []
    leftover = ""
    server: RingfortServer | None = None
    callee: SippCallee | None = None
    try:
        server = call_server(
            workdir,
            cpu=options.server_cpu,
            log_level=options.log_level,
            port_low=options.port_low,
            port_high=options.port_high,
            # No RTP flows in these calls; the media timeout must not end them.
            extra_env={"RINGFORT_MEDIA__RTP_TIMEOUT": "0"},
        )
        server.start()
        callee = SippCallee(sipp=sipp, server=server, workdir=workdir, cpu=sipp_cpu)
        callee.register()
        callee.start(seconds=len(rates) * per_step + 30)
        print(
            f"ringfort pid {server.pid} on CPU {options.server_cpu}, SIPp on CPU "
            f"{sipp_cpu or 'any'}; {options.duration:.0f} s per rate, hold {options.hold_ms} ms"
        )
        # On the server's core when it is one core (a taskset list may name several).
        core = int(options.server_cpu) if options.server_cpu.isdigit() else None
        reference_ms = reference_work_ms(core)
        print(
            f"reference work on CPU {core if core is not None else 'any'}: {reference_ms:.0f} ms "
            "(this machine's speed now, lower is faster: see docs/performance.md)"
        )
        for rate in rates:
            step = run_step(
                sipp=sipp,
                server=server,
                callee=callee,
                workdir=workdir,
                rate=rate,
                seconds=options.duration,
                hold_ms=options.hold_ms,
                deadline_ms=options.deadline_ms,
            )
            steps.append(step)
            print(
                f"  {rate}/s: {step.successful}/{step.created} ok "
                f"({step.failure_percent:.2f} % failed, {step.achieved_rate:.0f}/s), "
                f"server CPU {step.server_cpu_percent:.0f} %",
                flush=True,
            )
            if not server.alive:
                print("the server died", file=sys.stderr)
                break
            if step.failure_percent > options.stop_above:
                break
        if server.alive and any(step.active_after for step in steps):
            # RFC 3261 §13.3.1.4: a 2xx never acknowledged ends the call after 64*T1 (32 s).
            waited = time.monotonic()
            calls, ports = wait_for_idle(server, timeout=45.0)
            leftover = (
                f"after {time.monotonic() - waited:.0f} s more: {calls} calls active, "
                f"{ports} RTP port pairs in use"
            )
    except (ServerStartError, RuntimeError, TimeoutError) as error:
        print(error, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        if callee is not None:
            callee.stop()
        if server is not None:
            server.stop()
        if options.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    print_table(steps)
    if leftover:
        print(leftover)
    print_verdict(steps, "calls/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
