"""Voicemail with real phones: a caller who does not reach an extension leaves a message.

The caller is a baresip phone playing a tone. Extension 4412 has voicemail on.
When it has no phone registered, is busy (a SIPp phone answering 486) or does
not answer (a SIPp phone ringing until the ring timeout), Ringfort answers the
caller: the greeting (the busy one for a busy extension), a beep, then records.
The caller talks for a known time after the beep and hangs up: the message row
and its WAV file appear, the file holds the caller's tone, and its length is
that time.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

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
from peers import Baresip, RingfortServer, Sipp, wait_until
from test_calls_baresip import (
    CALLER_TONE_HZ,
    control,
    diagnostics,
    extension_phone,
    next_event,
    read_wav,
    tone_seconds,
    write_tone_wav,
)

from ringfort.media.prompts import SHIPPED_PROMPTS, PromptLibrary

pytestmark = pytest.mark.peers

CALLER, OWNER = "4511", "4412"
MESSAGE_SECONDS = 4.0
BEEP_SECONDS = 0.3


def prompt_seconds(*names: str) -> float:
    library = PromptLibrary([SHIPPED_PROMPTS])
    return sum(library.load(name).duration for name in names)


def greeting_seconds(busy: bool) -> float:
    """What the caller hears before the recording starts."""
    digits = [f"digits/{digit}" for digit in OWNER]
    state = "vm-busy" if busy else "vm-unavailable"
    return prompt_seconds("vm-person-at", *digits, state, "vm-leave-message") + BEEP_SECONDS


@pytest.fixture
def office(ringfort_factory: ServerFactory) -> CallServer:
    setup = call_server(
        ringfort_factory, [CALLER, OWNER], name="voicemail", size=20,
        media__rtp_timeout="0", calls__ring_timeout="2",
    )  # fmt: skip
    switch_voicemail(setup.server, on=True)
    return setup


def switch_voicemail(server: RingfortServer, *, on: bool, number: str = OWNER) -> None:
    """Voicemail on or off for ``number`` (the owner), through the running server's API: in
    force for the very next call (the CLI's change, from another process, lands within
    seconds)."""
    request = urllib.request.Request(
        f"{server.http_url}/api/v1/voicemail/mailboxes/{number}",
        data=json.dumps({"enabled": on}).encode(),
        headers={"Content-Type": "application/json"},
        method="PUT",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def caller_phone(factory: BaresipFactory, server: RingfortServer, tmp_path: Path) -> Baresip:
    tone = write_tone_wav(tmp_path / "tone.wav", CALLER_TONE_HZ)
    return extension_phone(factory, server, CALLER, source_wav=tone, name="caller")


def leave_message(
    phone: Baresip, server: RingfortServer, *, busy: bool, number: str = OWNER
) -> None:
    """Call ``number`` (the owner), wait out the greeting, talk MESSAGE_SECONDS, hang up."""
    ctl = control(phone)
    dialled = ctl.command("dial", f"sip:{number}@{server.sip_address}")
    assert dialled.get("ok"), f"dial refused: {dialled}\n{diagnostics(phone)}"
    try:
        answered = next_event(ctl, ("CALL_ESTABLISHED", "CALL_CLOSED"), timeout=15)
        assert answered["type"] == "CALL_ESTABLISHED", answered
        time.sleep(max(0.0, answered["_t"] + greeting_seconds(busy) + MESSAGE_SECONDS
                       - time.monotonic()))  # fmt: skip
        assert ctl.command("hangup").get("ok")
        ctl.wait_event("CALL_CLOSED", timeout=5)
    except (TimeoutError, AssertionError) as error:
        pytest.fail(f"{error}\n{diagnostics(phone)}\n{server.log(60)}")


def the_message(server: RingfortServer) -> dict[str, Any]:
    def found() -> list[dict[str, Any]] | None:
        listed = json.loads(server.cli("voicemail", "list", OWNER, "--json").stdout)
        return listed or None

    messages = wait_until(found, timeout=10, interval=0.3, what="the message")
    assert len(messages) == 1, messages
    return messages[0]


def check_message(server: RingfortServer) -> dict[str, Any]:
    message = the_message(server)
    assert (message["mailbox"], message["folder"], message["caller"]) == (OWNER, "INBOX", CALLER)
    context = f"{message}\n{server.log(40)}"
    # The recording starts after the beep and ends at the hang-up; a phone's jitter buffer
    # and the call's set-up shift both ends a little.
    assert abs(message["seconds"] - MESSAGE_SECONDS) <= 0.8, context
    heard, rate = read_wav(Path(message["file"]))
    assert abs(len(heard) / rate - message["seconds"]) < 0.1, context
    assert tone_seconds(heard, rate, CALLER_TONE_HZ) >= MESSAGE_SECONDS - 1.0, context
    return message


def test_an_unregistered_extension_takes_a_message(
    office: CallServer, baresip_factory: BaresipFactory, tmp_path: Path
) -> None:
    server = office.server
    leave_message(caller_phone(baresip_factory, server, tmp_path), server, busy=False)
    message = check_message(server)
    record = the_cdr(server, CALLER, OWNER)
    assert (record["disposition"], record["hangup_by"]) == ("ANSWERED", "caller")

    # Listened to, then deleted: the row and the file go.
    server.cli("voicemail", "read", str(message["id"]))
    assert json.loads(server.cli("voicemail", "list", "--folder", "Old", "--json").stdout)
    server.cli("voicemail", "delete", str(message["id"]))
    assert json.loads(server.cli("voicemail", "list", "--json").stdout) == []
    assert not Path(message["file"]).exists()


@pytest.mark.parametrize(
    ("scenario", "busy", "why"),
    [("uas_ring_until_cancel.xml", False, "no-answer"), ("uas_reject.xml", True, "busy")],
    ids=["no answer", "busy"],
)
def test_an_extension_that_does_not_take_the_call_takes_a_message(
    office: CallServer,
    baresip_factory: BaresipFactory,
    sipp: Sipp,
    tmp_path: Path,
    scenario: str,
    busy: bool,
    why: str,
) -> None:
    # The phone rings until the ring timeout (and gets the CANCEL), or refuses with 486;
    # the caller hears the matching greeting (its length is what the test waits out).
    server = office.server
    phone = start_callee(sipp, server, OWNER, scenario, time_limit=30)
    leave_message(caller_phone(baresip_factory, server, tmp_path), server, busy=busy)
    rang = phone.finish(timeout=10)
    assert rang.returncode == 0, rang.describe()
    check_message(server)
    assert f"{OWNER} {why}; to voicemail" in server.log(200)


def test_a_call_a_time_condition_puts_through_to_a_busy_extension_takes_a_message(
    office: CallServer, baresip_factory: BaresipFactory, sipp: Sipp, tmp_path: Path
) -> None:
    # Number 730 is a time condition whose both branches are the owner's extension: the
    # call reaches it before anything answered it, and still ends in the mailbox.
    server = office.server
    server.cli(
        "timecond", "add", "always", "--timezone", "UTC", "--rule", "mon-sun 00:00-24:00",
        "--match", f"extension:{OWNER}", "--nomatch", f"extension:{OWNER}", "--number", "730",
    )  # fmt: skip
    phone = start_callee(sipp, server, OWNER, "uas_reject.xml", time_limit=30)
    leave_message(caller_phone(baresip_factory, server, tmp_path), server, busy=True, number="730")
    rang = phone.finish(timeout=10)
    assert rang.returncode == 0, rang.describe()
    check_message(server)
    assert f"{OWNER} busy; to voicemail" in server.log(200)


def test_without_voicemail_an_unanswered_call_fails_as_before(
    office: CallServer, baresip_factory: BaresipFactory, tmp_path: Path
) -> None:
    server = office.server
    switch_voicemail(server, on=False)
    ctl = control(caller_phone(baresip_factory, server, tmp_path))
    assert ctl.command("dial", f"sip:{OWNER}@{server.sip_address}").get("ok")
    closed = ctl.wait_event("CALL_CLOSED", timeout=10)
    assert "480" in str(closed.get("param", "")), closed
    assert json.loads(server.cli("voicemail", "list", "--json").stdout) == []


def test_a_caller_who_hangs_up_at_the_beep_leaves_no_message(
    office: CallServer, baresip_factory: BaresipFactory, tmp_path: Path
) -> None:
    server = office.server
    ctl = control(caller_phone(baresip_factory, server, tmp_path))
    assert ctl.command("dial", f"sip:{OWNER}@{server.sip_address}").get("ok")
    try:
        answered = next_event(ctl, ("CALL_ESTABLISHED", "CALL_CLOSED"), timeout=15)
        assert answered["type"] == "CALL_ESTABLISHED", answered
        time.sleep(max(0.0, answered["_t"] + greeting_seconds(False) + 0.3 - time.monotonic()))
        assert ctl.command("hangup").get("ok")
        ctl.wait_event("CALL_CLOSED", timeout=5)
    except (TimeoutError, AssertionError) as error:
        pytest.fail(f"{error}\n{server.log(60)}")
    wait_until(lambda: "too short; dropped" in server.log(100), timeout=5, what="the drop")
    assert json.loads(server.cli("voicemail", "list", "--json").stdout) == []
    folder = server.data_dir / "voicemail" / OWNER
    assert not folder.exists() or list(folder.iterdir()) == []


def body_of(message: Any) -> str:
    return message.text.split("\n\n", 1)[1] if "\n\n" in message.text else ""


def test_a_subscribed_phone_hears_of_messages_left_and_deleted(
    office: CallServer, baresip_factory: BaresipFactory, sipp: Sipp, tmp_path: Path
) -> None:
    server = office.server
    # The owner's phone watches its lamp (and is not registered: calls go to voicemail).
    watcher = sipp.start(
        "subscribe_mwi.xml", remote=server.sip_address, service=OWNER, username=OWNER,
        password=password_of(OWNER), calls=1, time_limit=60, tag="mwi-subscriber",
        extra=["-auth_uri", f"{OWNER}@{server.sip_address}"],
    )  # fmt: skip
    try:
        wait_until(
            lambda: f"{OWNER} subscribed" in server.log(50), timeout=10, what="the subscription"
        )
        leave_message(caller_phone(baresip_factory, server, tmp_path), server, busy=False)
        message = the_message(server)
        wait_until(
            lambda: f"mailbox {OWNER}: 1 new" in server.log(50), timeout=10, what="the lamp on"
        )
        server.cli("voicemail", "delete", str(message["id"]))  # from another process
    except (TimeoutError, AssertionError):
        watcher.stop()
        raise
    result = watcher.finish(timeout=30)
    assert result.returncode == 0, f"{result.describe()}\n{server.log(60)}"
    notifies = requests_received(result, "NOTIFY")
    assert [n.header("Event") for n in notifies] == [["message-summary"]] * 4
    bodies = [body_of(n) for n in notifies]
    assert "Messages-Waiting: no" in bodies[0]
    assert "Voice-Message: 0/0" in bodies[0]
    assert "Messages-Waiting: yes" in bodies[1]
    assert "Voice-Message: 1/0" in bodies[1]
    assert "Messages-Waiting: no" in bodies[2]
    assert "Voice-Message: 0/0" in bodies[2]
    assert notifies[0].header("Subscription-State")[0].startswith("active")
    assert notifies[3].header("Subscription-State")[0].startswith("terminated")


def test_a_phone_that_does_not_subscribe_gets_the_lamp_unsolicited(
    office: CallServer, baresip_factory: BaresipFactory, sipp: Sipp, tmp_path: Path
) -> None:
    server = office.server
    leave_message(caller_phone(baresip_factory, server, tmp_path), server, busy=False)
    message = the_message(server)
    phone = start_callee(sipp, server, OWNER, "uas_mwi_notify.xml", time_limit=30)
    server.cli("voicemail", "read", str(message["id"]))  # listened to: the lamp goes off
    result = phone.finish(timeout=20)
    assert result.returncode == 0, f"{result.describe()}\n{server.log(60)}"
    (notify,) = requests_received(result, "NOTIFY")
    assert notify.header("Event") == ["message-summary"]
    assert notify.header("Content-Type") == ["application/simple-message-summary"]
    assert "Messages-Waiting: no" in body_of(notify)
    assert "Voice-Message: 0/1" in body_of(notify)
