"""The registrar's decisions (RFC 3261 §10.3), with in-memory storage ports.

The phone side is literal SIP text answered with digests computed by
``digest_response``; the real-peer tests in tests/integration cover SIPp and
baresip against a running server.
"""

from __future__ import annotations

import itertools

import pytest

from ringfort.pbx.guard import AuthGuard
from ringfort.pbx.location import LocationService, target_of
from ringfort.pbx.ports import BlockedAddress, Credentials
from ringfort.pbx.registrar import (
    MAX_CONTACT_LENGTH,
    Authorizer,
    BindingChange,
    Registrar,
    RegistrarPolicy,
)
from ringfort.sip.address import Peer
from ringfort.sip.auth import Algorithm, DigestAuthenticator, NonceService, digest_response
from ringfort.sip.headers import AuthHeader
from ringfort.sip.message import Request, Response, parse_message

NOW = 1_800_000_000.0
PHONE = Peer("UDP", "192.0.2.10", 5062)
PASSWORDS = {"101": "secret101", "102": "secret102"}


class MemoryDirectory:
    async def credentials(self, number: str) -> Credentials | None:
        password = PASSWORDS.get(number)
        return Credentials(number, password) if password else None


class Phone:
    """Builds REGISTERs the way a phone does, answering challenges."""

    _call_ids = itertools.count(1)

    def __init__(self, number: str, password: str, contact_host: str = "192.0.2.10") -> None:
        self.number = number
        self.password = password
        self.contact_host = contact_host
        self.serial = next(self._call_ids)
        self.call_id = f"reg-{self.serial}@phone"
        self.cseq = 0
        self.nc = 0

    def register(
        self,
        *,
        expires: str | None = "300",
        contact: str | None = None,
        challenge: Response | None = None,
        extra: str = "",
    ) -> Request:
        self.cseq += 1
        contact = contact or f"<sip:{self.number}@{self.contact_host}:5062>"
        lines = [
            "REGISTER sip:pbx.example.com SIP/2.0",
            f"Via: SIP/2.0/UDP {self.contact_host}:5062;branch=z9hG4bK{self.serial}x{self.cseq}",
            "Max-Forwards: 70",
            f"To: <sip:{self.number}@pbx.example.com>",
            f"From: <sip:{self.number}@pbx.example.com>;tag=phone{self.number}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} REGISTER",
            f"Contact: {contact}",
        ]
        if expires is not None:
            lines.append(f"Expires: {expires}")
        if challenge is not None:
            lines.append(f"Authorization: {self._answer(challenge)}")
        if extra:
            lines.append(extra)
        text = "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n"
        message = parse_message(text.encode())
        assert isinstance(message, Request)
        return message

    def _answer(self, challenge: Response) -> str:
        offered = AuthHeader.parse(challenge.headers.get_all("WWW-Authenticate")[0]).params
        self.nc += 1
        nc = f"{self.nc:08x}"
        response = digest_response(
            algorithm=Algorithm.from_token(offered.get("algorithm", "MD5")),
            username=self.number,
            realm=offered["realm"],
            password=self.password,
            method="REGISTER",
            uri="sip:pbx.example.com",
            nonce=offered["nonce"],
            nc=nc,
            cnonce="c0ffee",
            qop="auth",
        )
        return (
            f'Digest username="{self.number}", realm="{offered["realm"]}",'
            f' nonce="{offered["nonce"]}", uri="sip:pbx.example.com", response="{response}",'
            f' algorithm={offered.get("algorithm", "MD5")}, qop=auth, nc={nc}, cnonce="c0ffee"'
        )


class Fixture:
    def __init__(self, *, limit: int = 3, max_contacts: int = 3, lifetime: float = 300) -> None:
        self.changes: list[BindingChange] = []
        self.blocks: list[BlockedAddress] = []
        self.guard = AuthGuard(limit=limit, window=60, block_seconds=600)
        self.location = LocationService()
        authenticator = DigestAuthenticator(
            realm="ringfort", nonces=NonceService(b"k" * 32, lifetime), algorithms=(Algorithm.MD5,)
        )
        self.registrar = Registrar(
            authorizer=Authorizer(
                directory=MemoryDirectory(),
                authenticator=authenticator,
                guard=self.guard,
                on_block=self.blocks.append,
            ),
            location=self.location,
            policy=RegistrarPolicy(
                min_expires=60, max_expires=3600, default_expires=1800, max_contacts=max_contacts
            ),
            on_change=self.changes.append,
        )

    async def register(
        self, phone: Phone, source: Peer = PHONE, now: float = NOW, **kwargs: str | None
    ) -> Response:
        """Challenge, then answer: what a phone does."""
        challenge = await self.registrar.handle(phone.register(**kwargs), source, now)  # type: ignore[arg-type]
        assert challenge.status == 401
        return await self.registrar.handle(
            phone.register(challenge=challenge, **kwargs),  # type: ignore[arg-type]
            source,
            now,
        )


async def test_register_without_credentials_is_challenged() -> None:
    fixture = Fixture()
    response = await fixture.registrar.handle(Phone("101", "x").register(), PHONE, NOW)
    assert response.status == 401
    challenge = AuthHeader.parse(response.headers.get_all("WWW-Authenticate")[0])
    assert challenge.scheme == "Digest"
    assert challenge.params["realm"] == "ringfort"
    assert challenge.params["qop"] == "auth"
    assert response.to.tag
    assert fixture.location.bindings("101", NOW) == []


async def test_correct_credentials_bind_the_contact_and_list_it_with_its_expiry() -> None:
    fixture = Fixture()
    response = await fixture.register(Phone("101", "secret101"))
    assert response.status == 200
    contacts = response.contacts
    assert [str(c.uri) for c in contacts] == ["sip:101@192.0.2.10:5062"]
    assert contacts[0].expires == 300
    [binding] = fixture.location.bindings("101", NOW)
    assert binding.expires_at == NOW + 300
    assert not binding.behind_nat
    assert fixture.changes[-1].upserts == [binding]


async def test_wrong_password_is_forbidden_and_binds_nothing() -> None:
    fixture = Fixture()
    response = await fixture.register(Phone("101", "guess"))
    assert response.status == 403
    assert fixture.location.bindings("101", NOW) == []


async def test_unknown_user_looks_like_a_wrong_password() -> None:
    fixture = Fixture()
    response = await fixture.register(Phone("999", "whatever"))
    assert response.status == 403


async def test_user_may_not_register_another_users_number() -> None:
    fixture = Fixture()
    phone = Phone("102", "secret101")
    challenge = await fixture.registrar.handle(phone.register(), PHONE, NOW)
    request = phone.register(challenge=challenge)
    # Authenticate as 101 while registering 102's address of record.
    authorization = request.headers.get("Authorization")
    assert authorization is not None
    phone101 = Phone("101", "secret101")
    phone101.nc = phone.nc - 1
    request.headers.set("Authorization", phone101._answer(challenge))
    response = await fixture.registrar.handle(request, PHONE, NOW)
    assert response.status == 403


async def test_interval_below_minimum_gets_423_with_min_expires() -> None:
    fixture = Fixture()
    response = await fixture.register(Phone("101", "secret101"), expires="30")
    assert response.status == 423
    assert response.headers.get("Min-Expires") == "60"


async def test_interval_above_maximum_is_cut_down_and_contact_param_wins() -> None:
    fixture = Fixture()
    phone = Phone("101", "secret101")
    response = await fixture.register(
        phone, expires="100", contact="<sip:101@192.0.2.10:5062>;expires=99999"
    )
    assert response.status == 200
    assert response.contacts[0].expires == 3600


async def test_missing_expires_takes_the_default() -> None:
    fixture = Fixture()
    response = await fixture.register(Phone("101", "secret101"), expires=None)
    assert response.contacts[0].expires == 1800


async def test_expires_zero_removes_the_binding() -> None:
    fixture = Fixture()
    phone = Phone("101", "secret101")
    await fixture.register(phone)
    response = await fixture.register(phone, expires="0")
    assert response.status == 200
    assert response.contacts == []
    assert fixture.location.bindings("101", NOW) == []
    assert fixture.changes[-1].deletes == [("101", "sip:101@192.0.2.10:5062")]


async def test_star_with_expires_zero_removes_every_binding() -> None:
    fixture = Fixture()
    desk = Phone("101", "secret101")
    soft = Phone("101", "secret101", contact_host="192.0.2.11")
    await fixture.register(desk)
    await fixture.register(soft, source=Peer("UDP", "192.0.2.11", 5062))
    assert len(fixture.location.bindings("101", NOW)) == 2
    response = await fixture.register(desk, expires="0", contact="*")
    assert response.status == 200
    assert fixture.location.bindings("101", NOW) == []


async def test_star_without_expires_zero_is_a_bad_request() -> None:
    fixture = Fixture()
    response = await fixture.register(Phone("101", "secret101"), expires="300", contact="*")
    assert response.status == 400


async def test_replayed_older_cseq_of_the_same_registration_is_refused() -> None:
    fixture = Fixture()
    phone = Phone("101", "secret101")
    await fixture.register(phone)
    phone.cseq -= 2  # the same CSeq numbers again: a late copy of an old request
    response = await fixture.register(phone)
    assert response.status == 500


async def test_oldest_binding_is_dropped_past_max_contacts() -> None:
    fixture = Fixture(max_contacts=2)
    for host in ("192.0.2.21", "192.0.2.22", "192.0.2.23"):
        response = await fixture.register(
            Phone("101", "secret101", contact_host=host), source=Peer("UDP", host, 5062)
        )
        assert response.status == 200
    hosts = sorted(str(b.contact) for b in fixture.location.bindings("101", NOW))
    assert hosts == ["sip:101@192.0.2.22:5062", "sip:101@192.0.2.23:5062"]


async def test_contact_from_another_address_is_behind_nat_and_reached_at_the_source() -> None:
    fixture = Fixture()
    nat = Peer("UDP", "198.51.100.7", 40123)
    response = await fixture.register(
        Phone("101", "secret101", contact_host="10.0.0.5"), source=nat
    )
    assert response.status == 200
    [binding] = fixture.location.bindings("101", NOW)
    assert binding.behind_nat
    assert target_of(binding) == Peer("UDP", "198.51.100.7", 40123)


async def test_contact_matching_the_source_is_used_as_given() -> None:
    fixture = Fixture()
    source = Peer("UDP", "192.0.2.10", 40000)  # same IP, another source port
    await fixture.register(Phone("101", "secret101"), source=source)
    [binding] = fixture.location.bindings("101", NOW)
    assert not binding.behind_nat
    assert target_of(binding) == Peer("UDP", "192.0.2.10", 5062)


async def test_overlong_contact_is_refused() -> None:
    fixture = Fixture()
    long_user = "1" * MAX_CONTACT_LENGTH
    response = await fixture.register(
        Phone("101", "secret101"), contact=f"<sip:{long_user}@192.0.2.10>"
    )
    assert response.status == 400
    assert fixture.location.bindings("101", NOW) == []


async def test_repeated_failures_block_the_address_but_not_others() -> None:
    fixture = Fixture(limit=3)
    attacker = Peer("UDP", "203.0.113.66", 5060)
    for _ in range(3):
        assert (await fixture.register(Phone("101", "guess"), source=attacker)).status == 403
    assert [b.address for b in fixture.blocks] == ["203.0.113.66"]
    assert fixture.guard.is_blocked("203.0.113.66", NOW)
    assert not fixture.guard.is_blocked(PHONE.host, NOW)
    assert (await fixture.register(Phone("101", "secret101"))).status == 200


async def test_expired_nonce_gets_a_stale_challenge_not_a_failure() -> None:
    fixture = Fixture(lifetime=30, limit=1)
    phone = Phone("101", "secret101")
    challenge = await fixture.registrar.handle(phone.register(), PHONE, NOW)
    late = await fixture.registrar.handle(phone.register(challenge=challenge), PHONE, NOW + 120)
    assert late.status == 401
    assert AuthHeader.parse(late.headers.get_all("WWW-Authenticate")[0]).params["stale"] == "true"
    assert fixture.blocks == []


@pytest.mark.parametrize("scheme_uri", ["tel:+15551234", "sip:pbx.example.com"])
async def test_address_of_record_without_a_sip_user_is_not_found(scheme_uri: str) -> None:
    fixture = Fixture()
    request = Phone("101", "x").register()
    request.headers.set("To", f"<{scheme_uri}>")
    response = await fixture.registrar.handle(request, PHONE, NOW)
    assert response.status == 404
