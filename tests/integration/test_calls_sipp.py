"""Calls between extensions through the B2BUA, driven by SIPp callers and callees.

Every callee is a SIPp UAS whose SIP port was first registered as the extension
with ``register.xml`` (so the binding's Contact and source address are the
UAS's own port and the server sees no NAT); every caller registers its port
the same way, then calls with digest credentials (407, RFC 3261 §22.3). Each
test checks what both SIPp sides saw and the call detail record.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from callkit import (
    CallServer,
    Sampler,
    assert_answered,
    assert_unanswered,
    audio_of,
    body,
    call_server,
    clear_bindings,
    cseq_method,
    finish,
    invite_finals,
    live_status,
    requests_received,
    start_callee,
    start_caller,
    the_cdr,
    udp_ports_of,
    uri_user,
    wait_for_cdrs,
)
from harness import SCENARIO_DIR, ServerFactory, extensions
from peers import (
    LOCALHOST,
    Sipp,
    wait_until,
)

pytestmark = pytest.mark.peers

NUMBERS = [
    str(number) for number in (*range(201, 214), 301, 302, 303, 304, 401, 402, 501, 502, 503)
]
PASSWORD = {item.number: item.password for item in extensions(*NUMBERS)}
UNKNOWN_NUMBER = "999"

RING_TIMEOUT = 2
RTP_TIMEOUT = 2


@pytest.fixture(scope="module")
def pbx(module_ringfort_factory: ServerFactory) -> CallServer:
    """The server most tests share: 201 calls, and each test has a callee of its own."""
    return call_server(
        module_ringfort_factory, [str(n) for n in range(201, 214)], name="calls", size=100
    )


@pytest.fixture(scope="module")
def timers_pbx(module_ringfort_factory: ServerFactory) -> CallServer:
    """A server with a 2 s ring timeout and a 2 s RTP timeout."""
    return call_server(
        module_ringfort_factory,
        ["301", "302", "303", "304"],
        name="timers",
        size=100,
        calls__ring_timeout=str(RING_TIMEOUT),
        media__rtp_timeout=str(RTP_TIMEOUT),
    )


@pytest.fixture(scope="module")
def limits_pbx(module_ringfort_factory: ServerFactory) -> CallServer:
    """A server where an extension may be in one call at a time."""
    return call_server(
        module_ringfort_factory,
        ["501", "502", "503"],
        name="limits",
        size=40,
        calls__max_calls_per_extension="1",
    )


# --------------------------------------------------------------------------- tests


def test_answered_call_hung_up_by_caller_is_relayed_and_billed(sipp: Sipp, pbx: CallServer) -> None:
    server = pbx.server
    callee = start_callee(sipp, server, "202", "uas_answer.xml")
    caller = start_caller(sipp, server, "201", "202", "call_hangup.xml", talk_ms=3000)
    calling, [called] = finish(caller, callee)

    # RFC 3261 §22.3: a proxy-style challenge first, then the call.
    assert invite_finals(calling) == [407, 200], calling.trace(12)
    challenge = calling.received(407)[0]
    assert challenge.header("Proxy-Authenticate"), challenge.text
    assert calling.received(180), "the callee's 180 is relayed to the caller"
    ok = calling.received(200)[0]
    answer = audio_of(ok)
    assert answer.address == LOCALHOST, ok.text
    assert answer.port in pbx.media, f"the caller's media goes to the relay:\n{ok.text}"

    [invite] = requests_received(called, "INVITE")
    assert invite.header("Call-ID") != calling.sent("INVITE")[-1].header("Call-ID"), (
        "the callee's leg is a call of its own"
    )
    assert invite.first_line.startswith(f"INVITE sip:202@{LOCALHOST}:{called.sip_port}"), (
        invite.text
    )
    assert uri_user(invite.header("From")[0]) == "201", invite.text
    assert uri_user(invite.header("To")[0]) == "202", invite.text
    offer = audio_of(invite)
    assert offer.address == LOCALHOST, invite.text
    assert offer.port in pbx.media, f"the callee's media goes to the relay:\n{invite.text}"
    assert "18" not in offer.payload_types, f"G.729 is stripped:\n{invite.text}"
    assert {"8", "0", "101"} <= set(offer.payload_types), invite.text
    assert requests_received(called, "ACK"), "the server ACKs the callee's 200 itself"
    assert requests_received(called, "BYE"), "the caller's BYE reaches the callee"

    record = the_cdr(server, "201", "202")
    assert_answered(record, hangup_by="caller", billsec=3)
    # The name is the caller's display name or the extension's; the number is the caller's.
    assert re.fullmatch(r'"[^"]*" <201>', record["clid"]), record
    assert record["uniqueid"], record


def test_call_over_tcp_reaches_a_tcp_phone_at_its_contact(sipp: Sipp, pbx: CallServer) -> None:
    # The callee registered over a TCP connection that closed with its REGISTER; it is
    # not behind NAT, so Ringfort opens a new connection to the Contact (RFC 3261 §18.1.1).
    server = pbx.server
    callee = start_callee(sipp, server, "210", "uas_answer.xml", transport="t1")
    caller = start_caller(
        sipp, server, "201", "210", "call_hangup.xml", talk_ms=1000, transport="t1"
    )
    calling, [called] = finish(caller, callee)

    assert invite_finals(calling) == [407, 200], calling.trace(12)
    [invite] = requests_received(called, "INVITE")
    assert "SIP/2.0/TCP" in invite.header("Via")[0], invite.text
    assert requests_received(called, "BYE"), called.trace(12)
    assert_answered(the_cdr(server, "201", "210"), hangup_by="caller", billsec=1)


def test_late_offer_is_made_by_the_callee_and_answered_in_the_acks(
    sipp: Sipp, pbx: CallServer
) -> None:
    # RFC 3264 §4: an INVITE without SDP; the callee's 200 offers, the caller's ACK answers.
    server = pbx.server
    callee = start_callee(sipp, server, "211", "uas_answer.xml")
    caller = start_caller(sipp, server, "201", "211", "call_late_offer.xml", talk_ms=1000)
    calling, [called] = finish(caller, callee)

    assert invite_finals(calling) == [407, 200], calling.trace(12)
    [invite] = requests_received(called, "INVITE")
    assert not body(invite).strip(), f"the callee is asked to offer:\n{invite.text}"
    offer = audio_of(calling.received(200)[0])
    assert offer.port in pbx.media, calling.received(200)[0].text
    [ack] = requests_received(called, "ACK")
    answer = audio_of(ack)
    assert answer.port in pbx.media, f"the caller's answer reaches the callee:\n{ack.text}"
    assert answer.payload_types[0] == "8", ack.text
    assert_answered(the_cdr(server, "201", "211"), hangup_by="caller", billsec=1)


def test_session_refresh_without_sdp_is_answered_by_ringfort_alone(
    sipp: Sipp, pbx: CallServer
) -> None:
    server = pbx.server
    callee = start_callee(sipp, server, "212", "uas_answer.xml")
    caller = start_caller(sipp, server, "201", "212", "call_refresh.xml")
    calling, [called] = finish(caller, callee)

    oks = [message for message in calling.received(200) if cseq_method(message) == "INVITE"]
    assert len(oks) == 2, calling.trace(16)
    first, refresh = audio_of(oks[0]), audio_of(oks[1])
    assert (refresh.address, refresh.port) == (first.address, first.port), oks[1].text
    assert len(requests_received(called, "INVITE")) == 1, "the callee is not disturbed"
    assert_answered(the_cdr(server, "201", "212"), hangup_by="caller", billsec=1)


def test_bye_from_callee_ends_the_call_for_both(sipp: Sipp, pbx: CallServer) -> None:
    server = pbx.server
    callee = start_callee(sipp, server, "203", "uas_answer_then_bye.xml")
    caller = start_caller(sipp, server, "201", "203", "call_await_bye.xml")
    calling, [called] = finish(caller, callee)

    assert invite_finals(calling)[-1] == 200, calling.trace(12)
    assert requests_received(calling, "BYE"), calling.trace(12)
    bye_answers = [message for message in called.received(200) if cseq_method(message) == "BYE"]
    assert bye_answers, f"the server answers the callee's BYE:\n{called.trace(12)}"

    assert_answered(the_cdr(server, "201", "203"), hangup_by="callee", billsec=1.5)


def test_cancel_before_answer_records_cancelled_cdr(sipp: Sipp, pbx: CallServer) -> None:
    server = pbx.server
    callee = start_callee(sipp, server, "204", "uas_ring_until_cancel.xml")
    caller = start_caller(sipp, server, "201", "204", "call_cancel.xml")
    calling, [called] = finish(caller, callee)

    assert invite_finals(calling) == [407, 487], calling.trace(12)
    cancel_answers = [
        message for message in calling.received(200) if cseq_method(message) == "CANCEL"
    ]
    assert cancel_answers, f"200 to the CANCEL (RFC 3261 §9.2):\n{calling.trace(12)}"
    assert requests_received(called, "CANCEL"), "the CANCEL reaches the ringing callee"
    assert not requests_received(called, "BYE"), called.trace(12)

    assert_unanswered(the_cdr(server, "201", "204"), disposition="CANCELLED", hangup_by="caller")


def test_cancel_after_the_call_ended_gets_200_and_changes_nothing(
    sipp: Sipp, pbx: CallServer
) -> None:
    # The call is forgotten at once when it ends; the caller's INVITE transaction still
    # waits out Timer L, so a late CANCEL matches it: 200, and no effect (RFC 3261 §9.2).
    server = pbx.server
    callee = start_callee(sipp, server, "213", "uas_answer.xml")
    caller = start_caller(sipp, server, "201", "213", "call_hangup_then_cancel.xml", talk_ms=500)
    calling, [called] = finish(caller, callee)

    assert invite_finals(calling) == [407, 200], calling.trace(12)
    [cancel] = calling.sent("CANCEL")
    answered = next(m for m in calling.received(200) if cseq_method(m) == "INVITE")
    assert cancel.header("Via") == answered.header("Via"), cancel.text
    cancel_answers = [
        message for message in calling.received(200) if cseq_method(message) == "CANCEL"
    ]
    assert cancel_answers, f"200 to the late CANCEL:\n{calling.trace(12)}"
    assert not calling.received(487), calling.trace(12)
    assert not requests_received(called, "CANCEL"), called.trace(12)
    assert requests_received(called, "BYE"), called.trace(12)

    assert_answered(the_cdr(server, "201", "213"), hangup_by="caller", billsec=0.5)


def test_busy_callee_gives_caller_486_and_busy_cdr(sipp: Sipp, pbx: CallServer) -> None:
    server = pbx.server
    callee = start_callee(sipp, server, "205", "uas_reject.xml")
    caller = start_caller(sipp, server, "201", "205", "call_rejected.xml")
    calling, [called] = finish(caller, callee)

    assert invite_finals(calling) == [407, 486], calling.trace(12)
    assert requests_received(called, "ACK"), "the server ACKs the callee's 486"
    assert_unanswered(the_cdr(server, "201", "205"), disposition="BUSY", hangup_by="callee")


REJECTIONS = [
    # callee's final response -> the caller's, disposition, hangup_by ("Failures mapped to
    # the caller" in the contract)
    pytest.param(600, "Busy Everywhere", 486, "BUSY", "callee", id="600"),
    pytest.param(603, "Decline", 603, "BUSY", "callee", id="603"),
    pytest.param(480, "Temporarily Unavailable", 480, "NO ANSWER", "callee", id="480"),
    pytest.param(488, "Not Acceptable Here", 488, "FAILED", "system", id="488"),
    pytest.param(606, "Not Acceptable", 488, "FAILED", "system", id="606"),
    pytest.param(500, "Server Internal Error", 480, "FAILED", "system", id="500"),
]


def rejecting_scenario(directory: Path, status: int, reason: str) -> Path:
    """uas_reject.xml answering ``status reason`` instead of 486 (SIPp has no keyword there)."""
    template = (SCENARIO_DIR / "uas_reject.xml").read_text()
    assert "SIP/2.0 486 Busy Here" in template
    path = directory / f"uas_reject_{status}.xml"
    path.write_text(template.replace("SIP/2.0 486 Busy Here", f"SIP/2.0 {status} {reason}"))
    return path


@pytest.mark.parametrize(("status", "reason", "relayed", "disposition", "hangup_by"), REJECTIONS)
def test_callee_refusal_is_mapped_to_the_caller_and_the_cdr(
    sipp: Sipp,
    pbx: CallServer,
    tmp_path: Path,
    status: int,
    reason: str,
    relayed: int,
    disposition: str,
    hangup_by: str,
) -> None:
    server = pbx.server
    scenario = rejecting_scenario(tmp_path, status, reason)
    # The runs before left bindings whose SIPp is gone; a fork to one would never end.
    clear_bindings(sipp, server, "209")
    callee = start_callee(sipp, server, "209", scenario)
    since = datetime.now(UTC)
    caller = start_caller(sipp, server, "201", "209", "call_rejected.xml")
    calling, [called] = finish(caller, callee)

    assert invite_finals(calling) == [407, relayed], calling.trace(12)
    assert requests_received(called, "ACK"), f"the server ACKs the callee's {status}"
    record = the_cdr(server, "201", "209", since=since)
    assert_unanswered(record, disposition=disposition, hangup_by=hangup_by)


def test_unanswered_call_times_out_with_480_and_no_answer_cdr(
    sipp: Sipp, timers_pbx: CallServer
) -> None:
    server = timers_pbx.server
    callee = start_callee(sipp, server, "302", "uas_ring_until_cancel.xml")
    caller = start_caller(sipp, server, "301", "302", "call_rejected.xml")
    calling, [called] = finish(caller, callee)

    assert invite_finals(calling) == [407, 480], calling.trace(12)
    assert calling.received(180), "the caller heard ringing first"
    assert requests_received(called, "CANCEL"), "the server cancels the ringing fork"
    assert requests_received(called, "ACK"), "the server ACKs the callee's 487"

    record = the_cdr(server, "301", "302")
    assert_unanswered(record, disposition="NO ANSWER", hangup_by="system")
    assert RING_TIMEOUT <= record["duration"] <= RING_TIMEOUT + 2, record


def test_call_to_unregistered_extension_gets_480_and_failed_cdr(
    sipp: Sipp, pbx: CallServer
) -> None:
    server = pbx.server
    assert server.registrations("206", via="http") == []
    calling, _ = finish(start_caller(sipp, server, "201", "206", "call_rejected.xml"))

    assert invite_finals(calling) == [407, 480], calling.trace(12)
    assert_unanswered(the_cdr(server, "201", "206"), disposition="FAILED", hangup_by="system")


def test_call_to_unknown_number_gets_404_and_failed_cdr(sipp: Sipp, pbx: CallServer) -> None:
    server = pbx.server
    calling, _ = finish(start_caller(sipp, server, "201", UNKNOWN_NUMBER, "call_rejected.xml"))

    # Whether the server challenges before it looks the number up is its choice.
    assert invite_finals(calling)[-1] == 404, calling.trace(12)
    assert_unanswered(
        the_cdr(server, "201", UNKNOWN_NUMBER), disposition="FAILED", hangup_by="system"
    )


def test_call_past_the_per_extension_limit_gets_503_with_retry_after(
    sipp: Sipp, limits_pbx: CallServer
) -> None:
    server = limits_pbx.server
    callee = start_callee(sipp, server, "503", "uas_answer.xml")
    first = start_caller(sipp, server, "501", "503", "call_hangup.xml", talk_ms=4000)
    wait_until(
        lambda: live_status(server)["calls"]["active"] == 1, timeout=10.0, what="the first call"
    )
    second, _ = finish(start_caller(sipp, server, "502", "503", "call_rejected.xml"))
    calling, _ = finish(first, callee)

    assert invite_finals(second)[-1] == 503, second.trace(12)
    assert second.received(503)[0].header("Retry-After"), second.trace(4)
    assert invite_finals(calling)[-1] == 200, "the call in progress is not disturbed"
    assert_unanswered(the_cdr(server, "502", "503"), disposition="FAILED", hangup_by="system")
    assert_answered(the_cdr(server, "501", "503"), hangup_by="caller", billsec=4)


def test_call_forks_to_every_contact_and_cancels_the_losers(sipp: Sipp, pbx: CallServer) -> None:
    server = pbx.server
    answering = start_callee(sipp, server, "207", "uas_answer.xml")
    ringing = start_callee(sipp, server, "207", "uas_ring_until_cancel.xml")
    wait_until(
        lambda: len(server.registrations("207", via="http")) == 2,
        timeout=5.0,
        interval=0.1,
        what="two bindings of 207",
    )
    caller = start_caller(sipp, server, "201", "207", "call_hangup.xml", talk_ms=1000)
    calling, [winner, loser] = finish(caller, answering, ringing)

    assert invite_finals(calling) == [407, 200], calling.trace(12)
    assert requests_received(winner, "INVITE"), winner.trace(12)
    assert requests_received(loser, "INVITE"), loser.trace(12)
    assert requests_received(winner, "BYE"), winner.trace(12)
    assert requests_received(loser, "CANCEL"), loser.trace(12)
    assert not requests_received(loser, "BYE"), loser.trace(12)

    assert_answered(the_cdr(server, "201", "207"), hangup_by="caller", billsec=1)


def test_hold_and_resume_reinvites_are_relayed_to_the_callee(sipp: Sipp, pbx: CallServer) -> None:
    server = pbx.server
    callee = start_callee(sipp, server, "208", "uas_hold_resume.xml")
    caller = start_caller(sipp, server, "201", "208", "call_hold_resume.xml", talk_ms=500)
    calling, [called] = finish(caller, callee)

    # uas_hold_resume.xml already failed the run unless the directions were right.
    initial, hold, resume = requests_received(called, "INVITE")
    assert hold.header("Call-ID") == initial.header("Call-ID"), "re-INVITE within the dialog"
    assert audio_of(hold).direction == "sendonly", hold.text
    assert audio_of(resume).direction == "sendrecv", resume.text
    for offer in (hold, resume):
        assert audio_of(offer).port in pbx.media, offer.text
    assert len(requests_received(called, "ACK")) == 3, "the server ACKs each 2xx of the callee"

    answers = [message for message in calling.received(200) if cseq_method(message) == "INVITE"]
    assert len(answers) == 3, calling.trace(16)
    assert audio_of(answers[1]).direction == "recvonly", answers[1].text
    assert audio_of(answers[2]).direction == "sendrecv", answers[2].text

    assert_answered(the_cdr(server, "201", "208"), hangup_by="caller", billsec=1.5)


def test_a_hold_longer_than_the_rtp_timeout_does_not_end_the_call(
    sipp: Sipp, timers_pbx: CallServer
) -> None:
    # A held phone sends no RTP; only silence outside a hold means the phone is gone.
    server = timers_pbx.server
    held_ms = int(RTP_TIMEOUT * 2.5 * 1000)
    callee = start_callee(sipp, server, "304", "uas_hold_resume.xml")
    caller = start_caller(sipp, server, "301", "304", "call_hold_resume.xml", talk_ms=held_ms)
    calling, [called] = finish(caller, callee)

    assert not requests_received(calling, "BYE"), f"the server hung up:\n{calling.trace(8)}"
    assert len(requests_received(called, "BYE")) == 1, called.trace(8)
    bye_answers = [message for message in calling.received(200) if cseq_method(message) == "BYE"]
    assert bye_answers, calling.trace(8)
    assert_answered(the_cdr(server, "301", "304"), hangup_by="caller", billsec=held_ms / 1000 + 1.5)


def test_call_without_rtp_is_ended_by_the_server_on_both_sides(
    sipp: Sipp, timers_pbx: CallServer
) -> None:
    server = timers_pbx.server
    callee = start_callee(sipp, server, "303", "uas_answer.xml")
    caller = start_caller(sipp, server, "301", "303", "call_await_bye.xml")
    calling, [called] = finish(caller, callee)

    assert invite_finals(calling)[-1] == 200, calling.trace(12)
    assert requests_received(calling, "BYE"), calling.trace(12)
    assert requests_received(called, "BYE"), called.trace(12)

    record = the_cdr(server, "301", "303")
    assert_answered(record, hangup_by="system", billsec=RTP_TIMEOUT, slack=2)


@pytest.mark.parametrize("keep_open", ["0", "1024"])
def test_fifty_short_calls_leave_no_call_and_no_rtp_port_behind(
    sipp: Sipp, ringfort_factory: ServerFactory, keep_open: str
) -> None:
    calls = 50
    leak = call_server(
        ringfort_factory,
        ["401", "402"],
        name=f"leak-{keep_open}",
        # Room for every leg's own pair: only reuse keeps fewer than 2 * calls.
        size=4 * calls + 200,
        calls__max_calls_per_extension="50",
        media__keep_open=keep_open,
    )
    server = leak.server
    pid = server.pid
    assert pid is not None

    callee = start_callee(sipp, server, "402", "uas_answer.xml", calls=calls, time_limit=60)
    with Sampler(lambda: len(udp_ports_of(pid, leak.media))) as sockets:
        caller = start_caller(
            sipp,
            server,
            "401",
            "402",
            "call_hangup.xml",
            talk_ms=500,
            calls=calls,
            rate=10,
            time_limit=60,
        )
        calling, [called] = finish(caller, callee)
    assert calling.successful_calls == calls, calling.describe()
    assert called.successful_calls == calls, called.describe()
    # Shows that the socket check below sees the relay's sockets at all.
    assert sockets.peak > 0, "no media socket of the server seen during the calls"

    def idle() -> dict[str, Any] | None:
        status = live_status(server)
        done = status["calls"]["active"] == 0 and status["media"]["ports_in_use"] == 0
        return status if done else None

    try:
        status = wait_until(idle, timeout=5.0, interval=0.2, what="no active call and no port")
    except TimeoutError:
        pytest.fail(f"after {calls} calls: {live_status(server)}")
    assert status["media"]["legs"] == 0, status
    kept = status["media"]["ports_kept_open"]
    held = udp_ports_of(pid, leak.media)
    if keep_open == "0":
        assert kept == 0, status
        assert held == [], "the relay still holds media sockets"
    else:
        # What is still bound is exactly the kept pairs, and calls 2 s apart reused them
        # (a call of 0.5 s at 10 a second): fewer than one pair a leg.
        assert len(held) == 2 * kept, (held, status)
        assert 0 < kept < 2 * calls, status

    records = wait_for_cdrs(server, "401", "402", count=calls)
    assert len(records) == calls
    assert {record["disposition"] for record in records} == {"ANSWERED"}, records
