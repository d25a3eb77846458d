"""RFC 4475 torture tests: every message, loaded from tests/vectors/rfc4475/ by name.

Section numbers are those of RFC 4475.  Where the vectors' README groups a message
differently (it lists badbranch as invalid syntax and ncl as application-level), the
RFC's own section is what is cited and followed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ringfort.sip.message import (
    Request,
    Response,
    SipParseError,
    error_response,
    parse_message,
)

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "rfc4475"


def load(name: str) -> bytes:
    return (VECTORS / f"{name}.dat").read_bytes()


# §3.1.1: valid messages; each must parse, and parse(serialise(m)) == m.
VALID = [
    "wsinv",  # 3.1.1.1 a short tortuous INVITE
    "intmeth",  # 3.1.1.2 wide range of valid characters
    "esc01",  # 3.1.1.3 valid use of the % escaping mechanism
    "escnull",  # 3.1.1.4 escaped nulls in URIs
    "esc02",  # 3.1.1.5 use of % when it is not an escape
    "lwsdisp",  # 3.1.1.6 no LWS between display name and <
    "longreq",  # 3.1.1.7 long values in header fields
    "dblreq",  # 3.1.1.8 extra trailing octets in a UDP datagram
    "semiuri",  # 3.1.1.9 semicolon-separated parameters in URI user part
    "transports",  # 3.1.1.10 varied and unknown transport types
    "mpart01",  # 3.1.1.11 multipart MIME message
    "unreason",  # 3.1.1.12 unusual reason phrase
    "noreason",  # 3.1.1.13 empty reason phrase
]

# §3.1.2: invalid messages; the parser must reject each with SipParseError, and a
# request is answered (400, or 505 for the version) when a routable answer can be built.
INVALID = [
    ("badinv01", 400),  # 3.1.2.1 extraneous header field separators
    ("clerr", 400),  # 3.1.2.2 Content-Length larger than the message
    ("ncl", 400),  # 3.1.2.3 negative Content-Length
    ("scalar02", 400),  # 3.1.2.4 request scalar fields with overlarge values
    ("scalarlg", None),  # 3.1.2.5 response scalar fields with overlarge values
    ("quotbal", 400),  # 3.1.2.6 unterminated quoted string in display name
    ("ltgtruri", 400),  # 3.1.2.7 <> enclosing Request-URI
    ("lwsruri", 400),  # 3.1.2.8 malformed Request-URI (embedded LWS)
    ("lwsstart", 400),  # 3.1.2.9 multiple SP separating Request-Line elements
    ("trws", 400),  # 3.1.2.10 SP characters at end of Request-Line
    ("escruri", 400),  # 3.1.2.11 escaped headers in Request-URI
    ("baddate", 400),  # 3.1.2.12 invalid time zone in Date
    ("regbadct", 400),  # 3.1.2.13 failure to enclose name-addr URI in <>
    ("badaspec", 400),  # 3.1.2.14 spaces within addr-spec
    ("baddn", 400),  # 3.1.2.15 non-token characters in display name
    ("badvers", 505),  # 3.1.2.16 unknown protocol version
    ("mismatch01", 400),  # 3.1.2.17 start line and CSeq method mismatch
    ("mismatch02", 400),  # 3.1.2.18 unknown method with CSeq method mismatch
    ("bigcode", None),  # 3.1.2.19 overlarge response code
]

# §3.2 (transaction layer), §3.3 (application layer) and §3.4 (backward compatibility).
# Most are well formed and must PARSE, their handling being decided above the parser;
# a few are refused by the parser itself, as the RFC allows or requires.
SEMANTIC_PARSE = [
    "unkscm",  # 3.3.2 unknown Request-URI scheme: parses; the UAS answers 416
    "novelsc",  # 3.3.3 known but atypical scheme: parses; proxies and UASs decide
    "unksm2",  # 3.3.4 unknown schemes in To, From, Contact: parses; registrar refuses
    "bext01",  # 3.3.5 Proxy-Require and Require: parses; the UAS answers 420
    "invut",  # 3.3.6 unknown Content-Type: parses; the UAS answers 415
    "regaut01",  # 3.3.7 unknown authorization scheme: parses; registrar challenges
    "bcast",  # 3.3.10 200 OK with a broadcast Via: parses; transport must not send there
    "zeromf",  # 3.3.11 Max-Forwards of zero: parses; proxies answer 483
    "cparam01",  # 3.3.12 REGISTER with a Contact header parameter: parses
    "cparam02",  # 3.3.13 REGISTER with a url-parameter: parses
    "regescrt",  # 3.3.14 REGISTER with a URL-escaped header in Contact: parses
    "sdp01",  # 3.3.15 unacceptable Accept offering: parses; the UAS answers 406
    "inv2543",  # 3.4.1 INVITE with RFC 2543 syntax: parses (no branch, no tags)
]
SEMANTIC_REJECT = [
    # 3.2.1 missing transaction identifier (branch is the bare magic cookie): the RFC
    # lets an element answer 400 statelessly or fall back to RFC 2543 matching; we answer.
    ("badbranch", 400),
    ("insuf", 400),  # 3.3.1 missing required header fields: 400
    ("multi01", 400),  # 3.3.8 multiple values in single-value required fields: 400
    ("mcl01", 400),  # 3.3.9 multiple Content-Length values: 400
]


def test_every_vector_file_is_covered() -> None:
    covered = (
        set(VALID)
        | {name for name, _ in INVALID}
        | set(SEMANTIC_PARSE)
        | {name for name, _ in SEMANTIC_REJECT}
    )
    on_disk = {path.stem for path in VECTORS.glob("*.dat")}
    assert covered == on_disk


@pytest.mark.parametrize("name", VALID + SEMANTIC_PARSE)
def test_well_formed_vector_parses_and_round_trips(name: str) -> None:
    message = parse_message(load(name))
    wire = bytes(message)
    again = parse_message(wire)
    assert again == message
    assert bytes(again) == wire
    # The typed headers every element relies on are readable.
    assert message.vias
    _ = message.from_, message.to, message.cseq, message.call_id, message.contacts


@pytest.mark.parametrize(("name", "status"), INVALID + SEMANTIC_REJECT)
def test_malformed_vector_is_rejected_and_answered_when_possible(
    name: str, status: int | None
) -> None:
    data = load(name)
    with pytest.raises(SipParseError) as caught:
        parse_message(data)
    response = error_response(data, caught.value, to_tag="x1")
    if status is None:
        # A response cannot be answered; it is dropped.
        assert response is None
        return
    assert response is not None
    assert response.status == status
    assert caught.value.status == status
    # The answer can be routed back (RFC 3261 §18.2.2); the other headers are copied as
    # they came, malformed or missing ones included, for the client to match it.
    assert response.top_via.host
    assert bytes(response).startswith(b"SIP/2.0 %d " % status)


def test_baddn_is_refused_for_its_display_name_too() -> None:
    # The vector file has no empty line after its headers; with it the display name
    # "Bell, Alexander" (a comma outside quotes) is what is refused.
    with pytest.raises(SipParseError, match="name-addr"):
        parse_message(load("baddn") + b"\r\n")


def test_wsinv_values_after_unfolding() -> None:
    message = parse_message(load("wsinv"))
    assert isinstance(message, Request)
    assert message.uri.params == {"unknownparam": None}
    assert message.to.tag == "1918181833n"
    assert message.from_.display_name == 'J Rosenberg \\"'
    assert message.from_.tag == "98asjd8"
    assert message.max_forwards == 68
    assert message.cseq.number == 9
    assert message.headers.get("Subject") == ""
    assert message.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert message.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert [(via.transport, via.host, via.branch) for via in message.vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    (contact,) = message.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert contact.q == 0.33
    assert message.routes[0].uri.params == {
        "lr": None,
        "unknownwith": "value",
        "unknown-no-value": None,
    }
    assert len(message.body) == 150


def test_intmeth_keeps_every_valid_character() -> None:
    message = parse_message(load("intmeth"))
    assert isinstance(message, Request)
    assert message.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert message.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert message.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert message.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert message.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert message.from_.params["fromparam''~+*_!.-%"] == '"работающий"'
    assert message.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert message.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"


def test_esc01_escapes_are_kept_and_compare_unescaped() -> None:
    message = parse_message(load("esc01"))
    assert isinstance(message, Request)
    assert message.uri.user == "sips%3Auser%40example.com"
    assert message.uri.unescaped_user == "sips:user@example.com"
    assert message.to.uri.unescaped_user == "user"
    assert message.from_.uri.unescaped_user == "I have spaces"
    assert message.contacts[0].uri.params == {"%6c%72": None, "n%61me": "v%61lue%25%34%31"}


def test_esc02_escaped_header_name_is_another_header() -> None:
    message = parse_message(load("esc02"))
    assert isinstance(message, Request)
    assert message.method == "RE%47IST%45R"
    assert message.to.display_name == "%Z%45"
    assert len(message.contacts) == 2
    assert message.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_escnull_keeps_escaped_nulls() -> None:
    message = parse_message(load("escnull"))
    assert message.to.uri.unescaped_user == "null-\x00-null"
    assert [c.uri.unescaped_user for c in message.contacts] == ["\x00", "\x00\x00"]


def test_dblreq_takes_only_the_first_message_of_the_datagram() -> None:
    message = parse_message(load("dblreq"))
    assert isinstance(message, Request)
    assert message.method == "REGISTER"
    assert message.body == b""


def test_semiuri_user_part_holds_the_parameters() -> None:
    message = parse_message(load("semiuri"))
    assert isinstance(message, Request)
    assert message.uri.user == "user;par=u%40example.net"
    assert message.uri.host == "example.com"
    assert message.headers.get_all("Accept") == [
        "application/sdp",
        "application/pkcs7-mime",
        "multipart/mixed",
        "multipart/signed",
        "message/sip",
        "message/sipfrag",
    ]


def test_transports_keeps_unknown_transport_names() -> None:
    message = parse_message(load("transports"))
    assert [via.transport for via in message.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def test_mpart01_binary_body_is_kept_exactly() -> None:
    data = load("mpart01")
    message = parse_message(data)
    assert message.body == data[-553:]
    assert message.content_type == "multipart/mixed;boundary=7a9cbec02ceef655"


def test_unreason_and_noreason_reason_phrases() -> None:
    unusual = parse_message(load("unreason"))
    assert isinstance(unusual, Response)
    assert unusual.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"
    empty = parse_message(load("noreason"))
    assert isinstance(empty, Response)
    assert (empty.status, empty.reason) == (100, "")


def test_longreq_keeps_every_via() -> None:
    message = parse_message(load("longreq"))
    assert len(message.vias) == 34
    assert message.to.uri.port == 6000


def test_opaque_and_unknown_schemes_parse() -> None:
    unkscm = parse_message(load("unkscm"))
    assert isinstance(unkscm, Request)
    assert (unkscm.uri.scheme, unkscm.uri.opaque) == (
        "nobodyknowsthisscheme",
        "totallyopaquecontent",
    )
    novelsc = parse_message(load("novelsc"))
    assert isinstance(novelsc, Request)
    assert novelsc.uri.scheme == "soap.beep"
    unksm2 = parse_message(load("unksm2"))
    assert unksm2.to.uri.scheme == "isbn"
    assert unksm2.from_.uri.scheme == "http"
    assert unksm2.contacts[0].uri.scheme == "name"


def test_application_level_vectors_expose_what_the_application_decides_on() -> None:
    assert parse_message(load("bext01")).headers.get_all("Require") == [
        "nothingSupportsThis",
        "nothingSupportsThisEither",
    ]
    assert parse_message(load("zeromf")).max_forwards == 0
    assert parse_message(load("cparam01")).contacts[0].params == {"unknownparam": None}
    assert parse_message(load("cparam02")).contacts[0].uri.params == {"unknownparam": None}
    regescrt = parse_message(load("regescrt")).contacts[0]
    assert regescrt.uri.headers == {"Route": "%3Csip:sip.example.com%3E"}
    assert parse_message(load("bcast")).vias[1].host == "255.255.255.255"
    inv2543 = parse_message(load("inv2543"))
    assert inv2543.top_via.branch is None
    assert inv2543.max_forwards is None
    assert inv2543.body.startswith(b"v=0")
