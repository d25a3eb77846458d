"""The server under test and the real SIP peers that drive it: SIPp, baresip, raw sockets.

Everything binds to 127.0.0.0/8 only. Every process started here runs in its own
session (so its process group id is its pid), has a hard time limit, and is ended
by that pid or process group on teardown, never by name.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import queue
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
import wave
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, TypedDict, TypeVar, Unpack

LOCALHOST = "127.0.0.1"
BARESIP_MODULES = Path("/usr/lib/baresip/modules")

T = TypeVar("T")


# --------------------------------------------------------------------------- tools


def tool_path(name: str) -> str | None:
    """Absolute path of an executable on PATH, or None."""
    return shutil.which(name)


def ringfort_executable() -> Path:
    """The ``ringfort`` console script of the interpreter running the tests.

    The tests run from the project's virtual environment, so the script sits
    next to ``sys.executable``; PATH is the fallback for other layouts.
    """
    beside = Path(sys.executable).parent / "ringfort"
    if beside.exists():
        return beside
    found = shutil.which("ringfort")
    if found is None:
        raise FileNotFoundError("the ringfort command is not installed (pip install -e .)")
    return Path(found)


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Call ``probe`` until it returns something other than None (or False).

    Raises TimeoutError naming ``what`` when ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout:.1f} s")
        time.sleep(interval)


# --------------------------------------------------------------------------- ports

_port_lock = threading.Lock()
_ports_handed_out: set[tuple[str, int]] = set()


def port_is_free(port: int, host: str = LOCALHOST) -> bool:
    """True when both UDP and TCP ``host:port`` can be bound right now."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        probe = socket.socket(socket.AF_INET, kind)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        finally:
            probe.close()
    return True


def _ephemeral_low(default: int = 32768) -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


# Below the kernel's ephemeral range: a client polling a port nobody listens on
# yet can otherwise be given that very port as its source and connect to itself
# (TCP simultaneous open), reading its own request back as the "response".
PORT_RANGE_HIGH = min(40000, _ephemeral_low())


SMALL_BLOCK = 8
"""Blocks up to this size (a phone's port, an RTP pair) are handed out in order; larger
ones (a server's media range) from the top of the range down."""
_cursor: dict[str, int] = {}


def free_port_block(
    size: int = 1, *, host: str = LOCALHOST, low: int = 20000, high: int = PORT_RANGE_HIGH
) -> int:
    """First of ``size`` consecutive ports free for UDP and TCP on ``host``.

    No port is handed out twice by this process. Small blocks are handed out one after
    another from a random point (so test runs sharing a host rarely meet), large ones
    from the top of the range down: the hundreds of single ports of a long run then stay
    together instead of cutting the range into gaps too small for a server's media
    range. A small race with other processes remains, as with any probe-then-use scheme.
    """
    with _port_lock:
        if size <= SMALL_BLOCK:
            start = _cursor.get(host)
            if start is None or not low <= start <= high - size:
                start = random.randrange(low, max(low + 1, (low + high) // 2))
            base = _claim_upwards(start, high - size, size, host)
            if base is None:
                base = _claim_upwards(low, min(start, high - size + 1) - 1, size, host)
            if base is not None:
                _cursor[host] = base + size
        else:
            base = _claim_downwards(high - size, low, size, host)
    if base is None:
        raise RuntimeError(f"no block of {size} free ports on {host}")
    return base


def _taken(port: int, host: str) -> bool:
    return (host, port) in _ports_handed_out or not port_is_free(port, host)


def _claim(base: int, size: int, host: str) -> int:
    _ports_handed_out.update((host, port) for port in range(base, base + size))
    return base


def _claim_upwards(first: int, last: int, size: int, host: str) -> int | None:
    """The lowest free block starting in ``first`` .. ``last``, claimed; None if none."""
    base = first
    while base <= last:
        taken = next((port for port in range(base, base + size) if _taken(port, host)), None)
        if taken is None:
            return _claim(base, size, host)
        base = taken + 1
    return None


def _claim_downwards(first: int, last: int, size: int, host: str) -> int | None:
    """The highest free block starting in ``first`` .. ``last`` (downwards), claimed."""
    base = first
    while base >= last:
        ports = range(base + size - 1, base - 1, -1)
        taken = next((port for port in ports if _taken(port, host)), None)
        if taken is None:
            return _claim(base, size, host)
        base = taken - size
    return None


# --------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class StopOutcome:
    """How a stopped process ended."""

    returncode: int | None
    """Exit status (negative: killed by that signal); None if it could not be reaped."""
    killed: bool
    """True when SIGTERM was not enough and the process group got SIGKILL."""
    seconds: float
    """Time from SIGTERM to exit."""


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def stop_process(
    proc: subprocess.Popen[bytes], *, grace: float = 5.0, term_group: bool = True
) -> StopOutcome:
    """End a child started with ``start_new_session=True``: SIGTERM, then SIGKILL.

    The process group id equals the child's pid, so signalling the group
    reaches the child and anything it started, and nothing else. After the
    child is gone, stragglers left in its group are killed as well.
    """
    started = time.monotonic()
    if proc.poll() is not None:
        _signal_group(proc.pid, signal.SIGKILL)
        return StopOutcome(proc.returncode, killed=False, seconds=0.0)
    if term_group:
        _signal_group(proc.pid, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGTERM)
    killed = False
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        killed = True
        _signal_group(proc.pid, signal.SIGKILL)
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:
            return StopOutcome(None, killed=True, seconds=time.monotonic() - started)
    _signal_group(proc.pid, signal.SIGKILL)
    return StopOutcome(proc.returncode, killed=killed, seconds=time.monotonic() - started)


def log_tail(path: Path, lines: int = 60) -> str:
    """The last ``lines`` lines of a log file (empty if it does not exist)."""
    if not path.exists():
        return ""
    text = path.read_text(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------- the server under test


class Registration(TypedDict):
    """One binding as ``ringfort status --json`` reports it."""

    number: str
    contact: str
    source: str
    transport: str
    expires_in: int
    user_agent: str | None
    behind_nat: bool


class BlockedAddress(TypedDict):
    """One blocked source address as ``ringfort status --json`` reports it."""

    address: str
    blocked_until: str | float
    seconds_left: float
    failures: int
    reason: str


class ServerStatus(TypedDict):
    """The document printed by ``ringfort status --json``."""

    registrations: list[Registration]
    blocked: list[BlockedAddress]


StatusSource = Literal["cli", "http"]
"""Where status is read: ``ringfort status --json`` or ``GET /api/v1/status``."""


class ServerStartError(RuntimeError):
    """The server exited, or never became ready, during start; carries its log."""


class CliError(RuntimeError):
    """A ``ringfort`` command exited non-zero."""

    def __init__(self, command: Sequence[str], result: subprocess.CompletedProcess[str]) -> None:
        super().__init__(
            f"{' '.join(command)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
        self.result = result


class RingfortServer:
    """One ``ringfort serve`` process on 127.0.0.1 with its own data directory.

    Ports are picked once and kept across :meth:`restart`, so peers that know
    the server's address keep reaching it. Settings go in as environment
    variables (``RINGFORT_REGISTRAR__MIN_EXPIRES`` ...); every other
    ``RINGFORT_*`` variable of the calling environment is removed so runs are
    hermetic.
    """

    READY_TIMEOUT = 15.0
    READY_POLL = 0.05
    STOP_GRACE = 10.0

    def __init__(
        self,
        *,
        data_dir: Path,
        env: Mapping[str, str] | None = None,
        sip_port: int | None = None,
        http_port: int | None = None,
        executable: Path | None = None,
        log_path: Path | None = None,
        cpu: str | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.sip_port = sip_port or free_port_block(1)
        self.http_port = http_port or free_port_block(1)
        self.executable = executable or ringfort_executable()
        self.log_path = log_path or data_dir.parent / f"{data_dir.name}-server.log"
        self.cpu = cpu
        """CPU list for ``taskset -c`` (benchmarks pin the server to one core)."""
        self.settings_env: dict[str, str] = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.last_stop: StopOutcome | None = None
        self._log_file: IO[bytes] | None = None

    def __repr__(self) -> str:
        state = f"pid={self.proc.pid}" if self.proc else "stopped"
        return f"<RingfortServer {self.sip_address} {state} data={self.data_dir}>"

    # -- addresses

    @property
    def sip_address(self) -> str:
        """``127.0.0.1:PORT`` of SIP over UDP and TCP."""
        return f"{LOCALHOST}:{self.sip_port}"

    @property
    def sip_target(self) -> tuple[str, int]:
        """The SIP address as a socket address."""
        return (LOCALHOST, self.sip_port)

    @property
    def http_url(self) -> str:
        """Base URL of the HTTP server."""
        return f"http://{LOCALHOST}:{self.http_port}"

    # -- environment

    def environment(self) -> dict[str, str]:
        """The environment the server and its CLI commands run with."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("RINGFORT_")}
        env.update(self.settings_env)
        return env

    # -- lifecycle

    @property
    def pid(self) -> int | None:
        """Pid of the running server, if started."""
        return self.proc.pid if self.proc else None

    @property
    def alive(self) -> bool:
        """True while the server process runs."""
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        """The command line that starts the server."""
        serve = [
            str(self.executable),
            "--data-dir",
            str(self.data_dir),
            "serve",
            "--sip",
            self.sip_address,
            "--http",
            f"{LOCALHOST}:{self.http_port}",
        ]
        taskset = tool_path("taskset")
        if self.cpu is not None and taskset:
            return [taskset, "-c", self.cpu, *serve]
        return serve

    def start(self, timeout: float | None = None) -> RingfortServer:
        """Start the server and wait until ``GET /healthz`` answers 200.

        Raises ServerStartError with the log if the process exits first or the
        time limit passes (the process is then stopped).
        """
        if self.alive:
            raise RuntimeError(f"{self!r} is already running")
        limit = self.READY_TIMEOUT if timeout is None else timeout
        self._log_file = self.log_path.open("ab")
        self._log_file.write(f"===== start {time.strftime('%H:%M:%S')}\n".encode())
        self._log_file.flush()
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=self.environment(),
            cwd=self.data_dir,
        )
        deadline = time.monotonic() + limit
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self._close_log()
                raise ServerStartError(
                    f"ringfort serve exited with {code} before it was ready\n"
                    f"command: {' '.join(self.command())}\n--- log\n{self.log()}"
                )
            if self._healthy():
                return self
            if time.monotonic() >= deadline:
                self.stop()
                raise ServerStartError(
                    f"ringfort serve not ready within {limit:.0f} s "
                    f"(GET {self.http_url}/healthz)\n--- log\n{self.log()}"
                )
            time.sleep(self.READY_POLL)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.http_url}/healthz", timeout=1.0) as reply:
                return bool(reply.status == 200)
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def stop(self, grace: float | None = None) -> StopOutcome | None:
        """SIGTERM, wait up to ``grace`` (10 s) and then SIGKILL the process group."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        self.last_stop = stop_process(
            proc, grace=self.STOP_GRACE if grace is None else grace, term_group=False
        )
        self._close_log()
        return self.last_stop

    def restart(self) -> RingfortServer:
        """Stop and start again on the same data directory and ports."""
        self.stop()
        return self.start()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log(self, lines: int = 80) -> str:
        """The tail of the server's log (stdout and stderr of every start)."""
        return log_tail(self.log_path, lines)

    # -- CLI

    def cli(
        self, *args: str, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``ringfort --data-dir DIR ARGS...`` with the server's environment."""
        command = [str(self.executable), "--data-dir", str(self.data_dir), *args]
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.environment(),
            cwd=self.data_dir,
            check=False,
        )
        if check and result.returncode != 0:
            raise CliError(command, result)
        return result

    def add_extension(self, number: str, *, name: str, password: str) -> None:
        """Create an extension (works before start or while running)."""
        self.cli("extension", "add", number, "--name", name, "--password", password)

    def add_extensions(
        self, extensions: Sequence[tuple[str, str, str]], *, parallel: int = 4
    ) -> None:
        """Create several ``(number, name, password)`` extensions, a few CLI processes at a time.

        Each command spends most of its second importing; running several at
        once is what keeps fixtures with many extensions fast.
        """
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            futures = [
                pool.submit(self.add_extension, number, name=name, password=password)
                for number, name, password in extensions
            ]
            for future in futures:
                future.result()

    def status(self, *, via: StatusSource = "cli") -> ServerStatus:
        """``ringfort status --json``, parsed.

        ``via="http"`` reads the same document from ``GET /api/v1/status``:
        about a second faster than the CLI, which matters when a binding
        lives only two seconds.
        """
        if via == "http":
            with urllib.request.urlopen(f"{self.http_url}/api/v1/status", timeout=5.0) as reply:
                text = reply.read().decode()
        else:
            text = self.cli("status", "--json").stdout
        try:
            document: ServerStatus = json.loads(text)
        except json.JSONDecodeError as error:
            raise AssertionError(f"status ({via}) is not JSON: {text!r}") from error
        return document

    def registrations(
        self, number: str | None = None, *, via: StatusSource = "cli"
    ) -> list[Registration]:
        """Current bindings, optionally of one extension only."""
        found = self.status(via=via)["registrations"]
        if number is None:
            return found
        return [item for item in found if str(item["number"]) == number]

    def blocked(self) -> list[BlockedAddress]:
        """Source addresses currently blocked."""
        return self.status()["blocked"]

    def wait_for_registration(
        self, number: str, *, timeout: float = 5.0, via: StatusSource = "cli"
    ) -> list[Registration]:
        """Poll status until ``number`` has a binding; return its bindings."""
        return wait_until(
            lambda: self.registrations(number, via=via) or None,
            timeout=timeout,
            interval=0.1 if via == "http" else 0.2,
            what=f"a registration of {number}",
        )

    def wait_for_no_registration(self, number: str, *, timeout: float = 5.0) -> None:
        """Poll status until ``number`` has no binding."""
        wait_until(
            lambda: not self.registrations(number),
            timeout=timeout,
            interval=0.2,
            what=f"no registration of {number}",
        )


# --------------------------------------------------------------------------- SIPp


_SIPP_LOG_ENTRY = re.compile(
    r"^-{10,} [^\n]*\n(?P<transport>[A-Z]+) message (?P<direction>sent|received)"
    r"[^\n]*\n\n(?P<text>.*?)(?=^-{10,}|\Z)",
    re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True)
class SipMessageText:
    """One SIP message as a peer logged it (SIPp's ``-trace_msg`` file)."""

    direction: Literal["sent", "received"]
    transport: str
    text: str

    @property
    def first_line(self) -> str:
        """Request-Line or Status-Line."""
        return self.text.split("\n", 1)[0].strip()

    @property
    def status(self) -> int | None:
        """Status code of a response, None for a request."""
        match = re.match(r"SIP/2\.0 (\d{3}) ", self.first_line)
        return int(match.group(1)) if match else None

    def header(self, name: str) -> list[str]:
        """Values of every header line called ``name`` (case-insensitive)."""
        return header_values(self.text, name)


def header_values(message_text: str, name: str) -> list[str]:
    """Values of the header lines called ``name`` in a message's header section."""
    head = re.split(r"\r?\n\r?\n", message_text, maxsplit=1)[0]
    wanted = name.lower()
    values: list[str] = []
    for line in re.split(r"\r?\n(?![ \t])", head)[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == wanted:
            values.append(" ".join(value.split()))
    return values


def parse_sipp_message_log(text: str) -> list[SipMessageText]:
    """Split SIPp's ``-message_file`` into messages, in log order."""
    messages: list[SipMessageText] = []
    for match in _SIPP_LOG_ENTRY.finditer(text):
        direction: Literal["sent", "received"] = (
            "sent" if match.group("direction") == "sent" else "received"
        )
        messages.append(
            SipMessageText(direction, match.group("transport"), match.group("text").strip("\n"))
        )
    return messages


@dataclass
class SippResult:
    """What one SIPp run left behind."""

    returncode: int
    """0 all calls succeeded, 1 some failed, 97/99 other exits, 255 fatal, 254 bind error."""
    stats: dict[str, str]
    """Last row of the statistics CSV (cumulative counters, e.g. ``SuccessfulCall(C)``)."""
    errors: str
    """The error file: unexpected messages and other events."""
    stdout: str
    messages: list[SipMessageText]
    workdir: Path
    tag: str
    command: list[str]
    sip_port: int
    """SIPp's own SIP port (``-p``): the port in the Contacts it sends."""

    @property
    def successful_calls(self) -> int:
        """``SuccessfulCall(C)`` from the statistics."""
        return int(self.stats.get("SuccessfulCall(C)", "0") or 0)

    @property
    def failed_calls(self) -> int:
        """``FailedCall(C)`` from the statistics."""
        return int(self.stats.get("FailedCall(C)", "0") or 0)

    def received(self, status: int | None = None) -> list[SipMessageText]:
        """Responses SIPp received, optionally only those with ``status``."""
        return [
            message
            for message in self.messages
            if message.direction == "received"
            and message.status is not None
            and (status is None or message.status == status)
        ]

    def sent(self, method: str | None = None) -> list[SipMessageText]:
        """Requests SIPp sent, optionally only those of ``method``."""
        return [
            message
            for message in self.messages
            if message.direction == "sent"
            and message.status is None
            and (method is None or message.first_line.startswith(f"{method} "))
        ]

    def trace(self, last: int = 6) -> str:
        """The last ``last`` logged messages, for assertion messages."""
        parts = [
            f"--- {message.transport} {message.direction}\n{message.text}"
            for message in self.messages[-last:]
        ]
        return "\n".join(parts) or "(no SIP messages logged)"

    def describe(self) -> str:
        """Return code, errors, stdout tail and SIP trace: why a run failed."""
        stdout_tail = "\n".join(self.stdout.splitlines()[-15:])
        return (
            f"sipp [{self.tag}] rc={self.returncode}\n{' '.join(self.command)}\n"
            f"--- errors\n{self.errors.strip() or '(none)'}\n"
            f"--- stdout (tail)\n{stdout_tail}\n--- SIP trace (tail)\n{self.trace()}"
        )


class SippRun:
    """A SIPp process running in the foreground of its own session."""

    def __init__(
        self,
        *,
        proc: subprocess.Popen[bytes],
        command: list[str],
        workdir: Path,
        tag: str,
        sip_port: int,
        time_limit: float,
        stdout_file: IO[bytes],
    ) -> None:
        self.proc = proc
        self.command = command
        self.workdir = workdir
        self.tag = tag
        self.sip_port = sip_port
        self.time_limit = time_limit
        self._stdout_file = stdout_file
        self._result: SippResult | None = None

    def path(self, kind: str) -> Path:
        """Path of one of this run's files: stat, errors, messages, stdout."""
        suffix = {
            "stat": "stat.csv",
            "errors": "errors.log",
            "messages": "messages.log",
            "stdout": "stdout.log",
        }
        return self.workdir / f"{self.tag}_{suffix[kind]}"

    def finish(self, timeout: float | None = None) -> SippResult:
        """Wait for SIPp to exit (killing it past the limit) and collect results."""
        if self._result is not None:
            return self._result
        limit = self.time_limit + 5.0 if timeout is None else timeout
        try:
            returncode = self.proc.wait(limit)
        except subprocess.TimeoutExpired:
            outcome = stop_process(self.proc, grace=2.0)
            returncode = outcome.returncode if outcome.returncode is not None else -9
        else:
            stop_process(self.proc, grace=1.0)
        self._stdout_file.close()
        self._result = SippResult(
            returncode=returncode,
            stats=read_sipp_stats(self.path("stat")),
            errors=self._read("errors"),
            stdout=self._read("stdout"),
            messages=parse_sipp_message_log(self._read("messages")),
            workdir=self.workdir,
            tag=self.tag,
            command=self.command,
            sip_port=self.sip_port,
        )
        return self._result

    def stop(self) -> None:
        """End SIPp now (teardown path)."""
        stop_process(self.proc, grace=2.0)
        if not self._stdout_file.closed:
            self._stdout_file.close()

    def _read(self, kind: str) -> str:
        path = self.path(kind)
        return path.read_text(errors="replace") if path.exists() else ""


def read_sipp_stats(path: Path) -> dict[str, str]:
    """Last row of a SIPp ``-trace_stat`` CSV (``;``-separated), or {}."""
    if not path.exists():
        return {}
    with path.open(newline="", errors="replace") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    if not rows:
        return {}
    return {key: (value or "").strip() for key, value in rows[-1].items() if key}


class SippOptions(TypedDict, total=False):
    """Keyword arguments of :meth:`Sipp.start` (and :meth:`Sipp.run`)."""

    remote: str | None
    tag: str | None
    service: str | None
    username: str | None
    password: str | None
    keys: Mapping[str, str] | None
    variables: Mapping[str, str] | None
    transport: Literal["u1", "t1", "un", "tn"]
    local_ip: str
    sip_port: int | None
    calls: int
    time_limit: int
    extra: Sequence[str]


class Sipp:
    """Starts SIPp scenarios with explicit ports, logs in a work directory and hard limits.

    ``run`` is for the usual case (start, wait, collect); ``start`` returns a
    handle for SIPp instances that must run alongside something else. Every
    instance still running at :meth:`close` is stopped.
    """

    def __init__(self, *, workdir: Path, scenario_dir: Path, executable: str | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.scenario_dir = scenario_dir
        found = executable or tool_path("sipp")
        if found is None:
            raise FileNotFoundError("sipp is not installed (apt-get install sip-tester)")
        self.executable = found
        self._runs: list[SippRun] = []
        self._tags: set[str] = set()

    def _unique_tag(self, tag: str) -> str:
        candidate, index = tag, 1
        while candidate in self._tags:
            index += 1
            candidate = f"{tag}-{index}"
        self._tags.add(candidate)
        return candidate

    def start(
        self,
        scenario: str | Path,
        *,
        remote: str | None = None,
        tag: str | None = None,
        service: str | None = None,
        username: str | None = None,
        password: str | None = None,
        keys: Mapping[str, str] | None = None,
        variables: Mapping[str, str] | None = None,
        transport: Literal["u1", "t1", "un", "tn"] = "u1",
        local_ip: str = LOCALHOST,
        sip_port: int | None = None,
        calls: int = 1,
        time_limit: int = 20,
        extra: Sequence[str] = (),
    ) -> SippRun:
        """Start SIPp on ``scenario`` (a file name in the scenario directory or a path).

        ``keys`` fill ``[key]`` keywords in the messages (``-key``),
        ``variables`` set scenario variables (``-set``; declare them with
        ``<Global variables=.../>``). ``time_limit`` is SIPp's global
        ``-timeout`` with ``-timeout_error``; the process is killed 5 s later.
        """
        path = Path(scenario)
        if not path.is_absolute():
            path = self.scenario_dir / path
        run_tag = self._unique_tag(tag or path.stem)
        port = sip_port or free_port_block(1, host=local_ip)
        media_port = free_port_block(4, host=local_ip)
        command = [self.executable]
        if remote:
            command.append(remote)
        command += [
            "-sf", str(path),
            "-t", transport,
            "-i", local_ip,
            "-p", str(port),
            "-mi", local_ip,
            "-mp", str(media_port),
            "-m", str(calls),
            "-nostdin",
            "-timeout", f"{time_limit}s",
            "-timeout_error",
            "-trace_stat", "-stf", str(self.workdir / f"{run_tag}_stat.csv"),
            "-trace_err", "-error_file", str(self.workdir / f"{run_tag}_errors.log"),
            "-trace_msg", "-message_file", str(self.workdir / f"{run_tag}_messages.log"),
        ]  # fmt: skip
        if service is not None:
            command += ["-s", service]
        if username is not None:
            command += ["-au", username]
        if password is not None:
            command += ["-ap", password]
        for key, value in (keys or {}).items():
            command += ["-key", key, value]
        for name, value in (variables or {}).items():
            command += ["-set", name, value]
        command += list(extra)
        stdout_file = (self.workdir / f"{run_tag}_stdout.log").open("wb")
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=stdout_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.workdir,
        )
        run = SippRun(
            proc=proc,
            command=command,
            workdir=self.workdir,
            tag=run_tag,
            sip_port=port,
            time_limit=float(time_limit),
            stdout_file=stdout_file,
        )
        self._runs.append(run)
        return run

    def run(self, scenario: str | Path, **options: Unpack[SippOptions]) -> SippResult:
        """Start SIPp, wait for it to exit and return the result."""
        return self.start(scenario, **options).finish()

    def close(self) -> None:
        """Stop every SIPp this runner started that is still running."""
        for run in self._runs:
            run.stop()


# --------------------------------------------------------------------------- baresip


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def _netstring(payload: Mapping[str, Any]) -> bytes:
    raw = json.dumps(payload).encode()
    return b"%d:%s," % (len(raw), raw)


class BaresipCtl:
    """Client of baresip's ``ctrl_tcp`` module: netstring-framed JSON both ways.

    Commands get responses matched by token; events are pushed to every
    connected client and are kept here in arrival order. Events that happened
    before the connection are lost, so state is better polled (``reginfo``).
    """

    def __init__(self, port: int, *, connect_timeout: float = 10.0) -> None:
        deadline = time.monotonic() + connect_timeout
        while True:
            try:
                self.sock = socket.create_connection((LOCALHOST, port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(None)
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.all_events: list[dict[str, Any]] = []
        self._responses: dict[str, queue.Queue[dict[str, Any]]] = {}
        self._token = 0
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read_loop, name=f"ctrl:{port}", daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while True:
                colon = buffer.find(b":")
                if colon < 0 or not buffer[:colon].isdigit():
                    break
                length = int(buffer[:colon])
                end = colon + 1 + length
                if len(buffer) < end + 1:
                    break
                message: dict[str, Any] = json.loads(buffer[colon + 1 : end])
                buffer = buffer[end + 1 :]  # skip the trailing ','
                if message.get("event"):
                    message["_t"] = time.monotonic()
                    self.all_events.append(message)
                    self.events.put(message)
                elif message.get("response"):
                    waiting = self._responses.get(str(message.get("token", "")))
                    if waiting is not None:
                        waiting.put(message)

    def command(
        self, command: str, params: str | None = None, *, timeout: float = 5.0
    ) -> dict[str, Any]:
        """Send a command and return its response (``ok``, ``data``)."""
        with self._lock:
            self._token += 1
            token = f"t{self._token}"
            answer: queue.Queue[dict[str, Any]] = queue.Queue()
            self._responses[token] = answer
        payload: dict[str, Any] = {"command": command, "token": token}
        if params is not None:
            payload["params"] = params
        self.sock.sendall(_netstring(payload))
        try:
            return answer.get(timeout=timeout)
        finally:
            self._responses.pop(token, None)

    def wait_event(
        self,
        kind: str,
        *,
        timeout: float = 10.0,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """Wait for the next event of type ``kind`` (others stay in ``all_events``)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                seen = [event.get("type") for event in self.all_events]
                raise TimeoutError(f"no {kind} within {timeout} s; events so far: {seen}")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if event.get("type") == kind and (predicate is None or predicate(event)):
                return event

    def reginfo(self) -> str:
        """The ``reginfo`` text without terminal colours."""
        return _ANSI_ESCAPE.sub("", str(self.command("reginfo").get("data", "")))

    def close(self) -> None:
        """Close the control connection."""
        with contextlib.suppress(OSError):
            self.sock.close()


def write_silence_wav(path: Path, *, seconds: float = 60.0, rate: int = 8000) -> Path:
    """An 8 kHz mono 16-bit silent WAV: a valid audio source for baresip's aufile."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * int(seconds * rate))
    return path


@dataclass
class Baresip:
    """One headless baresip with a private config directory made at test time.

    ``account`` is a full line of baresip's ``accounts`` file; without it the
    phone has a local, unregistered identity ``sip:NAME@127.0.0.1:PORT``.
    """

    name: str
    workdir: Path
    source_wav: Path
    """8 kHz mono 16-bit WAV played into calls (baresip refuses calls without a source)."""
    account: str | None = None
    answermode: str = "manual"
    max_runtime: int = 120
    """``baresip -t``: the phone ends itself after this many seconds whatever happens."""
    sip_trace: bool = False
    """``baresip -s``: print every SIP message into the log."""
    sip_port: int = 0
    ctrl_port: int = 0
    rtp_low: int = 0
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    ctl: BaresipCtl | None = field(default=None, init=False)
    config_dir: Path = field(init=False)
    log_path: Path = field(init=False)
    _log_file: IO[bytes] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.config_dir = self.workdir / f"baresip-{self.name}"
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.config_dir / "baresip.log"
        # SIP listens on P (UDP and TCP) and P+1 (TLS): two ports; control elsewhere.
        self.sip_port = self.sip_port or free_port_block(2)
        self.ctrl_port = self.ctrl_port or free_port_block(1)
        # baresip puts RTP on even ports: an odd start would use the port below the block.
        self.rtp_low = self.rtp_low or free_port_block(21)
        self.rtp_low += self.rtp_low % 2

    @property
    def uri(self) -> str:
        """The phone's local SIP URI."""
        return f"sip:{self.name}@{LOCALHOST}:{self.sip_port}"

    def write_config(self) -> None:
        """Write ``config``, ``accounts`` and ``contacts`` into the config directory."""
        dump_dir = self.config_dir / "dump"
        dump_dir.mkdir(exist_ok=True)
        settings = [
            ("poll_method", "epoll"),
            ("sip_listen", f"{LOCALHOST}:{self.sip_port}"),
            # Without it baresip advertises the host's external address in SDP.
            ("net_interface", LOCALHOST),
            ("dns_server", f"{LOCALHOST}:53"),
            ("call_local_timeout", "60"),
            ("call_max_calls", "4"),
            ("audio_source", f"aufile,{self.source_wav}"),
            ("audio_player", ""),
            ("audio_alert", ""),
            ("ausrc_srate", "8000"),
            ("ausrc_channels", "1"),
            ("auplay_srate", "8000"),
            ("auplay_channels", "1"),
            ("audio_level", "no"),
            ("rtp_ports", f"{self.rtp_low}-{self.rtp_low + 19}"),
            ("rtcp_mux", "no"),
            ("jitter_buffer_delay", "1-10"),
            ("module_path", str(BARESIP_MODULES)),
            ("module", "g711.so"),
            ("module", "aufile.so"),
            ("module", "sndfile.so"),
            ("module_tmp", "account.so"),
            ("module_app", "menu.so"),
            ("module_app", "ctrl_tcp.so"),
            ("ctrl_tcp_listen", f"{LOCALHOST}:{self.ctrl_port}"),
            ("snd_path", str(dump_dir)),
        ]
        (self.config_dir / "config").write_text(
            "".join(f"{key}\t\t{value}\n" for key, value in settings)
        )
        account = self.account or (
            f"<{self.uri}>;regint=0;answermode={self.answermode}"
            ";audio_codecs=PCMA/8000/1,PCMU/8000/1"
        )
        (self.config_dir / "accounts").write_text(account + "\n")
        (self.config_dir / "contacts").write_text("")

    def start(self) -> Baresip:
        """Start baresip and connect to its control socket at once."""
        baresip = tool_path("baresip")
        if baresip is None:
            raise FileNotFoundError("baresip is not installed (apt-get install baresip-core)")
        self.write_config()
        self._log_file = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                baresip,
                *(["-s"] if self.sip_trace else []),
                "-f",
                str(self.config_dir),
                "-t",
                str(self.max_runtime),
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.config_dir,
        )
        try:
            self.ctl = BaresipCtl(self.ctrl_port)
        except OSError as error:
            self.stop()
            raise RuntimeError(
                f"baresip control socket never opened\n{log_tail(self.log_path)}"
            ) from error
        return self

    def reginfo(self) -> str:
        """Registration state as baresip prints it (``... OK  Expires 4s``)."""
        if self.ctl is None:
            raise RuntimeError("baresip is not running")
        return self.ctl.reginfo()

    def is_registered(self) -> bool:
        """True when ``reginfo`` shows the account as OK."""
        return re.search(r"\sOK\s", self.reginfo()) is not None

    def log(self, lines: int = 60) -> str:
        """The tail of baresip's console output."""
        return log_tail(self.log_path, lines)

    def stop(self) -> None:
        """Close the control connection and end the process group."""
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None
        if self.proc is not None:
            # On SIGTERM baresip un-registers first; with its registrar gone it would wait.
            stop_process(self.proc, grace=1.5)
            self.proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


# --------------------------------------------------------------------------- raw SIP


@dataclass(frozen=True)
class SipResponse:
    """A SIP response as received on a raw socket."""

    status: int
    reason: str
    text: str
    raw: bytes

    def header(self, name: str) -> list[str]:
        """Values of every header line called ``name`` (case-insensitive)."""
        return header_values(self.text, name)

    def first(self, name: str) -> str | None:
        """Value of the first header line called ``name``."""
        values = self.header(name)
        return values[0] if values else None


_STATUS_LINE = re.compile(rb"^SIP/2\.0 (\d{3}) ([^\r\n]*)\r?\n")


def parse_response(data: bytes) -> SipResponse | None:
    """A response when ``data`` starts with a SIP/2.0 Status-Line, else None."""
    match = _STATUS_LINE.match(data)
    if match is None:
        return None
    return SipResponse(
        status=int(match.group(1)),
        reason=match.group(2).decode("utf-8", "replace"),
        text=data.decode("utf-8", "replace"),
        raw=data,
    )


def new_branch() -> str:
    """A fresh RFC 3261 branch (``z9hG4bK`` magic cookie, RFC 3261 §8.1.1.7)."""
    return f"z9hG4bK-{secrets.token_hex(8)}"


def build_request(
    method: str,
    request_uri: str,
    *,
    local: tuple[str, int],
    transport: Literal["UDP", "TCP"],
    from_uri: str,
    to_uri: str,
    call_id: str | None = None,
    cseq: int = 1,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
) -> bytes:
    """A well-formed request whose Via names ``local`` with ``rport`` (RFC 3581).

    With ``rport`` a UDP server answers the socket the request came from, so
    a client on an ephemeral port hears its responses.
    """
    host, port = local
    lines = [
        f"{method} {request_uri} SIP/2.0",
        f"Via: SIP/2.0/{transport} {host}:{port};branch={new_branch()};rport",
        "Max-Forwards: 70",
        f"From: <{from_uri}>;tag={secrets.token_hex(4)}",
        f"To: <{to_uri}>",
        f"Call-ID: {call_id or uuid.uuid4().hex}@{host}",
        f"CSeq: {cseq} {method}",
        *(f"{name}: {value}" for name, value in headers),
        "User-Agent: ringfort-integration-tests",
        f"Content-Length: {len(body)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class UdpSipClient:
    """A UDP socket bound to ``local_ip`` (any 127.x address) on an ephemeral port."""

    def __init__(self, local_ip: str = LOCALHOST) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((local_ip, 0))
        self.local: tuple[str, int] = self.sock.getsockname()

    def __enter__(self) -> UdpSipClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes, target: tuple[str, int]) -> None:
        """Send one datagram."""
        self.sock.sendto(data, target)

    def receive(self, timeout: float) -> bytes | None:
        """Next datagram within ``timeout`` seconds, or None."""
        self.sock.settimeout(timeout)
        try:
            data, _ = self.sock.recvfrom(65536)
        except TimeoutError:
            return None
        return data

    def responses(self, timeout: float) -> Iterator[SipResponse]:
        """Every SIP response arriving within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            data = self.receive(left)
            if data is None:
                return
            response = parse_response(data)
            if response is not None:
                yield response

    def final_response(self, timeout: float) -> SipResponse | None:
        """The first final (>= 200) response within ``timeout`` seconds."""
        for response in self.responses(timeout):
            if response.status >= 200:
                return response
        return None

    def request(
        self, data: bytes, target: tuple[str, int], *, timeout: float = 2.0
    ) -> SipResponse | None:
        """Send a request, retransmitting at T1 doubling (RFC 3261 §17.1.2.2), until final."""
        deadline = time.monotonic() + timeout
        interval = 0.5
        while (left := deadline - time.monotonic()) > 0:
            self.send(data, target)
            response = self.final_response(min(interval, left))
            if response is not None:
                return response
            interval = min(interval * 2, 4.0)
        return None

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


class TcpSipClient:
    """One TCP connection to the server from ``local_ip``; reads framed messages."""

    def __init__(
        self, target: tuple[str, int], *, local_ip: str = LOCALHOST, timeout: float = 5.0
    ) -> None:
        self.sock = socket.create_connection(target, timeout=timeout, source_address=(local_ip, 0))
        self.local: tuple[str, int] = self.sock.getsockname()
        self._buffer = b""
        self.closed_by_peer = False

    def __enter__(self) -> TcpSipClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes) -> bool:
        """Send bytes; False if the server has already closed or reset the connection."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            self.closed_by_peer = True
            return False
        return True

    def receive_message(self, timeout: float) -> bytes | None:
        """Next complete message (framed by Content-Length, RFC 3261 §18.3), or None."""
        deadline = time.monotonic() + timeout
        while True:
            framed = self._take_message()
            if framed is not None:
                return framed
            left = deadline - time.monotonic()
            if left <= 0 or self.closed_by_peer:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return None
            except (ConnectionResetError, OSError):
                self.closed_by_peer = True
                return None
            if not chunk:
                self.closed_by_peer = True
                return None
            self._buffer += chunk

    def _take_message(self) -> bytes | None:
        # RFC 5626 §3.5.1 keepalives (CRLF) between messages are skipped.
        self._buffer = self._buffer.lstrip(b"\r\n")
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self._buffer[: end + 4]
        lengths = re.findall(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)", head)
        length = int(lengths[0]) if lengths else 0
        if len(self._buffer) < end + 4 + length:
            return None
        message, self._buffer = self._buffer[: end + 4 + length], self._buffer[end + 4 + length :]
        return message

    def responses(self, timeout: float) -> Iterator[SipResponse]:
        """Every SIP response arriving within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            data = self.receive_message(left)
            if data is None:
                return
            response = parse_response(data)
            if response is not None:
                yield response

    def final_response(self, timeout: float) -> SipResponse | None:
        """The first final (>= 200) response within ``timeout`` seconds."""
        for response in self.responses(timeout):
            if response.status >= 200:
                return response
        return None

    def request(self, data: bytes, *, timeout: float = 2.0) -> SipResponse | None:
        """Send a request and wait for its final response."""
        if not self.send(data):
            return None
        return self.final_response(timeout)

    def wait_closed(self, timeout: float) -> bool:
        """True if the server closes the connection within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self.closed_by_peer and time.monotonic() < deadline:
            self.receive_message(max(0.0, deadline - time.monotonic()))
        return self.closed_by_peer

    def close(self) -> None:
        """Close the connection."""
        with contextlib.suppress(OSError):
            self.sock.close()


# --------------------------------------------------------------------------- digest


_AUTH_PARAM = re.compile(r'([A-Za-z][\w-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]+)')


@dataclass(frozen=True)
class DigestChallenge:
    """One ``WWW-Authenticate: Digest ...`` challenge (RFC 7616 §3.3)."""

    realm: str
    nonce: str
    algorithm: str
    qop: tuple[str, ...]
    opaque: str | None
    stale: bool

    @classmethod
    def parse(cls, value: str) -> DigestChallenge:
        """Parse a header value; raises ValueError if it is not a Digest challenge."""
        scheme, _, rest = value.strip().partition(" ")
        if scheme.lower() != "digest":
            raise ValueError(f"not a Digest challenge: {value!r}")
        params = {key.lower(): raw.strip('"') for key, raw in _AUTH_PARAM.findall(rest)}
        return cls(
            realm=params.get("realm", ""),
            nonce=params["nonce"],
            algorithm=params.get("algorithm", "MD5"),
            qop=tuple(item.strip() for item in params.get("qop", "").split(",") if item.strip()),
            opaque=params.get("opaque"),
            stale=params.get("stale", "").lower() == "true",
        )


def _hash_for(algorithm: str) -> Callable[[bytes], Any]:
    base = algorithm.upper().removesuffix("-SESS")
    if base == "MD5":
        return hashlib.md5
    if base == "SHA-256":
        return hashlib.sha256
    raise ValueError(f"unsupported digest algorithm {algorithm!r}")


def digest_authorization(
    challenge: DigestChallenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    nc: int = 1,
    cnonce: str | None = None,
) -> str:
    """An ``Authorization`` value answering ``challenge`` (RFC 7616 §3.4, RFC 3261 §22.4)."""
    digest = _hash_for(challenge.algorithm)

    def h(text: str) -> str:
        return str(digest(text.encode()).hexdigest())

    cnonce = cnonce or secrets.token_hex(8)
    ha1 = h(f"{username}:{challenge.realm}:{password}")
    if challenge.algorithm.upper().endswith("-SESS"):
        ha1 = h(f"{ha1}:{challenge.nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    parts = [
        f'username="{username}"',
        f'realm="{challenge.realm}"',
        f'nonce="{challenge.nonce}"',
        f'uri="{uri}"',
        f"algorithm={challenge.algorithm}",
    ]
    if "auth" in challenge.qop:
        count = f"{nc:08x}"
        response = h(f"{ha1}:{challenge.nonce}:{count}:{cnonce}:auth:{ha2}")
        parts += [f'response="{response}"', "qop=auth", f"nc={count}", f'cnonce="{cnonce}"']
    else:
        parts.append(f'response="{h(f"{ha1}:{challenge.nonce}:{ha2}")}"')
    if challenge.opaque is not None:
        parts.append(f'opaque="{challenge.opaque}"')
    return "Digest " + ", ".join(parts)


def pick_challenge(response: SipResponse, algorithm: str | None = None) -> DigestChallenge:
    """The challenge for ``algorithm``, or the first one offered (the server's preference)."""
    challenges = [DigestChallenge.parse(value) for value in response.header("WWW-Authenticate")]
    if not challenges:
        raise AssertionError(f"{response.status} without WWW-Authenticate:\n{response.text}")
    if algorithm is None:
        return challenges[0]
    for challenge in challenges:
        if challenge.algorithm.upper() == algorithm.upper():
            return challenge
    offered = [challenge.algorithm for challenge in challenges]
    raise AssertionError(f"no {algorithm} challenge; offered {offered}")


@dataclass
class RegisterExchange:
    """The responses of one REGISTER transaction pair (unauthenticated, then with credentials)."""

    challenge: SipResponse | None
    final: SipResponse | None

    @property
    def status(self) -> int | None:
        """Status of the final response, None when the server stayed silent."""
        return self.final.status if self.final is not None else None

    def describe(self) -> str:
        """Both responses' text, for assertion messages."""
        parts = [
            f"--- {label}\n{response.text if response is not None else '(no response)'}"
            for label, response in (("challenge", self.challenge), ("final", self.final))
        ]
        return "\n".join(parts)


class RawRegistrar:
    """Registers an extension over UDP from any 127.x address with a stdlib digest client.

    Independent of SIPp and of Ringfort's own SIP code: a third opinion on the
    registrar's digest handling and a precise tool for counting attempts.
    """

    def __init__(self, server: tuple[str, int], *, local_ip: str = LOCALHOST) -> None:
        self.server = server
        self.client = UdpSipClient(local_ip)
        self.call_id = uuid.uuid4().hex
        self.cseq = 0

    def __enter__(self) -> RawRegistrar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _register(
        self, number: str, *, expires: int, contact: str | None, authorization: str | None
    ) -> bytes:
        self.cseq += 1
        host, port = self.server
        local_host, local_port = self.client.local
        headers = [
            ("Contact", contact or f"<sip:{number}@{local_host}:{local_port}>"),
            ("Expires", str(expires)),
        ]
        if authorization is not None:
            headers.append(("Authorization", authorization))
        return build_request(
            "REGISTER",
            f"sip:{host}:{port}",
            local=self.client.local,
            transport="UDP",
            from_uri=f"sip:{number}@{host}",
            to_uri=f"sip:{number}@{host}",
            call_id=self.call_id,
            cseq=self.cseq,
            headers=headers,
        )

    def register(
        self,
        number: str,
        password: str,
        *,
        expires: int = 300,
        contact: str | None = None,
        algorithm: str | None = None,
        timeout: float = 2.0,
    ) -> RegisterExchange:
        """REGISTER, answer the 401 challenge, return both responses (None = silence)."""
        host, port = self.server
        first = self.client.request(
            self._register(number, expires=expires, contact=contact, authorization=None),
            self.server,
            timeout=timeout,
        )
        if first is None or first.status != 401:
            return RegisterExchange(challenge=None, final=first)
        authorization = digest_authorization(
            pick_challenge(first, algorithm),
            username=number,
            password=password,
            method="REGISTER",
            uri=f"sip:{host}:{port}",
        )
        final = self.client.request(
            self._register(number, expires=expires, contact=contact, authorization=authorization),
            self.server,
            timeout=timeout,
        )
        return RegisterExchange(challenge=first, final=final)

    def close(self) -> None:
        """Close the socket."""
        self.client.close()


def options_request(
    server: tuple[str, int], local: tuple[str, int], transport: Literal["UDP", "TCP"]
) -> bytes:
    """An OPTIONS addressed to the server itself (RFC 3261 §11)."""
    host, port = server
    return build_request(
        "OPTIONS",
        f"sip:{host}:{port}",
        local=local,
        transport=transport,
        from_uri=f"sip:probe@{local[0]}",
        to_uri=f"sip:{host}:{port}",
        headers=[("Accept", "application/sdp")],
    )


def options_ping(
    server: tuple[str, int], transport: Literal["UDP", "TCP"], *, timeout: float = 2.0
) -> SipResponse | None:
    """Send OPTIONS to the server over ``transport`` and return the final response."""
    if transport == "UDP":
        with UdpSipClient() as udp:
            return udp.request(options_request(server, udp.local, "UDP"), server, timeout=timeout)
    try:
        with TcpSipClient(server, timeout=timeout) as tcp:
            return tcp.request(options_request(server, tcp.local, "TCP"), timeout=timeout)
    except OSError:
        return None
