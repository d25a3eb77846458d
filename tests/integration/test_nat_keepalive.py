"""NAT handling: requests for a binding behind NAT go where its REGISTER came from.

The server pings such bindings with OPTIONS (``nat_keepalive_interval``, 1 s
here). A client socket on 127.0.0.1 registers a Contact naming 127.0.0.99,
as a phone behind NAT names its private address: the OPTIONS must reach that
socket (UDP) or come down that very connection (TCP). A Contact matching the
source address is used as given and gets no ping.

SIPp cannot play this phone: as a client it drops requests with a Call-ID of
its own choosing, so these tests use the harness's stdlib clients.
"""

from __future__ import annotations

import re
import time

import pytest
from harness import ServerFactory, extensions
from peers import (
    LOCALHOST,
    RawRegistrar,
    RingfortServer,
    TcpSipClient,
    UdpSipClient,
    build_request,
    digest_authorization,
    header_values,
    parse_response,
    pick_challenge,
)

pytestmark = pytest.mark.peers

PASSWORD = {item.number: item.password for item in extensions("201", "202", "203", "204")}
ELSEWHERE = "127.0.0.99"  # the address a phone behind NAT writes: not where it can be reached


@pytest.fixture(scope="module")
def server(module_ringfort_factory: ServerFactory) -> RingfortServer:
    return module_ringfort_factory(
        env={"RINGFORT_REGISTRAR__NAT_KEEPALIVE_INTERVAL": "1"},
        extensions=extensions("201", "202", "203", "204"),
    )


def next_options(client: UdpSipClient, timeout: float) -> str | None:
    """The next OPTIONS request the socket receives within ``timeout``."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        data = client.receive(left)
        if data is not None and data.startswith(b"OPTIONS "):
            return data.decode()
    return None


def request_uri(message: str) -> str:
    return message.split(" ", 2)[1]


def test_udp_binding_behind_nat_is_reached_at_its_source_address(server: RingfortServer) -> None:
    with RawRegistrar(server.sip_target) as phone:
        contact_port = phone.client.local[1]
        contact = f"<sip:201@{ELSEWHERE}:{contact_port}>"
        exchange = phone.register("201", PASSWORD["201"], contact=contact)
        assert exchange.status == 200

        [binding] = server.registrations("201")
        assert binding["behind_nat"] is True
        assert binding["source"] == f"{LOCALHOST}:{contact_port}"

        ping = next_options(phone.client, timeout=5)
        assert ping is not None, "no keep-alive reached the registering socket"
        assert request_uri(ping) == f"sip:201@{ELSEWHERE}:{contact_port}"
        assert header_values(ping, "CSeq") == ["1 OPTIONS"]


def test_binding_on_the_source_address_is_used_as_given_and_not_pinged(
    server: RingfortServer,
) -> None:
    with RawRegistrar(server.sip_target) as phone:
        assert phone.register("203", PASSWORD["203"]).status == 200
        [binding] = server.registrations("203")
        assert binding["behind_nat"] is False
        assert next_options(phone.client, timeout=3) is None


def register_over_tcp(server: RingfortServer, phone: TcpSipClient, number: str) -> None:
    """REGISTER a Contact naming another address over ``phone``'s connection, with digest."""
    host, port = server.sip_target
    local = phone.local
    contact = f"<sip:{number}@{ELSEWHERE}:5099;transport=tcp>"

    def register(authorization: str | None, cseq: int) -> str:
        headers = [("Contact", contact), ("Expires", "300")]
        if authorization:
            headers.append(("Authorization", authorization))
        request = build_request(
            "REGISTER",
            f"sip:{host}:{port}",
            local=local,
            transport="TCP",
            from_uri=f"sip:{number}@{host}",
            to_uri=f"sip:{number}@{host}",
            call_id=f"nat-tcp-{number}",
            cseq=cseq,
            headers=headers,
        )
        assert phone.send(request)
        reply = phone.receive_message(timeout=5)
        assert reply is not None
        return reply.decode()

    challenge = parse_response(register(None, 1).encode())
    assert challenge is not None
    assert challenge.status == 401
    authorization = digest_authorization(
        pick_challenge(challenge),
        username=number,
        password=PASSWORD[number],
        method="REGISTER",
        uri=f"sip:{host}:{port}",
    )
    assert re.match(r"SIP/2\.0 200 ", register(authorization, 2))


def test_tcp_binding_behind_nat_is_reached_over_its_own_connection(
    server: RingfortServer,
) -> None:
    with TcpSipClient(server.sip_target) as phone:
        register_over_tcp(server, phone, "202")
        [binding] = server.registrations("202")
        assert binding["behind_nat"] is True
        assert binding["transport"] == "TCP"

        ping = phone.receive_message(timeout=5)
        assert ping is not None, "no keep-alive came down the phone's connection"
        text = ping.decode()
        assert text.startswith("OPTIONS "), text
        assert request_uri(text) == f"sip:202@{ELSEWHERE}:5099;transport=tcp"


def test_tcp_binding_behind_nat_is_dropped_when_its_connection_closes(
    server: RingfortServer,
) -> None:
    with TcpSipClient(server.sip_target) as phone:
        register_over_tcp(server, phone, "204")
        [binding] = server.registrations("204")
        assert binding["behind_nat"] is True
    # The connection is closed: behind NAT nothing can reach the phone until it
    # registers again, so the binding goes at the next keep-alive round.
    server.wait_for_no_registration("204")
