"""URIs: the RFC 3261 §19.1.3 examples, IPv6, parameters, escapes, §19.1.4 comparison."""

from __future__ import annotations

import pytest

from ringfort.sip.uri import URI, SipParseError


@pytest.mark.parametrize(
    "text",
    [
        # RFC 3261 §19.1.3
        "sip:alice@atlanta.com",
        "sip:alice:secretword@atlanta.com;transport=tcp",
        "sips:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:+1-212-555-1212:1234@gateway.com;user=phone",
        "sips:1212@gateway.com",
        "sip:alice@192.0.2.4",
        "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
        "sip:alice;day=tuesday@atlanta.com",
    ],
)
def test_rfc3261_example_uris_parse_and_write_back_unchanged(text: str) -> None:
    uri = URI.parse(text)
    assert str(uri) == text
    assert URI.parse(str(uri)) == uri


def test_sip_uri_components_are_split() -> None:
    uri = URI.parse("sip:alice:secretword@atlanta.com:5070;transport=TCP;lr?subject=x")
    assert uri.scheme == "sip"
    assert uri.user == "alice"
    assert uri.password == "secretword"
    assert uri.host == "atlanta.com"
    assert uri.port == 5070
    assert uri.params == {"transport": "TCP", "lr": None}
    assert uri.headers == {"subject": "x"}
    assert uri.transport == "tcp"
    assert uri.host_port == "atlanta.com:5070"


def test_scheme_host_and_parameter_names_are_lower_cased_user_is_not() -> None:
    uri = URI.parse("SIP:ALICE@AtLanTa.CoM;Transport=UDP")
    assert uri.scheme == "sip"
    assert uri.user == "ALICE"
    assert uri.host == "atlanta.com"
    assert uri.params == {"transport": "UDP"}


def test_transport_defaults_to_udp() -> None:
    assert URI.parse("sip:bob@biloxi.com").transport == "udp"


def test_ipv6_host_is_held_without_brackets_and_written_with_them() -> None:
    uri = URI.parse("sip:[2001:DB8::10]:5070;transport=tcp")
    assert uri.host == "2001:db8::10"
    assert uri.port == 5070
    assert uri.host_port == "[2001:db8::10]:5070"
    assert str(uri) == "sip:[2001:db8::10]:5070;transport=tcp"


def test_ipv6_host_without_port() -> None:
    uri = URI.parse("sips:alice@[::1]")
    assert uri.host == "::1"
    assert uri.host_port == "[::1]"


def test_user_part_keeps_escapes_and_offers_the_unescaped_value() -> None:
    uri = URI.parse("sip:%61lice%20smith@atlanta.com")
    assert uri.user == "%61lice%20smith"
    assert uri.unescaped_user == "alice smith"
    assert str(uri) == "sip:%61lice%20smith@atlanta.com"


def test_user_part_may_hold_semicolons_before_the_at_sign() -> None:
    # RFC 4475 §3.1.1.9: the ";" belongs to the user part, not to the parameters.
    uri = URI.parse("sip:user;par=u%40example.net@example.com")
    assert uri.user == "user;par=u%40example.net"
    assert uri.host == "example.com"
    assert uri.params == {}


def test_tel_uri_keeps_number_and_parameters() -> None:
    uri = URI.parse("tel:+1-201-555-0123;phone-context=example.com")
    assert uri.scheme == "tel"
    assert uri.user == "+1-201-555-0123"
    assert uri.params == {"phone-context": "example.com"}
    assert str(uri) == "tel:+1-201-555-0123;phone-context=example.com"


def test_unknown_scheme_is_held_opaque() -> None:
    uri = URI.parse("nobodyKnowsThisScheme:totallyopaquecontent")
    assert uri.scheme == "nobodyknowsthisscheme"
    assert uri.opaque == "totallyopaquecontent"
    assert str(uri) == "nobodyknowsthisscheme:totallyopaquecontent"
    assert not uri.is_sip


def test_copy_is_independent() -> None:
    uri = URI.parse("sip:alice@atlanta.com;lr")
    copied = uri.copy()
    copied.params["maddr"] = "192.0.2.1"
    assert "maddr" not in uri.params
    assert copied != uri


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sip:",
        "sip:alice@",
        "<sip:alice@atlanta.com>",
        "sip:alice@atlanta.com:99999",
        "sip:alice@atlanta.com;=x",
        "sip:alice@atlanta.com;lr=",
        "sip:alice@atlanta.com?noequals",
        "sip:alice @atlanta.com",
        "sip:[::zz]",
        "sip:[1:2:3",
        "sip:alice@atl anta.com",
        "1sip:alice@atlanta.com",
        "mailto:",
        'http:"quoted"',
    ],
)
def test_malformed_uris_are_rejected(text: str) -> None:
    with pytest.raises(SipParseError) as caught:
        URI.parse(text)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("left", "right"),
    [
        # RFC 3261 §19.1.4: equivalent URIs
        ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
        ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
        (
            "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
            "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
        ),
        (
            "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
            "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
        ),
    ],
)
def test_rfc3261_equivalent_uris_compare_equivalent(left: str, right: str) -> None:
    assert URI.parse(left).equivalent(URI.parse(right))
    assert URI.parse(right).equivalent(URI.parse(left))


@pytest.mark.parametrize(
    ("left", "right"),
    [
        # RFC 3261 §19.1.4: URIs that are not equivalent
        ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
        ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
        ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
        ("sip:alice@atlanta.com", "sips:alice@atlanta.com"),
        ("sip:alice@atlanta.com", "sip:atlanta.com"),
        ("sip:alice@atlanta.com", "sip:alice@atlanta.com;maddr=192.0.2.1"),
        ("sip:alice@atlanta.com", "sip:alice@atlanta.com;user=phone"),
    ],
)
def test_rfc3261_different_uris_do_not_compare_equivalent(left: str, right: str) -> None:
    assert not URI.parse(left).equivalent(URI.parse(right))
    assert not URI.parse(right).equivalent(URI.parse(left))


def test_escaped_parameter_names_and_values_compare_unescaped() -> None:
    # RFC 4475 §3.1.1.3 writes "lr" and "name=value%41" escaped.
    escaped = URI.parse("sip:caller@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    plain = URI.parse("sip:caller@host5.example.net;lr;name=value%2541")
    assert escaped.equivalent(plain)


def test_opaque_uris_compare_by_text() -> None:
    assert URI.parse("isbn:2983792873").equivalent(URI.parse("ISBN:2983792873"))
    assert not URI.parse("isbn:2983792873").equivalent(URI.parse("isbn:2983792874"))
