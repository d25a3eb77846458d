"""An agent transfers a queue caller (SIP REFER, RFC 3515) with real SIPp phones.

Queue ``help`` (number 510) has one agent, 4411. Blind: the agent's SIPp phone
answers, talks for a second and REFERs the call to extension 4412 (a SIPp phone
that answers). Attended: the agent puts the caller on hold, takes a call from 4412
(the consultation) and REFERs the caller with a Replaces naming that call, which
joins the caller to 4412. Either way the caller (SIPp, 4511) talks on with 4412
and hangs up; the queue log says BLINDTRANSFER or ATTENDEDTRANSFER with the
agent's talk time, the call records show each conversation, and the reports count
the call as answered and transferred.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from callkit import (
    CallServer,
    audio_of,
    finish,
    one_agent_queue,
    requests_received,
    start_callee,
    start_caller,
    the_cdr,
)
from harness import ServerFactory
from peers import RingfortServer, Sipp, wait_until

pytestmark = pytest.mark.peers

AGENT, TARGET, CALLER = "4411", "4412", "4511"


def queue_log(server: RingfortServer) -> list[tuple[str, str, tuple[str, ...]]]:
    with sqlite3.connect(f"file:{server.data_dir / 'ringfort.db'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT agent, event, data1, data2, data3, data4, data5 FROM queue_log ORDER BY id"
        ).fetchall()
    return [(r[0], r[1], tuple(d for d in r[2:] if d != "")) for r in rows]


@pytest.fixture
def helpdesk(ringfort_factory: ServerFactory) -> CallServer:
    return one_agent_queue(ringfort_factory, AGENT, [TARGET, CALLER], name="transfer")


def logged_transfer(server: RingfortServer, event: str) -> tuple[str, ...]:
    """The data of the queue log's transfer ``event``, once the log is as a transfer leaves
    it: the caller entered, agent 11 answered and transferred."""
    wait_until(
        lambda: any(e == event for _, e, _ in queue_log(server)),
        timeout=5,
        what="the transfer in the queue log",
    )
    rows = queue_log(server)
    assert [(a, e) for a, e, _ in rows if e != "ADDMEMBER"] == [
        ("NONE", "ENTERQUEUE"),
        ("11", "CONNECT"),
        ("11", event),
    ], rows
    return next(data for _, e, data in rows if e == event)


def the_answered_report(server: RingfortServer) -> list[tuple[str, str, str]]:
    answered = json.loads(
        server.cli("report", "answered", "--tz", "UTC", "--format", "json").stdout
    )["rows"]
    return [(r["agent"], r["caller"], r["ended_by"]) for r in answered]


def test_an_agent_transfers_the_caller_to_another_extension(
    helpdesk: CallServer, sipp: Sipp
) -> None:
    server = helpdesk.server
    agent = start_callee(
        sipp, server, AGENT, "uas_answer_then_refer.xml", keys={"target": TARGET}, time_limit=40
    )
    target = start_callee(sipp, server, TARGET, "uas_answer.xml", time_limit=40)
    caller = start_caller(
        sipp, server, CALLER, "510", "call_hangup.xml", talk_ms=6000, time_limit=40
    )
    try:
        _, (agent_result, _) = finish(caller, agent, target)
    except AssertionError as failure:
        pytest.fail(f"{failure}\n{server.log(80)}")
    notify = [m for m in agent_result.messages if m.first_line.startswith("NOTIFY ")]
    assert notify, agent_result.describe()
    assert notify[0].header("Event") == ["refer"]
    assert "SIP/2.0 200 OK" in notify[0].text

    transfer = logged_transfer(server, "BLINDTRANSFER")
    assert transfer[:2] == (TARGET, "default")
    assert 0 <= int(transfer[2]) <= 2  # the caller's wait
    assert 1 <= int(transfer[3]) <= 2  # the agent talked about a second before transferring

    # Both conversations have their records: the agent's ended by the transfer, then 4412's.
    to_agent = the_cdr(server, CALLER, AGENT)
    to_target = the_cdr(server, CALLER, TARGET)
    assert (to_agent["disposition"], to_agent["hangup_by"]) == ("ANSWERED", "callee")
    assert (to_target["disposition"], to_target["hangup_by"]) == ("ANSWERED", "caller")
    assert 2 <= int(to_target["billsec"]) <= 6

    assert the_answered_report(server) == [("11", CALLER, "transfer")]


def test_an_agent_joins_the_caller_to_someone_they_consulted(
    helpdesk: CallServer, sipp: Sipp
) -> None:
    server = helpdesk.server
    agent = start_callee(
        sipp, server, AGENT, "uas_attended_transfer.xml", keys={"target": TARGET},
        calls=2, time_limit=40,
    )  # fmt: skip
    caller = start_caller(
        sipp, server, CALLER, "510", "call_held_then_transferred.xml", talk_ms=3000,
        time_limit=40,
    )  # fmt: skip
    try:
        wait_until(
            lambda: any(event == "CONNECT" for _, event, _ in queue_log(server)),
            timeout=10,
            what="the agent answering",
        )
    except TimeoutError:
        caller.stop()
        agent.stop()
        raise
    # The consultation: 4412 calls the agent's phone, which takes it while the caller holds.
    target = start_caller(
        sipp, server, TARGET, AGENT, "call_consult_then_joined.xml", time_limit=40
    )
    try:
        caller_result, (agent_result, target_result) = finish(caller, agent, target)
    except AssertionError as failure:
        pytest.fail(f"{failure}\n{server.log(80)}")

    notify = requests_received(agent_result, "NOTIFY")
    assert [n.header("Event") for n in notify] == [["refer"], ["refer"]]
    assert "SIP/2.0 100 Trying" in notify[0].text
    assert "SIP/2.0 200 OK" in notify[1].text
    assert notify[1].header("Subscription-State")[0].startswith("terminated")
    # The agent's phone left both calls: a BYE in each dialog.
    assert len({bye.header("Call-ID")[0] for bye in requests_received(agent_result, "BYE")}) == 2
    # The target was offered the caller's codec from its anchor; the caller was taken off
    # hold, on the anchor it already had.
    (offer,) = requests_received(target_result, "INVITE")
    assert audio_of(offer).payload_types == ("8", "101")
    assert audio_of(offer).direction == "sendrecv"
    hold, resume = requests_received(caller_result, "INVITE")
    assert audio_of(hold).direction == "sendonly"
    assert audio_of(resume).direction == "sendrecv"
    assert audio_of(resume).port == audio_of(hold).port

    transfer = logged_transfer(server, "ATTENDEDTRANSFER")
    assert transfer[0] == "BRIDGE"
    assert 0 <= int(transfer[2]) <= 2  # the caller's wait
    assert int(transfer[3]) >= 1  # the agent's talk, hold and consultation included

    to_agent = the_cdr(server, CALLER, AGENT)
    consultation = the_cdr(server, TARGET, AGENT)
    to_target = the_cdr(server, CALLER, TARGET)
    assert (to_agent["disposition"], to_agent["hangup_by"]) == ("ANSWERED", "callee")
    assert (consultation["disposition"], consultation["hangup_by"]) == ("ANSWERED", "callee")
    assert (to_target["disposition"], to_target["hangup_by"]) == ("ANSWERED", "caller")
    # The queue log's bridge id is the record of the caller's talk with the target.
    assert to_target["uniqueid"] == transfer[1]
    assert to_target["linkedid"] == to_agent["linkedid"]
    assert 2 <= int(to_target["billsec"]) <= 5

    assert the_answered_report(server) == [("11", CALLER, "transfer")]
