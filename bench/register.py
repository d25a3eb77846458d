"""Registration throughput: SIPp REGISTER -> 401 -> REGISTER with digest -> 200 at rising rates.

Starts its own ``ringfort serve`` (pinned to one core with ``taskset`` when
available) on a fresh data directory with N extensions, then runs SIPp once per
rate for a bounded time, and prints, per step, calls made, failures, the
server's CPU use (from /proc/<pid>/stat) and response time, followed by the
highest rate that stayed under 1 % failures. Everything runs on 127.0.0.1 and
every process it starts is stopped before it exits.

    .venv/bin/python bench/register.py                 # 1000 extensions, 30 s per step
    .venv/bin/python bench/register.py --seconds 5 --rates 250,500,1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from peers import (  # noqa: E402  (the harness lives with the integration tests)
    LOCALHOST,
    RingfortServer,
    ServerStartError,
    free_port_block,
    read_sipp_stats,
    stop_process,
    tool_path,
)
from rates import RateStep, cpu_seconds, print_verdict  # noqa: E402  (beside this script)

DEFAULT_RATES = (250, 500, 750, 1000, 1250, 1500, 2000, 2500)
FIRST_NUMBER = 20000
PASSWORD_PREFIX = "bench-"

SCENARIO = """\
<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- One registration per call; user and credentials from the injection file (-inf).
     SIPp 3.6.1 garbles [authentication username=[field0] password=[field1]] (nested
     keywords), so each line carries the whole keyword as its third field. -->
<scenario name="register load">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[field0]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field0]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Expires: 3600
      Max-Forwards: 70
      User-Agent: SIPp ringfort-bench
      Content-Length: 0

    ]]>
  </send>
  <recv response="401" auth="true"/>
  <send retrans="500">
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[field0]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field0]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      [field2]
      Expires: 3600
      Max-Forwards: 70
      User-Agent: SIPp ringfort-bench
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" rtd="true"/>
  <ResponseTimeRepartition value="5, 10, 20, 50, 100, 200, 500, 1000"/>
</scenario>
"""


@dataclass(frozen=True)
class Step(RateStep):
    """The outcome of one rate."""

    failed: int
    server_cpu_percent: float
    response_ms: float | None
    returncode: int


def sipp_duration_ms(value: str) -> float | None:
    """SIPp's ``HH:MM:SS:micro`` duration in milliseconds."""
    parts = value.split(":")
    if len(parts) != 4 or not all(part.isdigit() for part in parts):
        return None
    hours, minutes, seconds, micros = (int(part) for part in parts)
    return (hours * 3600 + minutes * 60 + seconds) * 1000 + micros / 1000


def injection_file(count: int) -> str:
    """SIPp ``-inf`` text: ``number;password;[authentication ...]`` per extension."""
    lines = ["SEQUENTIAL"]
    for index in range(count):
        number = str(FIRST_NUMBER + index)
        password = PASSWORD_PREFIX + number
        lines.append(f"{number};{password};[authentication username={number} password={password}]")
    return "\n".join(lines) + "\n"


def create_extensions(server: RingfortServer, count: int) -> None:
    """Create ``count`` extensions from FIRST_NUMBER on, skipping any that exist."""
    numbers = [str(FIRST_NUMBER + index) for index in range(count)]
    try:
        asyncio.run(_create_in_process(server.data_dir, numbers))
    except ImportError:
        # Without the service layer importable here, the CLI does it (about 1 s each).
        server.add_extensions(
            [(number, f"Bench {number}", PASSWORD_PREFIX + number) for number in numbers],
            parallel=os.cpu_count() or 2,
        )


async def _create_in_process(data_dir: Path, numbers: list[str]) -> None:
    from ringfort.errors import ConflictError
    from ringfort.services.database import Database
    from ringfort.services.extensions import ExtensionService
    from ringfort.settings import Settings

    settings = Settings(data_dir=data_dir)
    db = Database(url=settings.effective_database_url)
    await db.open()
    try:
        service = ExtensionService(db=db)
        for number in numbers:
            with contextlib.suppress(ConflictError):
                await service.add(number, f"Bench {number}", PASSWORD_PREFIX + number)
    finally:
        await db.close()


def run_step(
    *,
    sipp: str,
    server: RingfortServer,
    workdir: Path,
    scenario: Path,
    users: Path,
    rate: int,
    seconds: float,
    deadline_ms: int,
    sipp_cpu: str | None,
) -> Step:
    """Run SIPp at ``rate`` registrations per second for ``seconds``."""
    tag = f"rate{rate}"
    stat = workdir / f"{tag}_stat.csv"
    calls = max(1, int(rate * seconds))
    command = [
        sipp, server.sip_address,
        "-sf", str(scenario),
        "-inf", str(users),
        "-t", "u1",
        "-i", LOCALHOST, "-p", str(free_port_block(1)),
        "-mi", LOCALHOST, "-mp", str(free_port_block(4)),
        "-r", str(rate), "-rp", "1000",
        "-m", str(calls),
        # A registration that takes longer than the deadline counts as failed, so a
        # saturated server shows as failures rather than as an ever-growing queue.
        "-recv_timeout", str(deadline_ms),
        "-timeout", f"{int(seconds) + 20}s",
        "-nostdin",
        "-trace_stat", "-stf", str(stat), "-fd", "1",
        "-trace_err", "-error_file", str(workdir / f"{tag}_errors.log"),
    ]  # fmt: skip
    taskset = tool_path("taskset")
    if sipp_cpu is not None and taskset:
        command = [taskset, "-c", sipp_cpu, *command]
    assert server.pid is not None
    cpu_before, started = cpu_seconds(server.pid), time.monotonic()
    with (workdir / f"{tag}_stdout.log").open("wb") as out:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=workdir,
        )
        try:
            returncode = proc.wait(seconds + 40)
        except subprocess.TimeoutExpired:
            returncode = stop_process(proc, grace=3.0).returncode or -9
        finally:
            stop_process(proc, grace=1.0)
    elapsed = time.monotonic() - started
    cpu_used = cpu_seconds(server.pid) - cpu_before
    stats = read_sipp_stats(stat)
    return Step(
        rate=rate,
        seconds=elapsed,
        created=int(stats.get("TotalCallCreated", "0") or 0),
        successful=int(stats.get("SuccessfulCall(C)", "0") or 0),
        failed=int(stats.get("FailedCall(C)", "0") or 0),
        server_cpu_percent=100.0 * cpu_used / elapsed if elapsed else 0.0,
        response_ms=sipp_duration_ms(stats.get("ResponseTime1(C)", "")),
        returncode=returncode,
    )


def print_table(steps: list[Step]) -> None:
    """One line per rate."""
    header = (
        f"{'rate/s':>7} {'calls':>7} {'ok':>7} {'failed':>7} {'fail %':>7} "
        f"{'ok/s':>7} {'srv CPU%':>8} {'resp ms':>8} {'rc':>4}"
    )
    print(header)
    print("-" * len(header))
    for step in steps:
        response = f"{step.response_ms:8.1f}" if step.response_ms is not None else f"{'-':>8}"
        print(
            f"{step.rate:>7} {step.created:>7} {step.successful:>7} {step.failed:>7} "
            f"{step.failure_percent:>7.2f} {step.achieved_rate:>7.0f} "
            f"{step.server_cpu_percent:>8.0f} {response} {step.returncode:>4}"
        )


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extensions", type=int, default=1000, help="extensions (default 1000)")
    parser.add_argument(
        "--rates",
        default=",".join(map(str, DEFAULT_RATES)),
        help="comma-separated registrations per second, tried in order",
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="per step (default 30)")
    parser.add_argument(
        "--stop-above",
        type=float,
        default=10.0,
        help="stop after a step with more than this %% of failures (default 10)",
    )
    parser.add_argument(
        "--deadline-ms",
        type=int,
        default=2000,
        help="a registration not done within this many ms fails (default 2000)",
    )
    parser.add_argument("--server-cpu", default="0", help="taskset CPU list for the server")
    parser.add_argument("--sipp-cpu", default=None, help="taskset CPU list for SIPp")
    parser.add_argument("--log-level", default="WARNING", help="server log level")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (logs, statistics)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    options = parse_arguments(argv)
    sipp = tool_path("sipp")
    if sipp is None:
        print("sipp is not installed (apt-get install sip-tester)", file=sys.stderr)
        return 2
    rates = [int(rate) for rate in options.rates.split(",") if rate.strip()]
    cpus = os.cpu_count() or 1
    sipp_cpu = options.sipp_cpu or ("1" if cpus > 1 and options.server_cpu == "0" else None)

    workdir = Path(tempfile.mkdtemp(prefix="ringfort-bench-"))
    scenario = workdir / "register_load.xml"
    scenario.write_text(SCENARIO)
    users = workdir / "users.csv"
    users.write_text(injection_file(options.extensions))
    server = RingfortServer(
        data_dir=workdir / "data",
        cpu=options.server_cpu,
        env={
            "RINGFORT_LOG_LEVEL": options.log_level,
            # One SIPp address makes every REGISTER; no failure may block it.
            "RINGFORT_SECURITY__AUTH_FAIL_LIMIT": "1000000",
        },
    )
    steps: list[Step] = []
    try:
        started = time.monotonic()
        create_extensions(server, options.extensions)
        print(f"{options.extensions} extensions in {time.monotonic() - started:.1f} s")
        server.start()
        pinned = f"server on CPU {options.server_cpu}" if tool_path("taskset") else "unpinned"
        print(f"ringfort pid {server.pid} ({pinned}), SIPp on CPU {sipp_cpu or 'any'}")
        for rate in rates:
            step = run_step(
                sipp=sipp,
                server=server,
                workdir=workdir,
                scenario=scenario,
                users=users,
                rate=rate,
                seconds=options.seconds,
                deadline_ms=options.deadline_ms,
                sipp_cpu=sipp_cpu,
            )
            steps.append(step)
            print(
                f"  {rate}/s: {step.successful}/{step.created} ok, "
                f"{step.failure_percent:.2f} % failed, server CPU {step.server_cpu_percent:.0f} %"
            )
            if not server.alive:
                print("the server died", file=sys.stderr)
                break
            if step.failure_percent > options.stop_above:
                break
            time.sleep(1.0)  # let retransmissions and write-behind settle
    except ServerStartError as error:
        print(error, file=sys.stderr)
        return 1
    finally:
        server.stop()
        if options.keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    print_table(steps)
    print_verdict(steps, "registrations/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
