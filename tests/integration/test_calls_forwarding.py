"""Call forwarding and do-not-disturb, set from the command line and from the phone's
keypad (feature codes), with real SIPp phones."""

from __future__ import annotations

import time

import pytest
from callkit import (
    CallServer,
    call_server,
    finish,
    invite_finals,
    requests_received,
    start_callee,
    start_caller,
    the_cdr,
)
from harness import ServerFactory
from peers import RingfortServer, Sipp, wait_until
from test_ivr_sipp import RtpSocket, rtp, wait_for_greeting
from test_voicemail_menu import call_app, press

pytestmark = pytest.mark.peers

# Fixtures used by name.
__all__ = ["rtp"]

CALLER, DESK, COLLEAGUE, OTHER = "5101", "5102", "5103", "5104"


@pytest.fixture
def office(ringfort_factory: ServerFactory) -> CallServer:
    # Short rings, so the no-answer forward is reached quickly.
    return call_server(
        ringfort_factory, [CALLER, DESK, COLLEAGUE, OTHER], name="fwd", size=40,
        calls__ring_timeout="3", media__rtp_timeout="0",
    )  # fmt: skip


def forward(server: RingfortServer, number: str, *options: str) -> str:
    return server.cli("extension", "forward", number, *options).stdout.strip()


def test_forward_always_sends_calls_on_without_ringing_the_extension(
    office: CallServer, sipp: Sipp
) -> None:
    server = office.server
    # The desk has no phone registered: without the forward the caller would get 480.
    assert forward(server, DESK, "--always", COLLEAGUE) == f"extension {DESK}: always {COLLEAGUE}"
    colleague = start_callee(sipp, server, COLLEAGUE, "uas_answer.xml")
    caller = start_caller(sipp, server, CALLER, DESK, "call_hangup.xml", talk_ms=1000)
    calling, [answered] = finish(caller, colleague)
    assert invite_finals(calling)[-1] == 200, calling.trace(12)
    assert requests_received(answered, "INVITE"), "the colleague's phone rang"
    # Put through before answer, the call is one call, to the number dialled.
    record = the_cdr(server, CALLER, DESK)
    assert (record["disposition"], record["hangup_by"]) == ("ANSWERED", "caller"), record
    assert record["answered_by"] == COLLEAGUE, record
    assert f"{DESK} forwards (always) to {COLLEAGUE}" in server.log(200)


def test_a_busy_extension_forwards_busy_calls(office: CallServer, sipp: Sipp) -> None:
    server = office.server
    forward(server, DESK, "--busy", COLLEAGUE)
    desk = start_callee(sipp, server, DESK, "uas_reject.xml")
    colleague = start_callee(sipp, server, COLLEAGUE, "uas_answer.xml")
    caller = start_caller(sipp, server, CALLER, DESK, "call_hangup.xml", talk_ms=1000)
    calling, [refused, answered] = finish(caller, desk, colleague)
    assert requests_received(refused, "ACK"), "the desk's 486 was ACKed"
    assert requests_received(answered, "INVITE")
    assert invite_finals(calling)[-1] == 200, calling.trace(12)
    record = the_cdr(server, CALLER, DESK)
    assert record["disposition"] == "ANSWERED", record


def test_an_unanswered_extension_forwards_after_its_ring_time(
    office: CallServer, sipp: Sipp
) -> None:
    server = office.server
    forward(server, DESK, "--no-answer", COLLEAGUE)
    desk = start_callee(sipp, server, DESK, "uas_ring_until_cancel.xml")
    colleague = start_callee(sipp, server, COLLEAGUE, "uas_answer.xml")
    caller = start_caller(sipp, server, CALLER, DESK, "call_hangup.xml", talk_ms=1000)
    calling, [rang, answered] = finish(caller, desk, colleague)
    assert requests_received(rang, "CANCEL"), "the desk rang out its 3 s, then was cancelled"
    assert requests_received(answered, "INVITE")
    assert invite_finals(calling)[-1] == 200, calling.trace(12)


def test_no_answer_forward_takes_calls_when_no_phone_is_registered(
    office: CallServer, sipp: Sipp
) -> None:
    server = office.server
    forward(server, DESK, "--no-answer", COLLEAGUE, "--busy", OTHER)
    colleague = start_callee(sipp, server, COLLEAGUE, "uas_answer.xml")
    caller = start_caller(sipp, server, CALLER, DESK, "call_hangup.xml", talk_ms=500)
    calling, _ = finish(caller, colleague)
    assert invite_finals(calling)[-1] == 200, calling.trace(12)


def test_do_not_disturb_is_busy_without_ringing(office: CallServer, sipp: Sipp) -> None:
    server = office.server
    assert forward(server, DESK, "--dnd") == f"extension {DESK}: dnd"
    caller = start_caller(sipp, server, CALLER, DESK, "call_rejected.xml")
    calling, _ = finish(caller)
    assert invite_finals(calling) == [407, 486], calling.trace(12)
    record = the_cdr(server, CALLER, DESK)
    assert (record["disposition"], record["answer"]) == ("BUSY", None), record


def test_do_not_disturb_sends_calls_to_the_busy_forward(office: CallServer, sipp: Sipp) -> None:
    server = office.server
    forward(server, DESK, "--dnd", "--busy", COLLEAGUE)
    colleague = start_callee(sipp, server, COLLEAGUE, "uas_answer.xml")
    caller = start_caller(sipp, server, CALLER, DESK, "call_hangup.xml", talk_ms=500)
    calling, _ = finish(caller, colleague)
    assert invite_finals(calling)[-1] == 200, calling.trace(12)


def test_forwards_that_point_at_each_other_ring_the_extension_closing_the_loop(
    office: CallServer, sipp: Sipp
) -> None:
    server = office.server
    forward(server, DESK, "--always", COLLEAGUE)
    forward(server, COLLEAGUE, "--always", DESK)
    colleague = start_callee(sipp, server, COLLEAGUE, "uas_answer.xml")
    caller = start_caller(sipp, server, CALLER, DESK, "call_hangup.xml", talk_ms=500)
    calling, _ = finish(caller, colleague)
    assert invite_finals(calling)[-1] == 200, calling.trace(12)
    assert "which forwarded here; not followed" in server.log(200)


def test_a_forward_must_be_someones_number(office: CallServer) -> None:
    server = office.server
    refused = server.cli("extension", "forward", DESK, "--always", "999", check=False)
    assert refused.returncode != 0
    assert "999 is nobody's number" in refused.stderr + refused.stdout
    itself = server.cli("extension", "forward", DESK, "--busy", DESK, check=False)
    assert itself.returncode != 0
    assert "cannot forward to itself" in itself.stderr + itself.stdout
    assert forward(server, DESK) == f"extension {DESK}: -"
    both = forward(server, DESK, "--busy", COLLEAGUE, "--no-answer", OTHER, "--dnd")
    assert both == f"extension {DESK}: dnd, busy {COLLEAGUE}, no answer {OTHER}"
    assert forward(server, DESK, "--busy", "off") == f"extension {DESK}: dnd, no answer {OTHER}"
    assert forward(server, DESK, "--off") == f"extension {DESK}: -"


def dial_code(sipp: Sipp, server: RingfortServer, phone: str, code: str, rtp: RtpSocket) -> None:
    """``phone`` dials feature ``code``: answered, told what is in force, hung up on."""
    calling, _ = finish(call_app(sipp, server, phone, code, rtp))
    assert invite_finals(calling)[-1] == 200, calling.trace(12)


def test_a_phone_sets_its_own_forwarding_with_feature_codes(
    office: CallServer, sipp: Sipp, rtp: RtpSocket
) -> None:
    server = office.server
    dial_code(sipp, server, DESK, f"*72{COLLEAGUE}", rtp)
    # "Your calls will be forwarded to 5 1 0 3. Goodbye.": some 4 s of 20 ms packets.
    assert rtp.count_since(0.0) > 100, "the confirmation was spoken"
    dial_code(sipp, server, DESK, f"*90{OTHER}", rtp)
    dial_code(sipp, server, DESK, "*78", rtp)
    assert forward(server, DESK) == f"extension {DESK}: dnd, always {COLLEAGUE}, busy {OTHER}"
    dial_code(sipp, server, DESK, "*73", rtp)
    dial_code(sipp, server, DESK, "*76", rtp)  # toggles do-not-disturb off
    dial_code(sipp, server, DESK, "*72999", rtp)  # nobody's number: refused
    assert forward(server, DESK) == f"extension {DESK}: busy {OTHER}"
    dial_code(sipp, server, DESK, "*91", rtp)
    assert forward(server, DESK) == f"extension {DESK}: -"
    assert "refused" in server.log(200)

    # What a phone set applies to the next call at once.
    dial_code(sipp, server, DESK, f"*72{COLLEAGUE}", rtp)
    colleague = start_callee(sipp, server, COLLEAGUE, "uas_answer.xml")
    wait_until(lambda: "always" in forward(server, DESK), timeout=5.0, what="the forward in force")
    caller = start_caller(sipp, server, CALLER, DESK, "call_hangup.xml", talk_ms=500)
    calling, _ = finish(caller, colleague)
    assert invite_finals(calling)[-1] == 200, calling.trace(12)


def test_the_phone_a_call_was_forwarded_to_transfers_it_on(office: CallServer, sipp: Sipp) -> None:
    server = office.server
    forward(server, DESK, "--always", COLLEAGUE)
    # Put through before answer, the call is the two phones' once answered: the
    # colleague's transfer button works as in a call dialled straight to it.
    colleague = start_callee(
        sipp, server, COLLEAGUE, "uas_answer_then_refer.xml", keys={"target": OTHER}
    )
    other = start_callee(sipp, server, OTHER, "uas_answer.xml")
    caller = start_caller(sipp, server, CALLER, DESK, "call_then_reinvited.xml", talk_ms=3000)
    _, [transferring, answering] = finish(caller, colleague, other)
    notify = requests_received(transferring, "NOTIFY")
    assert notify, transferring.describe()
    assert "SIP/2.0 200 OK" in notify[-1].text, transferring.describe()
    assert requests_received(answering, "INVITE"), "the transfer target rang"
    first = the_cdr(server, CALLER, DESK)
    assert (first["disposition"], first["hangup_by"]) == ("ANSWERED", "callee"), first
    second = the_cdr(server, CALLER, OTHER)
    assert second["linkedid"] == first["uniqueid"], (first, second)
    assert f"{COLLEAGUE} transferred {CALLER} to {OTHER}" in server.log(200)


def test_a_forward_code_without_a_number_asks_for_it(
    office: CallServer, sipp: Sipp, rtp: RtpSocket
) -> None:
    server = office.server
    started = time.monotonic()
    run = call_app(sipp, server, DESK, "*90", rtp)
    wait_for_greeting(rtp, started, packets=10)  # "Please enter the number ..."
    press(rtp, f"{COLLEAGUE}#")
    calling, _ = finish(run)
    assert invite_finals(calling)[-1] == 200, calling.trace(12)
    assert forward(server, DESK) == f"extension {DESK}: busy {COLLEAGUE}"
