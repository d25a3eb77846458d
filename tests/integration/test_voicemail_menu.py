"""The voicemail phone menu and mailbox options with real peers.

A baresip phone leaves a message (its tone) for extension 4412, whose phone watches
its lamp over SUBSCRIBE (SIPp). The owner then dials ``*97`` from a SIPp phone whose
media goes to this test's socket: the test hears the prompts and the message, and
presses keys as RFC 4733 events (SIPp's own captures). Also: three wrong PINs at
the main number ``*98``, and a recorded busy greeting whose ``0`` reaches the operator.
"""

from __future__ import annotations

import array
import json
import math
import re
import struct
import time
import wave
from pathlib import Path

import pytest
from callkit import (
    CallServer,
    call_server,
    password_of,
    requests_received,
    start_callee,
    the_cdr,
)
from harness import BaresipFactory, ServerFactory
from peers import RingfortServer, Sipp, SippRun, free_port_block, wait_until
from test_calls_baresip import CALLER_TONE_HZ, tone_seconds
from test_ivr_sipp import PCAP_DIR, RtpSocket, rtp, wait_for_greeting
from test_voicemail import (
    CALLER,
    MESSAGE_SECONDS,
    OWNER,
    body_of,
    caller_phone,
    leave_message,
    office,
    switch_voicemail,
    the_message,
)

from ringfort.rtp.g711 import alaw_to_linear

pytestmark = pytest.mark.peers

# Fixtures used by name.
__all__ = ["office", "rtp"]

PIN = "4321"
OPERATOR = "4413"
GREETING_TONE_HZ = 1000.0
_KEY_FILES = {"#": "pound", "*": "star"}


def press(rtp: RtpSocket, keys: str) -> None:
    """Press ``keys`` on the phone: RFC 4733 events from where its media comes from."""
    for key in keys:
        rtp.send_pcap(PCAP_DIR / f"dtmf_2833_{_KEY_FILES.get(key, key)}.pcap")


def call_app(
    sipp: Sipp, server: RingfortServer, caller: str, number: str, rtp: RtpSocket
) -> SippRun:
    """``caller`` (not registered: no NOTIFY of ours lands in its call) dials ``number`` and
    stays until the server hangs up; its media goes to ``rtp``."""
    return sipp.start(
        "app_caller_until_bye.xml",
        remote=server.sip_address,
        service=number,
        username=caller,
        password=password_of(caller),
        keys={"caller": caller, "rtp_port": str(rtp.port)},
        sip_port=free_port_block(1),
        time_limit=100,
        extra=["-auth_uri", f"{number}@{server.sip_address}"],
        tag=f"app-caller-{caller}",
    )


def logged(server: RingfortServer, text: str, *, timeout: float = 15.0) -> None:
    wait_until(lambda: text in server.log(120), timeout=timeout, what=repr(text))


def heard(rtp: RtpSocket, since: float) -> array.array[int]:
    return array.array("h", alaw_to_linear(rtp.audio_since(since)))


def test_the_owner_listens_to_a_message_and_deletes_it_by_phone(
    office: CallServer, baresip_factory: BaresipFactory, sipp: Sipp, rtp: RtpSocket, tmp_path: Path
) -> None:
    server = office.server
    server.cli("voicemail", "set-pin", OWNER, PIN)
    watcher = sipp.start(
        "subscribe_mwi_heard.xml", remote=server.sip_address, service=OWNER, username=OWNER,
        password=password_of(OWNER), calls=1, time_limit=120, tag="mwi-subscriber",
        extra=["-auth_uri", f"{OWNER}@{server.sip_address}"],
    )  # fmt: skip
    try:
        logged(server, f"{OWNER} subscribed")
        leave_message(caller_phone(baresip_factory, server, tmp_path), server, busy=False)
        message = the_message(server)
        logged(server, f"mailbox {OWNER}: 1 new, 0 old")

        started = time.monotonic()
        owner = call_app(sipp, server, OWNER, "*97", rtp)
        wait_for_greeting(rtp, started, packets=10)  # "Please enter your PIN"
        press(rtp, PIN + "#")
        logged(server, f"logged in to mailbox {OWNER}")
        press(rtp, "1")  # cuts "You have 1 new message" short: listen
        logged(server, f"mailbox {OWNER}: 0 new, 1 old")  # it is playing: heard
        listening = time.monotonic()
        time.sleep(MESSAGE_SECONDS + 1.0)
        press(rtp, "7")  # delete: "Message deleted. There are no more messages."
        time.sleep(1.0)
        press(rtp, "#")  # the main menu: hang up
        result = owner.finish(timeout=40)
        assert result.returncode == 0, f"{result.describe()}\n{server.log(80)}"
    except (TimeoutError, AssertionError):
        watcher.stop()
        raise
    # The owner heard the caller's tone: the message itself.
    assert tone_seconds(heard(rtp, listening), 8000, CALLER_TONE_HZ) >= MESSAGE_SECONDS - 1.0
    # Deleted as the owner left the menu: row and file.
    assert json.loads(server.cli("voicemail", "list", "--json").stdout) == []
    assert not Path(message["file"]).exists()
    record = the_cdr(server, OWNER, "*97")
    assert (record["disposition"], record["hangup_by"]) == ("ANSWERED", "system"), record

    lamp = watcher.finish(timeout=60)
    assert lamp.returncode == 0, f"{lamp.describe()}\n{server.log(60)}"
    bodies = [body_of(n) for n in requests_received(lamp, "NOTIFY")]
    assert len(bodies) == 5, bodies
    lamps = [
        tuple(
            re.search(rf"{name}: (\S+)", body)[1] for name in ("Messages-Waiting", "Voice-Message")
        )  # type: ignore[index]
        for body in bodies[1:4]
    ]
    # Left: on (1 new); heard: off (1 old); deleted: off (none).
    assert lamps == [("yes", "1/0"), ("no", "0/1"), ("no", "0/0")], bodies


def test_three_wrong_pins_at_the_main_number_hang_up_and_are_logged(
    office: CallServer, sipp: Sipp, rtp: RtpSocket
) -> None:
    server = office.server
    server.cli("voicemail", "set-pin", OWNER, PIN)
    started = time.monotonic()
    stranger = call_app(sipp, server, CALLER, "*98", rtp)
    wait_for_greeting(rtp, started, packets=10)  # "Please enter your mailbox number"
    for attempt in range(3):
        # Keys pressed early wait their turn: the mailbox, then the (wrong) PIN.
        press(rtp, OWNER + "#1111#")
        wait_until(
            lambda n=attempt + 1: (
                server.log(120).count(f"wrong voicemail login for mailbox {OWNER}") >= n
            ),
            timeout=15,
            what=f"wrong login {attempt + 1}",
        )
    result = stranger.finish(timeout=30)
    assert result.returncode == 0, f"{result.describe()}\n{server.log(80)}"
    assert f"voicemail login failed 3 times for mailbox (asked) from {CALLER}" in server.log(120)
    assert time.monotonic() - started < 60
    record = the_cdr(server, CALLER, "*98")
    assert record["hangup_by"] == "system", record
    assert json.loads(server.cli("voicemail", "list", "--json").stdout) == []


def write_greeting(path: Path, frequency: float, seconds: float = 2.0) -> Path:
    rate = 16000  # not 8 kHz: the import converts it
    count = int(seconds * rate)
    samples = [round(12000 * math.sin(2 * math.pi * frequency * n / rate)) for n in range(count)]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(struct.pack(f"<{count}h", *samples))
    return path


@pytest.fixture
def desk(ringfort_factory: ServerFactory) -> CallServer:
    """The office, with an operator's extension, and the system's ring time long."""
    setup = call_server(
        ringfort_factory, [CALLER, OWNER, OPERATOR], name="voicemail-desk", size=20,
        media__rtp_timeout="0", calls__ring_timeout="40",
    )  # fmt: skip
    switch_voicemail(setup.server, on=True)
    return setup


def test_a_busy_extension_plays_its_recorded_greeting_and_0_reaches_the_operator(
    desk: CallServer, sipp: Sipp, rtp: RtpSocket, tmp_path: Path
) -> None:
    server = desk.server
    greeting = write_greeting(tmp_path / "busy.wav", GREETING_TONE_HZ)
    server.cli("voicemail", "greeting", OWNER, "busy", str(greeting))
    server.cli("voicemail", "options", OWNER, "--operator", f"extension:{OPERATOR}")
    phone = start_callee(sipp, server, OWNER, "uas_reject.xml", time_limit=30)
    operator = start_callee(sipp, server, OPERATOR, "uas_answer_then_bye.xml", time_limit=40)
    started = time.monotonic()
    caller = call_app(sipp, server, CALLER, OWNER, rtp)
    try:
        wait_until(
            lambda: tone_seconds(heard(rtp, started), 8000, GREETING_TONE_HZ) >= 1.0,
            timeout=15,
            what="the recorded busy greeting",
        )
        press(rtp, "0")
        logged(server, f"to {OWNER}'s operator extension:{OPERATOR}")
        result = caller.finish(timeout=40)
        assert result.returncode == 0, f"{result.describe()}\n{server.log(80)}"
    finally:
        for peer in (phone, operator):
            peer.finish(timeout=10)
    leg = the_cdr(server, CALLER, OPERATOR)
    assert leg["disposition"] == "ANSWERED", leg
    assert json.loads(server.cli("voicemail", "list", "--json").stdout) == []  # no message


def test_the_owner_records_a_greeting_and_changes_the_pin_by_phone(
    office: CallServer, sipp: Sipp, rtp: RtpSocket
) -> None:
    server = office.server
    server.cli("voicemail", "set-pin", OWNER, PIN)
    server.cli("voicemail", "options", OWNER, "--no-ask-pin")  # the own phone goes straight in
    started = time.monotonic()
    owner = call_app(sipp, server, OWNER, "*97", rtp)
    wait_for_greeting(rtp, started, packets=10)  # "You have no messages"
    press(rtp, "01")  # mailbox options, the unavailable greeting
    time.sleep(4.0)  # "Record after the tone...", the beep
    rtp.send_pcap(PCAP_DIR / "g711a.pcap")  # SIPp's own speech sample
    press(rtp, "#")
    press(rtp, "1")  # keep it
    logged(server, f"mailbox {OWNER}: unavailable greeting recorded")
    press(rtp, "5" + "9876#" + "9876#")
    logged(server, f"mailbox {OWNER}: PIN changed by phone")
    press(rtp, "*#")  # back, hang up
    result = owner.finish(timeout=40)
    assert result.returncode == 0, f"{result.describe()}\n{server.log(80)}"
    listed = server.cli("voicemail", "greeting", OWNER).stdout
    assert "unavailable" in listed, listed
    path = Path(server.cli("voicemail", "greeting", OWNER, "unavailable").stdout.strip())
    with wave.open(str(path), "rb") as recorded:
        seconds = recorded.getnframes() / recorded.getframerate()
        samples = array.array("h", recorded.readframes(recorded.getnframes()))
    assert seconds > 3.0, seconds
    assert max(abs(sample) for sample in samples) > 2000  # speech, not silence
    assert [p.name for p in path.parent.iterdir()] == ["unavailable.wav"]  # no drafts left


def test_an_extension_rings_for_its_own_ring_time_before_voicemail(
    desk: CallServer, sipp: Sipp, rtp: RtpSocket
) -> None:
    server = desk.server
    server.cli("voicemail", "options", OWNER, "--ring-seconds", "2")  # the system's is 40
    phone = start_callee(sipp, server, OWNER, "uas_ring_until_cancel.xml", time_limit=30)
    started = time.monotonic()
    caller = call_app(sipp, server, CALLER, OWNER, rtp)
    try:
        wait_for_greeting(rtp, started, packets=10)
        assert time.monotonic() - started < 10, "rang for the system's time, not its own"
        assert f"{OWNER} no-answer; to voicemail" in server.log(60)
        press(rtp, "#")  # skip the greeting
        time.sleep(1.5)  # the beep: a key before the recording starts is dropped
        press(rtp, "#")  # end the (silent) message; the call ends
        result = caller.finish(timeout=30)
        assert result.returncode == 0, f"{result.describe()}\n{server.log(80)}"
    finally:
        rang = phone.finish(timeout=10)
    assert rang.returncode == 0, rang.describe()  # it got its CANCEL
