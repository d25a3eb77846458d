"""The REST API of a running ``ringfort serve``: calls listed and hung up through the API,
their records read back, /metrics moving with them, an extension added live.

SIPp phones: the callee answers and waits for a BYE, the caller waits for one too;
only the server's hang-up, asked for with ``DELETE /api/v1/calls/{uniqueid}``, ends
the call, so both BYEs come from the server. Two baresip phones send real audio, so
the relay's packet count moves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from callkit import (
    CallServer,
    call_server,
    finish,
    invite_finals,
    password_of,
    register_at,
    requests_received,
    start_callee,
    start_caller,
)
from harness import BaresipFactory, ServerFactory
from peers import Sipp, free_port_block, wait_until
from test_calls_baresip import (
    CALLEE_TONE_HZ,
    CALLER_TONE_HZ,
    control,
    diagnostics,
    extension_phone,
    next_event,
    write_tone_wav,
)

pytestmark = pytest.mark.peers

CALLER, CALLEE = "221", "222"


@pytest.fixture
def pbx(ringfort_factory: ServerFactory) -> CallServer:
    # SIPp sends no RTP: without a timeout the call stays up until the API ends it.
    return call_server(
        ringfort_factory, [CALLER, CALLEE], name="api-calls", size=40, media__rtp_timeout="0"
    )


def metrics(api: httpx.Client) -> dict[str, float]:
    """Every sample of ``/metrics``, by its name with labels."""
    answer = api.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, float] = {}
    for line in answer.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def answered_call(api: httpx.Client) -> dict[str, Any] | None:
    """The call from CALLER to CALLEE once it is answered."""
    listed = api.get("/api/v1/calls", params={"search": CALLER}).json()
    for call in listed["items"]:
        if (call["src"], call["dst"], call["state"]) == (CALLER, CALLEE, "answered"):
            found: dict[str, Any] = call
            return found
    return None


def test_a_call_is_listed_hung_up_through_the_api_and_counted(sipp: Sipp, pbx: CallServer) -> None:
    server = pbx.server
    with httpx.Client(base_url=server.http_url, timeout=5.0) as api:
        before = metrics(api)
        assert before["ringfort_active_calls"] == 0
        assert before['ringfort_calls_total{disposition="ANSWERED"}'] == 0
        assert 'ringfort_agents{state="logged-out"}' in before
        assert "ringfort_rtp_packets_relayed_total" in before

        callee = start_callee(sipp, server, CALLEE, "uas_answer.xml")
        caller = start_caller(sipp, server, CALLER, CALLEE, "call_await_bye.xml")
        call = wait_until(lambda: answered_call(api), timeout=10.0, what="the call listed")
        assert call["answer"] is not None
        assert (api.get(f"/api/v1/calls/{call['uniqueid']}").json())["src"] == CALLER

        during = metrics(api)
        assert during["ringfort_active_calls"] == 1
        assert during["ringfort_registrations"] >= 2
        assert (
            during['ringfort_sip_messages_total{direction="in"}']
            > before['ringfort_sip_messages_total{direction="in"}']
        )
        assert (
            during['ringfort_sip_messages_total{direction="out"}']
            > before['ringfort_sip_messages_total{direction="out"}']
        )

        hung_up = api.delete(f"/api/v1/calls/{call['uniqueid']}")
        assert hung_up.status_code == 204, hung_up.text
        calling, [called] = finish(caller, callee)
        assert invite_finals(calling)[-1] == 200, calling.trace(12)
        assert requests_received(calling, "BYE"), calling.trace(12)
        assert requests_received(called, "BYE"), called.trace(12)

        again = api.delete(f"/api/v1/calls/{call['uniqueid']}")
        assert again.status_code == 404
        assert "in progress" in again.json()["detail"]

        def the_record() -> dict[str, Any] | None:
            page = api.get("/api/v1/cdr", params={"src": CALLER, "dst": CALLEE}).json()
            return page["items"][0] if page["total"] else None

        record = wait_until(the_record, timeout=10.0, what="the call's record")
        assert (record["disposition"], record["hangup_by"]) == ("ANSWERED", "system")
        assert record["uniqueid"] == call["uniqueid"]

        after = metrics(api)
        assert after["ringfort_active_calls"] == 0
        assert after['ringfort_calls_total{disposition="ANSWERED"}'] == 1
        assert after["ringfort_rtp_packets_relayed_total"] >= 0  # SIPp's phones send no RTP
        assert api.get("/api/v1/calls").json()["total"] == 0


def test_an_extension_added_through_the_api_registers_at_once(sipp: Sipp, pbx: CallServer) -> None:
    """The running node's extension cache hears of the API's change: no restart, no wait."""
    server = pbx.server
    with httpx.Client(base_url=server.http_url, timeout=5.0) as api:
        added = api.post(
            "/api/v1/extensions",
            json={"number": "223", "name": "Added live", "password": password_of("223")},
        )
        assert added.status_code == 201, added.text
        register_at(sipp, server, "223", free_port_block(1))
        assert metrics(api)["ringfort_registrations"] >= 1
        assert api.delete("/api/v1/extensions/223").status_code == 204


def test_a_baresip_call_moves_the_rtp_counter_and_ends_when_the_api_hangs_it_up(
    ringfort_factory: ServerFactory, baresip_factory: BaresipFactory, tmp_path: Path
) -> None:
    """Real phones send audio: the relay's packet count rises while they talk, and the
    API's hang-up closes the call on both phones."""
    setup = call_server(ringfort_factory, ["231", "232"], name="api-rtp", size=40)
    server = setup.server
    callee = extension_phone(
        baresip_factory,
        server,
        "232",
        source_wav=write_tone_wav(tmp_path / "callee.wav", CALLEE_TONE_HZ),
        answermode="auto",
    )
    caller = extension_phone(
        baresip_factory,
        server,
        "231",
        source_wav=write_tone_wav(tmp_path / "caller.wav", CALLER_TONE_HZ),
    )
    with httpx.Client(base_url=server.http_url, timeout=5.0) as api:
        before = metrics(api)["ringfort_rtp_packets_relayed_total"]
        dialled = control(caller).command("dial", f"sip:232@{server.sip_address}")
        assert dialled.get("ok"), f"dial refused: {dialled}\n{diagnostics(caller)}"
        established = next_event(control(caller), ("CALL_ESTABLISHED", "CALL_CLOSED"), timeout=10)
        assert established["type"] == "CALL_ESTABLISHED", diagnostics(caller, callee)

        def relaying() -> float | None:
            relayed = metrics(api)["ringfort_rtp_packets_relayed_total"]
            return relayed if relayed >= before + 50 else None  # a second of audio, both ways

        wait_until(relaying, timeout=5.0, interval=0.2, what="RTP relayed")
        (call,) = api.get("/api/v1/calls").json()["items"]
        assert api.delete(f"/api/v1/calls/{call['uniqueid']}").status_code == 204
        try:
            control(caller).wait_event("CALL_CLOSED", timeout=5)
            control(callee).wait_event("CALL_CLOSED", timeout=5)
        except TimeoutError as error:
            pytest.fail(
                f"the hang-up did not reach both phones: {error}\n{diagnostics(caller, callee)}"
            )
        # Released legs keep their packets in the total.
        assert metrics(api)["ringfort_rtp_packets_relayed_total"] >= before + 50
