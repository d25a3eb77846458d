"""The registrar (RFC 3261 §10) seen from SIPp and from a stdlib digest client."""

from __future__ import annotations

import re
from typing import Literal

import pytest
from harness import ServerFactory, extensions
from peers import (
    LOCALHOST,
    DigestChallenge,
    RawRegistrar,
    RingfortServer,
    SipMessageText,
    Sipp,
    SippResult,
    options_ping,
)

pytestmark = pytest.mark.peers

PASSWORD = {item.number: item.password for item in extensions(*map(str, range(101, 115)))}


@pytest.fixture(scope="module")
def server(module_ringfort_factory: ServerFactory) -> RingfortServer:
    """One server for the module: minimum interval 1 s so bindings can lapse within a test."""
    return module_ringfort_factory(
        env={
            "RINGFORT_REGISTRAR__MIN_EXPIRES": "1",
            "RINGFORT_REGISTRAR__MAX_EXPIRES": "3600",
            # Wrong-password tests share the source address with everything else here.
            "RINGFORT_SECURITY__AUTH_FAIL_LIMIT": "1000",
        },
        extensions=extensions("101", "102", "103", "104", "105", "106"),
    )


def register(
    sipp: Sipp,
    server: RingfortServer,
    number: str,
    *,
    expires: int = 300,
    transport: Literal["u1", "t1"] = "u1",
    sip_port: int | None = None,
    password: str | None = None,
    scenario: str = "register.xml",
) -> SippResult:
    """Run a REGISTER scenario for ``number`` against ``server``."""
    return sipp.run(
        scenario,
        remote=server.sip_address,
        service=number,
        username=number,
        password=PASSWORD[number] if password is None else password,
        keys={"expires": str(expires)},
        transport=transport,
        sip_port=sip_port,
        time_limit=10,
    )


def contact_expiries(response: SipMessageText) -> dict[str, int]:
    """Bindings listed in a 2xx's Contact headers: URI -> expires parameter (RFC 3261 §10.3)."""
    found: dict[str, int] = {}
    for value in response.header("Contact") + response.header("m"):
        for contact in re.findall(r"<([^>]*)>([^,]*)", value):
            uri, params = contact
            match = re.search(r";\s*expires\s*=\s*(\d+)", params, re.IGNORECASE)
            if match:
                found[uri] = int(match.group(1))
    return found


def sipp_contact(result: SippResult, number: str, transport: str = "UDP") -> str:
    """The Contact URI SIPp registered (see sipp/register.xml)."""
    return f"sip:{number}@{LOCALHOST}:{result.sip_port};transport={transport}"


def test_register_with_digest_gets_200_and_the_binding_shows_in_status(
    sipp: Sipp, server: RingfortServer
) -> None:
    result = register(sipp, server, "101", expires=300)
    assert result.returncode == 0, result.describe()

    [challenge] = result.received(401)
    offered = [DigestChallenge.parse(value) for value in challenge.header("WWW-Authenticate")]
    # MD5 only by default: SIPp 3.6 and baresip 1.0 give up on a SHA-256 challenge.
    assert [item.algorithm.upper() for item in offered] == ["MD5"], challenge.text
    assert offered[0].qop == ("auth",)
    assert offered[0].realm == "ringfort"

    [ok] = result.received(200)
    contact = sipp_contact(result, "101")
    granted = contact_expiries(ok)
    assert contact in granted, ok.text
    assert 0 < granted[contact] <= 300

    [binding] = server.wait_for_registration("101")
    assert binding["contact"].strip("<>") == contact
    assert binding["transport"].upper() == "UDP"
    assert binding["source"].startswith(f"{LOCALHOST}:")
    assert 0 < binding["expires_in"] <= 300
    assert "SIPp" in (binding["user_agent"] or "")


def test_register_over_tcp_gets_200_and_a_tcp_binding(sipp: Sipp, server: RingfortServer) -> None:
    result = register(sipp, server, "102", transport="t1")
    assert result.returncode == 0, result.describe()
    assert {message.transport for message in result.messages} == {"TCP"}
    [binding] = server.wait_for_registration("102")
    assert binding["transport"].upper() == "TCP"
    assert binding["contact"].strip("<>") == sipp_contact(result, "102", "TCP")


def test_wrong_password_gets_401_or_403_and_never_a_binding(
    sipp: Sipp, server: RingfortServer
) -> None:
    result = register(
        sipp, server, "103", password="not-the-password", scenario="register_wrong_password.xml"
    )
    assert result.returncode == 0, result.describe()
    finals = [message.status for message in result.received() if (message.status or 0) >= 200]
    assert finals[0] == 401
    assert finals[-1] in (401, 403), result.trace()
    assert 200 not in finals
    assert server.registrations("103") == []


def test_binding_lapses_when_its_interval_runs_out(sipp: Sipp, server: RingfortServer) -> None:
    result = register(sipp, server, "104", expires=2)
    assert result.returncode == 0, result.describe()
    [ok] = result.received(200)
    assert contact_expiries(ok)[sipp_contact(result, "104")] == 2

    # The CLI needs about a second to start; within a two-second life the API is surer.
    [binding] = server.wait_for_registration("104", timeout=1.5, via="http")
    assert 0 < binding["expires_in"] <= 2
    server.wait_for_no_registration("104", timeout=2 + 3)


def test_unregister_with_expires_zero_removes_that_binding(
    sipp: Sipp, server: RingfortServer
) -> None:
    registered = register(sipp, server, "105")
    assert registered.returncode == 0, registered.describe()
    contact = sipp_contact(registered, "105")
    server.wait_for_registration("105")

    removed = sipp.run(
        "unregister.xml",
        remote=server.sip_address,
        service="105",
        username="105",
        password=PASSWORD["105"],
        keys={"binding": f"<{contact}>"},
        sip_port=registered.sip_port,
        time_limit=10,
    )
    assert removed.returncode == 0, removed.describe()
    [ok] = removed.received(200)
    assert contact not in contact_expiries(ok), ok.text
    server.wait_for_no_registration("105", timeout=3)


def test_unregister_with_star_removes_every_binding(sipp: Sipp, server: RingfortServer) -> None:
    first = register(sipp, server, "106")
    second = register(sipp, server, "106")
    assert first.returncode == 0, first.describe()
    assert second.returncode == 0, second.describe()
    bindings = server.wait_for_registration("106")
    assert {item["contact"].strip("<>") for item in bindings} == {
        sipp_contact(first, "106"),
        sipp_contact(second, "106"),
    }

    removed = sipp.run(
        "unregister.xml",
        remote=server.sip_address,
        service="106",
        username="106",
        password=PASSWORD["106"],
        keys={"binding": "*"},
        time_limit=10,
    )
    assert removed.returncode == 0, removed.describe()
    [ok] = removed.received(200)
    assert contact_expiries(ok) == {}, ok.text
    server.wait_for_no_registration("106", timeout=3)


def test_interval_below_the_minimum_gets_423_with_min_expires(
    sipp: Sipp, ringfort_factory: ServerFactory
) -> None:
    strict = ringfort_factory(
        env={"RINGFORT_REGISTRAR__MIN_EXPIRES": "60"}, extensions=extensions("107")
    )
    result = sipp.run(
        "register_interval_too_brief.xml",
        remote=strict.sip_address,
        service="107",
        username="107",
        password=PASSWORD["107"],
        keys={"expires": "30"},
        time_limit=10,
    )
    assert result.returncode == 0, result.describe()
    [brief] = result.received(423)
    assert brief.header("Min-Expires") == ["60"], brief.text
    assert strict.registrations("107") == []


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_options_to_the_server_gets_200_with_allow_and_accept(
    sipp: Sipp, server: RingfortServer, transport: Literal["u1", "t1"]
) -> None:
    result = sipp.run("options.xml", remote=server.sip_address, transport=transport, time_limit=10)
    assert result.returncode == 0, result.describe()
    [ok] = result.received(200)
    allowed = {item.strip().upper() for value in ok.header("Allow") for item in value.split(",")}
    assert {"REGISTER", "OPTIONS"} <= allowed, ok.text
    assert ok.header("Accept"), ok.text


@pytest.fixture(scope="module")
def sha256_server(module_ringfort_factory: ServerFactory) -> RingfortServer:
    """A server that offers SHA-256 first, then MD5 (RFC 8760 §2.4)."""
    return module_ringfort_factory(
        env={
            "RINGFORT_SECURITY__DIGEST_ALGORITHMS": '["SHA-256", "MD5"]',
            "RINGFORT_SECURITY__AUTH_FAIL_LIMIT": "1000",
        },
        extensions=extensions("111", "112", "113", "114"),
        name="sha256-server",
    )


def test_sha256_is_offered_first_when_enabled(sha256_server: RingfortServer) -> None:
    with RawRegistrar(sha256_server.sip_target) as client:
        exchange = client.register("111", PASSWORD["111"], expires=120)
    assert exchange.challenge is not None, exchange.describe()
    offered = [
        DigestChallenge.parse(value).algorithm.upper()
        for value in exchange.challenge.header("WWW-Authenticate")
    ]
    assert offered == ["SHA-256", "MD5"], exchange.challenge.text
    # With no preference the client answers the first challenge: SHA-256.
    assert exchange.status == 200, exchange.describe()
    sha256_server.wait_for_registration("111")


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_either_offered_algorithm_registers(sha256_server: RingfortServer, algorithm: str) -> None:
    number = "112" if algorithm == "MD5" else "113"
    with RawRegistrar(sha256_server.sip_target) as client:
        exchange = client.register(number, PASSWORD[number], expires=120, algorithm=algorithm)
    assert exchange.status == 200, exchange.describe()
    sha256_server.wait_for_registration(number)


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_a_wrong_password_is_refused_with_either_algorithm(
    sha256_server: RingfortServer, algorithm: str
) -> None:
    with RawRegistrar(sha256_server.sip_target) as client:
        exchange = client.register("114", "wrong-password", algorithm=algorithm)
    assert exchange.status in (401, 403), exchange.describe()
    assert sha256_server.registrations("114") == []


def test_options_needs_no_credentials_over_either_transport(server: RingfortServer) -> None:
    for transport in ("UDP", "TCP"):
        response = options_ping(server.sip_target, transport)
        assert response is not None, f"no answer to OPTIONS over {transport}"
        assert response.status == 200, response.text
