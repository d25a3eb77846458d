"""Messages: header storage, parsing, serialisation and building responses."""

from __future__ import annotations

import pytest

from ringfort.errors import LocalProtocolError
from ringfort.sip.headers import CSeq
from ringfort.sip.message import (
    Headers,
    Request,
    Response,
    SipParseError,
    error_response,
    make_response,
    parse_message,
)
from ringfort.sip.uri import URI

REGISTER = (
    b"REGISTER sip:pbx.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"Contact: <sip:201@192.0.2.10:5060;rinstance=7d1f>;expires=3600\r\n"
    b"To: <sip:201@pbx.example.com>\r\n"
    b'From: "Desk 201" <sip:201@pbx.example.com>;tag=8a7b6c5d\r\n'
    b"Call-ID: NzY4ZjE2YmQ5YjE0MjRk\r\n"
    b"CSeq: 2 REGISTER\r\n"
    b"Expires: 3600\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n"
    b'Authorization: Digest username="201",realm="pbx",nonce="5f1c",uri="sip:pbx",'
    b'response="0123",nc=00000001,qop=auth,algorithm=MD5\r\n'
    b"Content-Length: 0\r\n"
    b"\r\n"
)

INVITE_HEAD = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
    b"Content-Type: application/sdp\r\n"
)


def request(extra: bytes = b"", body: bytes = b"", *, length: bool = True) -> bytes:
    head = INVITE_HEAD + extra
    if length:
        head += b"Content-Length: %d\r\n" % len(body)
    return head + b"\r\n" + body


def parse_request(data: bytes) -> Request:
    message = parse_message(data)
    assert isinstance(message, Request)
    return message


# --- Headers ---


def test_names_are_canonicalised_and_lookups_ignore_case() -> None:
    headers = Headers([("call-id", "a"), ("www-authenticate", "Digest x=y"), ("cseq", "1 A")])
    assert list(headers) == [("Call-ID", "a"), ("WWW-Authenticate", "Digest x=y"), ("CSeq", "1 A")]
    assert headers.get("CALL-ID") == "a"
    assert headers.get("i") == "a"
    assert "Www-Authenticate" in headers


def test_unknown_names_keep_their_case_and_are_found_in_any_case() -> None:
    headers = Headers([("X-Custom-Thing", "1")])
    assert list(headers) == [("X-Custom-Thing", "1")]
    assert headers.get("x-custom-thing") == "1"


def test_get_gives_the_first_line_and_none_when_absent() -> None:
    headers = Headers([("Route", "<sip:a>"), ("Route", "<sip:b>")])
    assert headers.get("Route") == "<sip:a>"
    assert headers.get("Record-Route") is None


def test_get_all_splits_list_headers_respecting_quotes_and_brackets() -> None:
    headers = Headers(
        [
            ("Contact", '"Smith, J" <sip:a@b;x=1,2>, <sip:c@d>'),
            ("Contact", "<sip:e@f>"),
            ("Allow", "INVITE, ACK,BYE"),
        ]
    )
    assert headers.get_all("m") == ['"Smith, J" <sip:a@b;x=1,2>', "<sip:c@d>", "<sip:e@f>"]
    assert headers.get_all("Allow") == ["INVITE", "ACK", "BYE"]


def test_get_all_does_not_split_authentication_or_date_headers() -> None:
    challenge = 'Digest realm="a", nonce="b", qop="auth,auth-int"'
    date = "Sat, 13 Nov 2010 23:29:00 GMT"
    headers = Headers([("WWW-Authenticate", challenge), ("Date", date)])
    assert headers.get_all("WWW-Authenticate") == [challenge]
    assert headers.get_all("Date") == [date]


def test_add_prepend_set_and_remove() -> None:
    headers = Headers([("Via", "SIP/2.0/UDP a"), ("To", "<sip:x@y>"), ("Via", "SIP/2.0/UDP b")])
    headers.prepend("Via", "SIP/2.0/UDP first")
    assert headers.get_all("Via") == ["SIP/2.0/UDP first", "SIP/2.0/UDP a", "SIP/2.0/UDP b"]
    headers.prepend("Route", "<sip:r>")
    assert next(iter(headers)) == ("Route", "<sip:r>")
    headers.set("Via", "SIP/2.0/UDP only")
    assert headers.get_all("Via") == ["SIP/2.0/UDP only"]
    assert list(headers)[1] == ("Via", "SIP/2.0/UDP only")
    headers.set("Expires", "60")
    assert list(headers)[-1] == ("Expires", "60")
    headers.remove("via")
    assert "Via" not in headers
    assert len(headers) == 3
    headers.remove("Nothing-Here")


def test_remove_first_pops_one_list_element() -> None:
    headers = Headers([("Via", "SIP/2.0/UDP a, SIP/2.0/UDP b"), ("Via", "SIP/2.0/UDP c")])
    headers.remove_first("Via")
    assert headers.get_all("Via") == ["SIP/2.0/UDP b", "SIP/2.0/UDP c"]
    headers.remove_first("Via")
    assert headers.get_all("Via") == ["SIP/2.0/UDP c"]


def test_copy_is_independent() -> None:
    headers = Headers([("To", "<sip:x@y>")])
    copied = headers.copy()
    copied.add("From", "<sip:z@y>")
    assert len(headers) == 1
    assert copied != headers


@pytest.mark.parametrize(
    ("name", "value"), [("Bad Name", "x"), ("", "x"), ("X", "a\r\nVia: b"), ("X", "a\nb")]
)
def test_headers_refuse_bad_names_and_line_breaks(name: str, value: str) -> None:
    with pytest.raises(LocalProtocolError):
        Headers().add(name, value)


# --- parsing ---


def test_register_parses_with_typed_accessors() -> None:
    message = parse_request(REGISTER)
    assert message.method == "REGISTER"
    assert message.uri == URI.parse("sip:pbx.example.com")
    assert message.top_via.branch == "z9hG4bK-524287-1"
    assert message.top_via.has_rport
    assert message.from_.display_name == "Desk 201"
    assert message.from_.tag == "8a7b6c5d"
    assert message.to.tag is None
    assert message.call_id == "NzY4ZjE2YmQ5YjE0MjRk"
    assert message.cseq == CSeq(2, "REGISTER")
    assert [contact.expires for contact in message.contacts] == [3600]
    assert message.max_forwards == 70
    assert message.expires == 3600
    assert message.body == b""
    assert message.headers.get(
        "Authorization",
    ).startswith("Digest username")  # type: ignore[union-attr]


def test_content_length_is_framing_and_not_kept_in_headers() -> None:
    message = parse_request(REGISTER)
    assert "Content-Length" not in message.headers


def test_compact_forms_are_expanded() -> None:
    data = (
        b"INVITE sip:bob@b.example SIP/2.0\r\n"
        b"v: SIP/2.0/UDP a.example;branch=z9hG4bKx\r\n"
        b"f: <sip:a@a.example>;tag=1\r\n"
        b"t: <sip:bob@b.example>\r\n"
        b"i: abc@a.example\r\n"
        b"CSeq: 1 INVITE\r\n"
        b"m: <sip:a@192.0.2.1>\r\n"
        b"c: application/sdp\r\n"
        b"k: 100rel\r\n"
        b"s: hello\r\n"
        b"e: gzip\r\n"
        b"o: presence\r\n"
        b"u: dialog\r\n"
        b"r: <sip:c@c.example>\r\n"
        b"b: <sip:d@d.example>\r\n"
        b"x: 1800\r\n"
        b"y: abc\r\n"
        b"a: *;audio\r\n"
        b"j: *;video\r\n"
        b"d: proxy\r\n"
        b"l: 3\r\n"
        b"\r\n"
        b"abc"
    )
    message = parse_request(data)
    names = [name for name, _ in message.headers]
    assert names == [
        "Via",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "Content-Type",
        "Supported",
        "Subject",
        "Content-Encoding",
        "Event",
        "Allow-Events",
        "Refer-To",
        "Referred-By",
        "Session-Expires",
        "Identity",
        "Accept-Contact",
        "Reject-Contact",
        "Request-Disposition",
    ]
    assert message.content_type == "application/sdp"
    assert message.body == b"abc"


def test_folded_lines_are_joined_with_one_space() -> None:
    data = request(b"Subject: first part\r\n \t second part\r\nX-Long:\r\n  value\r\n")
    message = parse_request(data)
    assert message.headers.get("Subject") == "first part second part"
    assert message.headers.get("X-Long") == "value"


def test_white_space_before_the_colon_is_allowed() -> None:
    message = parse_request(request(b"Subject   : hi\r\n"))
    assert message.headers.get("Subject") == "hi"


def test_multiple_via_lines_and_comma_lists_are_read_in_order() -> None:
    data = request(
        b"Via: SIP/2.0/TCP b.example;branch=z9hG4bK2, SIP/2.0/TLS c.example;branch=z9hG4bK3\r\n"
    )
    vias = parse_request(data).vias
    assert [(via.transport, via.host) for via in vias] == [
        ("UDP", "pc33.atlanta.example.com"),
        ("TCP", "b.example"),
        ("TLS", "c.example"),
    ]


def test_routes_and_record_routes() -> None:
    data = request(
        b"Route: <sip:p1.example;lr>, <sip:p2.example;lr>\r\nRecord-Route: <sip:p3.example;lr>\r\n"
    )
    message = parse_request(data)
    assert [str(route.uri) for route in message.routes] == [
        "sip:p1.example;lr",
        "sip:p2.example;lr",
    ]
    assert [str(route.uri) for route in message.record_routes] == ["sip:p3.example;lr"]


def test_contact_star() -> None:
    data = REGISTER.replace(
        b"Contact: <sip:201@192.0.2.10:5060;rinstance=7d1f>;expires=3600", b"Contact: *"
    )
    message = parse_request(data.replace(b"Expires: 3600", b"Expires: 0"))
    assert message.contact_star
    assert message.contacts == []


def test_quoted_display_name_with_comma_in_contact_list() -> None:
    data = request(b'Contact: "Smith, John" <sip:j@192.0.2.2>;q=0.5\r\n')
    contacts = parse_request(data).contacts
    assert [c.display_name for c in contacts] == [None, "Smith, John"]
    assert contacts[1].q == 0.5


def test_accessors_return_fresh_objects() -> None:
    message = parse_request(REGISTER)
    via = message.top_via
    via.params["received"] = "203.0.113.9"
    to = message.to
    to.params["tag"] = "changed"
    assert message.top_via.received is None
    assert message.to.tag is None


def test_tags_and_top_via_are_read_without_copies_that_could_leak_changes() -> None:
    message = parse_request(REGISTER)
    assert message.from_tag == "8a7b6c5d"
    assert message.to_tag is None
    assert message.peek_top_via() == message.top_via
    assert message.peek_top_via() is message.peek_top_via()
    assert message.top_via is not message.peek_top_via()
    message.headers.set("To", "<sip:201@pbx.example.com>;tag=abc")
    assert message.to_tag == "abc"


def test_changing_one_header_keeps_the_parsed_values_of_the_others() -> None:
    message = parse_request(REGISTER)
    via = message.peek_top_via()
    message.headers.set("Server", "Ringfort")
    message.headers.add("Record-Route", "<sip:p.example;lr>")
    assert message.peek_top_via() is via
    message.headers.prepend("Via", "SIP/2.0/TCP proxy.example;branch=z9hG4bKp")
    assert message.peek_top_via().host == "proxy.example"
    copied = Request(message.method, message.uri, message.headers.copy())
    assert copied.peek_top_via() is message.peek_top_via()
    copied.headers.remove_first("Via")
    assert message.peek_top_via().host == "proxy.example"
    assert copied.peek_top_via().host == "192.0.2.10"


def test_accessors_follow_header_changes() -> None:
    message = parse_request(REGISTER)
    assert message.to.tag is None
    message.headers.set("To", "<sip:201@pbx.example.com>;tag=abc")
    assert message.to.tag == "abc"
    message.headers.prepend("Via", "SIP/2.0/TCP proxy.example;branch=z9hG4bKp")
    assert message.top_via.host == "proxy.example"


def test_malformed_header_raises_on_access() -> None:
    message = parse_request(REGISTER)
    message.headers.set("Max-Forwards", "many")
    message.headers.set("Expires", "soon")
    with pytest.raises(SipParseError):
        _ = message.max_forwards
    with pytest.raises(SipParseError):
        _ = message.expires


def test_missing_optional_headers_give_none() -> None:
    message = parse_request(request())
    assert message.expires is None
    assert message.routes == []
    message.headers.remove("Max-Forwards")
    assert message.max_forwards is None


def test_response_parses() -> None:
    data = (
        b"SIP/2.0 180 Ringing\r\n"
        b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;received=192.0.2.1\r\n"
        b"To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n"
        b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
        b"Call-ID: a84b4c76e66710\r\n"
        b"CSeq: 314159 INVITE\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    message = parse_message(data)
    assert isinstance(message, Response)
    assert message.status == 180
    assert message.reason == "Ringing"
    assert message.to.tag == "a6c85cf"


def test_body_is_cut_at_content_length_and_extra_bytes_are_dropped() -> None:
    message = parse_request(request(body=b"v=0\r\n") + b"garbage")
    assert message.body == b"v=0\r\n"


def test_datagram_without_content_length_takes_the_rest_as_body() -> None:
    message = parse_request(request(body=b"v=0\r\n", length=False))
    assert message.body == b"v=0\r\n"


def test_leading_crlf_before_the_start_line_is_ignored() -> None:
    assert parse_request(b"\r\n\r\n" + REGISTER).method == "REGISTER"


def test_unknown_method_parses() -> None:
    data = request().replace(b"INVITE", b"PUBLISH")
    assert parse_request(data).method == "PUBLISH"


def test_max_forwards_missing_is_tolerated() -> None:
    message = parse_request(REGISTER.replace(b"Max-Forwards: 70\r\n", b""))
    assert message.max_forwards is None


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (REGISTER.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), 505),
        (
            REGISTER.replace(
                b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1;rport\r\n", b""
            ),
            400,
        ),
        (REGISTER.replace(b"Call-ID: NzY4ZjE2YmQ5YjE0MjRk\r\n", b""), 400),
        (REGISTER.replace(b"CSeq: 2 REGISTER", b"CSeq: 2 INVITE"), 400),
        (REGISTER.replace(b"CSeq: 2 REGISTER", b"CSeq: 2147483648 REGISTER"), 400),
        (REGISTER.replace(b"Max-Forwards: 70", b"Max-Forwards: 256"), 400),
        (REGISTER.replace(b"Max-Forwards: 70", b"Max-Forwards: x"), 400),
        (REGISTER.replace(b"Content-Length: 0", b"Content-Length: 10"), 400),
        (REGISTER.replace(b"Content-Length: 0", b"Content-Length: -1"), 400),
        (REGISTER.replace(b"Content-Length: 0", b"Content-Length: 0\r\nContent-Length: 1"), 400),
        (
            REGISTER.replace(
                b"To: <sip:201@pbx.example.com>", b"To: <sip:201@pbx.example.com>\r\nTo: <sip:x@y>"
            ),
            400,
        ),
        (REGISTER.replace(b"Expires: 3600", b"Date: Fri, 01 Jan 2010 16:00:00 EST"), 400),
        (REGISTER.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards 70\r\n"), 400),
        (REGISTER.replace(b"Max-Forwards: 70\r\n", b"Max Forwards: 70\r\n"), 400),
        (REGISTER.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\nX: y\r\n"), 400),
        (REGISTER.replace(b"\r\n\r\n", b"\r\n"), 400),
        (b"REGISTER sip:pbx.example.com\r\n\r\n", 400),
        (b"\r\n\r\n", 400),
        (b"", 400),
        (b"SIP/2.0 99 Low\r\n\r\n", 400),
        (b"SIP/2.0 700 High\r\n\r\n", 400),
    ],
)
def test_invalid_messages_are_rejected_with_a_status(data: bytes, status: int) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    assert caught.value.status == status


def test_oversized_message_is_rejected_with_513() -> None:
    with pytest.raises(SipParseError) as caught:
        parse_message(REGISTER, max_size=100)
    assert caught.value.status == 513


def test_identical_repeated_single_headers_are_tolerated() -> None:
    data = REGISTER.replace(b"CSeq: 2 REGISTER\r\n", b"CSeq: 2 REGISTER\r\nCSeq: 2 REGISTER\r\n")
    assert parse_request(data).cseq.number == 2


def test_header_values_keep_non_ascii_text_and_invalid_utf8() -> None:
    data = request(
        b"Subject: \xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\r\nX-Raw: \xff\xfe\r\n"
    )
    message = parse_request(data)
    assert message.headers.get("Subject") == "привет"
    assert parse_message(bytes(message)) == message
    assert b"X-Raw: \xff\xfe\r\n" in bytes(message)


# --- serialisation ---


def test_serialise_writes_start_line_headers_and_recomputed_content_length() -> None:
    message = Request("OPTIONS", URI.parse("sip:bob@biloxi.example.com"))
    message.headers.add("Via", "SIP/2.0/UDP a.example;branch=z9hG4bKx")
    message.headers.add("Content-Length", "999")
    message.body = b"hello"
    assert bytes(message) == (
        b"OPTIONS sip:bob@biloxi.example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP a.example;branch=z9hG4bKx\r\n"
        b"Content-Length: 5\r\n"
        b"\r\n"
        b"hello"
    )
    assert message.serialize() == bytes(message)


def test_parse_of_serialised_message_is_equal() -> None:
    original = parse_request(request(b"Subject: x\r\n  folded\r\n", b"v=0\r\n"))
    again = parse_message(bytes(original))
    assert again == original
    assert bytes(again) == bytes(original)


def test_response_default_reason_phrases() -> None:
    assert Response(200).reason == "OK"
    assert Response(486).reason == "Busy Here"
    assert Response(499).reason == "Client Error"
    assert Response(200, "Fine").reason == "Fine"
    assert bytes(Response(100)).startswith(b"SIP/2.0 100 Trying\r\n")


def test_messages_compare_by_content() -> None:
    assert parse_message(REGISTER) == parse_message(REGISTER)
    assert parse_message(REGISTER) != parse_message(request())
    assert Response(200) != Response(404)


# --- building responses ---


def test_make_response_copies_the_dialog_headers_in_order() -> None:
    invite = parse_request(
        request(b"Via: SIP/2.0/UDP second.example;branch=z9hG4bK2\r\nTimestamp: 54\r\n")
    )
    response = make_response(invite, 180, to_tag="a6c85cf")
    assert response.status == 180
    assert response.reason == "Ringing"
    assert [name for name, _ in response.headers] == ["Via", "To", "From", "Call-ID", "CSeq", "Via"]
    assert response.to.tag == "a6c85cf"
    assert response.from_ == invite.from_
    assert response.cseq == invite.cseq
    assert [via.host for via in response.vias] == [via.host for via in invite.vias]
    assert parse_message(bytes(response)) == response


def test_make_response_shares_what_the_request_parsed_and_reads_as_its_text() -> None:
    invite = parse_request(request(b"Via: SIP/2.0/UDP second.example;branch=z9hG4bK2\r\n"))
    response = make_response(invite, 180, to_tag="a6c85cf")
    response.headers.set("Server", "Ringfort")
    assert response.peek_top_via() is invite.peek_top_via()
    reparsed = parse_message(bytes(response))
    assert reparsed.to == response.to
    assert reparsed.to.tag == "a6c85cf"
    assert reparsed.from_ == response.from_
    assert reparsed.vias == response.vias
    assert reparsed.cseq == response.cseq
    # The request's own To has no tag still: the response's tag was added to a copy.
    assert invite.to_tag is None


def test_make_response_keeps_an_existing_to_tag() -> None:
    invite = parse_request(
        request().replace(b"To: Bob <sip:bob@biloxi.example.com>", b"To: <sip:b@b>;tag=x")
    )
    assert make_response(invite, 200, to_tag="y").to.tag == "x"


def test_hundred_trying_copies_timestamp() -> None:
    invite = parse_request(request(b"Timestamp: 54\r\n"))
    assert make_response(invite, 100).headers.get("Timestamp") == "54"
    assert make_response(invite, 180).headers.get("Timestamp") is None


def test_error_response_answers_a_malformed_request() -> None:
    data = REGISTER.replace(b"CSeq: 2 REGISTER", b"CSeq: 2 INVITE")
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    response = error_response(data, caught.value, to_tag="t1")
    assert response is not None
    assert response.status == 400
    assert response.to.tag == "t1"
    assert response.call_id == "NzY4ZjE2YmQ5YjE0MjRk"
    assert response.top_via.branch == "z9hG4bK-524287-1"
    assert parse_message(bytes(response)) == response


def test_error_response_gives_505_for_an_unsupported_version() -> None:
    data = REGISTER.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1)
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    response = error_response(data, caught.value)
    assert response is not None
    assert response.status == 505


@pytest.mark.parametrize(
    "data",
    [
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKx\r\nCSeq: 1 INVITE\r\n\r\n",
        b"\x00\x01garbage",
        b"",
        REGISTER.replace(
            b"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1;rport\r\n", b""
        ),
        REGISTER.replace(b"CSeq: 2 REGISTER\r\n", b""),
        REGISTER.replace(b"Via: SIP/2.0/UDP 192.0.2.10:5060", b"Via: nonsense"),
    ],
)
def test_error_response_drops_responses_garbage_and_unroutable_requests(data: bytes) -> None:
    assert error_response(data, SipParseError("bad")) is None


def test_replace_top_via_rewrites_only_the_top_and_keeps_the_rest() -> None:
    data = (
        b"OPTIONS sip:carol@chicago.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKtop;rport, "
        b"SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKnext\r\n"
        b"Max-Forwards: 70\r\n"
        b"To: <sip:carol@chicago.com>\r\n"
        b"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
        b"Call-ID: a84b4c76e66710\r\n"
        b"CSeq: 63104 OPTIONS\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    message = parse_message(data)
    assert isinstance(message, Request)
    via = message.top_via
    via.params["rport"] = "40000"
    via.params["received"] = "192.0.2.7"
    message.replace_top_via(via)

    assert [v.branch for v in message.vias] == ["z9hG4bKtop", "z9hG4bKnext"]
    assert message.top_via.rport == 40000
    assert message.top_via.received == "192.0.2.7"
    assert message.from_.tag == "1928301774"
    reparsed = parse_message(bytes(message))
    assert reparsed == message
    assert reparsed.top_via.received == "192.0.2.7"
    assert [v.host for v in reparsed.vias] == ["10.0.0.1", "10.0.0.2"]


_DIALOG_REQUEST = (
    "BYE sip:102@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-{n}\r\n"
    'From: "Alice" <sip:101@127.0.0.1>;tag=a1\r\n'
    "To: <sip:102@127.0.0.1>;tag=b2\r\n"
    "Call-ID: dialog-1\r\n"
    "CSeq: {n} BYE\r\n"
    "Contact: <sip:101@127.0.0.1:5070>\r\n"
    "Content-Length: 0\r\n\r\n"
)


def test_messages_of_a_dialog_share_parsed_headers_and_stay_independent() -> None:
    first = parse_message(_DIALOG_REQUEST.format(n=1).encode())
    second = parse_message(_DIALOG_REQUEST.format(n=2).encode())
    assert first.from_ == second.from_
    assert first.from_.display_name == "Alice"
    assert (first.from_tag, second.to_tag) == ("a1", "b2")
    # What one message hands out is a copy: changing it changes neither message.
    changed = first.from_
    changed.params["tag"] = "zz"
    first.headers.set("To", "<sip:103@127.0.0.1>;tag=c3")
    assert (first.from_tag, second.from_tag) == ("a1", "a1")
    assert (first.to_tag, second.to_tag) == ("c3", "b2")
    assert second.contacts[0].uri.port == 5070
    assert (first.cseq.number, second.cseq.number) == (1, 2)


def test_a_malformed_header_is_refused_each_time_it_comes() -> None:
    bad = _DIALOG_REQUEST.format(n=1).replace("To: <sip:102@127.0.0.1>", "To: <sip:102@>")
    for _ in range(2):
        with pytest.raises(SipParseError):
            parse_message(bad.encode())
