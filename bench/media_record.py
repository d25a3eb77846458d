"""Recording load: N relayed calls, each recorded as a stereo WAV, against the same N unrecorded.

This process is the engine: it allocates two legs per call on 127.0.0.1 and
connects them. A second process stands for the 2N phones: one UDP socket each,
sending a 20 ms PCMU packet every 20 ms to its leg for the step's length. Per
step it prints the engine process's CPU use (user plus system, as % of one
core), first relaying only, then relaying and recording every call to a
temporary directory (written as the calls run, with the WAV header brought up
to date every second), and the recordings' total length against the time due.

    .venv/bin/python bench/media_record.py                   # 50, 100, 200 calls
    .venv/bin/python bench/media_record.py --calls 300 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import resource
import struct
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ringfort.media.engine import LegMedia
from ringfort.media.recorder import CallRecording
from ringfort.media.relay import RelayEngine

HOST = "127.0.0.1"
DEFAULT_CALLS = (50, 100, 200)


# --------------------------------------------------------------------------- the phones


async def run_phones(ports: list[int], seconds: float, control: Connection) -> None:
    loop = asyncio.get_running_loop()
    transports = []
    for _ in ports:
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=(HOST, 0)
        )
        transports.append(transport)
    control.send("ready")
    payload = os.urandom(160)
    start = loop.time()
    frame = 0
    while (now := loop.time()) - start < seconds:
        due = int((now - start) / 0.02)
        while frame <= due:
            header = struct.pack("!BBHII", 0x80, 0, frame & 0xFFFF, frame * 160, 0)
            for index, transport in enumerate(transports):
                transport.sendto(header + payload, (HOST, ports[index]))
            frame += 1
        await asyncio.sleep(0.02 - (loop.time() - start) % 0.02)
    for transport in transports:
        transport.close()
    control.send("sent")


def phones_main(ports: list[int], seconds: float, control: Connection, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    asyncio.run(run_phones(ports, seconds, control))


# --------------------------------------------------------------------------- the engine


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_step(
    calls: int, seconds: float, record: bool, cpu: int | None, directory: Path
) -> tuple[float, float]:
    """CPU % of one core over the step, and seconds recorded per call (0 when not recording)."""
    port_low = random.randrange(20000, 32000 - 4 * calls - 80, 2)
    engine = RelayEngine(
        host=HOST, port_low=port_low, port_high=port_low + 4 * calls + 79, rtp_timeout=60.0
    )
    legs: list[LegMedia] = []
    for index in range(2 * calls):
        legs.append(await engine.allocate_leg(f"bench-{index // 2}"))
    for index in range(0, len(legs), 2):
        engine.connect(legs[index], legs[index + 1])
    recordings: list[CallRecording] = []
    control, child_end = multiprocessing.Pipe()
    child = multiprocessing.get_context("spawn").Process(
        target=phones_main,
        args=([leg.rtp_port for leg in legs], seconds, child_end, None if cpu is None else 1 - cpu),
    )
    child.start()
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, control.recv)
        if record:
            for index in range(0, len(legs), 2):
                recording = CallRecording(
                    directory / f"call-{index // 2}.wav", 2, wall=lambda: datetime.now(UTC)
                )
                engine.start_recording(recording, legs[index : index + 2])
                recordings.append(recording)
        started_cpu, started = cpu_seconds(), time.monotonic()
        await loop.run_in_executor(None, control.recv)
        used, elapsed = cpu_seconds() - started_cpu, time.monotonic() - started
        recorded = 0.0
        for recording in recordings:
            engine.stop_recording(recording)
            recorded += recording.close().seconds
        return 100.0 * used / elapsed, recorded / calls if recordings else 0.0
    finally:
        await engine.close()
        child.join(timeout=5)
        if child.is_alive():
            child.terminate()
            child.join()


async def main_async(options: argparse.Namespace) -> None:
    cpu: int | None = options.cpu
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    print(f"{'calls':>6} {'relay CPU %':>12} {'relay+record CPU %':>19} {'recorded s/call':>16}")
    for calls in options.calls:
        with tempfile.TemporaryDirectory(prefix="ringfort-bench-") as folder:
            relay_only, _ = await run_step(calls, options.seconds, False, cpu, Path(folder))
            recording, recorded = await run_step(calls, options.seconds, True, cpu, Path(folder))
        print(
            f"{calls:>6} {relay_only:>12.1f} {recording:>19.1f} "
            f"{recorded:>8.2f} of {options.seconds:<5.1f}",
            flush=True,
        )


def parse_calls(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls", type=parse_calls, default=list(DEFAULT_CALLS), help="calls per step, e.g. 50,100"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each step")
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
