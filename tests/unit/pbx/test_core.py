"""The server core's dispatch: every request gets its answer, and ACK none."""

from __future__ import annotations

import asyncio

import pytest

from ringfort.pbx.core import PbxCore
from ringfort.pbx.guard import AuthGuard
from ringfort.pbx.location import LocationService
from ringfort.pbx.ports import Credentials
from ringfort.pbx.registrar import Authorizer, Registrar, RegistrarPolicy
from ringfort.sip.address import Peer
from ringfort.sip.auth import DigestAuthenticator, NonceService
from ringfort.sip.events import RequestReceived, ServerHandle
from ringfort.sip.message import Request, Response, parse_message

PEER = Peer("UDP", "192.0.2.10", 5062)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[ServerHandle, Response]] = []

    def send_response(self, handle: ServerHandle, response: Response) -> None:
        self.sent.append((handle, response))


class BrokenDirectory:
    async def credentials(self, number: str) -> Credentials | None:
        raise ConnectionError("database went away")


def make_core(recorder: Recorder) -> PbxCore:
    registrar = Registrar(
        authorizer=Authorizer(
            directory=BrokenDirectory(),
            authenticator=DigestAuthenticator(realm="r", nonces=NonceService(b"k" * 32, 60)),
            guard=AuthGuard(limit=5, window=60, block_seconds=60),
            on_block=lambda block: None,
        ),
        location=LocationService(),
        policy=RegistrarPolicy(
            min_expires=60, max_expires=3600, default_expires=3600, max_contacts=5
        ),
        on_change=lambda change: None,
    )
    core = PbxCore(registrar=registrar)
    core.attach(recorder)
    return core


def request(method: str, extra: str = "") -> tuple[ServerHandle, Request]:
    text = (
        f"{method} sip:pbx.example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK776asdhds\r\n"
        "Max-Forwards: 70\r\n"
        "To: <sip:101@pbx.example.com>\r\n"
        "From: <sip:101@pbx.example.com>;tag=1928301774\r\n"
        "Call-ID: a84b4c76e66710\r\n"
        f"CSeq: 1 {method}\r\n"
        "Contact: <sip:101@192.0.2.10:5062>\r\n"
        f"{extra}"
        "Content-Length: 0\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return ServerHandle("z9hG4bK776asdhds", "192.0.2.10", 5062, method), message


async def dispatch(method: str, extra: str = "") -> list[Response]:
    recorder = Recorder()
    core = make_core(recorder)
    handle, message = request(method, extra)
    core.on_event(RequestReceived(handle, message, PEER))
    await asyncio.sleep(0)
    await core.drain()
    assert all(sent_handle == handle for sent_handle, _ in recorder.sent)
    return [response for _, response in recorder.sent]


async def test_options_gets_200_with_allow_and_accept() -> None:
    [response] = await dispatch("OPTIONS")
    assert response.status == 200
    assert "REGISTER" in (response.headers.get("Allow") or "")
    assert "application/sdp" in (response.headers.get("Accept") or "")


async def test_register_whose_lookup_fails_gets_500_not_silence() -> None:
    authorization = (
        'Authorization: Digest username="101", realm="r", nonce="x", uri="sip:pbx.example.com",'
        ' response="00000000000000000000000000000000"\r\n'
    )
    [response] = await dispatch("REGISTER", authorization)
    assert response.status == 500
    assert response.headers.get("Retry-After") == "5"


@pytest.mark.parametrize("method", ["INVITE", "SUBSCRIBE"])
async def test_methods_not_built_yet_get_501(method: str) -> None:
    [response] = await dispatch(method)
    assert response.status == 501


async def test_unknown_method_gets_405_with_allow() -> None:
    [response] = await dispatch("FROBNICATE")
    assert response.status == 405
    assert response.headers.get("Allow")


async def test_ack_is_never_answered() -> None:
    assert await dispatch("ACK") == []


async def test_cancel_of_nothing_gets_481() -> None:
    [response] = await dispatch("CANCEL")
    assert response.status == 481
