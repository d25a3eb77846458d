"""Call parking with real phones: an agent parks a caller, a colleague picks them up.

Queue ``help`` (510) has one agent, 4411: a SIPp phone that answers and transfers
the caller (blind REFER) to parking slot 701. The caller is a baresip phone playing
one tone; the colleague, another baresip phone playing another tone, dials 701 and
is connected to the caller (`CallControl.bridge` with the parked call). Each phone
records what it hears: each must hear the other's tone. The colleague hangs up,
which ends the caller's call too.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from callkit import CallServer, one_agent_queue, start_callee, the_cdr
from harness import BaresipFactory, ServerFactory
from peers import Baresip, RingfortServer, Sipp, wait_until
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

pytestmark = pytest.mark.peers

AGENT, COLLEAGUE, CALLER = "4411", "4412", "4511"
SLOT = "701"


def phone(
    factory: BaresipFactory, server: RingfortServer, tmp_path: Path, number: str, hz: float
) -> Baresip:
    tone = write_tone_wav(tmp_path / f"{number}.wav", hz)
    return extension_phone(factory, server, number, source_wav=tone)


@pytest.fixture
def office(ringfort_factory: ServerFactory) -> CallServer:
    return one_agent_queue(ringfort_factory, AGENT, [COLLEAGUE, CALLER], name="parking")


def test_a_parked_caller_is_picked_up_by_dialling_the_slot(
    office: CallServer, baresip_factory: BaresipFactory, sipp: Sipp, tmp_path: Path
) -> None:
    server = office.server
    agent = start_callee(
        sipp, server, AGENT, "uas_answer_then_refer.xml", keys={"target": SLOT}, time_limit=30
    )
    caller = phone(baresip_factory, server, tmp_path, CALLER, CALLER_TONE_HZ)
    colleague = phone(baresip_factory, server, tmp_path, COLLEAGUE, CALLEE_TONE_HZ)

    dialled = control(caller).command("dial", f"sip:510@{server.sip_address}")
    assert dialled.get("ok"), f"dial refused: {dialled}\n{diagnostics(caller)}"
    try:
        answered = next_event(control(caller), ("CALL_ESTABLISHED", "CALL_CLOSED"), timeout=10)
        assert answered["type"] == "CALL_ESTABLISHED", answered
        wait_until(
            lambda: f"parked at {SLOT}" in server.log(200), timeout=15, what="the caller parked"
        )
    except (TimeoutError, AssertionError) as error:
        agent.stop()
        pytest.fail(f"{error}\n{diagnostics(caller)}\n{server.log(80)}")
    agent_result = agent.finish(timeout=10)
    assert agent_result.returncode == 0, agent_result.describe()

    # The colleague picks the caller up, they talk, the colleague hangs up.
    picked = control(colleague).command("dial", f"sip:{SLOT}@{server.sip_address}")
    assert picked.get("ok"), f"dial refused: {picked}\n{diagnostics(colleague)}"
    try:
        established = next_event(
            control(colleague), ("CALL_ESTABLISHED", "CALL_CLOSED"), timeout=10
        )
        assert established["type"] == "CALL_ESTABLISHED", established
        time.sleep(TALK_SECONDS)
        assert control(colleague).command("hangup").get("ok")
        control(colleague).wait_event("CALL_CLOSED", timeout=5)
        control(caller).wait_event("CALL_CLOSED", timeout=5)
    except (TimeoutError, AssertionError) as error:
        pytest.fail(f"{error}\n{diagnostics(colleague, caller)}\n{server.log(80)}")

    caller_heard, rate = read_wav(received_recording(caller))
    colleague_heard, _ = read_wav(received_recording(colleague))
    heard = {
        "caller hears colleague": tone_seconds(caller_heard, rate, CALLEE_TONE_HZ),
        "colleague hears caller": tone_seconds(colleague_heard, rate, CALLER_TONE_HZ),
        "colleague hears itself": tone_seconds(
            colleague_heard, rate, CALLEE_TONE_HZ, min_share=LEAK_SHARE
        ),
    }
    context = f"seconds of tone {heard}\n{diagnostics(colleague, caller)}\n{server.log(60)}"
    assert heard["caller hears colleague"] >= MIN_TONE_SECONDS, context
    assert heard["colleague hears caller"] >= MIN_TONE_SECONDS, context
    assert heard["colleague hears itself"] == 0.0, context

    # The call records: the agent's talk ended by the transfer, the pick-up ended by the
    # colleague, and the caller's call ended with it (by the other side).
    to_agent = the_cdr(server, CALLER, AGENT)
    pickup = the_cdr(server, COLLEAGUE, SLOT)
    call = the_cdr(server, CALLER, "510")
    assert (to_agent["disposition"], to_agent["hangup_by"]) == ("ANSWERED", "callee")
    assert (pickup["disposition"], pickup["hangup_by"]) == ("ANSWERED", "caller")
    assert (call["disposition"], call["hangup_by"]) == ("ANSWERED", "callee")
    assert TALK_SECONDS - 1.5 <= int(pickup["billsec"]) <= TALK_SECONDS + 1


def test_dialling_an_empty_slot_says_so(
    office: CallServer, baresip_factory: BaresipFactory, tmp_path: Path
) -> None:
    server = office.server
    colleague = phone(baresip_factory, server, tmp_path, COLLEAGUE, CALLEE_TONE_HZ)
    dialled = control(colleague).command("dial", f"sip:{SLOT}@{server.sip_address}")
    assert dialled.get("ok"), dialled
    try:
        established = next_event(
            control(colleague), ("CALL_ESTABLISHED", "CALL_CLOSED"), timeout=10
        )
        assert established["type"] == "CALL_ESTABLISHED", established
        # "There is no call parked there. Goodbye.", then Ringfort hangs up.
        control(colleague).wait_event("CALL_CLOSED", timeout=10)
    except (TimeoutError, AssertionError) as error:
        pytest.fail(f"{error}\n{diagnostics(colleague)}\n{server.log(60)}")
    heard, rate = read_wav(received_recording(colleague))
    assert len(heard) / rate >= 2.0  # the two prompts, about 2.5 s
    pickup = the_cdr(server, COLLEAGUE, SLOT)
    assert (pickup["disposition"], pickup["hangup_by"]) == ("ANSWERED", "system")
