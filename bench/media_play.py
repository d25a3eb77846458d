"""Playback load: the built-in media engine playing a clip to N legs at once, for rising N.

This process is the engine: it allocates N legs on 127.0.0.1 and plays the same 10 s
G.711 clip to all of them from the one shared ticker. A second process stands for the
N phones: one UDP socket each, counting what arrives and the longest silence between
two packets of a stream. Per step it prints the engine process's CPU use (user plus
system, as % of one core) over the playback, the packets the phones received against
the packets due, and the worst gap a phone saw (20 ms when pacing is perfect).

    .venv/bin/python bench/media_play.py                      # 50, 100, 200 legs
    .venv/bin/python bench/media_play.py --legs 400 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import resource
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from ringfort.media.engine import LegMedia
from ringfort.media.relay import RelayEngine

HOST = "127.0.0.1"
DEFAULT_LEGS = (50, 100, 200)


@dataclass(frozen=True)
class BenchClip:
    """Noise in both laws: what a prompt looks like to the engine."""

    ulaw: bytes
    alaw: bytes
    duration: float


def make_clip(seconds: float) -> BenchClip:
    size = round(seconds * 8000)
    return BenchClip(os.urandom(size), os.urandom(size), seconds)


# --------------------------------------------------------------------------- the phones


class PhoneSocket(asyncio.DatagramProtocol):
    """One phone's media socket: counts packets and the widest gap between two."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.received = 0
        self.last: float | None = None
        self.widest = 0.0
        self.port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        now = self.loop.time()
        if self.last is not None:
            self.widest = max(self.widest, now - self.last)
        self.last = now
        self.received += 1


async def run_phones(count: int, control: Connection, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    loop = asyncio.get_running_loop()
    phones: list[PhoneSocket] = []
    transports: list[asyncio.BaseTransport] = []
    for _ in range(count):
        transport, phone = await loop.create_datagram_endpoint(
            lambda: PhoneSocket(loop), local_addr=(HOST, 0)
        )
        transports.append(transport)
        phones.append(phone)
    control.send([phone.port for phone in phones])
    # The engine says when the step is over; then report and stop.
    await loop.run_in_executor(None, control.recv)
    await asyncio.sleep(0.2)  # the last packets in flight
    control.send((sum(phone.received for phone in phones), max(phone.widest for phone in phones)))
    for opened in transports:
        opened.close()


def phones_main(count: int, control: Connection, cpu: int | None) -> None:
    asyncio.run(run_phones(count, control, cpu))


# --------------------------------------------------------------------------- the engine


@dataclass(frozen=True)
class Step:
    legs: int
    seconds: float
    cpu_percent: float
    due: int
    received: int
    widest_gap_ms: float
    completed: int


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_step(legs: int, clip: BenchClip, port_low: int, cpu: int | None) -> Step:
    # Room to skip pairs something else holds; below the kernel's ephemeral ports.
    engine = RelayEngine(
        host=HOST, port_low=port_low, port_high=port_low + 4 * legs + 39, rtp_timeout=60.0
    )
    control, child_end = multiprocessing.Pipe()
    child = multiprocessing.get_context("spawn").Process(
        target=phones_main, args=(legs, child_end, None if cpu is None else 1 - cpu)
    )
    child.start()
    try:
        loop = asyncio.get_running_loop()
        ports: list[int] = await loop.run_in_executor(None, control.recv)
        media: list[LegMedia] = []
        for port in ports:
            leg = await engine.allocate_leg(f"bench-{port}")
            engine.set_remote(leg, HOST, port)
            media.append(leg)
        finished: asyncio.Queue[bool] = asyncio.Queue()
        await asyncio.sleep(0.5)  # let allocation settle out of the measurement

        started_cpu, started = cpu_seconds(), time.monotonic()
        for leg in media:
            engine.play(leg, [clip], on_done=finished.put_nowait)
        completed = 0
        for _ in media:
            completed += await asyncio.wait_for(finished.get(), clip.duration + 10.0)
        seconds = time.monotonic() - started
        used = cpu_seconds() - started_cpu

        control.send("done")
        received, widest = await loop.run_in_executor(None, control.recv)
        frames = -(-round(clip.duration * 8000) // 160)
        return Step(
            legs=legs,
            seconds=seconds,
            cpu_percent=100.0 * used / seconds,
            due=frames * legs,
            received=received,
            widest_gap_ms=1000.0 * widest,
            completed=completed,
        )
    finally:
        await engine.close()
        child.join(timeout=5)
        if child.is_alive():
            child.terminate()
            child.join()


def print_header() -> None:
    print(f"{'legs':>5} {'seconds':>8} {'CPU %':>7} {'packets/s':>10} {'received/due':>17} "
          f"{'worst gap':>10} {'completed':>9}", flush=True)  # fmt: skip


def print_step(step: Step) -> None:
    print(
        f"{step.legs:>5} {step.seconds:>8.2f} {step.cpu_percent:>7.1f} "
        f"{step.received / step.seconds:>10.0f} {step.received:>8}/{step.due:<8} "
        f"{step.widest_gap_ms:>7.1f} ms {step.completed:>9}",
        flush=True,
    )


async def main_async(options: argparse.Namespace) -> None:
    clip = make_clip(options.seconds)
    cpu: int | None = options.cpu
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    print_header()
    for legs in options.legs:
        port_low = random.randrange(20000, 32000 - 4 * legs - 40, 2)
        print_step(await run_step(legs, clip, port_low, cpu))


def parse_legs(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--legs", type=parse_legs, default=list(DEFAULT_LEGS), help="legs per step, e.g. 50,100"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length (the step)")
    parser.add_argument(
        "--cpu",
        type=int,
        choices=(0, 1),
        default=0 if len(os.sched_getaffinity(0)) >= 2 else None,
        help="pin the engine to this CPU and the phones to the other",
    )
    parser.add_argument("--no-uvloop", action="store_true", help="use asyncio's own loop")
    options = parser.parse_args()
    runner: Any = asyncio.run
    if not options.no_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            runner = uvloop.run
    runner(main_async(options))


if __name__ == "__main__":
    main()
