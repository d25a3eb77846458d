"""A restart on the same data directory keeps extensions and registrations (RFC 3261 §10.3:
bindings last for their interval, not for the registrar process)."""

from __future__ import annotations

import pytest
from harness import ServerFactory, extensions, start_or_fail
from peers import RawRegistrar, Sipp

pytestmark = pytest.mark.peers


def test_bindings_and_extensions_survive_a_restart(
    ringfort_factory: ServerFactory, sipp: Sipp
) -> None:
    alice, bob = extensions("401", "402")
    server = ringfort_factory(extensions=[alice, bob])

    over_sipp = sipp.run(
        "register.xml",
        remote=server.sip_address,
        service=alice.number,
        username=alice.number,
        password=alice.password,
        keys={"expires": "300"},
        time_limit=10,
    )
    assert over_sipp.returncode == 0, over_sipp.describe()
    with RawRegistrar(server.sip_target) as client:
        exchange = client.register(bob.number, bob.password, expires=600)
    assert exchange.status == 200, exchange.describe()
    server.wait_for_registration(alice.number)
    server.wait_for_registration(bob.number)
    before = {(item["number"], item["contact"]): item for item in server.registrations()}

    outcome = server.stop()
    assert outcome is not None
    assert not outcome.killed, "the server ignored SIGTERM for 10 s and had to be killed"
    assert outcome.returncode == 0, f"exit status {outcome.returncode}\n{server.log()}"
    start_or_fail(server)

    after = {(item["number"], item["contact"]): item for item in server.registrations()}
    assert after.keys() == before.keys()
    for key, binding in after.items():
        assert 0 < binding["expires_in"] <= before[key]["expires_in"], (before[key], binding)
        assert binding["source"] == before[key]["source"]
        assert binding["transport"] == before[key]["transport"]

    # The extensions and their credentials are still there: both register again.
    again = sipp.run(
        "register.xml",
        remote=server.sip_address,
        service=alice.number,
        username=alice.number,
        password=alice.password,
        keys={"expires": "300"},
        time_limit=10,
    )
    assert again.returncode == 0, again.describe()
    with RawRegistrar(server.sip_target) as client:
        assert client.register(bob.number, bob.password).status == 200
        assert client.register(bob.number, "not-bobs-password").status in (401, 403)
