"""A call centre's morning with real phones: agents log in from baresip phones with ``*45`` and
their PIN, SIPp callers arrive at set times, and the queue log says what happened.

The script (queue ``sales``, number 500, ``leastrecent``, ring 5 s, retry 1 s, no wrap-up,
maximum wait 20 s, auto-pause after one missed ring):

1. Anna (4401, answers at once) keys a wrong PIN, is refused, then keys hers: logged in.
   Boris (4402, answers at once) and Vera (4403, never answers) log in.
2. Caller 4501 arrives: nobody has had a call, Anna is first in line -> Anna. 4 s in the queue call.
3. Caller 4502: Boris and Vera have had no call, Boris is first -> Boris.
4. Caller 4503: Vera (never had a call) rings first and does not answer: RINGNOANSWER, Vera is
   paused (auto-pause). After the retry delay Anna, whose call ended longest ago, answers.
5. The supervisor pauses Anna and Boris. Caller 4504 hangs up after 12 s (ABANDON);
   caller 4505 waits the 20 s maximum and is sent to the overflow (EXITWITHTIMEOUT, hung up).
6. Boris dials ``*45500`` again: logged out, no PIN asked.
"""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from callkit import CallServer, call_server, start_caller
from harness import BaresipFactory, ServerFactory
from peers import Baresip, RingfortServer, Sipp, SippRun, wait_until
from test_calls_baresip import (
    control,
    diagnostics,
    extension_phone,
    next_event,
    write_tone_wav,
)

pytestmark = pytest.mark.peers

ANNA, BORIS, VERA = "4401", "4402", "4403"
CALLERS = ["4501", "4502", "4503", "4504", "4505"]
AGENTS = {ANNA: ("1", "Anna", "1111"), BORIS: ("2", "Boris", "2222"), VERA: ("3", "Vera", "3333")}


def queue_log(server: RingfortServer) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
    """``(callid, queue, agent, event, data)`` rows in order, read from the database itself."""
    with sqlite3.connect(f"file:{server.data_dir / 'ringfort.db'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT callid, queuename, agent, event, data1, data2, data3, data4, data5"
            " FROM queue_log ORDER BY id"
        ).fetchall()
    return [(r[0], r[1], r[2], r[3], tuple(d for d in r[4:] if d != "")) for r in rows]


def events_of(rows: list[tuple[str, str, str, str, tuple[str, ...]]], *names: str) -> list[Any]:
    return [(agent, event, data) for _, _, agent, event, data in rows if event in names]


def agent_phone(
    factory: BaresipFactory, server: RingfortServer, tmp_path: Path, number: str, answermode: str
) -> Baresip:
    tone = write_tone_wav(tmp_path / f"{number}.wav", 600.0 + int(number[-1]) * 100)
    return extension_phone(
        factory, server, number, source_wav=tone, name=f"agent-{number}", answermode=answermode
    )


def feature_call(phone: Baresip, server: RingfortServer, code: str, keys: str | None) -> None:
    """Dial a feature code, key ``keys`` once answered, and wait for Ringfort to hang up."""
    ctl = control(phone)
    answer = ctl.command("dial", f"sip:{code}@{server.sip_address}")
    assert answer.get("ok"), f"dial refused: {answer}\n{diagnostics(phone)}"
    try:
        established = next_event(ctl, ("CALL_ESTABLISHED", "CALL_CLOSED"), timeout=10)
        assert established["type"] == "CALL_ESTABLISHED", established
        if keys is not None:
            time.sleep(0.5)
            sent = ctl.command("sndcode", keys)
            assert sent.get("ok"), sent
        ctl.wait_event("CALL_CLOSED", timeout=30)
    except (TimeoutError, AssertionError) as error:
        pytest.fail(f"{code} from {phone.name}: {error}\n{diagnostics(phone)}\n{server.log(80)}")


def agent_states(server: RingfortServer) -> dict[str, str]:
    with urllib.request.urlopen(f"{server.http_url}/api/v1/status", timeout=5) as response:
        status = json.load(response)
    return {agent["agent"]: agent["state"] for agent in status["callcentre"]["agents"]}


def wait_states(server: RingfortServer, expected: dict[str, str], timeout: float = 10) -> None:
    try:
        wait_until(
            lambda: all(agent_states(server).get(a) == s for a, s in expected.items()),
            timeout=timeout,
            what=f"agents {expected}",
        )
    except TimeoutError:
        pytest.fail(f"agents are {agent_states(server)}, expected {expected}\n{server.log(60)}")


def finished(run: SippRun, server: RingfortServer) -> None:
    result = run.finish(timeout=40)
    assert result.returncode == 0, f"{result.describe()}\n{server.log(60)}"


@pytest.fixture
def centre(ringfort_factory: ServerFactory) -> CallServer:
    setup = call_server(
        ringfort_factory,
        [ANNA, BORIS, VERA, *CALLERS],
        name="queue",
        size=80,
        media__rtp_timeout="0",
    )
    cli = setup.server.cli
    cli(
        "queue", "add", "sales", "--number", "500", "--strategy", "leastrecent",
        "--ring-timeout", "5", "--retry-delay", "1", "--wrapup", "0", "--max-wait", "20",
        "--autopause", "1", "--overflow", "hangup",
    )  # fmt: skip
    for agent, name, pin in AGENTS.values():
        cli("agent", "add", "--number", agent, "--name", name, "--pin", pin)
    return setup


def test_a_morning_in_the_call_centre_goes_into_the_queue_log_as_scripted(
    centre: CallServer, baresip_factory: BaresipFactory, sipp: Sipp, tmp_path: Path
) -> None:
    server = centre.server
    began = datetime.now(UTC) - timedelta(minutes=1)
    anna = agent_phone(baresip_factory, server, tmp_path, ANNA, "auto")
    boris = agent_phone(baresip_factory, server, tmp_path, BORIS, "auto")
    vera = agent_phone(baresip_factory, server, tmp_path, VERA, "manual")

    # 1. Logins: a wrong PIN first for Anna (refused), then hers.
    feature_call(anna, server, "*45500", "9999#1111#")
    feature_call(boris, server, "*45500", "2222#")
    feature_call(vera, server, "*45500", "3333#")
    wait_states(server, {"1": "available", "2": "available", "3": "available"})

    # 2-4. Three callers, one after the other.
    for caller, talk_ms in (("4501", 4000), ("4502", 4000), ("4503", 12000)):
        run = start_caller(
            sipp, server, caller, "500", "call_hangup.xml", talk_ms=talk_ms, time_limit=40
        )
        finished(run, server)
        wait_states(server, {"1": "available"} if caller != "4502" else {"2": "available"})
    wait_states(server, {"3": "paused"})

    # 5. Everyone paused: one caller gives up after 12 s, one waits the maximum.
    server.cli("queue", "pause", "sales", "--agent", "1", "--reason", "lunch")
    server.cli("queue", "pause", "sales", "--agent", "2", "--reason", "lunch")
    wait_states(server, {"1": "paused", "2": "paused"})
    gives_up = start_caller(
        sipp, server, "4504", "500", "call_hangup.xml", talk_ms=12000, time_limit=40
    )
    waits = start_caller(sipp, server, "4505", "500", "call_await_bye.xml", time_limit=40)
    finished(gives_up, server)
    finished(waits, server)

    # 6. Boris logs out: no PIN.
    feature_call(boris, server, "*45500", None)
    wait_states(server, {"2": "logged-out"})
    del vera

    rows = queue_log(server)
    assert [r[3] for r in rows if r[2] == "NONE" and r[3] != "ENTERQUEUE"] == [
        "ABANDON",
        "EXITWITHTIMEOUT",
    ] or [r[3] for r in rows if r[2] == "NONE" and r[3] != "ENTERQUEUE"] == [
        "EXITWITHTIMEOUT",
        "ABANDON",
    ], rows
    logins = events_of(rows, "AGENTLOGIN", "AGENTLOGOFF")
    assert [(agent, event) for agent, event, _ in logins] == [
        ("1", "AGENTLOGIN"),
        ("2", "AGENTLOGIN"),
        ("3", "AGENTLOGIN"),
        ("2", "AGENTLOGOFF"),
    ], rows
    assert logins[0][2] == ("PJSIP/4401",)
    # Who answered, in order: Anna, Boris, Anna (after Vera's missed ring).
    assert [agent for agent, _, _ in events_of(rows, "CONNECT")] == ["1", "2", "1"], rows
    missed = events_of(rows, "RINGNOANSWER")
    assert [(agent, event) for agent, event, _ in missed] == [("3", "RINGNOANSWER")], rows
    assert 4500 <= int(missed[0][2][0]) <= 6000, missed
    assert [(a, e, d) for a, e, d in events_of(rows, "PAUSE")] == [
        ("3", "PAUSE", ("autopause",)),
        ("1", "PAUSE", ("lunch",)),
        ("2", "PAUSE", ("lunch",)),
    ], rows
    completes = events_of(rows, "COMPLETECALLER", "COMPLETEAGENT")
    assert [(agent, event) for agent, event, _ in completes] == [
        ("1", "COMPLETECALLER"),
        ("2", "COMPLETECALLER"),
        ("1", "COMPLETECALLER"),
    ], rows
    # Caller 4503 waited through Vera's 5 s ring and the 1 s retry delay before Anna answered.
    third_hold = int(events_of(rows, "CONNECT")[2][2][0])
    assert 5 <= third_hold <= 8, rows
    abandon = events_of(rows, "ABANDON")[0][2]
    assert 11 <= int(abandon[2]) <= 13, abandon
    timeout = events_of(rows, "EXITWITHTIMEOUT")[0][2]
    assert 19 <= int(timeout[2]) <= 21, timeout

    check_reports(server, began, rows)


def report(server: RingfortServer, name: str, began: datetime, *more: str) -> dict[str, Any]:
    """A report from ``began`` to now, as the command line prints it with --format json."""
    period = ("--from", began.isoformat(), "--to", datetime.now(UTC).isoformat(), "--tz", "UTC")
    result = server.cli("report", name, *period, "--format", "json", *more)
    return json.loads(result.stdout)


def check_reports(
    server: RingfortServer, began: datetime, rows: list[tuple[str, str, str, str, tuple[str, ...]]]
) -> None:
    """Every report against the script: 4501 -> Anna, 4502 -> Boris, 4503 -> Anna after Vera's
    missed ring (5-8 s wait), 4504 gives up after ~12 s, 4505 times out at ~20 s; everyone
    hangs up as a caller; Anna and Boris pause for lunch; Boris logs out."""
    answered = report(server, "answered", began)["rows"]
    assert [(r["queue_number"], r["agent"], r["agent_name"], r["caller"], r["ended_by"])
            for r in answered] == [
        ("500", "1", "Anna", "4501", "caller"),
        ("500", "2", "Boris", "4502", "caller"),
        ("500", "1", "Anna", "4503", "caller"),
    ]  # fmt: skip
    waits = [r["wait"] for r in answered]
    talks = [r["talk"] for r in answered]
    assert waits[0] <= 2, answered
    assert waits[1] <= 2, answered
    assert 5 <= waits[2] <= 8, answered
    # Each caller hangs up talk_ms after Ringfort answered it: talk = that less the wait.
    assert 2 <= talks[0] <= 5, answered
    assert 2 <= talks[1] <= 5, answered
    assert 3 <= talks[2] <= 8, answered

    lost = report(server, "lost", began)["rows"]
    assert [(r["caller"], r["reason"]) for r in lost] == [("4504", "abandon"), ("4505", "timeout")]
    assert 11 <= lost[0]["wait"] <= 13, lost
    assert 19 <= lost[1]["wait"] <= 21, lost

    agents = {r["agent"]: r for r in report(server, "agents", began)["rows"]}
    assert {a: (r["answered"], r["by_caller_pct"]) for a, r in agents.items()} == {
        "1": (2, 100.0),
        "2": (1, 100.0),
    }
    assert agents["1"]["talk_total"] == talks[0] + talks[2]
    queues = report(server, "queues", began)["rows"]
    assert [(q["queue"], q["offered"], q["answered"], q["lost"]) for q in queues] == [
        ("sales", 5, 3, 2)
    ]

    levels = report(server, "service-level", began, "--service-level", "10")
    cumulative = {r["wait"]: r["answered_cumulative_pct"] for r in levels["rows"]}
    assert cumulative["<= 10"] == 100.0
    assert {r["wait"]: r["lost"] for r in levels["rows"] if r["lost"]} == {"<= 15": 1, "<= 30": 1}
    assert levels["summary"]["service_level"] == 100.0  # all three within 10 s
    assert levels["summary"]["service_level_abandoned"] == 75.0  # 3 of 3 answered + 1 abandoned

    by_hour = report(server, "distribution", began, "--by", "hour")["rows"]
    assert sum(r["offered"] for r in by_hour) == 5
    assert sum(r["lost"] for r in by_hour) == 2

    totals = report(server, "totals", began)["summary"]
    assert (totals["offered"], totals["answered"], totals["lost"], totals["max_waiting"]) == (
        5, 3, 2, 2,
    )  # fmt: skip
    assert totals["talk_total"] == sum(talks)
    assert totals["wait_max"] == max(waits)

    sessions = report(server, "sessions", began)["rows"]
    assert sorted((r["agent"], r["state"], r["reason"], r["to"] is None) for r in sessions) == [
        ("1", "logged-in", "", True),
        ("1", "paused", "lunch", True),
        ("2", "logged-in", "", False),  # logged out with *45500
        ("2", "paused", "lunch", False),  # the logout ended the pause
        ("3", "logged-in", "", True),
        ("3", "paused", "autopause", True),
    ]
    activity = {r["agent"]: r for r in report(server, "activity", began)["rows"]}
    assert {a: (r["answered"], r["missed"]) for a, r in activity.items()} == {
        "1": (2, 0),
        "2": (1, 0),
        "3": (0, 1),
    }
    assert list(activity["2"]["paused_by_reason"]) == ["lunch"]

    exported = server.cli("report", "queue-log", "--all").stdout.splitlines()
    assert len(exported) == len(rows)
    first_connect = next(line for line in exported if "|CONNECT|" in line)
    epoch, callid, queue, agent, event, *data = first_connect.split("|")
    assert (queue, agent, event, len(data)) == ("sales", "Agent/1", "CONNECT", 3)
    assert abs(int(epoch) - time.time()) < 600
    assert callid
    table = server.cli("report", "agents", "--from", began.isoformat(), "--tz", "UTC").stdout
    assert "Anna" in table, table
    assert "100.0%" in table, table
