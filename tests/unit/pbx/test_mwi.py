"""The message-summary document (RFC 3842 §5.2) and how counts changes reach phones."""

from __future__ import annotations

from typing import Any

from ringfort.pbx.location import LocationService
from ringfort.pbx.mwi import MessageWaiting, summary_body
from ringfort.pbx.ports import Binding
from ringfort.sip.address import Peer
from ringfort.sip.message import Request


def test_the_summary_says_whether_messages_wait_and_how_many() -> None:
    assert summary_body("101", "pbx.example.com", (2, 5)) == (
        b"Messages-Waiting: yes\r\n"
        b"Message-Account: sip:101@pbx.example.com\r\n"
        b"Voice-Message: 2/5\r\n"
    )
    assert summary_body("101", "h", (0, 3)).startswith(b"Messages-Waiting: no\r\n")


class Counts:
    def __init__(self) -> None:
        self.now: list[tuple[str, int, int]] = [("101", 0, 0), ("102", 1, 0)]

    async def mailboxes(self) -> list[tuple[str, int, int]]:
        return list(self.now)


class Sender:
    def __init__(self) -> None:
        self.sent: list[tuple[Request, Peer]] = []

    def send_request(self, request: Request, peer: Peer) -> object:
        self.sent.append((request, peer))
        return object()

    def sent_by(self) -> tuple[str, int]:
        return "127.0.0.1", 5060

    def flow_open(self, peer: Peer) -> bool:
        return False


def a_binding(number: str, port: int) -> Binding:
    return Binding(
        number=number,
        contact=f"sip:{number}@127.0.0.1:{port}",
        expires_at=10_000.0,
        source_host="127.0.0.1",
        source_port=port,
        call_id=f"c{port}",
        cseq=1,
        q=None,
        transport="UDP",
        behind_nat=False,
    )


async def test_only_a_changed_mailbox_lights_its_phones_and_not_at_the_first_look() -> None:
    counts, sender, location = Counts(), Sender(), LocationService()
    location.put(a_binding("101", 6001))
    location.put(a_binding("101", 6002))
    location.put(a_binding("102", 6003))
    mwi: Any = MessageWaiting(
        sender=sender, authorizer=None, location=location, counts=counts,  # type: ignore[arg-type]
        wall_clock=lambda: 1000.0,
    )  # fmt: skip
    await mwi.check()
    assert sender.sent == []  # what the phones were told before is unknown: no storm
    counts.now = [("101", 1, 0), ("102", 1, 0)]
    await mwi.check()
    assert sorted(peer.port for _, peer in sender.sent) == [6001, 6002]
    request, _ = sender.sent[0]
    assert request.method == "NOTIFY"
    assert request.headers.get("Event") == "message-summary"
    assert b"Voice-Message: 1/0" in request.body
    sender.sent.clear()
    await mwi.check()
    assert sender.sent == []  # nothing changed
    counts.now = [("102", 1, 0)]  # voicemail turned off for 101: its lamp goes out
    await mwi.check()
    assert sorted((peer.port, r.body.split(b"\r\n")[0]) for r, peer in sender.sent) == [
        (6001, b"Messages-Waiting: no"),
        (6002, b"Messages-Waiting: no"),
    ]
