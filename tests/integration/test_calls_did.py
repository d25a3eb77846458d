"""A call to a DID goes where the DID says, with real SIPp phones."""

from __future__ import annotations

import pytest
from callkit import CallServer, call_server, finish, start_callee, start_caller, the_cdr
from harness import ServerFactory
from peers import Sipp

pytestmark = pytest.mark.peers

CALLER, DESK, DID = "4801", "4802", "74951230000"


@pytest.fixture
def office(ringfort_factory: ServerFactory) -> CallServer:
    setup = call_server(ringfort_factory, [CALLER, DESK], name="did", size=20)
    setup.server.cli("did", "add", DID, "--destination", f"extension:{DESK}")
    return setup


def test_a_call_to_a_did_rings_its_extension(office: CallServer, sipp: Sipp) -> None:
    server = office.server
    desk = start_callee(sipp, server, DESK, "uas_answer.xml")
    caller = start_caller(sipp, server, CALLER, DID, "call_hangup.xml", talk_ms=1000)
    finish(caller, desk)  # the desk's phone rang and answered
    # Routed before it was answered, the call is one call, to the number dialled.
    record = the_cdr(server, CALLER, DID)
    assert (record["disposition"], record["hangup_by"]) == ("ANSWERED", "caller"), record
    assert record["answered_by"] == DESK, record
    listed = server.cli("did", "list").stdout
    assert DID in listed
    assert f"extension:{DESK}" in listed
