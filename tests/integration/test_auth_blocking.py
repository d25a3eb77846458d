"""Password guessing gets the guessing address blocked, and only that address."""

from __future__ import annotations

import pytest
from harness import ServerFactory, extensions
from peers import (
    BlockedAddress,
    RawRegistrar,
    RingfortServer,
    Sipp,
    TcpSipClient,
    UdpSipClient,
    build_request,
    options_ping,
    options_request,
    wait_until,
)

pytestmark = pytest.mark.peers

ATTACKER = "127.0.0.2"
GOOD_CLIENT = "127.0.0.3"
FAIL_LIMIT = 3
SILENCE = 2.0
"""Long enough for the first retransmissions of a request (RFC 3261 §17.1.2.2, T1 = 0.5 s)."""


@pytest.fixture
def server(ringfort_factory: ServerFactory) -> RingfortServer:
    """A server that blocks an address after three failures within a minute, for two minutes."""
    return ringfort_factory(
        env={
            "RINGFORT_SECURITY__AUTH_FAIL_LIMIT": str(FAIL_LIMIT),
            "RINGFORT_SECURITY__AUTH_FAIL_WINDOW": "60",
            "RINGFORT_SECURITY__BLOCK_SECONDS": "120",
        },
        extensions=extensions("301", "302"),
    )


def blocked_entry(server: RingfortServer, address: str) -> BlockedAddress | None:
    """The status entry blocking ``address``, if any."""
    for entry in server.blocked():
        if entry["address"] == address:
            return entry
    return None


def test_repeated_failed_authentication_blocks_only_that_address(
    server: RingfortServer, sipp: Sipp
) -> None:
    answers: list[int | None] = []
    with RawRegistrar(server.sip_target, local_ip=ATTACKER) as attacker:
        for _ in range(FAIL_LIMIT):
            exchange = attacker.register("301", "guessed-wrong", timeout=1.5)
            answers.append(exchange.status)
            assert exchange.status != 200, exchange.describe()
    # The failures before the limit are answered; the one reaching it may go unanswered.
    assert answers[0] in (401, 403), answers
    assert set(answers) <= {401, 403, None}, answers

    entry = wait_until(
        lambda: blocked_entry(server, ATTACKER), timeout=3, interval=0.2, what="a block"
    )
    assert entry["failures"] >= FAIL_LIMIT, entry
    assert 0 < entry["seconds_left"] <= 120, entry

    # Blocked: nothing at all comes back, whatever the request and credentials.
    with RawRegistrar(server.sip_target, local_ip=ATTACKER) as attacker:
        correct = attacker.register("301", "secret301", timeout=SILENCE)
    assert correct.final is None, correct.describe()
    with UdpSipClient(ATTACKER) as udp:
        assert (
            udp.request(
                options_request(server.sip_target, udp.local, "UDP"),
                server.sip_target,
                timeout=SILENCE,
            )
            is None
        )
    try:
        with TcpSipClient(server.sip_target, local_ip=ATTACKER, timeout=SILENCE) as tcp:
            response = tcp.request(
                options_request(server.sip_target, tcp.local, "TCP"), timeout=SILENCE
            )
    except OSError:
        response = None  # refusing the connection is silence too
    assert response is None, response.text if response else ""

    # Everyone else is unaffected.
    good = sipp.run(
        "register.xml",
        remote=server.sip_address,
        service="302",
        username="302",
        password="secret302",
        keys={"expires": "300"},
        local_ip=GOOD_CLIENT,
        time_limit=10,
    )
    assert good.returncode == 0, good.describe()
    [binding] = server.wait_for_registration("302")
    assert binding["source"].split(":")[0] == GOOD_CLIENT, binding
    ping = options_ping(server.sip_target, "UDP")
    assert ping is not None
    assert ping.status == 200
    assert blocked_entry(server, GOOD_CLIENT) is None
    assert server.registrations("301") == []


def test_unauthenticated_first_requests_do_not_count_as_failures(server: RingfortServer) -> None:
    # Every phone's first REGISTER is challenged; that is not a failed authentication.
    with UdpSipClient(ATTACKER) as udp:
        for _ in range(FAIL_LIMIT + 2):
            request = build_request(
                "REGISTER",
                f"sip:{server.sip_address}",
                local=udp.local,
                transport="UDP",
                from_uri=f"sip:301@{server.sip_target[0]}",
                to_uri=f"sip:301@{server.sip_target[0]}",
                headers=[
                    ("Contact", f"<sip:301@{udp.local[0]}:{udp.local[1]}>"),
                    ("Expires", "60"),
                ],
            )
            response = udp.request(request, server.sip_target, timeout=1.5)
            assert response is not None
            assert response.status == 401
    assert blocked_entry(server, ATTACKER) is None
