"""Two real phones call through Ringfort: each hears the other's tone, and one CDR is written.

Each phone plays its own tone (two DTMF frequencies no codec artefact turns
into the other) and records what it receives with baresip's ``sndfile``
module; a Goertzel filter over the recordings tells whose audio arrived where.
"""

from __future__ import annotations

import array
import contextlib
import json
import math
import queue
import re
import sys
import time
import urllib.request
import wave
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from harness import BaresipFactory, ServerFactory, extensions
from peers import (
    Baresip,
    BaresipCtl,
    RingfortServer,
    free_port_block,
    wait_until,
)

pytestmark = pytest.mark.peers

SAMPLE_RATE = 8000
CALLER_TONE_HZ = 697.0
CALLEE_TONE_HZ = 1633.0
"""Far apart and not harmonics of each other: a leak of one into the other shows."""
TONE_AMPLITUDE = 8000
"""About -12 dBFS: loud enough to stand out, far from G.711's clipping."""
SOURCE_SECONDS = 20.0
"""Longer than any call here, so neither phone runs out of audio mid-call."""

TALK_SECONDS = 4.5
"""Half a second past a whole number: a billsec rounded or truncated is both within ±1 s."""
MIN_TONE_SECONDS = 2.0
"""How much of the other side's tone each phone must have heard (not a start-up blip)."""
ANALYSIS_BLOCK_SECONDS = 0.05
MIN_BLOCK_RMS = 2000.0
"""The tone's RMS is ~5657; a block well below it is silence or concealment, not the tone."""
MIN_TONE_SHARE = 0.7
"""Share of a block's energy at the tone's frequency for the block to count as that tone."""
LEAK_SHARE = 0.5
"""A phone's own tone at this share of a block means its audio came back to it."""
MEDIA_PORTS = 40
"""Ringfort's RTP/RTCP ports in the call test: room for 20 pairs."""


# --------------------------------------------------------------------------- tones


def write_tone_wav(path: Path, frequency: float, *, seconds: float = SOURCE_SECONDS) -> Path:
    """An 8 kHz mono 16-bit WAV of one sine tone: a phone's audio source."""
    step = 2.0 * math.pi * frequency / SAMPLE_RATE
    samples = array.array(
        "h", (round(TONE_AMPLITUDE * math.sin(step * n)) for n in range(int(seconds * SAMPLE_RATE)))
    )
    if sys.byteorder == "big":
        samples.byteswap()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(samples.tobytes())
    return path


def read_wav(path: Path) -> tuple[array.array[int], int]:
    """The samples and sample rate of a mono 16-bit WAV."""
    with wave.open(str(path), "rb") as recording:
        assert recording.getnchannels() == 1, f"{path}: {recording.getnchannels()} channels"
        assert recording.getsampwidth() == 2, f"{path}: {recording.getsampwidth()} bytes a sample"
        rate = recording.getframerate()
        samples = array.array("h", recording.readframes(recording.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples, rate


def goertzel_power(samples: array.array[int], frequency: float, rate: int) -> float:
    """Squared DFT magnitude of ``samples`` at ``frequency`` (any frequency, not only bins)."""
    coefficient = 2.0 * math.cos(2.0 * math.pi * frequency / rate)
    previous = before_previous = 0.0
    for sample in samples:
        previous, before_previous = sample + coefficient * previous - before_previous, previous
    return (
        previous * previous
        + before_previous * before_previous
        - (coefficient * previous * before_previous)
    )


def tone_seconds(
    samples: array.array[int], rate: int, frequency: float, *, min_share: float = MIN_TONE_SHARE
) -> float:
    """Seconds of ``samples`` in blocks that are loud and carry mostly ``frequency``.

    For a sine of amplitude A over n samples the power is (A n / 2)^2 and the
    block's energy n A^2 / 2, so ``2 * power / (n * energy)`` is the share of
    the block's energy at that frequency: 1 for a pure tone, ~0 for another.
    """
    size = max(1, int(ANALYSIS_BLOCK_SECONDS * rate))
    found = 0
    for start in range(0, len(samples) - size + 1, size):
        block = samples[start : start + size]
        energy = float(sum(sample * sample for sample in block))
        if energy / size < MIN_BLOCK_RMS**2:
            continue
        if 2.0 * goertzel_power(block, frequency, rate) / (size * energy) >= min_share:
            found += 1
    return found * size / rate


def test_tone_analysis_tells_the_two_tones_apart(tmp_path: Path) -> None:
    caller_tone, rate = read_wav(write_tone_wav(tmp_path / "a.wav", CALLER_TONE_HZ, seconds=3))
    callee_tone, _ = read_wav(write_tone_wav(tmp_path / "b.wav", CALLEE_TONE_HZ, seconds=3))
    quiet = array.array("h", (sample // 8 for sample in caller_tone))

    assert rate == SAMPLE_RATE
    assert tone_seconds(caller_tone, rate, CALLER_TONE_HZ) == pytest.approx(3.0)
    assert tone_seconds(caller_tone, rate, CALLEE_TONE_HZ, min_share=0.01) == 0.0
    assert tone_seconds(callee_tone, rate, CALLEE_TONE_HZ) == pytest.approx(3.0)
    assert tone_seconds(callee_tone, rate, CALLER_TONE_HZ, min_share=0.01) == 0.0
    assert tone_seconds(quiet, rate, CALLER_TONE_HZ) == 0.0, "too quiet to count as heard"


# --------------------------------------------------------------------------- phones


def tone_phone(
    factory: BaresipFactory,
    name: str,
    *,
    source_wav: Path,
    account: str | None = None,
    answermode: str = "manual",
) -> Baresip:
    """A phone playing ``source_wav`` into its calls, with SIP tracing in its log."""
    return factory(
        name, source_wav=source_wav, account=account, answermode=answermode, sip_trace=True
    )


def extension_phone(
    factory: BaresipFactory,
    server: RingfortServer,
    number: str,
    *,
    source_wav: Path,
    name: str | None = None,
    answermode: str = "manual",
) -> Baresip:
    """A tone phone registered at ``server`` as extension ``number`` (PCMA only), once the
    server has its registration."""
    password = extensions(number)[0].password
    account = (
        f"<sip:{number}@{server.sip_address}>;auth_user={number};auth_pass={password}"
        f";regint=60;answermode={answermode};audio_codecs=PCMA/8000/1"
    )
    phone = tone_phone(factory, name or f"phone-{number}", source_wav=source_wav, account=account)
    wait_until(phone.is_registered, timeout=5, what=f"{number} registered")
    server.wait_for_registration(number, timeout=3, via="http")
    return phone


def control(phone: Baresip) -> BaresipCtl:
    """The phone's control connection (it exists while the phone runs)."""
    assert phone.ctl is not None, f"{phone.name} is not running"
    return phone.ctl


def diagnostics(*phones: Baresip) -> str:
    """Each phone's events and log tail (with its SIP trace), for assertion messages."""
    parts = []
    for phone in phones:
        events = [
            f"{event.get('type')}({event.get('param', '')})"
            for event in (phone.ctl.all_events if phone.ctl else [])
        ]
        parts.append(f"===== {phone.name}: events {events}\n{phone.log(200)}")
    return "\n".join(parts)


def next_event(ctl: BaresipCtl, kinds: Collection[str], *, timeout: float) -> dict[str, Any]:
    """The next event of any of ``kinds``: a call that fails ends the wait at once."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = ctl.events.get(timeout=left)
        except queue.Empty:
            break
        if event.get("type") in kinds:
            return event
    seen = [event.get("type") for event in ctl.all_events]
    raise TimeoutError(f"none of {sorted(kinds)} within {timeout} s; events so far: {seen}")


_RTP_SOURCE = re.compile(r"incoming rtp for 'audio' established, receiving from ([\d.]+):(\d+)")


def rtp_source_port(phone: Baresip) -> int:
    """The port the phone's incoming RTP came from, as its log reports it."""
    found = [
        int(port) for _, port in _RTP_SOURCE.findall(phone.log_path.read_text(errors="replace"))
    ]
    assert len(found) == 1, f"{phone.name}: RTP sources {found}\n{phone.log()}"
    return found[0]


def received_recording(phone: Baresip, *, timeout: float = 5.0) -> Path:
    """The WAV of what ``phone`` received in its one call, once sndfile has closed it.

    sndfile writes ``dump-<time>-dec.wav`` (decoded, i.e. received) and
    ``...-enc.wav`` (sent); the header is complete only after the call's audio
    stream is torn down, so the file is polled until it parses.
    """
    dump_dir = phone.config_dir / "dump"

    def closed_recording() -> Path | None:
        found = sorted(dump_dir.glob("*-dec.wav"))
        if not found:
            return None
        assert len(found) == 1, f"{phone.name} recorded more than one call: {found}"
        try:
            with wave.open(str(found[0]), "rb") as recording:
                complete = recording.getnframes() > 0
        except (wave.Error, EOFError):
            return None
        return found[0] if complete else None

    return wait_until(closed_recording, timeout=timeout, what=f"a closed recording in {dump_dir}")


@dataclass(frozen=True)
class Conversation:
    """What one call between two tone phones left behind."""

    talked: float
    """Seconds from the caller's CALL_ESTABLISHED to its hangup command."""
    heard: dict[str, float]
    """Seconds of each tone found in each recording."""
    context: str
    """Measurements and both phones' logs, for assertion messages."""


def converse(
    caller: Baresip,
    callee: Baresip,
    target: str,
    *,
    while_talking: Callable[[], None] = lambda: None,
) -> Conversation:
    """``caller`` dials ``target``, both talk for TALK_SECONDS, the caller hangs up.

    ``while_talking`` runs once both phones report the call established.
    Every wait is bounded; a call that never connects or never ends on both
    sides fails the test with both phones' logs.
    """
    dialled = control(caller).command("dial", target)
    assert dialled.get("ok"), f"dial refused: {dialled}\n{diagnostics(caller)}"
    try:
        established = next_event(control(caller), ("CALL_ESTABLISHED", "CALL_CLOSED"), timeout=10)
        if established["type"] == "CALL_ESTABLISHED":
            control(callee).wait_event("CALL_ESTABLISHED", timeout=5)
    except TimeoutError as error:
        pytest.fail(f"the call was not established: {error}\n{diagnostics(caller, callee)}")
    if established["type"] != "CALL_ESTABLISHED":
        pytest.fail(f"the call failed: {established}\n{diagnostics(caller, callee)}")
    assert established["direction"] == "outgoing", established
    while_talking()

    time.sleep(max(0.0, established["_t"] + TALK_SECONDS - time.monotonic()))
    hung_up_at = time.monotonic()
    hangup = control(caller).command("hangup")
    assert hangup.get("ok"), f"hangup refused: {hangup}\n{diagnostics(caller)}"
    talked = hung_up_at - established["_t"]
    try:
        control(caller).wait_event("CALL_CLOSED", timeout=5)
        # The callee ends its side only when the BYE reaches it.
        control(callee).wait_event("CALL_CLOSED", timeout=5)
    except TimeoutError as error:
        pytest.fail(f"the hangup did not reach both phones: {error}\n{diagnostics(caller, callee)}")

    caller_heard, rate = read_wav(received_recording(caller))
    callee_heard, callee_rate = read_wav(received_recording(callee))
    assert rate == callee_rate == SAMPLE_RATE, (rate, callee_rate)
    heard = {
        "caller hears callee": tone_seconds(caller_heard, rate, CALLEE_TONE_HZ),
        "callee hears caller": tone_seconds(callee_heard, rate, CALLER_TONE_HZ),
        "caller hears itself": tone_seconds(
            caller_heard, rate, CALLER_TONE_HZ, min_share=LEAK_SHARE
        ),
        "callee hears itself": tone_seconds(
            callee_heard, rate, CALLEE_TONE_HZ, min_share=LEAK_SHARE
        ),
    }
    context = (
        f"seconds of tone {heard} in a call of {talked:.1f} s; recordings of "
        f"{len(caller_heard) / rate:.1f} s and {len(callee_heard) / rate:.1f} s\n"
        f"{diagnostics(caller, callee)}"
    )
    return Conversation(talked=talked, heard=heard, context=context)


def assert_each_heard_only_the_other(conversation: Conversation) -> None:
    """Both tones crossed, for at least MIN_TONE_SECONDS, and neither came back to its sender."""
    heard, context = conversation.heard, conversation.context
    assert heard["caller hears callee"] >= MIN_TONE_SECONDS, context
    assert heard["callee hears caller"] >= MIN_TONE_SECONDS, context
    assert heard["caller hears itself"] == 0.0, context
    assert heard["callee hears itself"] == 0.0, context


def test_phones_calling_each_other_directly_record_each_others_tone(
    baresip_factory: BaresipFactory, tmp_path: Path
) -> None:
    # Without Ringfort: proves the phones, their recordings and the analysis,
    # so a failure of the test through Ringfort is Ringfort's.
    callee = tone_phone(
        baresip_factory,
        "direct-callee",
        source_wav=write_tone_wav(tmp_path / "callee-tone.wav", CALLEE_TONE_HZ),
        answermode="auto",
    )
    caller = tone_phone(
        baresip_factory,
        "direct-caller",
        source_wav=write_tone_wav(tmp_path / "caller-tone.wav", CALLER_TONE_HZ),
    )
    assert_each_heard_only_the_other(converse(caller, callee, callee.uri))
    assert callee.rtp_low <= rtp_source_port(caller) < callee.rtp_low + 20
    assert caller.rtp_low <= rtp_source_port(callee) < caller.rtp_low + 20


# --------------------------------------------------------------------------- server


def live_status(server: RingfortServer) -> dict[str, Any]:
    """``GET /api/v1/status`` as a plain document (it has more than the registrar's keys)."""
    with urllib.request.urlopen(f"{server.http_url}/api/v1/status", timeout=5.0) as reply:
        document: dict[str, Any] = json.loads(reply.read().decode())
    return document


def cdr_rows(server: RingfortServer) -> list[dict[str, Any]]:
    """``ringfort cdr list --json``, parsed."""
    rows: list[dict[str, Any]] = json.loads(server.cli("cdr", "list", "--json").stdout)
    return rows


# --------------------------------------------------------------------------- the call


def test_two_phones_hear_each_other_through_ringfort_and_the_call_is_billed(
    ringfort_factory: ServerFactory, baresip_factory: BaresipFactory, tmp_path: Path
) -> None:
    caller_ext, callee_ext = extensions("101", "102")
    # A range of Ringfort's own, so where each phone's RTP came from shows it was relayed.
    media_low = free_port_block(MEDIA_PORTS + 1)
    media_low += media_low % 2
    media_high = media_low + MEDIA_PORTS - 1
    server = ringfort_factory(
        env={
            "RINGFORT_MEDIA__PORT_LOW": str(media_low),
            "RINGFORT_MEDIA__PORT_HIGH": str(media_high),
        },
        extensions=[caller_ext, callee_ext],
    )

    def account(number: str, password: str, *, answermode: str) -> str:
        return (
            f"<sip:{number}@{server.sip_address}>;auth_user={number};auth_pass={password}"
            f";regint=60;answermode={answermode};audio_codecs=PCMU/8000/1,PCMA/8000/1"
        )

    callee = tone_phone(
        baresip_factory,
        "callee",
        source_wav=write_tone_wav(tmp_path / "callee-tone.wav", CALLEE_TONE_HZ),
        account=account(callee_ext.number, callee_ext.password, answermode="auto"),
    )
    caller = tone_phone(
        baresip_factory,
        "caller",
        source_wav=write_tone_wav(tmp_path / "caller-tone.wav", CALLER_TONE_HZ),
        account=account(caller_ext.number, caller_ext.password, answermode="manual"),
    )
    for phone, number in ((callee, callee_ext.number), (caller, caller_ext.number)):
        try:
            wait_until(phone.is_registered, timeout=5, what=f"{number} registered")
            server.wait_for_registration(number, timeout=3, via="http")
        except TimeoutError as error:
            pytest.fail(f"{error}\n{diagnostics(phone)}")

    def relayed_by_ringfort() -> None:
        status = live_status(server)
        assert status["calls"]["active"] == 1, status
        assert status["media"]["legs"] == 2, status

    conversation = converse(
        caller,
        callee,
        f"sip:{callee_ext.number}@{server.sip_address}",
        while_talking=relayed_by_ringfort,
    )
    assert_each_heard_only_the_other(conversation)
    for phone in (caller, callee):
        port = rtp_source_port(phone)
        assert media_low <= port <= media_high, (
            f"{phone.name} got RTP from port {port}, outside Ringfort's media ports"
            f" {media_low}-{media_high}\n{conversation.context}"
        )

    def the_call_record() -> dict[str, Any] | None:
        rows = [
            row
            for row in cdr_rows(server)
            if row["src"] == caller_ext.number and row["dst"] == callee_ext.number
        ]
        assert len(rows) <= 1, rows
        return rows[0] if rows else None

    record = wait_until(the_call_record, timeout=3, interval=0.2, what="the call's CDR")
    talked = conversation.talked
    assert record["disposition"] == "ANSWERED", record
    assert record["hangup_by"] == "caller", record
    assert caller_ext.number in record["clid"], record
    assert record["answer"] is not None, record
    start, answer, end = (datetime.fromisoformat(record[key]) for key in ("start", "answer", "end"))
    assert start <= answer <= end, record
    assert abs(record["billsec"] - talked) <= 1.0, f"billsec vs {talked:.2f} s talked: {record}"
    assert record["duration"] >= record["billsec"], record

    def idle() -> bool:
        status = live_status(server)
        return bool(status["calls"]["active"] == 0 and status["media"]["ports_in_use"] == 0)

    with contextlib.suppress(TimeoutError):
        wait_until(idle, timeout=3, interval=0.1, what="the call's resources released")
    assert idle(), f"after the call: {live_status(server)}"
