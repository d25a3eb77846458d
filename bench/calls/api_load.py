"""API under call load: the live panel and month reports for 50 HTTP clients while calls stream.

Starts its own ``ringfort serve`` (pinned to one core with ``taskset``) on a fresh data
directory holding a month of a 50-agent call centre's queue log (bench/reports.py's
generator), an admin and an API token. This process is both phones, on the other core
(media_load.py's SIP user agents): it sets up the calls, which then stream G.711 both
ways through Ringfort. A second process, on the same core as the phones but niced so
that they come first, is the HTTP clients: each loops one request, without pause
unless ``--pause``, ``GET /api/v1/live`` or one report for the month, for a fixed time.

First an RTP baseline with no HTTP load, then a window with the clients running. It
prints, per endpoint, requests, requests/s and latency p50/p99/max (and the latency of
one request alone, before any load); the server's CPU; and RTP lost and late packets
(transit over ``--late-ms``) in the baseline and under load. Targets (issue 7): live
state p99 < 100 ms, month report p99 < 1 s, and no late RTP packets beyond the baseline.

    bench/api_load.sh                                        # 100 calls, 50 clients, 20 s
    bench/api_load.sh --mix live=25,totals=9,agents=8,answered=8 --duration 30
    bench/api_load.sh --mix live=50 --pause 1                # 50 panels polling each second
    bench/api_load.sh --cold                                 # every report a new one

Ringfort keeps a made report until the calls' tables change (see ringfort.reports.cache),
so clients asking for the same month mostly get the kept one. ``--cold`` makes every report
request a different one (the period ends a different second before the month's end), so
each is made from the database, as when supervisors look at different periods and queues.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from media_load import (
    Phones,
    StreamWindow,
    Totals,
    WindowFigures,
    add_stream_options,
    hang_up_calls,
    prepare_generator,
    process_cpu_seconds,
    set_up_calls,
)
from server_under_test import (
    CALLER,
    RingfortServer,
    ServerSlot,
    bench_parser,
    install_stop_signals,
    options_server,
    percentile,
    run_bench,
)

DEFAULT_MIX = "live=40,totals=4,agents=3,answered=3"
REPORT_PAGE = 100
"""Rows of the answered-calls report asked for at once, as a paged table would."""
LIVE_TARGET_MS = 100.0
REPORT_TARGET_MS = 1000.0
ADMIN = "ann"


def endpoint_paths(month: str) -> dict[str, str]:
    """What each kind of client asks for: the live state, or one report for ``month``."""
    period = f"from={month}&tz=UTC"
    return {
        "live": "/api/v1/live",
        "totals": f"/api/v1/reports/totals?{period}",
        "agents": f"/api/v1/reports/agents?{period}",
        "queues": f"/api/v1/reports/queues?{period}",
        "answered": f"/api/v1/reports/answered?{period}&limit={REPORT_PAGE}",
        "answered-all": f"/api/v1/reports/answered?{period}",
    }


def parse_mix(text: str, known: dict[str, str]) -> dict[str, int]:
    """``live=40,totals=10`` as clients per endpoint."""
    mix: dict[str, int] = {}
    for item in text.split(","):
        name, _, count = item.partition("=")
        name = name.strip()
        if name not in known:
            raise SystemExit(f"--mix: no endpoint {name!r}; there are {', '.join(known)}")
        mix[name] = int(count)
    return {name: count for name, count in mix.items() if count > 0}


# --------------------------------------------------------------------------- HTTP clients


class Keepalive:
    """One HTTP/1.1 connection asking GETs one after the other: a few lines of asyncio, so
    the clients' own CPU (httpx took most of the other core) does not queue the requests."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float) -> None:
        address = url.split("://", 1)[1].rstrip("/")
        self._host, _, port = address.rpartition(":")
        self._port = int(port)
        self._head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._timeout = timeout
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        """Status and body; OSError on a broken or slow connection (it is closed)."""
        try:
            return await asyncio.wait_for(self._get(path), self._timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            await self.close()
            raise OSError(f"GET {path} failed") from None

    async def _get(self, path: str) -> tuple[int, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self._host, self._port)
        reader, writer = self._streams
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {self._host}\r\n{self._head}\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await reader.readexactly(length)

    async def close(self) -> None:
        """Close the connection (a later get opens a new one)."""
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


async def _clients(config: dict[str, Any]) -> None:
    """The client process: warm up, say ready, wait for "go", load, print the figures."""
    paths: dict[str, str] = config["paths"]
    mix: dict[str, int] = config["mix"]
    headers = {"Authorization": f"Bearer {config['token']}"}
    first: dict[str, float] = {}
    alone: dict[str, float] = {}
    sizes: dict[str, int] = {}
    asked = 0
    month_end = datetime.fromisoformat(config["month_end"])

    def path_of(name: str) -> str:
        nonlocal asked
        if not config["cold"] or name == "live":
            return paths[name]
        asked += 1
        end = month_end - timedelta(seconds=asked)
        return f"{paths[name]}&to={end.strftime('%Y-%m-%dT%H:%M:%S')}"

    client = Keepalive(config["url"], headers, config["timeout"])
    for name in mix:
        for timing in (first, alone):  # the first one made; the second kept (unless cold)
            started = time.perf_counter()
            status, body = await client.get(path_of(name))
            timing[name] = time.perf_counter() - started
        if status != 200:
            raise SystemExit(f"{paths[name]}: {status} {body[:200]!r}")
        sizes[name] = len(body)
    await client.close()
    print(json.dumps({"first": first, "alone": alone, "sizes": sizes}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)

    latencies: dict[str, list[float]] = {name: [] for name in mix}
    errors: dict[str, int] = dict.fromkeys(mix, 0)
    cpu_before = process_cpu_seconds()
    started = time.perf_counter()
    stop_at = loop.time() + config["duration"]

    async def one_client(name: str) -> None:
        client = Keepalive(config["url"], headers, config["timeout"])
        # Clients that pause start spread over one pause, not all in the same instant.
        await asyncio.sleep(random.uniform(0.0, config["pause"]))
        while loop.time() < stop_at:
            sent = time.perf_counter()
            try:
                status, _ = await client.get(path_of(name))
            except OSError:
                errors[name] += 1
                continue
            if status == 200:
                latencies[name].append(time.perf_counter() - sent)
            else:
                errors[name] += 1
            if config["pause"]:
                await asyncio.sleep(config["pause"])
        await client.close()

    await asyncio.gather(*(one_client(name) for name, count in mix.items() for _ in range(count)))
    print(
        json.dumps({
            "seconds": time.perf_counter() - started,
            "cpu_seconds": process_cpu_seconds() - cpu_before,
            "latencies": latencies,
            "errors": errors,
        }),
        flush=True,
    )  # fmt: skip


def client_main(config_json: str) -> int:
    """Entry of the client process (``--clients CONFIG``)."""
    config = json.loads(config_json)
    os.nice(config["nice"])
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    asyncio.run(_clients(config))
    return 0


# --------------------------------------------------------------------------- the bench


@dataclass(frozen=True)
class Outcome:
    """What one run measured."""

    calls: int
    answered: int
    first: dict[str, float]
    alone: dict[str, float]
    sizes: dict[str, int]
    baseline: WindowFigures
    loaded: WindowFigures
    load_seconds: float
    client_cpu_seconds: float
    latencies: dict[str, list[float]]
    errors: dict[str, int]


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The first instant of ``month`` (UTC) and of the month after."""
    first = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    after = first.replace(year=first.year + 1, month=1) if first.month == 12 else (
        first.replace(month=first.month + 1)
    )  # fmt: skip
    return first, after


async def load_history(data_dir: Path, month: str) -> int:
    """Put ``month`` of a busy call centre in the server's queue log (before it starts)."""
    from reports import generate  # bench/reports.py

    from ringfort.services.database import Database

    first, after = month_bounds(month)
    db = Database(url=f"sqlite+aiosqlite:///{(data_dir / 'ringfort.db').resolve()}")
    await db.open()
    try:
        return await generate(db, start=first, end=after)
    finally:
        await db.close()


async def log_agents_in(server: RingfortServer, token: str, agents: int) -> int:
    """Log the first ``agents`` of the history's agents in to two queues each, at the caller's
    phone, so the live state is a centre's panel (their tiles and the queues'); the size of
    the live document."""
    import httpx
    from reports import AGENTS, QUEUES  # bench/reports.py

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.http_url, headers=headers) as client:
        for index in range(min(agents, AGENTS)):
            for queue in (QUEUES[index % 2], QUEUES[2 + index % 2]):
                reply = await client.put(
                    f"/api/v1/queues/{queue}/agents/{1000 + index}", json={"phone": CALLER.number}
                )
                if reply.status_code != 200:
                    raise RuntimeError(f"logging agent {1000 + index} in: {reply.text}")
        return len((await client.get("/api/v1/live")).content)


async def measure(
    options: argparse.Namespace, server: RingfortServer, token: str, mix: dict[str, int]
) -> Outcome:
    """Calls up, clients warmed up, the baseline, the load, calls down."""
    assert server.pid is not None
    config = {
        "url": server.http_url, "token": token, "paths": endpoint_paths(options.month),
        "mix": mix, "duration": options.duration, "timeout": options.timeout,
        "nice": options.client_nice, "pause": options.pause, "cold": options.cold,
        "month_end": month_bounds(options.month)[1].isoformat(),
    }  # fmt: skip
    phones = Phones(server=server.sip_target, ptime_ms=options.ptime, late_ms=options.late_ms)
    await phones.open()
    clients: asyncio.subprocess.Process | None = None
    try:
        await phones.register_callee()
        placed, answered = await set_up_calls(phones, options.calls, options.setup_rate)
        print(f"{answered} of {options.calls} calls up", flush=True)
        if options.agents:
            size = await log_agents_in(server, token, options.agents)
            print(f"{options.agents} agents logged in; the live state is {size:,} bytes")
        clients = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--clients", json.dumps(config),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            start_new_session=True, limit=1 << 26,  # the figures come as one JSON line
        )  # fmt: skip
        assert clients.stdin is not None
        assert clients.stdout is not None
        ready = await asyncio.wait_for(clients.stdout.readline(), 60.0)
        if not ready:
            raise RuntimeError("the HTTP client process ended before it was ready")
        warm = json.loads(ready)
        await asyncio.sleep(1.0)  # the clients' start-up is over before the baseline

        print(f"baseline: {options.baseline:.0f} s of RTP without HTTP load", flush=True)
        window = StreamWindow(phones, [server.pid])
        await asyncio.sleep(options.baseline)
        baseline = window.finish()

        print(f"load: {sum(mix.values())} HTTP clients for {options.duration:.0f} s", flush=True)
        window = StreamWindow(phones, [server.pid])
        clients.stdin.write(b"go\n")
        await clients.stdin.drain()
        done = await asyncio.wait_for(
            clients.stdout.readline(), options.duration + options.timeout + 30.0
        )
        if not done:
            raise RuntimeError("the HTTP client process ended without its figures")
        result = json.loads(done)
        loaded = window.finish(extra_cpu_seconds=result["cpu_seconds"])
        await asyncio.wait_for(clients.wait(), 10.0)

        await hang_up_calls(phones, placed, options.setup_rate)
    finally:
        if clients is not None and clients.returncode is None:
            clients.kill()
            await clients.wait()
        phones.end_step()
        await phones.close()
    return Outcome(
        calls=options.calls, answered=answered, first=warm["first"], alone=warm["alone"],
        sizes=warm["sizes"],
        baseline=baseline, loaded=loaded, load_seconds=result["seconds"],
        client_cpu_seconds=result["cpu_seconds"], latencies=result["latencies"],
        errors=result["errors"],
    )  # fmt: skip


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{1000.0 * seconds:.0f}"


def _transit(totals: Totals) -> str:
    values = (totals.transit_percentile(50), totals.transit_percentile(99), totals.transit_max())
    return "/".join("-" if value is None else f"{value:.0f}" for value in values)


def print_outcome(outcome: Outcome, options: argparse.Namespace, mix: dict[str, int]) -> bool:
    """The tables and the verdict; True when every target is met."""
    paths = endpoint_paths(options.month)
    pause = f"{options.pause:g} s apart" if options.pause else "without pause"
    kind = "each report a new one (--cold)" if options.cold else "the same reports"
    print(f"\nHTTP: {sum(mix.values())} clients, each looping one request {pause} for "
          f"{options.duration:.0f} s, {kind}; mix (clients per endpoint): "
          + ", ".join(f"{name} {count}" for name, count in mix.items()))  # fmt: skip
    print("alone: one request with no other HTTP load, the first / the second time")
    header = (
        f"{'endpoint':<10} {'clients':>7} {'bytes':>8} {'alone ms':>9} {'requests':>8} "
        f"{'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    p99s: dict[str, float | None] = {}
    for name, count in mix.items():
        values = outcome.latencies[name]
        p99s[name] = percentile(values, 99)
        print(
            f"{name:<10} {count:>7} {outcome.sizes[name]:>8} "
            f"{_ms(outcome.first[name]) + '/' + _ms(outcome.alone[name]):>9} "
            f"{len(values):>8} {len(values) / outcome.load_seconds:>7.1f} "
            f"{_ms(percentile(values, 50)):>7} {_ms(p99s[name]):>7} "
            f"{_ms(max(values) if values else None):>7} {outcome.errors[name]:>6}"
        )
    for name in mix:
        print(f"  {name}: GET {paths[name]}")

    print(f"\nRTP: {outcome.answered} of {outcome.calls} calls, ptime {options.ptime} ms, "
          f"late = transit over {options.late_ms:.0f} ms")  # fmt: skip
    header = (
        f"{'window':<10} {'s':>4} {'sent':>7} {'lost':>5} {'late':>5} {'transit p50/p99/max':>19} "
        f"{'srv CPU%':>8} {'phones%':>7} {'clients%':>8} {'others%':>7} {'gen late slots %':>16}"
    )
    print(header)
    print("-" * len(header))
    for label, figures, client_cpu in (
        ("baseline", outcome.baseline, 0.0),
        ("HTTP load", outcome.loaded, outcome.client_cpu_seconds),
    ):
        transit = _transit(figures.both)
        print(
            f"{label:<10} {figures.seconds:>4.0f} {figures.sent:>7} {figures.lost:>5} "
            f"{figures.late:>5} {transit:>19} {figures.server_cpu_percent:>8.0f} "
            f"{figures.generator_cpu_percent:>7.0f} "
            f"{100.0 * client_cpu / figures.seconds:>8.0f} {figures.others_cpu_percent:>7.0f} "
            f"{figures.generator_late_ticks:>16.1f}"
        )

    verdicts: list[tuple[str, bool]] = []
    if "live" in p99s:
        live = p99s["live"]
        verdicts.append((f"live state p99 {_ms(live)} ms < {LIVE_TARGET_MS:.0f} ms",
                         live is not None and live * 1000.0 < LIVE_TARGET_MS))  # fmt: skip
    for name in mix:
        if name != "live":
            p99 = p99s[name]
            verdicts.append((f"month report {name} p99 {_ms(p99)} ms < {REPORT_TARGET_MS:.0f} ms",
                             p99 is not None and p99 * 1000.0 < REPORT_TARGET_MS))  # fmt: skip
    base, load = outcome.baseline, outcome.loaded
    verdicts.append((f"RTP late under load {load.late} <= baseline {base.late}, lost "
                     f"{load.lost} <= {base.lost}",
                     load.late <= base.late and load.lost <= base.lost))  # fmt: skip
    print()
    for text, met in verdicts:
        print(f"{'MET    ' if met else 'NOT MET'} {text}")
    return all(met for _, met in verdicts)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = bench_parser("api_load.sh", __doc__)
    parser.add_argument("--calls", type=int, default=100, help="concurrent streaming calls")
    parser.add_argument(
        "--mix", default=DEFAULT_MIX,
        help="HTTP clients per endpoint: live, totals, agents, queues, answered (a page of "
        f"{REPORT_PAGE}), answered-all (the whole month)",
    )  # fmt: skip
    parser.add_argument("--month", default="2026-11", help="the month of history and reports")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of HTTP load")
    parser.add_argument("--baseline", type=float, default=10.0, help="seconds of RTP alone")
    parser.add_argument("--timeout", type=float, default=30.0, help="HTTP request timeout")
    parser.add_argument(
        "--pause", type=float, default=0.0, help="seconds each client waits between requests"
    )
    parser.add_argument(
        "--agents", type=int, default=50,
        help="agents logged in to queues before the load (their tiles are the live state)",
    )  # fmt: skip
    parser.add_argument(
        "--cold", action="store_true",
        help="every report request a different period, made afresh (none kept)",
    )  # fmt: skip
    parser.add_argument("--client-nice", type=int, default=10, help="niceness of the clients")
    add_stream_options(parser, generator="the phones and the HTTP clients")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; the exit status (1 when a target is missed)."""
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["--clients"]:
        return client_main(arguments[1])
    options = parse_arguments(arguments)
    mix = parse_mix(options.mix, endpoint_paths(options.month))
    install_stop_signals(240 + options.calls / options.setup_rate * 3 + options.baseline
                         + options.duration + options.timeout)  # fmt: skip
    generator_cpu = prepare_generator(options, options.calls)
    outcomes: list[Outcome] = []

    def body(workdir: Path, slot: ServerSlot) -> int:
        server = slot.server = options_server(workdir, options)
        password = os.urandom(12).hex()
        server.cli("user", "add", ADMIN, "--role", "admin", "--password", password)
        token = server.cli("user", "token", ADMIN, "--name", "bench").stdout.strip().split()[-1]
        started = time.perf_counter()
        events = asyncio.run(load_history(server.data_dir, options.month))
        print(f"{events:,} queue-log events for {options.month} "
              f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
        server.start()
        print(
            f"ringfort pid {server.pid} on CPU {options.server_cpu}; phones pid {os.getpid()} "
            f"and HTTP clients (nice {options.client_nice}) on CPU {generator_cpu or 'any'}",
            flush=True,
        )
        outcomes.append(asyncio.run(measure(options, server, token, mix)))
        return 0

    status = run_bench("ringfort-bench-api-", keep=options.keep, body=body)
    if status or not outcomes:
        return status
    return 0 if print_outcome(outcomes[0], options, mix) else 1


if __name__ == "__main__":
    sys.exit(main())
