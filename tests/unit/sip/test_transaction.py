"""The SIP transaction layer (RFC 3261 §17, RFC 6026 Accepted states), driven by a fake clock.

Messages are literal SIP text (after RFC 3261 §24.2) parsed by ``parse_message``;
every message a layer transmits goes through ``bytes()`` and back, as on the wire.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from enum import Enum

import pytest

from ringfort.errors import LocalProtocolError, RemoteProtocolError
from ringfort.sip.address import Peer
from ringfort.sip.events import (
    AckReceived,
    ClientHandle,
    Event,
    RequestReceived,
    ResponseReceived,
    ServerHandle,
    StrayResponse,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from ringfort.sip.headers import CSeq
from ringfort.sip.message import Message, Request, Response, make_response, parse_message
from ringfort.sip.timers import TimerValues
from ringfort.sip.transaction import (
    CLIENT_INVITE_TRANSITIONS,
    CLIENT_NON_INVITE_TRANSITIONS,
    SERVER_INVITE_TRANSITIONS,
    SERVER_NON_INVITE_TRANSITIONS,
    ClientInviteState,
    ClientInviteTransaction,
    ClientNonInviteState,
    Input,
    ServerInviteState,
    ServerInviteTransaction,
    ServerNonInviteState,
    ServerNonInviteTransaction,
    Timer,
    TransactionLayer,
    new_branch,
    server_key,
)

ALICE_UDP = Peer("UDP", "192.0.2.101", 5060)
ALICE_TCP = Peer("TCP", "192.0.2.101", 49152, connection=3)
BOB_UDP = Peer("UDP", "192.0.2.4", 5060)
BOB_TCP = Peer("TCP", "192.0.2.4", 5060, connection=9)


def sip(text: str) -> bytes:
    return text.lstrip("\n").replace("\n", "\r\n").encode()


def parse_request(text: str) -> Request:
    message = parse_message(sip(text))
    assert isinstance(message, Request)
    return message


def parse_response(text: str) -> Response:
    message = parse_message(sip(text))
    assert isinstance(message, Response)
    return message


def wire(message: Message) -> Message:
    """What the far end sees: serialised and parsed again."""
    return parse_message(bytes(message))


# RFC 3261 §24.2 F1, with the transport chosen per test and a Route set added.
INVITE_TEXT = """
INVITE sip:bob@biloxi.com SIP/2.0
Via: SIP/2.0/{transport} pc33.atlanta.com;branch={branch}
Max-Forwards: 70
Route: <sip:p1.atlanta.com;lr>, <sip:p2.biloxi.com;lr>
To: Bob <sip:bob@biloxi.com>
From: Alice <sip:alice@atlanta.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.com
CSeq: 314159 INVITE
Contact: <sip:alice@pc33.atlanta.com>
Content-Length: 0

"""


def invite(transport: str = "UDP", branch: str = "z9hG4bK776asdhds") -> Request:
    return parse_request(INVITE_TEXT.format(transport=transport, branch=branch))


# RFC 3261 §24.1 F1, REGISTER.
def register(transport: str = "UDP", branch: str = "z9hG4bKnashds7") -> Request:
    return parse_request(
        f"""
REGISTER sip:registrar.biloxi.com SIP/2.0
Via: SIP/2.0/{transport} bobspc.biloxi.com:5060;branch={branch}
Max-Forwards: 70
To: Bob <sip:bob@biloxi.com>
From: Bob <sip:bob@biloxi.com>;tag=456248
Call-ID: 843817637684230@998sdasdh09
CSeq: 1826 REGISTER
Contact: <sip:bob@192.0.2.4>
Expires: 7200
Content-Length: 0

"""
    )


def cancel(transport: str = "UDP", branch: str = "z9hG4bK776asdhds") -> Request:
    # RFC 3261 §9.1: the CANCEL repeats the INVITE's Request-URI, Call-ID,
    # From, To, CSeq number and top Via, branch included.
    return parse_request(
        f"""
CANCEL sip:bob@biloxi.com SIP/2.0
Via: SIP/2.0/{transport} pc33.atlanta.com;branch={branch}
Max-Forwards: 70
Route: <sip:p1.atlanta.com;lr>, <sip:p2.biloxi.com;lr>
To: Bob <sip:bob@biloxi.com>
From: Alice <sip:alice@atlanta.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.com
CSeq: 314159 CANCEL
Content-Length: 0

"""
    )


def ack(branch: str, *, transport: str = "UDP", to_tag: str = "a6c85cf") -> Request:
    return parse_request(
        f"""
ACK sip:bob@biloxi.com SIP/2.0
Via: SIP/2.0/{transport} pc33.atlanta.com;branch={branch}
Max-Forwards: 70
To: Bob <sip:bob@biloxi.com>;tag={to_tag}
From: Alice <sip:alice@atlanta.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.com
CSeq: 314159 ACK
Content-Length: 0

"""
    )


def response(request: Request, status: int, to_tag: str | None = "a6c85cf") -> Response:
    """The far end's answer to ``request``, as it arrives off the wire."""
    answer = wire(make_response(request, status, to_tag=None if status == 100 else to_tag))
    assert isinstance(answer, Response)
    return answer


def drain(layer: TransactionLayer) -> list[Event]:
    events = []
    while (event := layer.next_event()) is not None:
        events.append(event)
    return events


def sent(layer: TransactionLayer) -> list[Message]:
    return [message for message, _ in layer.outgoing()]


def run_until(layer: TransactionLayer, end: float) -> list[tuple[float, Message | Event]]:
    """Fire every timer due up to ``end`` at its exact deadline, as the pump would.

    Returns what each firing transmitted and reported, stamped with the time.
    """
    log: list[tuple[float, Message | Event]] = []
    while (deadline := layer.get_timer()) is not None and deadline <= end:
        layer.handle_timer(deadline)
        log += [(deadline, message) for message, _ in layer.outgoing()]
        log += [(deadline, event) for event in drain(layer)]
    return log


def times_sent(log: list[tuple[float, Message | Event]]) -> list[float]:
    return [when for when, item in log if isinstance(item, Request | Response)]


def events_at(log: list[tuple[float, Message | Event]]) -> list[tuple[float, Event]]:
    return [(when, item) for when, item in log if not isinstance(item, Request | Response)]


# -- INVITE client transaction (RFC 3261 §17.1.1, RFC 6026 §7.2) -------------------------


def test_udp_invite_is_retransmitted_on_timer_a_and_times_out_on_timer_b() -> None:
    layer = TransactionLayer()
    request = invite()
    handle = layer.send_request(request, BOB_UDP, 0.0)
    assert layer.outgoing() == [(request, BOB_UDP)]

    log = run_until(layer, 100.0)

    assert times_sent(log) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert all(item is request for _, item in log if isinstance(item, Request))
    assert events_at(log) == [
        (32.0, TransactionTimedOut(handle)),
        (32.0, TransactionTerminated(handle)),
    ]
    assert len(layer) == 0
    assert layer.get_timer() is None


def test_reliable_transport_sends_the_invite_once_and_still_times_out_on_timer_b() -> None:
    layer = TransactionLayer()
    handle = layer.send_request(invite("TCP"), BOB_TCP, 10.0)
    assert len(layer.outgoing()) == 1
    assert layer.get_timer() == 42.0

    log = run_until(layer, 100.0)

    assert times_sent(log) == []
    assert events_at(log) == [
        (42.0, TransactionTimedOut(handle)),
        (42.0, TransactionTerminated(handle)),
    ]


def test_provisional_response_stops_retransmission_and_timer_b() -> None:
    layer = TransactionLayer()
    request = invite()
    handle = layer.send_request(request, BOB_UDP, 0.0)
    layer.outgoing()
    assert times_sent(run_until(layer, 1.0)) == [0.5]

    ringing = response(request, 180)
    layer.receive_response(ringing, BOB_UDP, 1.2)

    assert drain(layer) == [ResponseReceived(handle, ringing)]
    assert layer.state(handle) is ClientInviteState.PROCEEDING
    assert layer.get_timer() is None
    assert run_until(layer, 1000.0) == []


def test_failure_response_is_acknowledged_by_the_client_transaction() -> None:
    layer = TransactionLayer()
    request = invite()
    handle = layer.send_request(request, BOB_UDP, 0.0)
    layer.outgoing()
    busy = response(request, 486)

    layer.receive_response(busy, BOB_UDP, 0.3)

    assert drain(layer) == [ResponseReceived(handle, busy)]
    assert layer.state(handle) is ClientInviteState.COMPLETED
    [(message, peer)] = layer.outgoing()
    assert peer == BOB_UDP
    # RFC 3261 §17.1.1.3: Request-URI, Call-ID, From and the one Via of the
    # INVITE, To of the response (with its tag), CSeq number with ACK, Routes.
    assert bytes(message) == sip(
        """
ACK sip:bob@biloxi.com SIP/2.0
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds
Max-Forwards: 70
Route: <sip:p1.atlanta.com;lr>, <sip:p2.biloxi.com;lr>
From: Alice <sip:alice@atlanta.com>;tag=1928301774
To: Bob <sip:bob@biloxi.com>;tag=a6c85cf
Call-ID: a84b4c76e66710@pc33.atlanta.com
CSeq: 314159 ACK
Content-Length: 0

"""
    )
    assert isinstance(message, Request)
    assert message.cseq == CSeq(314159, "ACK")
    assert message.routes == request.routes


def test_ack_keeps_only_the_top_via_of_a_proxied_invite() -> None:
    request = parse_request(
        """
INVITE sip:bob@192.0.2.4 SIP/2.0
Via: SIP/2.0/UDP server10.biloxi.com;branch=z9hG4bK4b43c2ff8.1
Via: SIP/2.0/UDP bigbox3.site3.atlanta.com;branch=z9hG4bK77ef4c2312983.1;received=192.0.2.2
Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;received=192.0.2.1
Max-Forwards: 68
To: Bob <sip:bob@biloxi.com>
From: Alice <sip:alice@atlanta.com>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.atlanta.com
CSeq: 314159 INVITE
Content-Length: 0

"""
    )
    transaction = ClientInviteTransaction(request, BOB_UDP, 0.0)
    transaction.receive_response(response(request, 603), 1.0)

    ack_sent = transaction.ack
    assert ack_sent is not None
    assert ack_sent.vias == [request.top_via]
    assert ack_sent.max_forwards == 68
    assert ack_sent.routes == []
    assert transaction.messages_to_send() == [request, ack_sent]


def test_retransmitted_failure_response_is_acknowledged_again_until_timer_d() -> None:
    layer = TransactionLayer()
    request = invite()
    handle = layer.send_request(request, BOB_UDP, 0.0)
    layer.outgoing()
    busy = response(request, 486)
    layer.receive_response(busy, BOB_UDP, 1.0)
    [first_ack] = sent(layer)
    drain(layer)

    layer.receive_response(response(request, 486), BOB_UDP, 2.0)
    layer.receive_response(response(request, 486), BOB_UDP, 4.0)

    assert sent(layer) == [first_ack, first_ack]
    assert drain(layer) == []  # absorbed, not passed up again
    log = run_until(layer, 100.0)
    assert times_sent(log) == []
    assert events_at(log) == [(33.0, TransactionTerminated(handle))]  # Timer D: 32 s


def test_timer_d_is_zero_on_a_reliable_transport() -> None:
    layer = TransactionLayer()
    request = invite("TCP")
    handle = layer.send_request(request, BOB_TCP, 0.0)
    layer.outgoing()
    busy = response(request, 486)

    layer.receive_response(busy, BOB_TCP, 1.0)

    assert [m.method for m in sent(layer) if isinstance(m, Request)] == ["ACK"]
    assert drain(layer) == [ResponseReceived(handle, busy), TransactionTerminated(handle)]
    assert len(layer) == 0


def test_every_2xx_is_passed_up_in_accepted_until_timer_m() -> None:
    layer = TransactionLayer()
    request = invite()
    handle = layer.send_request(request, BOB_UDP, 0.0)
    layer.outgoing()
    ok = response(request, 200)
    forked_ok = response(request, 200, to_tag="314159")

    layer.receive_response(ok, BOB_UDP, 2.0)
    assert layer.state(handle) is ClientInviteState.ACCEPTED
    layer.receive_response(response(request, 200), BOB_UDP, 2.5)  # retransmission
    layer.receive_response(forked_ok, BOB_UDP, 3.0)  # another branch of a fork
    layer.receive_response(response(request, 180), BOB_UDP, 3.1)  # late, absorbed
    layer.receive_response(response(request, 486, "x"), BOB_UDP, 3.2)  # absorbed

    events = drain(layer)
    assert [type(e) for e in events] == [ResponseReceived] * 3
    assert [e.response.to.tag for e in events if isinstance(e, ResponseReceived)] == [
        "a6c85cf",
        "a6c85cf",
        "314159",
    ]
    # The transaction never acknowledges a 2xx: that is the TU's, end to end.
    assert sent(layer) == []
    assert events_at(run_until(layer, 100.0)) == [(34.0, TransactionTerminated(handle))]

    late = response(request, 200)
    layer.receive_response(late, BOB_UDP, 40.0)
    assert drain(layer) == [StrayResponse(late, BOB_UDP)]


def test_2xx_after_a_failure_response_is_still_passed_up() -> None:
    # Only the TU can acknowledge and end the dialog such a 2xx set up.
    layer = TransactionLayer()
    request = invite()
    handle = layer.send_request(request, BOB_UDP, 0.0)
    layer.receive_response(response(request, 486), BOB_UDP, 0.1)
    drain(layer)
    ok = response(request, 200, to_tag="other")

    layer.receive_response(ok, BOB_UDP, 0.2)

    assert drain(layer) == [ResponseReceived(handle, ok)]
    assert layer.state(handle) is ClientInviteState.COMPLETED


# -- non-INVITE client transaction (RFC 3261 §17.1.2) ----------------------------------


def test_udp_non_invite_request_backs_off_to_t2_and_times_out_on_timer_f() -> None:
    layer = TransactionLayer()
    request = register()
    handle = layer.send_request(request, BOB_UDP, 0.0)
    assert sent(layer) == [request]

    log = run_until(layer, 100.0)

    assert times_sent(log) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert events_at(log) == [
        (32.0, TransactionTimedOut(handle)),
        (32.0, TransactionTerminated(handle)),
    ]
    assert len(layer) == 0


def test_provisional_response_makes_timer_e_fire_every_t2() -> None:
    layer = TransactionLayer()
    request = register()
    handle = layer.send_request(request, BOB_UDP, 0.0)
    layer.outgoing()
    assert times_sent(run_until(layer, 0.6)) == [0.5]

    trying = response(request, 100)
    layer.receive_response(trying, BOB_UDP, 0.7)
    assert drain(layer) == [ResponseReceived(handle, trying)]
    assert layer.state(handle) is ClientNonInviteState.PROCEEDING

    log = run_until(layer, 100.0)
    assert times_sent(log) == [1.5, 5.5, 9.5, 13.5, 17.5, 21.5, 25.5, 29.5]
    assert events_at(log)[0] == (32.0, TransactionTimedOut(handle))


def test_final_response_completes_and_timer_k_absorbs_retransmissions() -> None:
    layer = TransactionLayer()
    request = register()
    handle = layer.send_request(request, BOB_UDP, 0.0)
    layer.outgoing()
    ok = response(request, 200)

    layer.receive_response(ok, BOB_UDP, 1.0)
    layer.receive_response(response(request, 200), BOB_UDP, 2.0)

    assert drain(layer) == [ResponseReceived(handle, ok)]
    assert layer.state(handle) is ClientNonInviteState.COMPLETED
    log = run_until(layer, 100.0)
    assert times_sent(log) == []  # Timer E stopped
    assert events_at(log) == [(6.0, TransactionTerminated(handle))]  # Timer K: T4


def test_reliable_non_invite_is_not_retransmitted_and_ends_with_its_final_response() -> None:
    layer = TransactionLayer()
    request = register("TCP")
    handle = layer.send_request(request, BOB_TCP, 0.0)
    assert layer.get_timer() == 32.0  # Timer F only
    layer.outgoing()
    unauthorized = response(request, 401)

    layer.receive_response(unauthorized, BOB_TCP, 0.1)

    assert drain(layer) == [ResponseReceived(handle, unauthorized), TransactionTerminated(handle)]
    assert len(layer) == 0


# -- INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §7.1) -------------------------


def receive_invite(
    layer: TransactionLayer, request: Request, peer: Peer = ALICE_UDP, now: float = 0.0
) -> ServerHandle:
    layer.receive_request(request, peer, now)
    [event] = drain(layer)
    assert isinstance(event, RequestReceived)
    assert event.request is request
    assert event.peer == peer
    return event.transaction


def test_new_invite_is_passed_up_and_answered_100_trying_after_200_ms() -> None:
    layer = TransactionLayer()
    request = invite()
    handle = receive_invite(layer, request)
    assert handle == ServerHandle("z9hG4bK776asdhds", "pc33.atlanta.com", None, "INVITE")
    assert layer.outgoing() == []

    log = run_until(layer, 1.0)

    [(when, trying)] = log
    assert when == pytest.approx(0.2)
    assert isinstance(trying, Response)
    assert trying.status == 100
    assert trying.to.tag is None
    assert trying.cseq == request.cseq

    layer.receive_request(invite(), ALICE_UDP, 1.0)  # retransmission
    assert layer.outgoing() == [(trying, ALICE_UDP)]
    assert drain(layer) == []


def test_no_automatic_100_trying_when_disabled() -> None:
    layer = TransactionLayer(auto_trying=False)
    receive_invite(layer, invite())
    assert layer.get_timer() is None

    layer.receive_request(invite(), ALICE_UDP, 0.5)

    assert layer.outgoing() == []


def test_no_automatic_100_trying_when_the_tu_answers_first() -> None:
    layer = TransactionLayer()
    request = invite()
    handle = receive_invite(layer, request)
    ringing = make_response(request, 180, to_tag="a6c85cf")

    layer.send_response(handle, ringing, 0.1)
    assert layer.outgoing() == [(ringing, ALICE_UDP)]
    assert run_until(layer, 10.0) == []

    layer.receive_request(invite(), ALICE_UDP, 0.5)
    layer.receive_request(invite(), ALICE_UDP, 1.5)
    assert sent(layer) == [ringing, ringing]  # the latest provisional response
    assert drain(layer) == []


def test_failure_response_is_retransmitted_on_timer_g_until_timer_h() -> None:
    layer = TransactionLayer()
    request = invite()
    handle = receive_invite(layer, request)
    busy = make_response(request, 486, to_tag="a6c85cf")

    layer.send_response(handle, busy, 0.0)
    assert sent(layer) == [busy]
    assert layer.state(handle) is ServerInviteState.COMPLETED
    log = run_until(layer, 100.0)

    assert times_sent(log) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert all(item is busy for _, item in log if isinstance(item, Response))
    assert events_at(log) == [
        (32.0, TransactionTimedOut(handle)),
        (32.0, TransactionTerminated(handle)),
    ]
    assert len(layer) == 0


def test_retransmitted_invite_in_completed_is_answered_with_the_failure_response() -> None:
    layer = TransactionLayer()
    request = invite()
    handle = receive_invite(layer, request)
    busy = make_response(request, 486, to_tag="a6c85cf")
    layer.send_response(handle, busy, 0.0)
    layer.outgoing()

    layer.receive_request(invite(), ALICE_UDP, 0.2)

    assert layer.outgoing() == [(busy, ALICE_UDP)]
    assert drain(layer) == []


def test_ack_confirms_and_timer_i_absorbs_further_acks() -> None:
    layer = TransactionLayer()
    request = invite()
    handle = receive_invite(layer, request)
    layer.send_response(handle, make_response(request, 486, to_tag="a6c85cf"), 0.0)
    run_until(layer, 2.0)

    layer.receive_request(ack("z9hG4bK776asdhds"), ALICE_UDP, 2.0)
    assert layer.state(handle) is ServerInviteState.CONFIRMED
    layer.receive_request(ack("z9hG4bK776asdhds"), ALICE_UDP, 3.0)
    layer.receive_request(invite(), ALICE_UDP, 3.5)

    assert drain(layer) == []  # the ACK of a failure response is hop by hop
    assert layer.outgoing() == []
    log = run_until(layer, 100.0)
    assert times_sent(log) == []  # Timer G stopped
    assert events_at(log) == [(7.0, TransactionTerminated(handle))]  # Timer I: T4


def test_reliable_server_sends_the_failure_once_and_ends_on_ack() -> None:
    layer = TransactionLayer()
    request = invite("TCP")
    handle = receive_invite(layer, request, ALICE_TCP)
    busy = make_response(request, 486, to_tag="a6c85cf")
    layer.send_response(handle, busy, 0.0)
    assert layer.outgoing() == [(busy, ALICE_TCP)]
    assert layer.get_timer() == 32.0  # Timer H only

    layer.receive_request(ack("z9hG4bK776asdhds", transport="TCP"), ALICE_TCP, 0.1)

    assert drain(layer) == [TransactionTerminated(handle)]
    assert len(layer) == 0


def test_2xx_moves_to_accepted_where_retransmitted_invites_are_absorbed() -> None:
    layer = TransactionLayer()
    request = invite()
    handle = receive_invite(layer, request)
    ok = make_response(request, 200, to_tag="a6c85cf")

    layer.send_response(handle, ok, 0.1)
    assert sent(layer) == [ok]
    assert layer.state(handle) is ServerInviteState.ACCEPTED

    layer.receive_request(invite(), ALICE_UDP, 0.5)
    assert layer.outgoing() == []
    assert drain(layer) == []

    # Retransmitting the 2xx is the TU's job; the transaction passes it on.
    layer.send_response(handle, ok, 0.6)
    assert sent(layer) == [ok]

    # The ACK of a 2xx has its own branch and matches no transaction.
    end_to_end_ack = ack("z9hG4bK5b1dd1f3")
    layer.receive_request(end_to_end_ack, ALICE_UDP, 0.7)
    assert drain(layer) == [AckReceived(end_to_end_ack, ALICE_UDP)]

    assert events_at(run_until(layer, 100.0)) == [(32.1, TransactionTerminated(handle))]
    assert len(layer) == 0


def test_ack_reusing_the_invite_branch_in_accepted_is_passed_up() -> None:
    layer = TransactionLayer()
    request = invite()
    handle = receive_invite(layer, request)
    layer.send_response(handle, make_response(request, 200, to_tag="a6c85cf"), 0.1)
    same_branch_ack = ack("z9hG4bK776asdhds")

    layer.receive_request(same_branch_ack, ALICE_UDP, 0.2)

    assert drain(layer) == [AckReceived(same_branch_ack, ALICE_UDP)]
    assert layer.state(handle) is ServerInviteState.ACCEPTED


def test_provisional_after_2xx_is_a_local_error_naming_input_and_state() -> None:
    layer = TransactionLayer()
    request = invite()
    handle = receive_invite(layer, request)
    layer.send_response(handle, make_response(request, 200, to_tag="a6c85cf"), 0.1)

    with pytest.raises(LocalProtocolError, match=r"1xx from TU .* state Accepted"):
        layer.send_response(handle, make_response(request, 180, to_tag="a6c85cf"), 0.2)


def test_2xx_after_a_failure_response_is_a_local_error() -> None:
    transaction = ServerInviteTransaction(invite(), ALICE_UDP, 0.0)
    transaction.send_response(make_response(transaction.request, 486, to_tag="x"), 0.0)

    with pytest.raises(LocalProtocolError, match=r"2xx from TU .* state Completed"):
        transaction.send_response(make_response(transaction.request, 200, to_tag="x"), 0.1)


# -- non-INVITE server transaction (RFC 3261 §17.2.2) ----------------------------------


def test_non_invite_retransmission_is_absorbed_in_trying_and_answered_later() -> None:
    layer = TransactionLayer()
    request = register()
    handle = receive_invite(layer, request)
    assert layer.state(handle) is ServerNonInviteState.TRYING
    assert layer.get_timer() is None  # no 100 Trying of its own (RFC 4320)

    layer.receive_request(register(), ALICE_UDP, 0.5)
    assert layer.outgoing() == []

    trying = make_response(request, 100)
    layer.send_response(handle, trying, 0.6)
    assert layer.state(handle) is ServerNonInviteState.PROCEEDING
    layer.receive_request(register(), ALICE_UDP, 1.5)
    assert sent(layer) == [trying, trying]

    ok = make_response(request, 200, to_tag="2493k59kd")
    layer.send_response(handle, ok, 2.0)
    assert layer.state(handle) is ServerNonInviteState.COMPLETED
    layer.receive_request(register(), ALICE_UDP, 3.5)
    assert sent(layer) == [ok, ok]
    assert drain(layer) == []

    # Timer J: 64*T1 on UDP.
    assert events_at(run_until(layer, 100.0)) == [(34.0, TransactionTerminated(handle))]
    assert len(layer) == 0


def test_reliable_non_invite_server_ends_with_its_final_response() -> None:
    layer = TransactionLayer()
    request = register("TCP")
    handle = receive_invite(layer, request, ALICE_TCP)

    layer.send_response(handle, make_response(request, 200, to_tag="2493k59kd"), 0.0)

    assert drain(layer) == [TransactionTerminated(handle)]
    assert len(layer) == 0


def test_second_final_response_is_a_local_error() -> None:
    request = register()
    transaction = ServerNonInviteTransaction(request, ALICE_UDP, 0.0)
    transaction.send_response(make_response(request, 200, to_tag="x"), 0.0)

    with pytest.raises(LocalProtocolError, match=r"200-699 from TU .* state Completed"):
        transaction.send_response(make_response(request, 500, to_tag="x"), 0.1)


# -- what a transaction keeps while it waits out its last timer ---------------------------


def test_transactions_let_go_of_their_request_once_only_retransmissions_are_left() -> None:
    layer = TransactionLayer()
    # Client INVITE: Accepted (2xx) and Completed (failure).
    accepted = invite(branch="z9hG4bKaccepted")
    accepted_handle = layer.send_request(accepted, BOB_UDP, 0.0)
    failed = invite(branch="z9hG4bKfailed")
    failed_handle = layer.send_request(failed, BOB_UDP, 0.0)
    # Client non-INVITE: Completed.
    options = register(branch="z9hG4bKclientreg")
    options_handle = layer.send_request(options, BOB_UDP, 0.0)
    # Server INVITE: Accepted (2xx) and Confirmed (failure, then ACK); non-INVITE: Completed.
    answered = invite(branch="z9hG4bKanswered")
    answered_handle = receive_invite(layer, answered)
    refused = invite(branch="z9hG4bKrefused")
    refused_handle = receive_invite(layer, refused)
    registered = register(branch="z9hG4bKserverreg")
    registered_handle = receive_invite(layer, registered)
    layer.outgoing()
    handles = [
        accepted_handle,
        failed_handle,
        options_handle,
        answered_handle,
        refused_handle,
        registered_handle,
    ]
    assert [layer.original_request(handle) for handle in handles] == [
        accepted,
        failed,
        options,
        answered,
        refused,
        registered,
    ]

    layer.receive_response(response(accepted, 200), BOB_UDP, 0.1)
    layer.receive_response(response(failed, 486), BOB_UDP, 0.1)
    layer.receive_response(response(options, 200), BOB_UDP, 0.1)
    layer.send_response(answered_handle, make_response(answered, 200, to_tag="a"), 0.1)
    layer.send_response(refused_handle, make_response(refused, 486, to_tag="b"), 0.1)
    layer.receive_request(ack("z9hG4bKrefused", to_tag="b"), ALICE_UDP, 0.2)
    ok = make_response(registered, 200, to_tag="c")
    layer.send_response(registered_handle, ok, 0.1)
    layer.outgoing()
    drain(layer)

    assert [layer.state(handle) for handle in handles] == [
        ClientInviteState.ACCEPTED,
        ClientInviteState.COMPLETED,
        ClientNonInviteState.COMPLETED,
        ServerInviteState.ACCEPTED,
        ServerInviteState.CONFIRMED,
        ServerNonInviteState.COMPLETED,
    ]
    assert [layer.original_request(handle) for handle in handles] == [None] * 6
    # What they still do needs none of it: re-acknowledge a failure, answer a
    # retransmitted request with the final response, pass a 2xx up.
    layer.receive_response(response(failed, 486), BOB_UDP, 1.0)
    assert [message.method for message in sent(layer) if isinstance(message, Request)] == ["ACK"]
    layer.receive_request(register(branch="z9hG4bKserverreg"), ALICE_UDP, 1.0)
    assert sent(layer) == [ok]
    retransmitted_ok = response(accepted, 200)
    layer.receive_response(retransmitted_ok, BOB_UDP, 1.0)
    assert drain(layer) == [ResponseReceived(accepted_handle, retransmitted_ok)]


def test_a_transaction_asked_for_the_request_it_let_go_of_says_so() -> None:
    request = register()
    transaction = ServerNonInviteTransaction(request, ALICE_UDP, 0.0)
    assert transaction.holds_request
    assert transaction.request is request
    transaction.send_response(make_response(request, 200, to_tag="x"), 0.0)

    assert not transaction.holds_request
    with pytest.raises(LocalProtocolError, match="no longer holds its request"):
        transaction.request  # noqa: B018


def test_a_transaction_in_a_layer_holds_no_container_the_collector_walks() -> None:
    # Under load thousands of transactions wait out their last timer: each owning a
    # queue or a tracked dict, or a heap entry holding its handle, made the
    # collector's young passes long.
    layer = TransactionLayer()
    request = register()
    handle = receive_invite(layer, request)
    layer.send_response(handle, make_response(request, 200, to_tag="x"), 0.0)
    transaction = layer._servers[handle]
    assert transaction.get_timer() == pytest.approx(32.0)  # Timer J runs

    assert not gc.is_tracked(transaction._deadlines)
    assert transaction._outgoing is layer._outgoing
    assert transaction._events is layer._events
    gc.collect()  # tuples of untracked values are left alone from their first pass on
    assert not any(gc.is_tracked(entry) for entry in layer._heap)


def test_the_final_response_kept_for_retransmission_keeps_only_its_parsed_via() -> None:
    layer = TransactionLayer()
    request = register()
    handle = receive_invite(layer, request)
    assert request.from_.uri.user  # parsed, and shared with the response made from it
    ok = make_response(request, 200, to_tag="2493k59kd")
    layer.send_response(handle, ok, 0.0)

    assert set(ok.headers._parsed) == {"via"}
    # Read again, the values are what they were.
    assert ok.from_ == request.from_
    assert ok.to.tag == "2493k59kd"
    assert bytes(ok) == bytes(make_response(request, 200, to_tag="2493k59kd"))


# -- CANCEL (RFC 3261 §9) ---------------------------------------------------------------


def test_cancel_gets_its_own_transaction_and_finds_the_invite_it_cancels() -> None:
    layer = TransactionLayer()
    request = invite()
    invite_handle = receive_invite(layer, request)
    layer.send_response(invite_handle, make_response(request, 180, to_tag="a6c85cf"), 0.1)
    layer.outgoing()

    cancel_request = cancel()
    layer.receive_request(cancel_request, ALICE_UDP, 1.0)
    [event] = drain(layer)
    assert isinstance(event, RequestReceived)
    assert event.request.method == "CANCEL"
    assert event.transaction != invite_handle
    assert layer.find_invite_server(event.request) == invite_handle
    assert layer.original_request(invite_handle) is request
    assert layer.state(invite_handle) is ServerInviteState.PROCEEDING  # so: answer 487

    cancel_ok = make_response(cancel_request, 200, to_tag="a6c85cf")
    terminated = make_response(request, 487, to_tag="a6c85cf")
    layer.send_response(event.transaction, cancel_ok, 1.0)
    layer.send_response(invite_handle, terminated, 1.0)
    assert sent(layer) == [cancel_ok, terminated]

    layer.receive_request(ack("z9hG4bK776asdhds"), ALICE_UDP, 1.1)
    assert layer.state(invite_handle) is ServerInviteState.CONFIRMED
    run_until(layer, 100.0)
    assert len(layer) == 0


def test_cancel_for_an_unknown_invite_finds_nothing() -> None:
    layer = TransactionLayer()
    receive_invite(layer, invite(branch="z9hG4bKother"))

    layer.receive_request(cancel(), ALICE_UDP, 0.0)
    [event] = drain(layer)

    assert isinstance(event, RequestReceived)
    assert layer.find_invite_server(event.request) is None  # the TU answers 481


def test_client_invite_and_cancel_share_a_branch_but_not_a_transaction() -> None:
    layer = TransactionLayer()
    request = invite()
    invite_handle = layer.send_request(request, BOB_UDP, 0.0)
    layer.receive_response(response(request, 180), BOB_UDP, 0.1)
    cancel_request = cancel()
    cancel_handle = layer.send_request(cancel_request, BOB_UDP, 0.2)
    drain(layer)
    assert invite_handle == ClientHandle("z9hG4bK776asdhds", "INVITE")
    assert cancel_handle == ClientHandle("z9hG4bK776asdhds", "CANCEL")

    cancel_ok = response(cancel_request, 200)
    terminated = response(request, 487)
    layer.receive_response(cancel_ok, BOB_UDP, 0.3)
    layer.receive_response(terminated, BOB_UDP, 0.3)

    assert drain(layer) == [
        ResponseReceived(cancel_handle, cancel_ok),
        ResponseReceived(invite_handle, terminated),
    ]


# -- matching (RFC 3261 §17.1.3, §17.2.3) ------------------------------------------------


def test_same_branch_from_another_sent_by_is_another_transaction() -> None:
    layer = TransactionLayer()
    first = receive_invite(layer, invite())
    other = parse_request(
        INVITE_TEXT.format(transport="UDP", branch="z9hG4bK776asdhds").replace(
            "pc33.atlanta.com;", "pc34.atlanta.com:5062;"
        )
    )

    second = receive_invite(layer, other, Peer("UDP", "192.0.2.102", 5062))

    assert first != second
    assert second.host == "pc34.atlanta.com"
    assert second.port == 5062
    assert len(layer) == 2


def test_request_without_magic_cookie_is_matched_by_a_computed_key() -> None:
    # An RFC 2543 element: no branch at all.
    layer = TransactionLayer()
    old_invite = INVITE_TEXT.format(transport="UDP", branch="x").replace(";branch=x", "")
    request = parse_request(old_invite)
    handle = receive_invite(layer, request)
    assert not handle.branch.startswith("z9hG4bK")

    layer.receive_request(parse_request(old_invite), ALICE_UDP, 0.1)
    assert drain(layer) == []  # a retransmission, not a new request

    layer.send_response(handle, make_response(request, 486, to_tag="a6c85cf"), 0.2)
    old_ack = ack("x").headers
    old_ack.set("Via", "SIP/2.0/UDP pc33.atlanta.com")
    ack_request = Request("ACK", request.uri, old_ack)
    layer.receive_request(ack_request, ALICE_UDP, 0.3)

    assert layer.state(handle) is ServerInviteState.CONFIRMED
    assert drain(layer) == []


def test_server_key_of_an_ack_names_the_invite_transaction() -> None:
    assert server_key(ack("z9hG4bK776asdhds")) == server_key(invite())
    assert server_key(cancel(), method="INVITE") == server_key(invite())
    assert server_key(cancel()) != server_key(invite())


def test_ack_matching_no_transaction_is_passed_up() -> None:
    layer = TransactionLayer()
    stray_ack = ack("z9hG4bKnew")

    layer.receive_request(stray_ack, ALICE_UDP, 0.0)

    assert drain(layer) == [AckReceived(stray_ack, ALICE_UDP)]
    assert len(layer) == 0


def test_response_matching_no_transaction_is_stray() -> None:
    layer = TransactionLayer()
    ok = response(invite(), 200)

    layer.receive_response(ok, BOB_UDP, 0.0)

    assert drain(layer) == [StrayResponse(ok, BOB_UDP)]


def test_response_with_another_cseq_method_does_not_match() -> None:
    layer = TransactionLayer()
    layer.send_request(invite(), BOB_UDP, 0.0)
    other = response(cancel(), 200)

    layer.receive_response(other, BOB_UDP, 0.1)

    assert drain(layer) == [StrayResponse(other, BOB_UDP)]


# -- the layer's own rules ----------------------------------------------------------------


def test_send_request_refuses_an_ack() -> None:
    with pytest.raises(LocalProtocolError, match="send_stateless"):
        TransactionLayer().send_request(ack("z9hG4bKabc"), BOB_UDP, 0.0)


def test_send_request_refuses_a_branch_without_magic_cookie() -> None:
    with pytest.raises(LocalProtocolError, match="magic cookie"):
        TransactionLayer().send_request(invite(branch="776asdhds"), BOB_UDP, 0.0)


def test_send_request_refuses_a_second_transaction_with_the_same_key() -> None:
    layer = TransactionLayer()
    layer.send_request(invite(), BOB_UDP, 0.0)
    assert len(layer.outgoing()) == 1
    with pytest.raises(LocalProtocolError, match="already exists"):
        layer.send_request(invite(), BOB_UDP, 0.1)
    # The refused request is not sent: the transactions write to the layer's own queue.
    assert layer.outgoing() == []


def test_send_response_to_a_finished_transaction_is_a_local_error() -> None:
    layer = TransactionLayer()
    request = register("TCP")
    handle = receive_invite(layer, request, ALICE_TCP)
    layer.send_response(handle, make_response(request, 200, to_tag="t"), 0.0)

    with pytest.raises(LocalProtocolError, match="no server transaction"):
        layer.send_response(handle, make_response(request, 200, to_tag="t"), 0.1)


def test_send_stateless_transmits_without_a_transaction() -> None:
    layer = TransactionLayer()
    end_to_end_ack = ack("z9hG4bKnew")

    layer.send_stateless(end_to_end_ack, BOB_UDP)

    assert layer.outgoing() == [(end_to_end_ack, BOB_UDP)]
    assert len(layer) == 0


def test_transport_error_fails_a_client_transaction() -> None:
    layer = TransactionLayer()
    request = invite("TCP")
    handle = layer.send_request(request, BOB_TCP, 0.0)
    [(message, _)] = layer.outgoing()

    layer.transport_error(message, 0.01)

    assert drain(layer) == [TransportFailed(handle), TransactionTerminated(handle)]
    assert len(layer) == 0
    assert layer.get_timer() is None


def test_transport_error_fails_a_server_transaction() -> None:
    layer = TransactionLayer()
    request = invite("TCP")
    handle = receive_invite(layer, request, ALICE_TCP)
    layer.send_response(handle, make_response(request, 486, to_tag="t"), 0.0)
    [(message, _)] = layer.outgoing()

    layer.transport_error(message, 0.01)

    assert drain(layer) == [TransportFailed(handle), TransactionTerminated(handle)]
    assert len(layer) == 0


def test_new_branch_carries_the_magic_cookie_and_is_unique() -> None:
    branches = {new_branch() for _ in range(1000)}
    assert len(branches) == 1000
    assert all(branch.startswith("z9hG4bK") for branch in branches)


def test_received_request_without_via_is_a_remote_error() -> None:
    request = invite()
    request.headers.remove("Via")
    with pytest.raises(RemoteProtocolError):
        TransactionLayer().receive_request(request, ALICE_UDP, 0.0)


def test_get_timer_is_the_earliest_deadline_over_every_transaction() -> None:
    layer = TransactionLayer()
    layer.send_request(register("TCP", new_branch()), BOB_TCP, 5.0)  # Timer F at 37
    assert layer.get_timer() == 37.0
    layer.send_request(invite("UDP", new_branch()), BOB_UDP, 10.0)  # Timer A at 10.5
    assert layer.get_timer() == 10.5
    receive_invite(layer, invite("UDP", new_branch()), now=10.0)  # 100 Trying at 10.2
    assert layer.get_timer() == pytest.approx(10.2)


def test_superseded_deadlines_do_not_pile_up() -> None:
    layer = TransactionLayer()
    requests = [invite("UDP", new_branch()) for _ in range(1000)]
    handles = [receive_invite(layer, request) for request in requests]  # 100 Trying at 0.2
    for handle, request in zip(handles, requests, strict=True):
        layer.send_response(handle, make_response(request, 486, to_tag="t"), 0.1)  # G, H
    for request in requests:
        branch = request.top_via.branch
        assert branch is not None
        layer.receive_request(ack(branch), ALICE_UDP, 0.15)  # Timer I
    layer.outgoing()

    # Three deadlines per transaction were pushed; the heap is rebuilt before
    # superseded entries outnumber the live ones.
    assert len(layer._heap) <= 2 * len(layer._scheduled) + 64
    assert layer.get_timer() == pytest.approx(5.15)
    run_until(layer, 10.0)
    assert len(layer) == 0


def test_tables_are_empty_once_every_timer_has_fired() -> None:
    layer = TransactionLayer()
    now = 0.0
    for index in range(200):
        now = index * 0.01
        layer.send_request(invite("UDP", new_branch()), BOB_UDP, now)
        client = register("UDP", new_branch())
        layer.send_request(client, BOB_UDP, now)
        if index % 2:
            layer.receive_response(response(client, 200), BOB_UDP, now)
        server_invite = invite("UDP", new_branch())
        layer.receive_request(server_invite, ALICE_UDP, now)
        server_register = register("UDP", new_branch())
        layer.receive_request(server_register, ALICE_UDP, now)
        for event in drain(layer):
            if isinstance(event, RequestReceived):
                status = 200 if index % 3 else 486
                answer = make_response(event.request, status, to_tag="t")
                layer.send_response(event.transaction, answer, now)
    assert len(layer) == 800

    run_until(layer, now + 1000.0)

    assert len(layer) == 0
    assert layer.get_timer() is None
    assert layer._scheduled == {}
    assert layer._due == {}
    assert layer._heap == []


def test_a_larger_t1_stretches_the_retransmission_schedule() -> None:
    layer = TransactionLayer(timers=TimerValues(t1=1.0, t2=8.0))
    handle = layer.send_request(invite(), BOB_UDP, 0.0)
    layer.outgoing()

    log = run_until(layer, 1000.0)

    assert times_sent(log) == [1.0, 3.0, 7.0, 15.0, 31.0, 63.0]
    assert events_at(log)[0] == (64.0, TransactionTimedOut(handle))


# -- two layers over a fake link ------------------------------------------------------------


class Link:
    """Carries what one layer transmits to the other, through bytes, losing what it is told to."""

    def __init__(self, alice: TransactionLayer, bob: TransactionLayer) -> None:
        self.alice = alice
        self.bob = bob
        self.drop: set[int] = set()
        self.count = 0

    def pump(self, now: float) -> None:
        moved = True
        while moved:
            moved = False
            for source, target, seen_from in (
                (self.alice, self.bob, ALICE_UDP),
                (self.bob, self.alice, BOB_UDP),
            ):
                for message, _ in source.outgoing():
                    moved = True
                    self.count += 1
                    if self.count in self.drop:
                        continue
                    received = wire(message)
                    if isinstance(received, Request):
                        target.receive_request(received, seen_from, now)
                    else:
                        target.receive_response(received, seen_from, now)

    def run_until(self, end: float) -> None:
        while True:
            deadlines = [t for t in (self.alice.get_timer(), self.bob.get_timer()) if t is not None]
            if not deadlines or min(deadlines) > end:
                return
            now = min(deadlines)
            self.alice.handle_timer(now)
            self.bob.handle_timer(now)
            self.pump(now)


def test_two_layers_complete_a_rejected_call_over_a_lossy_link() -> None:
    alice, bob = TransactionLayer(), TransactionLayer()
    link = Link(alice, bob)
    link.drop = {3}  # Bob's first 486 is lost
    handle = alice.send_request(invite(), BOB_UDP, 0.0)
    link.pump(0.0)  # 1: INVITE

    [received] = drain(bob)
    assert isinstance(received, RequestReceived)
    link.run_until(0.2)  # 2: 100 Trying
    bob.send_response(
        received.transaction, make_response(received.request, 486, to_tag="a6c85cf"), 0.3
    )
    link.pump(0.3)  # 3: 486, lost
    # The 100 Trying stopped Alice's Timer A, so Bob's Timer G recovers:
    link.run_until(0.8)  # 4: 486 again at 0.3 + T1, 5: Alice's ACK

    alice_events = drain(alice)
    assert [type(e) for e in alice_events] == [ResponseReceived, ResponseReceived]
    assert [e.response.status for e in alice_events if isinstance(e, ResponseReceived)] == [
        100,
        486,
    ]
    assert bob.state(received.transaction) is ServerInviteState.CONFIRMED
    assert drain(bob) == []  # the ACK stayed in the transaction layer

    link.run_until(1000.0)
    assert len(alice) == len(bob) == 0
    assert drain(alice) == [TransactionTerminated(handle)]
    assert drain(bob) == [TransactionTerminated(received.transaction)]


def test_two_layers_complete_an_answered_call_whose_ack_is_the_tus() -> None:
    alice, bob = TransactionLayer(), TransactionLayer()
    link = Link(alice, bob)
    request = invite()
    client = alice.send_request(request, BOB_UDP, 0.0)
    link.pump(0.0)
    [received] = drain(bob)
    assert isinstance(received, RequestReceived)
    ok = make_response(received.request, 200, to_tag="a6c85cf")
    bob.send_response(received.transaction, ok, 0.1)
    link.pump(0.1)

    [answered] = drain(alice)
    assert isinstance(answered, ResponseReceived)
    assert answered.response.status == 200
    # Alice's TU acknowledges end to end, in a transaction of its own.
    alice.send_stateless(ack(new_branch()), BOB_UDP)
    link.pump(0.2)
    [acked] = drain(bob)
    assert isinstance(acked, AckReceived)

    link.run_until(1000.0)
    assert drain(alice) == [TransactionTerminated(client)]
    assert drain(bob) == [TransactionTerminated(received.transaction)]
    assert len(alice) == len(bob) == 0


# -- the state tables ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "states"),
    [
        (CLIENT_INVITE_TRANSITIONS, ClientInviteState),
        (CLIENT_NON_INVITE_TRANSITIONS, ClientNonInviteState),
        (SERVER_INVITE_TRANSITIONS, ServerInviteState),
        (SERVER_NON_INVITE_TRANSITIONS, ServerNonInviteState),
    ],
)
def test_every_state_leads_somewhere_and_terminated_leads_nowhere(
    table: Mapping[tuple[Enum, Input], Enum], states: type[Enum]
) -> None:
    sources = {state for state, _ in table}
    targets = set(table.values())
    terminated = states["TERMINATED"]
    assert terminated in targets
    assert terminated not in sources
    assert sources == set(states) - {terminated}


def test_a_timer_input_the_table_does_not_list_is_a_local_error() -> None:
    transaction = ClientInviteTransaction(invite(), BOB_UDP, 0.0)
    with pytest.raises(LocalProtocolError, match=r"Timer D fired is not allowed in state Calling"):
        transaction._fire(Timer.D, 1.0)
