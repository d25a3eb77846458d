"""Voicemail load: N callers leaving a message at once; is every message stored whole?

Starts its own ``ringfort serve`` (pinned to one core with ``taskset``) with
``--mailboxes`` extensions that have voicemail on and no phone registered, so a
call to one goes straight to its mailbox. This process is the callers, on the
other core: it places N calls at once (answering the 407 challenge), dealt over
the mailboxes in turn. Each caller sends G.711 silence as a phone does while it
hears the greeting and the beep; once Ringfort's stream has stopped after the
beep, it sends exactly ``--seconds`` of a tone (20 ms packets paced on the real
clock), then ``--tail`` seconds of silence, then hangs up.

It prints the server's CPU over the run, while every caller heard the greeting
and while every caller was talking, then checks each stored message: its WAV
must hold the tone, from its first loud sample to its last and counting only
the tone's samples, within ``--tolerance`` of what was sent, and the length in
the message's row must be the WAV's. Silent holes inside the tone (a packet
that reached the recorder after its 20 ms tick) are counted and shown. It exits
1 when a call fails or a message is missing or off.

    bench/voicemail_load.sh                           # 50 callers, 10 mailboxes, 5 s each
    bench/voicemail_load.sh --callers 100 --mailboxes 1 --seconds 8
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import statistics
import sys
import time
import urllib.request
import wave
from array import array
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media_load import PCMU, RTP_HEADER, Endpoint, OutgoingCall, Phones, Totals
from server_under_test import (
    RingfortServer,
    ServerSlot,
    add_server_options,
    cpu_seconds,
    install_stop_signals,
    options_server,
    run_bench,
    wait_for_idle,
)

from ringfort.media.prompts import SHIPPED_PROMPTS, load_file
from ringfort.rtp.g711 import linear_to_ulaw

FIRST_MAILBOX = 3001
RATE = 8000
FRAME_SAMPLES = 160
"""One 20 ms packet of G.711."""
SILENCE = b"\xff" * FRAME_SAMPLES
"""PCMU for a linear 0."""
TONE_HZ = 800.0
TONE_LEVEL = 8000
TONE_PHASE = math.pi / 10
"""800 Hz at 8 kHz is ten samples a cycle; a phase of 18 degrees keeps every sample at
least 0.31 of the peak from zero, so the tone's first and last samples are loud ones."""
LOUD = 1000
"""A sample above this (in magnitude) is the tone; the recorder writes 0 for silence."""
HOLE_SAMPLES = 8
"""This many quiet samples in a row inside the tone are a hole (the tone has none)."""
QUIET_SECONDS = 0.25
"""Ringfort's stream silent this long after the greeting's length: the beep is over."""
BEEP_SECONDS = 0.3
"""The beep after the greeting (ringfort.apps.voicemail)."""


def tone_frames(seconds: float) -> list[bytes]:
    """``seconds`` of the tone as 20 ms PCMU payloads, the phase running on across them."""
    count = round(seconds * RATE / FRAME_SAMPLES) * FRAME_SAMPLES
    step = 2 * math.pi * TONE_HZ / RATE
    pcm = array("h", (round(TONE_LEVEL * math.sin(TONE_PHASE + step * i)) for i in range(count)))
    if sys.byteorder == "big":
        pcm.byteswap()
    encoded = linear_to_ulaw(pcm.tobytes())
    return [encoded[i : i + FRAME_SAMPLES] for i in range(0, len(encoded), FRAME_SAMPLES)]


def greeting_seconds(mailbox: str, language: str = "en") -> float:
    """What a caller hears before the recording starts: the shipped prompts and the beep."""
    names = ["vm-person-at", *(f"digits/{digit}" for digit in mailbox)]
    names += ["vm-unavailable", "vm-leave-message"]
    folder = SHIPPED_PROMPTS / language
    return BEEP_SECONDS + sum(load_file(folder / f"{name}.wav").duration for name in names)


# --------------------------------------------------------------------------- callers


class MessageEndpoint(Endpoint):
    """A caller's media socket: silence until `talk`, then the tone's packets exactly once.

    It notes when Ringfort's stream (the greeting, the beep) last arrived.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tone: list[bytes] = []
        """The tone's payloads (set by `MailboxCallers` before the call is answered)."""
        self.next_frame: int | None = None
        """Index of the next tone frame to send; None before `talk`."""
        self.talked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.talk_started = 0.0
        self.talk_ended = 0.0
        self.heard = 0
        self.last_heard = 0.0

    def talk(self) -> None:
        """Send the tone from the next packet on."""
        self.next_frame = 0

    def send(self, now_ns: int) -> None:
        if not self.sending or self.transport is None or self.destination is None:
            return
        payload = SILENCE
        frame = self.next_frame
        if frame is not None and frame < len(self.tone):
            payload = self.tone[frame]
            self.next_frame = frame + 1
            now = time.monotonic()
            if frame == 0:
                self.talk_started = now
            if self.next_frame == len(self.tone):
                self.talk_ended = now
                if not self.talked.done():
                    self.talked.set_result(None)
        RTP_HEADER.pack_into(
            self.packet, 0, 0x80, PCMU | (0x80 if self.sequence == 0 else 0),
            self.sequence, self.timestamp, self.ssrc,
        )  # fmt: skip
        self.packet[RTP_HEADER.size :] = payload
        self.transport.sendto(self.packet, self.destination)
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + self.samples_per_packet) & 0xFFFFFFFF
        self.sent += 1

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.heard += 1
        self.last_heard = time.monotonic()

    def stop_talking(self) -> None:
        """No more tone (the call failed): whatever comes next is silence."""
        self.next_frame = len(self.tone)


class MailboxCallers(Phones):
    """The media benchmark's caller 101, each call to a mailbox of its own choosing.

    `Phones` dials one number; here the number is kept per Call-ID and put in place
    before each INVITE is built and each answer to one is handled (the digest's URI).
    """

    endpoint_type = MessageEndpoint

    def __init__(self, *, server: tuple[str, int], tone: list[bytes]) -> None:
        super().__init__(server=server, ptime_ms=20, late_ms=60.0)
        self.tone = tone
        self._mailbox_of: dict[str, str] = {}
        self._next_mailbox = ""

    async def endpoint(self, totals: Totals) -> Endpoint:
        created = await super().endpoint(totals)
        assert isinstance(created, MessageEndpoint)
        created.tone = self.tone
        return created

    async def call_mailbox(self, mailbox: str) -> OutgoingCall:
        """Call ``mailbox`` (one call at a time: the number is taken up by the INVITE)."""
        self._next_mailbox = mailbox
        return await self.place_call()

    def _send_invite(self, call: OutgoingCall, authorization: str | None) -> None:
        self.dialled = self._mailbox_of.setdefault(call.call_id, self._next_mailbox)
        super()._send_invite(call, authorization)

    def _caller_message(self, message: Any, source: tuple[str, int]) -> None:
        mailbox = self._mailbox_of.get(message.headers.get("Call-ID") or "")
        if mailbox is not None:
            self.dialled = mailbox
        super()._caller_message(message, source)


@dataclass
class Caller:
    """One caller's side of the run."""

    mailbox: str
    call: OutgoingCall
    endpoint: MessageEndpoint
    answered_at: float = 0.0
    beep_over_at: float = 0.0
    failure: str = ""

    @property
    def talked(self) -> bool:
        """Whether the whole tone went out."""
        return self.endpoint.talked.done() and not self.failure


async def leave_message(
    phones: MailboxCallers, caller: Caller, greeting: float, tail: float, talk_limit: float
) -> None:
    """Wait for the answer, the greeting and the beep; talk; hang up."""
    call, endpoint = caller.call, caller.endpoint
    try:
        if await asyncio.wait_for(asyncio.shield(call.answered), 20.0) is not True:
            caller.failure = call.failure or "not answered"
            return
        caller.answered_at = time.monotonic()
        earliest = caller.answered_at + greeting - 0.3
        deadline = caller.answered_at + greeting + 15.0
        while True:
            now = time.monotonic()
            if call.ended.done():
                caller.failure = call.failure or "ended before the beep"
                return
            if now >= earliest and endpoint.heard and now - endpoint.last_heard >= QUIET_SECONDS:
                break
            if now >= deadline:
                caller.failure = "the greeting did not end"
                break
            await asyncio.sleep(0.01)
        if not caller.failure:
            caller.beep_over_at = endpoint.last_heard
            endpoint.talk()
            await asyncio.wait_for(asyncio.shield(endpoint.talked), talk_limit)
            await asyncio.sleep(tail)
        if call.ended.done():
            caller.failure = caller.failure or call.failure or "ended while talking"
            return
        phones.hang_up(call)
        if await asyncio.wait_for(asyncio.shield(call.ended), 20.0) is not True:
            caller.failure = caller.failure or call.failure or "BYE not answered"
    except TimeoutError:
        endpoint.stop_talking()
        caller.failure = caller.failure or "timed out"
        if call.answered.done() and call.answered.result() is True and not call.ended.done():
            phones.hang_up(call)


# --------------------------------------------------------------------------- CPU


class CpuTrace:
    """The server's CPU seconds sampled every ``interval``, to read any window afterwards."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        """Take one sample now."""
        with contextlib.suppress(OSError, IndexError, ValueError):
            self.samples.append((time.monotonic(), cpu_seconds(self.pid)))

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        """Sample until `stop`."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        """One last sample, and no more."""
        if self._task is not None:
            self._task.cancel()
        self.sample()

    def percent(self, start: float, end: float) -> float | None:
        """CPU % of one core between the samples nearest ``start`` and ``end`` inside them."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2 or inside[-1][0] - inside[0][0] < 0.5:
            return None
        (t0, c0), (t1, c1) = inside[0], inside[-1]
        return 100.0 * (c1 - c0) / (t1 - t0)


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class Message:
    """One stored message, as measured in its WAV."""

    id: int
    mailbox: str
    row_seconds: float
    wav_seconds: float
    tone_span: float
    """First loud sample to last, in seconds."""
    tone_seconds: float
    """Loud samples, in seconds (the tone only: it has no quiet sample)."""
    holes: float
    """Seconds of quiet stretches inside the span."""
    lead: float = 0.0
    """Seconds of silence before the tone (the recording starts at the beep's end)."""
    problem: str = ""

    def error(self, sent: float) -> float:
        """Tone span less what was sent."""
        return self.tone_span - sent


def measure(row: dict[str, Any]) -> Message:
    """Read a message's WAV and find the tone in it."""
    ident, mailbox, seconds = int(row["id"]), str(row["mailbox"]), float(row["seconds"])
    try:
        with wave.open(str(row["file"]), "rb") as wav:
            if (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) != (1, 2, RATE):
                return Message(ident, mailbox, seconds, 0, 0, 0, 0, "not 8 kHz 16-bit mono")
            samples = array("h", wav.readframes(wav.getnframes()))
    except (OSError, EOFError, wave.Error) as error:
        return Message(ident, mailbox, seconds, 0, 0, 0, 0, f"unreadable: {error}")
    if sys.byteorder == "big":
        samples.byteswap()
    loud = [index for index, value in enumerate(samples) if value > LOUD or value < -LOUD]
    wav_seconds = len(samples) / RATE
    if not loud:
        return Message(ident, mailbox, seconds, wav_seconds, 0, 0, 0, "no tone")
    holes, previous = 0, loud[0]
    for index in loud[1:]:
        if index - previous > HOLE_SAMPLES:
            holes += index - previous - 1
        previous = index
    return Message(
        ident, mailbox, seconds, wav_seconds,
        tone_span=(loud[-1] - loud[0] + 1) / RATE,
        tone_seconds=len(loud) / RATE,
        holes=holes / RATE,
        lead=loud[0] / RATE,
    )  # fmt: skip


def stored_messages(server: RingfortServer, expected: int, timeout: float) -> list[dict[str, Any]]:
    """``ringfort voicemail list --json`` once ``expected`` messages are there (or at the
    timeout): each is saved once its caller's recording has been closed."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(
                f"{server.http_url}/api/v1/voicemail/messages", timeout=5.0
            ) as reply:
                count = len(json.loads(reply.read().decode()))
        except (OSError, ValueError):
            count = -1
        if count >= expected or time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    rows: list[dict[str, Any]] = json.loads(server.cli("voicemail", "list", "--json").stdout)
    return rows


# --------------------------------------------------------------------------- the run


@dataclass
class Run:
    """What the callers did and what the server used."""

    callers: list[Caller]
    trace: CpuTrace
    started: float
    ended: float

    def cpu(self) -> tuple[float | None, float | None, float | None]:
        """Server CPU % over the whole run, while every caller heard the greeting, and while
        every caller was talking (None where a window is too short to tell)."""
        whole = self.trace.percent(self.started, self.ended)
        talked = [c for c in self.callers if c.talked]
        if not talked:
            return whole, None, None
        last_answered = max(c.answered_at for c in talked)
        first_beep_over = min(c.beep_over_at for c in talked)
        last_start = max(c.endpoint.talk_started for c in talked)
        first_done = min(c.endpoint.talk_ended for c in talked)
        return (
            whole,
            self.trace.percent(last_answered, first_beep_over),
            self.trace.percent(last_start, first_done),
        )


async def run_callers(server: RingfortServer, options: argparse.Namespace,
                      mailboxes: list[str]) -> Run:  # fmt: skip
    """Place every call, let each leave its message, wait until all have hung up."""
    assert server.pid is not None
    loop = asyncio.get_running_loop()
    phones = MailboxCallers(server=server.sip_target, tone=tone_frames(options.seconds))
    greetings = {mailbox: greeting_seconds(mailbox) for mailbox in mailboxes}
    trace = CpuTrace(server.pid)
    await phones.open()
    trace.start()
    started = time.monotonic()
    callers: list[Caller] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        begin = loop.time()
        for index in range(options.callers):
            await asyncio.sleep(max(0.0, begin + index / options.setup_rate - loop.time()))
            mailbox = mailboxes[index % len(mailboxes)]
            call = await phones.call_mailbox(mailbox)
            assert isinstance(call.endpoint, MessageEndpoint)
            caller = Caller(mailbox, call, call.endpoint)
            callers.append(caller)
            tasks.append(
                loop.create_task(
                    leave_message(
                        phones, caller, greetings[mailbox], options.tail, options.seconds + 10.0
                    )
                )
            )
        await asyncio.gather(*tasks)
        ended = time.monotonic()
        trace.stop()
    finally:
        for task in tasks:
            task.cancel()
        phones.end_step()
        await phones.close()
    return Run(callers, trace, started, ended)


def _stats(values: list[float]) -> str:
    if not values:
        return "-"
    mean = statistics.fmean(values)
    return f"min {min(values):+.3f} s, max {max(values):+.3f} s, mean {mean:+.3f} s"


def report(options: argparse.Namespace, run: Run, messages: list[Message]) -> bool:
    """Print the figures; True when every caller's message is there and whole."""
    sent, tolerance = options.seconds, options.tolerance
    callers = run.callers
    talked = [c for c in callers if c.talked]
    failures = Counter(c.failure for c in callers if c.failure)
    waits = [c.beep_over_at - c.answered_at for c in talked]
    whole_cpu, greeting_cpu, talking_cpu = run.cpu()
    print(
        f"\n{len(callers)} callers over {options.mailboxes} mailboxes: {len(talked)} sent their "
        f"{sent:.2f} s tone and hung up; run {run.ended - run.started:.1f} s"
    )
    for why, count in failures.most_common():
        print(f"  {count} failed: {why}")
    if waits:
        prompts = [greeting_seconds(box) for box in {c.mailbox for c in talked}]
        print(
            f"answer -> beep over: {min(waits):.2f}-{max(waits):.2f} s "
            f"(greeting and beep last {min(prompts):.2f}-{max(prompts):.2f} s)"
        )
    lateness = [c.endpoint.talk_ended - c.endpoint.talk_started - (sent - 0.02) for c in talked]
    if lateness:
        print(f"tone sending took up to {1000 * max(lateness):+.0f} ms more than its length")
    print(
        f"server CPU, % of one core: {_percent(whole_cpu)} over the run, "
        f"{_percent(greeting_cpu)} while all {len(talked)} heard the greeting, "
        f"{_percent(talking_cpu)} while all were talking (recorded)"
    )

    bad: list[tuple[Message, str]] = []
    for message in messages:
        why = message.problem
        if not why and abs(message.error(sent)) > tolerance:
            why = f"tone span {message.tone_span:.3f} s"
        if not why and abs(message.tone_seconds - sent) > tolerance:
            why = f"tone {message.tone_seconds:.3f} s"
        if not why and abs(message.row_seconds - message.wav_seconds) > tolerance:
            why = f"row says {message.row_seconds:.2f} s, WAV {message.wav_seconds:.2f} s"
        if why:
            bad.append((message, why))
    wanted = Counter(c.mailbox for c in talked)
    stored = Counter(m.mailbox for m in messages)
    missing = sum(max(0, wanted[box] - stored[box]) for box in wanted)
    extra = sum(max(0, stored[box] - wanted[box]) for box in stored)
    errors = [m.error(sent) for m in messages if not m.problem]
    print(
        f"\nmessages stored: {len(messages)} of {len(talked)}; complete (tone within "
        f"{tolerance:.2f} s of {sent:.2f} s, row = WAV): {len(messages) - len(bad)}, "
        f"incomplete: {len(bad)}, missing: {missing}, unexpected: {extra}"
    )
    print(f"tone span - sent: {_stats(errors)}")
    holed = [m.holes for m in messages if m.holes > 0]
    if holed:
        print(
            f"with a silent hole inside the tone: {len(holed)} "
            f"({1000 * min(holed):.0f}-{1000 * max(holed):.0f} ms each)"
        )
    print(f"row seconds - WAV seconds: {_stats([m.row_seconds - m.wav_seconds for m in messages])}")
    lengths = [m.wav_seconds for m in messages]
    if lengths:
        print(f"message lengths {min(lengths):.2f}-{max(lengths):.2f} s (silence before the tone "
              "included)")  # fmt: skip
    if options.verbose:
        print(f"\n{'id':>4} {'mailbox':>7} {'row s':>6} {'WAV s':>6} {'span s':>7} "
              f"{'error ms':>8} {'holes ms':>8} {'lead s':>6}")  # fmt: skip
        for m in sorted(messages, key=lambda m: m.id):
            print(
                f"{m.id:>4} {m.mailbox:>7} {m.row_seconds:>6.2f} {m.wav_seconds:>6.2f} "
                f"{m.tone_span:>7.3f} {1000 * m.error(sent):>+8.1f} {1000 * m.holes:>8.0f} "
                f"{m.lead:>6.3f}"
            )
    for message, why in bad[:20]:
        print(f"  message {message.id} (mailbox {message.mailbox}): {why}")
    return not failures and not bad and missing == 0 and extra == 0 and len(talked) == len(callers)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} %"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit status."""
    options = parse_arguments(argv)
    mailbox_count = max(1, min(options.mailboxes, options.callers))
    mailboxes = [str(FIRST_MAILBOX + index) for index in range(mailbox_count)]
    options.mailboxes = mailbox_count
    longest = max(greeting_seconds(mailbox) for mailbox in mailboxes)
    install_stop_signals(
        120 + mailbox_count + options.callers / options.setup_rate + longest
        + options.seconds + options.tail + 60
    )  # fmt: skip
    if (os.cpu_count() or 1) > 1 and options.server_cpu == "0":
        os.sched_setaffinity(0, {1})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(
        resource.RLIMIT_NOFILE, (min(hard, max(soft, 16 * options.callers + 1024)), hard)
    )
    try:
        import uvloop  # the server uses it too

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass

    def body(workdir: Path, slot: ServerSlot) -> int:
        server = slot.server = options_server(workdir, options)
        server.add_extensions(
            [(mailbox, f"Mailbox {mailbox}", f"bench-mailbox-{mailbox}") for mailbox in mailboxes]
        )
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda mailbox: server.cli("voicemail", "enable", mailbox), mailboxes))
        server.start()
        print(
            f"ringfort pid {server.pid} on CPU {options.server_cpu}; {options.callers} callers, "
            f"mailboxes {mailboxes[0]}-{mailboxes[-1]}, {options.seconds:.2f} s of "
            f"{TONE_HZ:.0f} Hz each",
            flush=True,
        )
        run = asyncio.run(run_callers(server, options, mailboxes))
        expected = sum(1 for caller in run.callers if caller.talked)
        rows = stored_messages(server, expected, timeout=15.0)
        left, _ = wait_for_idle(server, timeout=5.0)
        ok = report(options, run, [measure(row) for row in rows])
        if left:
            print(f"calls still active at the server afterwards: {left}")
            ok = False
        if not server.alive:
            print("the server died", file=sys.stderr)
            ok = False
        return 0 if ok else 1

    return run_bench("ringfort-bench-voicemail-", keep=options.keep, body=body)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="voicemail_load.sh",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--callers", type=int, default=50, help="callers leaving a message at once")
    parser.add_argument("--mailboxes", type=int, default=10, help="mailboxes they are dealt over")
    parser.add_argument("--seconds", type=float, default=5.0, help="tone each caller sends")
    parser.add_argument("--tail", type=float, default=0.0, help="silence after it, before BYE")
    parser.add_argument("--tolerance", type=float, default=0.1, help="seconds a message may be off")
    parser.add_argument("--setup-rate", type=float, default=50.0, help="calls placed per second")
    parser.add_argument("--server-cpu", default="0", help="taskset CPU list for the server")
    parser.add_argument("--verbose", action="store_true", help="print every message's figures")
    add_server_options(parser)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
