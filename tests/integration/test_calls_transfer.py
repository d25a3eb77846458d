"""A blind transfer (SIP REFER, RFC 3515) in a call between two extensions, with real phones.

Extension 601 calls 602 directly (no menu, no queue: the media is relayed between the
two phones). 602 answers, talks for a second and REFERs the caller to 603. The server
accepts (202), tells 602 it worked (NOTIFY ``SIP/2.0 200 OK``) and hangs it up, offers
601 media of its own in a re-INVITE, and rings 603 with 601's codec; 601 talks with 603
and hangs up. The call records show both conversations, linked. A REFER to a number
nobody has is refused with 404 and the call goes on as it was.

With SIPp phones the tests check the signalling; with baresip phones (each playing a
tone of its own, the transfer made with baresip's own ``transfer`` command) that the
caller and the target hear each other after the transfer.
"""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from callkit import (
    CallServer,
    assert_answered,
    audio_of,
    call_server,
    finish,
    requests_received,
    start_callee,
    start_caller,
    the_cdr,
    uri_user,
)
from harness import BaresipFactory, ServerFactory
from peers import RingfortServer, Sipp, SippResult, wait_until
from test_calls_baresip import (
    CALLEE_TONE_HZ,
    CALLER_TONE_HZ,
    LEAK_SHARE,
    MIN_TONE_SECONDS,
    TALK_SECONDS,
    control,
    diagnostics,
    extension_phone,
    next_event,
    read_wav,
    received_recording,
    tone_seconds,
    write_tone_wav,
)
from test_voicemail import BEEP_SECONDS, prompt_seconds, switch_voicemail

pytestmark = pytest.mark.peers

CALLER, TRANSFEROR, TARGET = "601", "602", "603"
TARGET_TONE_HZ = 1209.0
"""A third DTMF frequency: none of the three tones is mistaken for another."""


@pytest.fixture(scope="module")
def pbx(module_ringfort_factory: ServerFactory) -> CallServer:
    return call_server(
        module_ringfort_factory, [CALLER, TRANSFEROR, TARGET], name="transfer", size=40
    )


RTP_TIMEOUT = 2


@pytest.fixture(scope="module")
def quick_timeout_pbx(module_ringfort_factory: ServerFactory) -> CallServer:
    """A server that hangs up a call after RTP_TIMEOUT seconds without RTP from a phone."""
    return call_server(
        module_ringfort_factory,
        [CALLER, TRANSFEROR],
        name="transfer-rtp",
        size=40,
        media__rtp_timeout=str(RTP_TIMEOUT),
    )


def transferred_call(
    sipp: Sipp,
    server: RingfortServer,
    transferor_scenario: str,
    caller_scenario: str,
    *,
    refer_to: str = TARGET,
    target_answers: bool = True,
    talk_ms: int | None = None,
) -> tuple[SippResult, SippResult, SippResult | None]:
    """601 calls 602, whose SIPp ``transferor_scenario`` REFERs the call to ``refer_to``
    (603 answering with ``uas_answer.xml`` if ``target_answers``); what each SIPp saw."""
    transferor = start_callee(
        sipp, server, TRANSFEROR, transferor_scenario, keys={"target": refer_to}
    )
    target = start_callee(sipp, server, TARGET, "uas_answer.xml") if target_answers else None
    caller = start_caller(sipp, server, CALLER, TRANSFEROR, caller_scenario, talk_ms=talk_ms)
    try:
        calling, called = finish(caller, transferor, *([target] if target else []))
    except AssertionError as failure:
        pytest.fail(f"{failure}\n{server.log(80)}")
    return calling, called[0], called[1] if target else None


def test_the_called_phone_transfers_its_caller_to_another_extension(
    sipp: Sipp, pbx: CallServer
) -> None:
    server = pbx.server
    since = datetime.now(UTC).replace(microsecond=0)
    calling, transferring, answering = transferred_call(
        sipp, server, "uas_answer_then_refer.xml", "call_then_reinvited.xml", talk_ms=3000
    )
    assert answering is not None

    notify = requests_received(transferring, "NOTIFY")
    assert [n.header("Event") for n in notify] == [["refer"]], transferring.describe()
    assert "SIP/2.0 200 OK" in notify[0].text
    assert requests_received(transferring, "BYE"), "the server hangs the transferor up"

    # The caller's media is the server's own now, sending and receiving, in the codec the
    # caller used (PCMA, as the transferor answered) with the other G.711 as a fallback.
    [reinvite] = requests_received(calling, "INVITE")
    offer = audio_of(reinvite)
    assert offer.port in pbx.media, reinvite.text
    assert offer.direction == "sendrecv", reinvite.text
    assert offer.payload_types[:2] == ("8", "0"), reinvite.text

    # The target is rung by the caller, with the one codec the caller speaks.
    [invite] = requests_received(answering, "INVITE")
    assert uri_user(invite.header("From")[0]) == CALLER, invite.text
    to_target_offer = audio_of(invite)
    assert to_target_offer.port in pbx.media, invite.text
    assert to_target_offer.payload_types[0] == "8", invite.text
    assert "0" not in to_target_offer.payload_types, "one codec: the server does not transcode"
    assert requests_received(answering, "BYE"), "the caller's BYE reaches the target"

    to_transferor = the_cdr(server, CALLER, TRANSFEROR, since=since)
    assert (to_transferor["hangup_by"], to_transferor["disposition"]) == ("callee", "ANSWERED")
    assert 0 <= to_transferor["billsec"] <= 2, to_transferor
    to_target = the_cdr(server, CALLER, TARGET, since=since)
    assert_answered(to_target, hangup_by="caller", billsec=3)
    assert to_target["linkedid"] == to_transferor["uniqueid"], (to_transferor, to_target)
    assert to_target["uniqueid"] != to_transferor["uniqueid"]


def test_a_caller_put_on_hold_before_the_transfer_is_taken_off_hold(
    sipp: Sipp, pbx: CallServer
) -> None:
    server = pbx.server
    since = datetime.now(UTC).replace(microsecond=0)
    calling, _, answering = transferred_call(
        sipp, server, "uas_hold_then_refer.xml", "call_held_then_transferred.xml", talk_ms=2000
    )
    assert answering is not None

    held, resumed = requests_received(calling, "INVITE")
    assert audio_of(held).direction == "sendonly", held.text
    assert audio_of(resumed).direction == "sendrecv", resumed.text
    assert requests_received(answering, "INVITE"), "the target is rung"
    to_target = the_cdr(server, CALLER, TARGET, since=since)
    assert_answered(to_target, hangup_by="caller", billsec=2)


def test_a_transfer_to_a_parking_slot_parks_the_caller(sipp: Sipp, pbx: CallServer) -> None:
    server = pbx.server
    transferred_call(
        sipp, server, "uas_answer_then_refer.xml", "call_then_reinvited.xml",
        refer_to="701", target_answers=False, talk_ms=3000,
    )  # fmt: skip
    assert "parked at 701" in server.log(200), server.log(80)


def test_the_calling_phone_transfers_the_phone_it_called(sipp: Sipp, pbx: CallServer) -> None:
    server = pbx.server
    since = datetime.now(UTC).replace(microsecond=0)
    called = start_callee(sipp, server, TRANSFEROR, "uas_reinvited_then_bye.xml")
    target = start_callee(sipp, server, TARGET, "uas_answer.xml")
    transferring = start_caller(
        sipp, server, CALLER, TRANSFEROR, "call_then_refer.xml", keys={"target": TARGET}
    )
    try:
        _, [called_result, answering] = finish(transferring, called, target)
    except AssertionError as failure:
        pytest.fail(f"{failure}\n{server.log(80)}")

    _, reinvite = requests_received(called_result, "INVITE")  # the call, then ours
    assert audio_of(reinvite).direction == "sendrecv", reinvite.text
    assert audio_of(reinvite).port in pbx.media, reinvite.text
    # The called phone is the caller now: the target sees it calling, with its caller ID.
    [invite] = requests_received(answering, "INVITE")
    assert uri_user(invite.header("From")[0]) == TRANSFEROR, invite.text
    to_transferor = the_cdr(server, CALLER, TRANSFEROR, since=since)
    assert (to_transferor["hangup_by"], to_transferor["disposition"]) == ("caller", "ANSWERED")
    onward = the_cdr(server, TRANSFEROR, TARGET, since=since)
    assert_answered(onward, hangup_by="caller", billsec=2.5)
    assert onward["linkedid"] == to_transferor["uniqueid"], (to_transferor, onward)
    assert onward["clid"].endswith(f"<{TRANSFEROR}>"), onward


def calls_in_progress(server: RingfortServer) -> list[dict[str, Any]]:
    """``GET /api/v1/calls``: the calls in progress."""
    with urllib.request.urlopen(f"{server.http_url}/api/v1/calls", timeout=5) as reply:
        items: list[dict[str, Any]] = json.loads(reply.read().decode())["items"]
    return items


def test_the_called_phone_joins_its_caller_to_someone_it_consulted(
    sipp: Sipp, pbx: CallServer
) -> None:
    # 601 calls 602, which puts 601 on hold; 603 calls 602 (the consultation); 602 REFERs
    # 601's call with a Replaces naming 603's: 601 and 603 talk, 602 leaves both calls.
    server = pbx.server
    since = datetime.now(UTC).replace(microsecond=0)
    transferor = start_callee(
        sipp, server, TRANSFEROR, "uas_attended_transfer.xml", keys={"target": TARGET}, calls=2,
        time_limit=40,
    )  # fmt: skip
    caller = start_caller(
        sipp, server, CALLER, TRANSFEROR, "call_held_then_transferred.xml", talk_ms=3000,
        time_limit=40,
    )  # fmt: skip
    try:
        wait_until(
            lambda: any(call["held"] for call in calls_in_progress(server)),
            timeout=10,
            what="602 holding 601's call",
        )
    except TimeoutError:
        caller.stop()
        transferor.stop()
        raise
    target = start_caller(
        sipp, server, TARGET, TRANSFEROR, "call_consult_then_joined.xml", time_limit=40
    )
    try:
        calling, [transferring, consulting] = finish(caller, transferor, target)
    except AssertionError as failure:
        pytest.fail(f"{failure}\n{server.log(80)}")

    notify = requests_received(transferring, "NOTIFY")
    assert ["SIP/2.0 100 Trying" in n.text for n in notify] == [True, False], notify
    assert "SIP/2.0 200 OK" in notify[1].text
    assert len({bye.header("Call-ID")[0] for bye in requests_received(transferring, "BYE")}) == 2
    (offer,) = requests_received(consulting, "INVITE")
    assert audio_of(offer).payload_types == ("8", "101"), offer.text
    hold, resume = requests_received(calling, "INVITE")
    assert audio_of(hold).direction == "sendonly"
    assert audio_of(resume).direction == "sendrecv"

    # Each conversation has its record; the joined one is linked to the caller's call.
    to_transferor = the_cdr(server, CALLER, TRANSFEROR, since=since)
    consultation = the_cdr(server, TARGET, TRANSFEROR, since=since)
    joined = the_cdr(server, CALLER, TARGET, since=since)
    assert (to_transferor["disposition"], to_transferor["hangup_by"]) == ("ANSWERED", "callee")
    assert (consultation["disposition"], consultation["hangup_by"]) == ("ANSWERED", "callee")
    assert_answered(joined, hangup_by="caller", billsec=3)
    assert joined["linkedid"] == to_transferor["uniqueid"], (to_transferor, joined)
    assert not calls_in_progress(server)


def test_a_transfer_to_nobodys_number_is_refused_and_the_call_goes_on(
    sipp: Sipp, pbx: CallServer
) -> None:
    server = pbx.server
    since = datetime.now(UTC).replace(microsecond=0)
    calling, transferring, _ = transferred_call(
        sipp, server, "uas_refer_refused.xml", "call_await_bye.xml",
        refer_to="6999", target_answers=False,
    )  # fmt: skip

    assert not requests_received(calling, "INVITE"), "the caller's call is left as it was"
    assert not requests_received(transferring, "NOTIFY"), transferring.describe()
    record = the_cdr(server, CALLER, TRANSFEROR, since=since)
    assert_answered(record, hangup_by="callee", billsec=1.5)


def test_after_a_transfer_the_caller_and_the_target_hear_each_other(
    baresip_factory: BaresipFactory, pbx: CallServer, tmp_path: Path
) -> None:
    server = pbx.server
    since = datetime.now(UTC).replace(microsecond=0)
    phones = {
        number: extension_phone(
            baresip_factory,
            server,
            number,
            source_wav=write_tone_wav(tmp_path / f"{number}.wav", hz),
            answermode="manual" if number == CALLER else "auto",
        )
        for number, hz in (
            (CALLER, CALLER_TONE_HZ),
            (TRANSFEROR, CALLEE_TONE_HZ),
            (TARGET, TARGET_TONE_HZ),
        )
    }
    caller, transferor, target = phones[CALLER], phones[TRANSFEROR], phones[TARGET]
    everyone = (caller, transferor, target)

    dialled = control(caller).command("dial", f"sip:{TRANSFEROR}@{server.sip_address}")
    assert dialled.get("ok"), f"dial refused: {dialled}\n{diagnostics(caller)}"
    try:
        answered = next_event(control(caller), ("CALL_ESTABLISHED", "CALL_CLOSED"), timeout=10)
        assert answered["type"] == "CALL_ESTABLISHED", answered
        control(transferor).wait_event("CALL_ESTABLISHED", timeout=5)
        time.sleep(1.0)
        moved = control(transferor).command("transfer", f"sip:{TARGET}@{server.sip_address}")
        assert moved.get("ok"), f"transfer refused: {moved}"
        control(transferor).wait_event("CALL_CLOSED", timeout=10)
        established = next_event(control(target), ("CALL_ESTABLISHED", "CALL_CLOSED"), timeout=10)
        assert established["type"] == "CALL_ESTABLISHED", established
        time.sleep(TALK_SECONDS)
        assert control(caller).command("hangup").get("ok")
        control(caller).wait_event("CALL_CLOSED", timeout=5)
        control(target).wait_event("CALL_CLOSED", timeout=5)
    except (TimeoutError, AssertionError) as error:
        pytest.fail(f"{error}\n{diagnostics(*everyone)}\n{server.log(80)}")

    caller_heard, rate = read_wav(received_recording(caller))
    target_heard, _ = read_wav(received_recording(target))
    heard = {
        "caller hears target": tone_seconds(caller_heard, rate, TARGET_TONE_HZ),
        "target hears caller": tone_seconds(target_heard, rate, CALLER_TONE_HZ),
        "target hears transferor": tone_seconds(
            target_heard, rate, CALLEE_TONE_HZ, min_share=LEAK_SHARE
        ),
        "target hears itself": tone_seconds(
            target_heard, rate, TARGET_TONE_HZ, min_share=LEAK_SHARE
        ),
    }
    context = f"seconds of tone {heard}\n{diagnostics(*everyone)}\n{server.log(60)}"
    assert heard["caller hears target"] >= MIN_TONE_SECONDS, context
    assert heard["target hears caller"] >= MIN_TONE_SECONDS, context
    assert heard["target hears transferor"] == 0.0, context
    assert heard["target hears itself"] == 0.0, context

    to_target = the_cdr(server, CALLER, TARGET, since=since)
    assert_answered(to_target, hangup_by="caller", billsec=TALK_SECONDS)


def test_a_parked_caller_is_not_hung_up_for_the_silence_of_the_phone_that_left(
    baresip_factory: BaresipFactory, sipp: Sipp, quick_timeout_pbx: CallServer, tmp_path: Path
) -> None:
    # The transferor's phone sends nothing once it has left; the caller (a real phone)
    # goes on sending. Only a phone still in the call is watched for RTP.
    server = quick_timeout_pbx.server
    transferor = start_callee(
        sipp, server, TRANSFEROR, "uas_answer_then_refer.xml", keys={"target": "701"}
    )
    caller = extension_phone(
        baresip_factory,
        server,
        CALLER,
        source_wav=write_tone_wav(tmp_path / "caller.wav", CALLER_TONE_HZ),
    )
    dialled = control(caller).command("dial", f"sip:{TRANSFEROR}@{server.sip_address}")
    assert dialled.get("ok"), f"dial refused: {dialled}\n{diagnostics(caller)}"
    try:
        answered = next_event(control(caller), ("CALL_ESTABLISHED", "CALL_CLOSED"), timeout=10)
        assert answered["type"] == "CALL_ESTABLISHED", answered
        wait_until(lambda: "parked at 701" in server.log(200), timeout=10, what="the caller parked")
        time.sleep(RTP_TIMEOUT * 2.5)
        closed = [e for e in control(caller).all_events if e.get("type") == "CALL_CLOSED"]
        assert not closed, f"the parked caller was hung up: {closed}"
        assert control(caller).command("hangup").get("ok")
        control(caller).wait_event("CALL_CLOSED", timeout=5)
    except (TimeoutError, AssertionError) as error:
        transferor.stop()
        pytest.fail(f"{error}\n{diagnostics(caller)}\n{server.log(80)}")
    result = transferor.finish(timeout=10)
    assert result.returncode == 0, result.describe()


def test_a_caller_transferred_to_a_busy_extension_leaves_a_message(
    baresip_factory: BaresipFactory, sipp: Sipp, ringfort_factory: ServerFactory, tmp_path: Path
) -> None:
    # 603 has voicemail on and refuses the call (486): the caller hears 603's busy
    # greeting and leaves a message, as if they had dialled 603 themselves.
    server = call_server(
        ringfort_factory, [CALLER, TRANSFEROR, TARGET], name="transfer-vm", size=20
    ).server
    switch_voicemail(server, on=True, number=TARGET)
    transferor = start_callee(
        sipp, server, TRANSFEROR, "uas_answer_then_refer.xml", keys={"target": TARGET}
    )
    busy = start_callee(sipp, server, TARGET, "uas_reject.xml")
    caller = extension_phone(
        baresip_factory,
        server,
        CALLER,
        source_wav=write_tone_wav(tmp_path / "caller.wav", CALLER_TONE_HZ),
    )
    greeting = prompt_seconds(
        "vm-person-at", *(f"digits/{digit}" for digit in TARGET), "vm-busy", "vm-leave-message"
    )
    talk = 3.0
    dialled = control(caller).command("dial", f"sip:{TRANSFEROR}@{server.sip_address}")
    assert dialled.get("ok"), f"dial refused: {dialled}\n{diagnostics(caller)}"
    try:
        answered = next_event(control(caller), ("CALL_ESTABLISHED", "CALL_CLOSED"), timeout=10)
        assert answered["type"] == "CALL_ESTABLISHED", answered
        wait_until(
            lambda: f"{TARGET} busy; to voicemail" in server.log(200),
            timeout=10,
            what="the caller sent to 603's mailbox",
        )
        time.sleep(greeting + BEEP_SECONDS + talk)
        assert control(caller).command("hangup").get("ok")
        control(caller).wait_event("CALL_CLOSED", timeout=5)
    except (TimeoutError, AssertionError) as error:
        pytest.fail(f"{error}\n{diagnostics(caller)}\n{server.log(80)}")
    for sipp_run in (transferor, busy):
        result = sipp_run.finish(timeout=10)
        assert result.returncode == 0, result.describe()

    def message() -> list[dict[str, str]] | None:
        listed = json.loads(server.cli("voicemail", "list", TARGET, "--json").stdout)
        return listed or None

    [left] = wait_until(message, timeout=10, interval=0.3, what="the message")
    assert left["caller"] == CALLER, left
    heard, rate = read_wav(Path(left["file"]))
    assert tone_seconds(heard, rate, CALLER_TONE_HZ) >= talk - 1.5, (left, server.log(40))
