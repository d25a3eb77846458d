"""Typed header values: name-addr, Contact, Via, CSeq, challenges and credentials."""

from __future__ import annotations

import pytest

from ringfort.sip.headers import MAGIC_COOKIE, AuthHeader, Contact, CSeq, NameAddr, Via
from ringfort.sip.message import SipParseError
from ringfort.sip.uri import URI

# --- name-addr (RFC 3261 §20.20, §20.39, §25.1) ---


def test_name_addr_with_quoted_display_name_and_tag() -> None:
    value = NameAddr.parse('"Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423')
    assert value.display_name == "Bell, Alexander"
    assert value.uri == URI.parse("sip:a.g.bell@example.com")
    assert value.tag == "433423"
    assert str(value) == '"Bell, Alexander" <sip:a.g.bell@example.com>;tag=433423'


def test_name_addr_with_token_display_name_and_no_space_before_bracket() -> None:
    # RFC 4475 §3.1.1.6
    value = NameAddr.parse("caller<sip:caller@example.com>;tag=323")
    assert value.display_name == "caller"
    assert value.tag == "323"


def test_name_addr_token_display_name_keeps_its_words() -> None:
    value = NameAddr.parse("A. Bell <sip:a.g.bell@example.com>")
    assert value.display_name == "A. Bell"


def test_bare_addr_spec_parameters_belong_to_the_header() -> None:
    # RFC 3261 §20.10: without brackets, ";" starts header parameters.
    value = NameAddr.parse("sip:+19725552222@gw1.example.net;unknownparam")
    assert value.display_name is None
    assert value.uri.params == {}
    assert value.params == {"unknownparam": None}


def test_bracketed_uri_parameters_belong_to_the_uri() -> None:
    value = NameAddr.parse("<sip:+19725552222@gw1.example.net;unknownparam>")
    assert value.uri.params == {"unknownparam": None}
    assert value.params == {}


def test_quoted_display_name_escapes_are_resolved_and_written_back() -> None:
    value = NameAddr.parse('"J Rosenberg \\\\\\"" <sip:jdrosen@example.com>;tag=98asjd8')
    assert value.display_name == 'J Rosenberg \\"'
    assert str(value) == '"J Rosenberg \\\\\\"" <sip:jdrosen@example.com>;tag=98asjd8'
    assert NameAddr.parse(str(value)) == value


def test_parameters_may_have_white_space_around_separators() -> None:
    value = NameAddr.parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n")
    assert value.tag == "1918181833n"


def test_parameter_names_are_lower_cased_and_quoted_values_kept_quoted() -> None:
    value = NameAddr.parse('<sip:a@b.example>;TAG=x;+sip.instance="<urn:uuid:1234>"')
    assert value.params == {"tag": "x", "+sip.instance": '"<urn:uuid:1234>"'}
    assert NameAddr.parse(str(value)) == value


def test_name_addr_is_always_written_with_brackets() -> None:
    assert str(NameAddr.parse("sip:alice@atlanta.com;tag=1")) == "<sip:alice@atlanta.com>;tag=1"


def test_name_addr_with_unknown_scheme_parses() -> None:
    # RFC 4475 §3.3.4
    assert NameAddr.parse("isbn:2983792873").uri.opaque == "2983792873"
    assert NameAddr.parse("<http://www.example.com>;tag=3234233").uri.scheme == "http"


def test_name_addr_copy_is_independent() -> None:
    value = NameAddr.parse("<sip:alice@atlanta.com>")
    copied = value.copy()
    copied.params["tag"] = "x"
    copied.uri.params["lr"] = None
    assert value.tag is None
    assert value.uri.params == {}


@pytest.mark.parametrize(
    "text",
    [
        '"Mr. J. User <sip:j.user@example.com>',  # RFC 4475 §3.1.2.6 unbalanced quote
        '"Watson, Thomas" < sip:t.watson@example.org >',  # §3.1.2.14 spaces inside <>
        "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",  # §3.1.2.15 comma in a token
        "sip:user@example.com?Route=%3Csip:sip.example.com%3E",  # §3.1.2.13 "?" without <>
        '"Joe" <sip:joe@example.org>;;;;',  # §3.1.2.1 empty parameters
        "<sip:alice@atlanta.com",
        "<>",
        "",
        "<sip:alice@atlanta.com>;tag=",
        "<sip:alice@atlanta.com> junk",
    ],
)
def test_malformed_name_addr_is_rejected(text: str) -> None:
    with pytest.raises(SipParseError):
        NameAddr.parse(text)


# --- Contact (RFC 3261 §20.10) ---


def test_contact_expires_and_q() -> None:
    contact = Contact.parse("<sip:201@192.0.2.10:5060>;expires=3600;q=0.7")
    assert contact.expires == 3600
    assert contact.q == 0.7
    assert contact.uri.port == 5060


def test_contact_without_expires_or_q_gives_none() -> None:
    contact = Contact.parse("<sip:201@192.0.2.10>")
    assert contact.expires is None
    assert contact.q is None


@pytest.mark.parametrize(
    "params", [";expires=soon", ";expires=280297596632815", ";q=2", ";q=0.1234"]
)
def test_malformed_contact_expires_or_q_raises_on_access(params: str) -> None:
    contact = Contact.parse(f"<sip:201@192.0.2.10>{params}")
    with pytest.raises(SipParseError):
        _ = contact.expires, contact.q


def test_contact_copy_stays_a_contact() -> None:
    copied = Contact.parse("<sip:201@192.0.2.10>;expires=60").copy()
    assert isinstance(copied, Contact)
    assert copied.expires == 60


# --- Via (RFC 3261 §20.42, RFC 3581) ---


def test_via_components() -> None:
    via = Via.parse("SIP/2.0/udp 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport;received=192.0.2.1")
    assert via.protocol == "SIP/2.0"
    assert via.transport == "UDP"
    assert via.host == "192.0.2.10"
    assert via.port == 5060
    assert via.branch == "z9hG4bK776asdhds"
    assert via.received == "192.0.2.1"
    assert via.has_rport
    assert via.rport is None
    assert via.sent_by == "192.0.2.10:5060"


def test_via_rport_with_value() -> None:
    via = Via.parse("SIP/2.0/UDP 10.0.0.1;rport=5061;branch=z9hG4bKa")
    assert via.rport == 5061
    assert via.has_rport


def test_via_without_rport() -> None:
    via = Via.parse("SIP/2.0/TCP host.example.com;branch=z9hG4bKa")
    assert not via.has_rport
    assert via.rport is None
    assert via.port is None


def test_via_allows_white_space_around_slashes_and_colon() -> None:
    # RFC 4475 §3.1.1.1
    via = Via.parse("SIP  / 2.0  / TCP     spindle.example.com : 5070  ;  branch  =   z9hG4bK9ikj8")
    assert via.transport == "TCP"
    assert via.host == "spindle.example.com"
    assert via.port == 5070
    assert via.branch == "z9hG4bK9ikj8"
    assert str(via) == "SIP/2.0/TCP spindle.example.com:5070;branch=z9hG4bK9ikj8"


def test_via_ipv6_sent_by() -> None:
    via = Via.parse("SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bKas3-111")
    assert via.host == "2001:db8::9:1"
    assert str(via) == "SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bKas3-111"


def test_via_written_back_parses_equal() -> None:
    via = Via.parse("SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;received=192.0.2.1")
    assert Via.parse(str(via)) == via


def test_via_with_bare_magic_cookie_branch_parses_as_a_value() -> None:
    # Rejecting it is a message-level rule for requests (RFC 4475 §3.2.1).
    assert Via.parse(f"SIP/2.0/UDP 192.0.2.1;branch={MAGIC_COOKIE}").branch == MAGIC_COOKIE


@pytest.mark.parametrize(
    "text",
    [
        "SIP/2.0/UDP 192.0.2.15;;",  # RFC 4475 §3.1.2.1
        "SIP/2.0/UDP",
        "SIP/2.0 192.0.2.15",
        "SIP/2.0/UDP 192.0.2.15:70000",
        "SIP/2.0/UDP 192.0.2.15;branch",
        "SIP/2.0/UDP [fe80::zz]",
        "SIP/2.0/UDP host;branch=a b",
    ],
)
def test_malformed_via_is_rejected(text: str) -> None:
    with pytest.raises(SipParseError):
        Via.parse(text)


# --- CSeq (RFC 3261 §20.16) ---


def test_cseq_parses_and_writes() -> None:
    cseq = CSeq.parse("0009   INVITE")
    assert cseq == CSeq(9, "INVITE")
    assert str(cseq) == "9 INVITE"


@pytest.mark.parametrize(
    "text",
    ["INVITE", "1", "-1 INVITE", "2147483648 INVITE", "36893488147419103232 REGISTER", "1 IN VITE"],
)
def test_malformed_cseq_is_rejected(text: str) -> None:
    with pytest.raises(SipParseError):
        CSeq.parse(text)


def test_largest_cseq_is_accepted() -> None:
    assert CSeq.parse("2147483647 BYE").number == 2**31 - 1


# --- challenges and credentials (RFC 3261 §20.27, §20.44, RFC 7616) ---


def test_challenge_parameters_are_unquoted_and_lower_cased() -> None:
    header = AuthHeader.parse(
        'Digest Realm="atlanta.com", nonce="84a4cc6f3082121f32b42a2187831a9e", '
        'qop="auth,auth-int", algorithm=MD5, stale=FALSE'
    )
    assert header.scheme == "Digest"
    assert header.params == {
        "realm": "atlanta.com",
        "nonce": "84a4cc6f3082121f32b42a2187831a9e",
        "qop": "auth,auth-int",
        "algorithm": "MD5",
        "stale": "FALSE",
    }


def test_challenge_is_written_with_the_quoting_phones_accept() -> None:
    header = AuthHeader(
        "Digest", {"realm": "pbx", "nonce": "abc", "qop": "auth,auth-int", "algorithm": "MD5"}
    )
    assert str(header) == 'Digest realm="pbx", nonce="abc", qop="auth,auth-int", algorithm=MD5'


def test_credentials_leave_nc_and_single_qop_bare() -> None:
    header = AuthHeader(
        "Digest",
        {"username": "201", "uri": "sip:pbx", "qop": "auth", "nc": "00000001", "cnonce": "x"},
    )
    assert str(header) == 'Digest username="201", uri="sip:pbx", qop=auth, nc=00000001, cnonce="x"'
    assert AuthHeader.parse(str(header)) == header


def test_quoted_values_with_commas_and_escapes_survive_a_round_trip() -> None:
    header = AuthHeader.parse('Digest realm="a, \\"b\\"", nonce="n"')
    assert header.params["realm"] == 'a, "b"'
    assert AuthHeader.parse(str(header)) == header


def test_credentials_without_spaces_after_commas_parse() -> None:
    header = AuthHeader.parse('Digest username="201",realm="pbx",nc=00000001,uri=sip:pbx')
    assert header.params == {"username": "201", "realm": "pbx", "nc": "00000001", "uri": "sip:pbx"}


def test_unknown_scheme_parameters_parse() -> None:
    # RFC 4475 §3.3.7
    header = AuthHeader.parse("NoOneKnowsThisScheme opaque-data=here")
    assert header.scheme == "NoOneKnowsThisScheme"
    assert header.params == {"opaque-data": "here"}


def test_token68_credentials_are_kept_whole() -> None:
    header = AuthHeader.parse("Basic dXNlcjpwYXNz==")
    assert header.token68 == "dXNlcjpwYXNz=="
    assert header.params == {}
    assert str(header) == "Basic dXNlcjpwYXNz=="


@pytest.mark.parametrize(
    "text", ["", 'Digest realm="unterminated', "Digest realm=a,,nonce=b", "Digest =x"]
)
def test_malformed_authentication_header_is_rejected(text: str) -> None:
    with pytest.raises(SipParseError):
        AuthHeader.parse(text)
