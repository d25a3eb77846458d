"""Call recording with real phones: a rule records a call as a stereo WAV (caller left,
callee right) that leaves out the time on hold and says so in its metadata; the ``*1``
key starts and pauses the recording of a call no rule covers.

Each baresip phone plays its own tone; a Goertzel filter over each channel of the
recording tells whose audio landed where.
"""

from __future__ import annotations

import array
import json
import sys
import time
import wave
from pathlib import Path
from typing import Any

import pytest
from harness import BaresipFactory, ServerFactory, extensions
from peers import Baresip, RingfortServer, free_port_block, wait_until
from test_calls_baresip import (
    CALLEE_TONE_HZ,
    CALLER_TONE_HZ,
    LEAK_SHARE,
    MEDIA_PORTS,
    control,
    diagnostics,
    live_status,
    next_event,
    tone_phone,
    tone_seconds,
    write_tone_wav,
)

pytestmark = pytest.mark.peers

SAMPLE_RATE = 8000


def recording_pbx(
    ringfort_factory: ServerFactory,
    baresip_factory: BaresipFactory,
    tmp_path: Path,
    caller_number: str,
    callee_number: str,
) -> tuple[RingfortServer, Baresip, Baresip]:
    """A server with the two extensions, and a tone phone registered for each."""
    caller_ext, callee_ext = extensions(caller_number, callee_number)
    media_low = free_port_block(MEDIA_PORTS + 1)
    media_low += media_low % 2
    server = ringfort_factory(
        env={
            "RINGFORT_MEDIA__PORT_LOW": str(media_low),
            "RINGFORT_MEDIA__PORT_HIGH": str(media_low + MEDIA_PORTS - 1),
        },
        extensions=[caller_ext, callee_ext],
    )

    def account(number: str, password: str, answermode: str) -> str:
        return (
            f"<sip:{number}@{server.sip_address}>;auth_user={number};auth_pass={password}"
            f";regint=60;answermode={answermode};audio_codecs=PCMU/8000/1"
        )

    callee = tone_phone(
        baresip_factory,
        "rec-callee",
        source_wav=write_tone_wav(tmp_path / "callee-tone.wav", CALLEE_TONE_HZ),
        account=account(callee_ext.number, callee_ext.password, "auto"),
    )
    caller = tone_phone(
        baresip_factory,
        "rec-caller",
        source_wav=write_tone_wav(tmp_path / "caller-tone.wav", CALLER_TONE_HZ),
        account=account(caller_ext.number, caller_ext.password, "manual"),
    )
    for phone, number in ((callee, callee_ext.number), (caller, caller_ext.number)):
        try:
            wait_until(phone.is_registered, timeout=5, what=f"{number} registered")
            server.wait_for_registration(number, timeout=3, via="http")
        except TimeoutError as error:
            pytest.fail(f"{error}\n{diagnostics(phone)}")
    return server, caller, callee


def establish(caller: Baresip, callee: Baresip, server: RingfortServer, number: str) -> float:
    """Dial ``number``; the monotonic time both phones reported the call established."""
    dialled = control(caller).command("dial", f"sip:{number}@{server.sip_address}")
    assert dialled.get("ok"), f"dial refused: {dialled}\n{diagnostics(caller)}"
    try:
        established = next_event(control(caller), ("CALL_ESTABLISHED", "CALL_CLOSED"), timeout=10)
        assert established["type"] == "CALL_ESTABLISHED", established
        control(callee).wait_event("CALL_ESTABLISHED", timeout=5)
    except (TimeoutError, AssertionError) as error:
        pytest.fail(f"the call was not established: {error}\n{diagnostics(caller, callee)}")
    return float(established["_t"])


def command(phone: Baresip, name: str, params: str | None = None) -> None:
    answer = control(phone).command(name, params)
    assert answer.get("ok"), f"{name} {params or ''} refused: {answer}\n{diagnostics(phone)}"


def hang_up(caller: Baresip, callee: Baresip) -> None:
    command(caller, "hangup")
    try:
        control(caller).wait_event("CALL_CLOSED", timeout=5)
        control(callee).wait_event("CALL_CLOSED", timeout=5)
    except TimeoutError as error:
        pytest.fail(f"the hangup did not reach both phones: {error}\n{diagnostics(caller, callee)}")


def recorded_row(server: RingfortServer, src: str) -> dict[str, Any]:
    """The CDR row of the call from ``src``, once written."""

    def row() -> dict[str, Any] | None:
        rows: list[dict[str, Any]] = json.loads(server.cli("cdr", "list", "--json").stdout)
        found = [r for r in rows if r["src"] == src]
        return found[0] if found else None

    return wait_until(row, timeout=5, what=f"the CDR of {src}'s call")


def stereo(path: Path) -> tuple[array.array[int], array.array[int]]:
    with wave.open(str(path), "rb") as recording:
        assert recording.getnchannels() == 2, f"{path}: {recording.getnchannels()} channels"
        assert recording.getsampwidth() == 2
        assert recording.getframerate() == SAMPLE_RATE
        samples = array.array("h", recording.readframes(recording.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()
    return samples[0::2], samples[1::2]


def channel_report(path: Path) -> dict[str, float]:
    left, right = stereo(path)
    return {
        "seconds": len(left) / SAMPLE_RATE,
        "caller on left": tone_seconds(left, SAMPLE_RATE, CALLER_TONE_HZ),
        "callee on right": tone_seconds(right, SAMPLE_RATE, CALLEE_TONE_HZ),
        "callee on left": tone_seconds(left, SAMPLE_RATE, CALLEE_TONE_HZ, min_share=LEAK_SHARE),
        "caller on right": tone_seconds(right, SAMPLE_RATE, CALLER_TONE_HZ, min_share=LEAK_SHARE),
    }


def test_a_rule_records_the_call_in_stereo_and_leaves_out_the_time_on_hold(
    ringfort_factory: ServerFactory, baresip_factory: BaresipFactory, tmp_path: Path
) -> None:
    server, caller, callee = recording_pbx(
        ringfort_factory, baresip_factory, tmp_path, "131", "132"
    )
    server.cli("recording", "rule", "add", "--extension", "131")
    time.sleep(2.5)  # the server reads the rules at most every 2 s

    talk, held = 2.0, 2.5
    established = establish(caller, callee, server, "132")
    time.sleep(max(0.0, established + talk - time.monotonic()))
    assert live_status(server)["media"]["recording"] == 1
    command(caller, "hold")
    # The callee, put on hold, hears Ringfort's music: our own stream to its leg.
    music = wait_until(
        lambda: live_status(server)["media"]["playing"] == 1 or None,
        timeout=held - 0.5,
        what="music on hold playing to the held phone",
    )
    time.sleep(max(0.0, held - 0.5))
    command(caller, "resume")
    time.sleep(talk)
    stopped = live_status(server)["media"]["playing"] == 0
    hang_up(caller, callee)
    assert music
    assert stopped, "the music did not stop on resume"

    row = recorded_row(server, "131")
    assert row["disposition"] == "ANSWERED", row
    assert row["recording"], f"no recording on the CDR: {row}\n{server.log()}"
    wav = server.data_dir / "recordings" / row["recording"]
    assert wav.exists(), f"{wav} missing; the CDR says {row['recording']}"
    metadata = json.loads(wav.with_suffix(".json").read_text())
    report = channel_report(wav)
    context = f"{report}\nmetadata {metadata}\n{diagnostics(caller, callee)}"

    # Each party on its own side, and only there.
    assert report["caller on left"] >= 2.5, context
    assert report["callee on right"] >= 2.5, context
    assert report["callee on left"] == 0.0, context
    assert report["caller on right"] == 0.0, context
    # The held part is absent: the file is the talk either side of it.
    assert 2 * talk - 0.8 <= report["seconds"] <= 2 * talk + 1.0, context
    assert metadata["uniqueid"] == row["uniqueid"], context
    assert (metadata["src"], metadata["dst"], metadata["channels"]) == ("131", "132", 2)
    assert metadata["ended"] is not None, context
    assert metadata["seconds"] == pytest.approx(report["seconds"], abs=0.05), context
    [pause] = metadata["pauses"]
    assert pause["reason"] == "hold", context
    assert held - 0.7 <= pause["seconds"] <= held + 0.7, context
    assert talk - 0.7 <= pause["at"] <= talk + 0.9, context


def test_the_toggle_key_starts_and_pauses_recording_of_a_call_no_rule_covers(
    ringfort_factory: ServerFactory, baresip_factory: BaresipFactory, tmp_path: Path
) -> None:
    server, caller, callee = recording_pbx(
        ringfort_factory, baresip_factory, tmp_path, "141", "142"
    )

    established = establish(caller, callee, server, "142")
    time.sleep(max(0.0, established + 1.0 - time.monotonic()))
    command(callee, "sndcode", "*1")  # the callee asks for the recording
    time.sleep(3.0)
    command(caller, "sndcode", "*1")  # the caller pauses it
    time.sleep(1.5)
    hang_up(caller, callee)

    row = recorded_row(server, "141")
    assert row["recording"], f"the key did not start a recording: {row}\n{server.log()}"
    wav = server.data_dir / "recordings" / row["recording"]
    metadata = json.loads(wav.with_suffix(".json").read_text())
    report = channel_report(wav)
    context = f"{report}\nmetadata {metadata}\n{diagnostics(caller, callee)}"
    # From the first *1 to the second: about three seconds, nothing of the call before.
    assert 2.0 <= report["seconds"] <= 4.0, context
    assert report["caller on left"] >= 1.5, context
    assert report["callee on right"] >= 1.5, context
    [pause] = metadata["pauses"]
    assert pause["reason"] == "toggle", context
    assert 1.0 <= pause["seconds"] <= 2.5, context
