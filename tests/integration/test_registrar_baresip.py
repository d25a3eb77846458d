"""A real phone (baresip) registering with digest auth and keeping its registration fresh."""

from __future__ import annotations

import time

import pytest
from harness import BaresipFactory, ServerFactory, extensions
from peers import wait_until

pytestmark = pytest.mark.peers

REGISTER_INTERVAL = 4
"""baresip's ``regint``: it asks for 4 s and refreshes at 90 % of the granted interval."""


def test_baresip_registers_and_stays_registered_across_refreshes(
    ringfort_factory: ServerFactory, baresip_factory: BaresipFactory
) -> None:
    [alice] = extensions("201")
    server = ringfort_factory(env={"RINGFORT_REGISTRAR__MIN_EXPIRES": "2"}, extensions=[alice])
    phone = baresip_factory(
        "alice",
        account=(
            f"<sip:{alice.number}@{server.sip_address}>;auth_user={alice.number}"
            f";auth_pass={alice.password};regint={REGISTER_INTERVAL};answermode=auto"
        ),
    )

    wait_until(phone.is_registered, timeout=5, what=f"reginfo OK\n{phone.log()}")
    registered_at = time.monotonic()
    [first] = server.wait_for_registration(alice.number, timeout=3)
    assert "baresip" in (first["user_agent"] or ""), first
    assert 0 < first["expires_in"] <= REGISTER_INTERVAL
    assert first["transport"].upper() == "UDP"

    # Past the first interval the binding exists only if the phone refreshed it.
    time.sleep(max(0.0, registered_at + REGISTER_INTERVAL + 1.5 - time.monotonic()))
    assert phone.is_registered(), phone.reginfo()
    [second] = server.registrations(alice.number)
    assert second["contact"] == first["contact"], "the refresh must update, not add, a binding"
    assert 0 < second["expires_in"] <= REGISTER_INTERVAL
    assert phone.is_registered(), f"{phone.reginfo()}\n{phone.log()}"
