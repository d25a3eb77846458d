"""Dialogs (RFC 3261 §12): built from the INVITE and its answer; requests within them."""

from __future__ import annotations

from ringfort.sip.dialog import Dialog, incoming_key
from ringfort.sip.headers import Via
from ringfort.sip.message import Request, Response, parse_message

# RFC 3261 §24.2 (F1, F4 via proxies; here with one Record-Route).
INVITE = (
    b"INVITE sip:bob@biloxi.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.com>\r\n"
    b"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.com>\r\n"
    b"Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
    b"Content-Length: 0\r\n\r\n"
)
OK = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds\r\n"
    b"To: Bob <sip:bob@biloxi.com>;tag=a6c85cf\r\n"
    b"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:bob@192.0.2.4>\r\n"
    b"Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
    b"Content-Length: 0\r\n\r\n"
)
VIA = Via("SIP/2.0", "UDP", "192.0.2.99", 5060, {"branch": "z9hG4bKnew"})


def _invite() -> Request:
    message = parse_message(INVITE)
    assert isinstance(message, Request)
    return message


def _ok() -> Response:
    message = parse_message(OK)
    assert isinstance(message, Response)
    return message


def test_uas_dialog_takes_tags_target_and_record_route_in_order() -> None:
    dialog = Dialog.as_uas(_invite(), "a6c85cf")
    assert dialog.key == ("a84b4c76e66710@pc33.atlanta.com", "a6c85cf", "1928301774")
    assert str(dialog.remote_target) == "sip:alice@pc33.atlanta.com"
    assert dialog.route_set == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert dialog.remote_cseq == 314159


def test_uac_dialog_reverses_the_route_set() -> None:
    dialog = Dialog.as_uac(_invite(), _ok())
    assert dialog.key == ("a84b4c76e66710@pc33.atlanta.com", "1928301774", "a6c85cf")
    assert str(dialog.remote_target) == "sip:bob@192.0.2.4"
    assert dialog.route_set == ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]


def test_bye_from_the_uas_swaps_from_and_to_and_counts_its_own_cseq() -> None:
    dialog = Dialog.as_uas(_invite(), "a6c85cf")
    bye = dialog.request("BYE", VIA)
    assert bye.method == "BYE"
    assert str(bye.uri) == "sip:alice@pc33.atlanta.com"
    assert bye.from_.tag == "a6c85cf"
    assert bye.to.tag == "1928301774"
    assert bye.to.uri.user == "alice"
    assert (bye.cseq.number, bye.cseq.method) == (1, "BYE")
    assert [str(route) for route in bye.routes] == [
        "<sip:p1.example.com;lr>",
        "<sip:p2.example.com;lr>",
    ]
    assert dialog.request("BYE", VIA).cseq.number == 2


def test_ack_of_a_2xx_carries_the_invite_cseq_number() -> None:
    dialog = Dialog.as_uac(_invite(), _ok())
    ack = dialog.ack(314159, VIA)
    assert (ack.cseq.number, ack.cseq.method) == (314159, "ACK")
    assert dialog.local_cseq == 314159  # an ACK does not use up a number
    assert dialog.request("BYE", VIA).cseq.number == 314160


def test_request_with_body_gets_content_type() -> None:
    dialog = Dialog.as_uac(_invite(), _ok())
    reinvite = dialog.request("INVITE", VIA, contact="<sip:192.0.2.99>", body=b"v=0\r\n")
    assert reinvite.content_type == "application/sdp"
    assert reinvite.headers.get("Contact") == "<sip:192.0.2.99>"
    assert parse_message(bytes(reinvite)) == reinvite


def test_incoming_requests_out_of_order_are_refused() -> None:
    uas = Dialog.as_uas(_invite(), "a6c85cf")
    uac = Dialog.as_uac(_invite(), _ok())
    bye = uac.request("BYE", VIA)
    assert incoming_key(bye) == uas.key
    assert uas.accept(bye)
    assert not uas.accept(bye)  # the same CSeq again (§12.2.2)


def test_target_refresh_takes_the_new_contact() -> None:
    dialog = Dialog.as_uas(_invite(), "a6c85cf")
    reinvite = Dialog.as_uac(_invite(), _ok()).request(
        "INVITE", VIA, contact="<sip:alice@198.51.100.1:5070>"
    )
    dialog.refresh_target(reinvite)
    assert str(dialog.remote_target) == "sip:alice@198.51.100.1:5070"


def test_request_outside_a_dialog_has_no_key() -> None:
    assert incoming_key(_invite()) is None
