"""What both call benchmarks share: the server they start, CPU accounting, signals, percentiles.

The server is the integration harness's ``RingfortServer`` (tests/integration/peers.py),
started on a fresh data directory with limits raised far above the load offered, so
that a failure a benchmark reports is the server running out of time, not a limit.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "bench"))

from peers import (  # noqa: E402  (the harness lives with the integration tests)
    LOCALHOST,
    DigestChallenge,
    RingfortServer,
    ServerStartError,
    digest_authorization,
    free_port_block,
    read_sipp_stats,
    stop_process,
    tool_path,
)
from rates import (  # noqa: E402  (bench/, put on the path above)
    RateStep,
    cpu_seconds,
    print_verdict,
    reference_work_ms,
)

__all__ = [
    "CALLEE",
    "CALLER",
    "LOCALHOST",
    "CpuMeter",
    "DigestChallenge",
    "MachineMeter",
    "RateStep",
    "RingfortServer",
    "ServerSlot",
    "ServerStartError",
    "SippCallee",
    "add_server_options",
    "bench_parser",
    "call_server",
    "cpu_seconds",
    "digest_authorization",
    "free_port_block",
    "install_stop_signals",
    "options_server",
    "percentile",
    "print_verdict",
    "read_sipp_stats",
    "reference_work_ms",
    "run_bench",
    "server_status",
    "stop_process",
    "tool_path",
    "wait_for_idle",
    "wait_with_cpu",
]


@dataclass(frozen=True)
class Party:
    """An extension the benchmarks create: number and credentials."""

    number: str
    password: str


CALLER = Party("101", "bench-secret-101")
CALLEE = Party("102", "bench-secret-102")
HERE = Path(__file__).resolve().parent


class CpuMeter:
    """CPU use of a set of processes between ``start`` and ``percent``, as % of one core.

    A process that has exited by the time it is read counts what it had used at
    ``start`` only, so read before stopping what is being measured.
    """

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = list(pids)
        self._before: dict[int, float] = {}
        self._started = 0.0

    def _read(self, pid: int) -> float | None:
        try:
            return cpu_seconds(pid)
        except (OSError, IndexError, ValueError):
            return None

    def start(self) -> None:
        """Take the baseline."""
        self._before = {pid: self._read(pid) or 0.0 for pid in self.pids}
        self._started = time.monotonic()

    def percent(self) -> float:
        """CPU seconds used since ``start`` per wall second, times 100."""
        elapsed = time.monotonic() - self._started
        used = 0.0
        for pid in self.pids:
            now = self._read(pid)
            if now is not None:
                used += now - self._before.get(pid, 0.0)
        return 100.0 * used / elapsed if elapsed > 0 else 0.0


class MachineMeter:
    """CPU use of the whole machine between ``start`` and ``percent``, in % of one core.

    On a shared machine, this less what a benchmark's own processes used is the
    load that others put on it meanwhile.
    """

    def __init__(self) -> None:
        self._before = 0.0
        self._started = 0.0

    @staticmethod
    def _busy_seconds() -> float:
        # proc(5) /proc/stat "cpu": user nice system idle iowait irq softirq steal ...
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")

    def start(self) -> None:
        """Take the baseline."""
        self._before = self._busy_seconds()
        self._started = time.monotonic()

    def percent(self) -> float:
        """Busy CPU seconds of all cores since ``start`` per wall second, times 100."""
        elapsed = time.monotonic() - self._started
        used = self._busy_seconds() - self._before
        return 100.0 * used / elapsed if elapsed > 0 else 0.0


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """The options every call bench takes for the server it starts."""
    parser.add_argument("--port-low", type=int, default=41000, help="server's lowest RTP port")
    parser.add_argument("--port-high", type=int, default=59999, help="server's highest RTP port")
    parser.add_argument("--log-level", default="WARNING", help="server log level")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")


def bench_parser(prog: str, doc: str | None) -> argparse.ArgumentParser:
    """A bench's parser: its script's name, the first paragraph of its text, defaults shown."""
    return argparse.ArgumentParser(
        prog=prog,
        description=(doc or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )


@dataclass
class ServerSlot:
    """Where a bench puts the server it started, for `run_bench` to stop it."""

    server: RingfortServer | None = None


def run_bench(prefix: str, *, keep: bool, body: Callable[[Path, ServerSlot], int]) -> int:
    """Run ``body`` with a fresh work directory; then stop the server it put in the slot and
    remove the directory (unless ``keep``). The exit status: ``body``'s, 1 when the server
    or a peer failed, 130 when interrupted."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    slot = ServerSlot()
    try:
        return body(workdir, slot)
    except (ServerStartError, RuntimeError, TimeoutError) as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if slot.server is not None:
            slot.server.stop()
        if keep:
            print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (``share`` in 0..100) of ``values``, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def call_server(
    workdir: Path,
    *,
    cpu: str | None,
    log_level: str,
    port_low: int,
    port_high: int,
    extra_env: Mapping[str, str] | None = None,
) -> RingfortServer:
    """A server on a fresh data directory with CALLER and CALLEE, not started yet."""
    env = {
        "RINGFORT_LOG_LEVEL": log_level,
        # One address places every call; nothing it does may get it blocked.
        "RINGFORT_SECURITY__AUTH_FAIL_LIMIT": "1000000",
        # The limits exist to protect a real system; here they would only hide its speed.
        "RINGFORT_CALLS__MAX_CALLS": "1000000",
        "RINGFORT_CALLS__MAX_CALLS_PER_EXTENSION": "1000000",
        "RINGFORT_MEDIA__PORT_LOW": str(port_low),
        "RINGFORT_MEDIA__PORT_HIGH": str(port_high),
        # SIPp as a callee would take a keep-alive OPTIONS for a new call and fail it.
        "RINGFORT_REGISTRAR__NAT_KEEPALIVE_INTERVAL": "0",
    }
    env.update(extra_env or {})
    server = RingfortServer(data_dir=workdir / "data", cpu=cpu, env=env)
    for party in (CALLER, CALLEE):
        server.add_extension(party.number, name=f"Bench {party.number}", password=party.password)
    return server


def options_server(
    workdir: Path, options: argparse.Namespace, extra_env: Mapping[str, str] | None = None
) -> RingfortServer:
    """`call_server` with the options of `add_server_options` and ``--server-cpu``."""
    return call_server(
        workdir,
        cpu=options.server_cpu,
        log_level=options.log_level,
        port_low=options.port_low,
        port_high=options.port_high,
        extra_env=extra_env,
    )


def server_status(server: RingfortServer) -> dict[str, Any]:
    """``GET /api/v1/status``, or {} when it does not answer."""
    try:
        with urllib.request.urlopen(f"{server.http_url}/api/v1/status", timeout=5.0) as reply:
            document: dict[str, Any] = json.loads(reply.read().decode())
    except (urllib.error.URLError, OSError, ValueError):
        return {}
    return document


def wait_for_idle(server: RingfortServer, *, timeout: float) -> tuple[int | None, int | None]:
    """Wait until the server reports no active call; return (active calls, RTP ports in use).

    None where the status document does not carry the figure.
    """
    deadline = time.monotonic() + timeout
    while True:
        status = server_status(server)
        calls = status.get("calls", {}).get("active")
        ports = status.get("media", {}).get("ports_in_use")
        if not calls or time.monotonic() >= deadline:
            return calls, ports
        time.sleep(0.25)


def wait_with_cpu(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int | None, float]:
    """Wait up to ``timeout`` for ``proc`` to exit; return (exit status, CPU seconds it used).

    The child is reaped here with wait4(2) for its resource usage, which /proc
    no longer has once it has exited. (None, 0.0) when it is still running.
    """
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_utime + usage.ru_stime
        if time.monotonic() >= deadline:
            return None, 0.0
        time.sleep(0.05)


class _Stop(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM, SIGINT or the run-time alarm."""


def install_stop_signals(limit_seconds: float) -> None:
    """Turn SIGTERM, SIGINT and a SIGALRM after ``limit_seconds`` into one KeyboardInterrupt.

    Only the first signal interrupts: the wrapper script forwards the one its own
    user sent, and a second one must not cut the cleanup that the first started.
    """
    stopping = False

    def handle(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        name = signal.Signals(signum).name
        print(f"\n{name}: stopping and cleaning up", file=sys.stderr)
        raise _Stop(name)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
        signal.signal(signum, handle)
    signal.alarm(max(1, math.ceil(limit_seconds)))


class SippCallee:
    """A SIPp UAS registered as an extension; it answers every call until stopped.

    ``scenario`` says what it does with each call (``uas_answer.xml``: answer and wait
    for the BYE); ``trace`` keeps its message log (``<tag>_messages.log``) for timing.
    """

    def __init__(
        self,
        *,
        sipp: str,
        server: RingfortServer,
        workdir: Path,
        cpu: str | None,
        party: Party = CALLEE,
        scenario: Path = HERE / "uas_answer.xml",
        tag: str = "uas",
        trace: bool = False,
    ) -> None:
        self.sipp = sipp
        self.server = server
        self.workdir = workdir
        self.cpu = cpu
        self.party = party
        self.scenario = scenario
        self.tag = tag
        self.trace = trace
        self.port = free_port_block(1)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def message_log(self) -> Path:
        """Where ``trace`` puts every message sent and received, with its time."""
        return self.workdir / f"{self.tag}_messages.log"

    def _command(self, *args: str) -> list[str]:
        taskset = tool_path("taskset")
        prefix = [taskset, "-c", self.cpu] if self.cpu is not None and taskset else []
        return [*prefix, self.sipp, *args]

    def register(self) -> None:
        """REGISTER the party from the port the UAS will listen on, so calls reach it."""
        errors = self.workdir / f"{self.tag}_register_errors.log"
        command = self._command(
            self.server.sip_address,
            "-sf", str(HERE / "register_contact.xml"),
            "-i", LOCALHOST, "-p", str(self.port),
            "-mi", LOCALHOST, "-mp", str(free_port_block(4)),
            "-s", self.party.number, "-au", self.party.number, "-ap", self.party.password,
            "-m", "1", "-nostdin", "-timeout", "10s", "-timeout_error",
            "-trace_err", "-error_file", str(errors),
        )  # fmt: skip
        with (self.workdir / f"{self.tag}_register_stdout.log").open("wb") as out:
            result = subprocess.run(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.workdir, timeout=20, check=False,
            )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(
                f"registering {self.party.number} failed (sipp exit {result.returncode}); "
                f"see {errors}"
            )
        self.server.wait_for_registration(self.party.number, timeout=10.0, via="http")

    def start(self, seconds: float, *extra: str) -> None:
        """Answer calls on the registered port for at most ``seconds`` (``extra``: more SIPp
        options, such as ``-d`` for a scenario's bare pause)."""
        command = self._command(
            *extra,
            "-sf", str(self.scenario),
            "-i", LOCALHOST, "-p", str(self.port),
            "-mi", LOCALHOST, "-mp", str(free_port_block(4)),
            "-s", self.party.number,
            "-nostdin", "-timeout", f"{int(seconds)}s",
            "-trace_stat", "-stf", str(self.workdir / f"{self.tag}_stat.csv"), "-fd", "5",
            "-trace_err", "-error_file", str(self.workdir / f"{self.tag}_errors.log"),
        )  # fmt: skip
        if self.trace:
            command += ["-trace_msg", "-message_file", str(self.message_log)]
        with (self.workdir / f"{self.tag}_stdout.log").open("wb") as out:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=self.workdir,
            )  # fmt: skip
        time.sleep(0.3)  # bound before the first INVITE arrives
        if self.proc.poll() is not None:
            raise RuntimeError(f"the SIPp callee {self.tag} exited at once; see {self.workdir}")

    def stop(self) -> None:
        """Stop the UAS (by its pid and process group)."""
        if self.proc is not None:
            stop_process(self.proc, grace=2.0)
            self.proc = None
