"""What a REFER's Refer-To names (RFC 3515 §2.1; RFC 3891 for Replaces)."""

from __future__ import annotations

import pytest

from ringfort.pbx.transfer import ReferTo, Replaces, parse_refer_to, parse_replaces


@pytest.mark.parametrize(
    ("refer_to", "number"),
    [
        ("<sip:4402@127.0.0.1>", "4402"),
        ("sip:4402@pbx.example.com;user=phone", "4402"),
        ('"Sales" <sip:%2B4402@127.0.0.1:5060;transport=udp>', "4402"),
        ("<sips:600@pbx.example.com>", "600"),
        ("<tel:+4402>", "4402"),
    ],
)
def test_the_number_of_a_blind_transfer(refer_to: str, number: str) -> None:
    assert parse_refer_to(refer_to) == ReferTo(number)


@pytest.mark.parametrize(
    "refer_to",
    [None, "", "<sip:127.0.0.1>", "<sip:alice@127.0.0.1>", "not a uri at all <"],
)
def test_a_refer_to_that_names_nothing(refer_to: str | None) -> None:
    assert parse_refer_to(refer_to) is None


def test_an_attended_transfer_names_the_call_to_replace() -> None:
    # RFC 5589 §7.1's form: the Replaces value %-escaped in the URI's headers.
    refer_to = parse_refer_to(
        "<sip:4402@127.0.0.1?Replaces=090459243588173445%40host%3Bto-tag%3D7553452"
        "%3Bfrom-tag%3D31431>"
    )
    assert refer_to == ReferTo("4402", Replaces("090459243588173445@host", "7553452", "31431"))


def test_a_call_id_with_an_unescaped_at_sign_is_read_all_the_same() -> None:
    refer_to = parse_refer_to(
        "<sip:4402@10.0.0.1?Replaces=abc@10.0.0.1%3Bto-tag%3D1%3Bfrom-tag%3D2>"
    )
    assert refer_to == ReferTo("4402", Replaces("abc@10.0.0.1", "1", "2"))


def test_an_attended_transfer_needs_no_number() -> None:
    refer_to = parse_refer_to("<sip:bob@example.com?Replaces=abc%3Bfrom-tag%3D2%3Bto-tag%3D1>")
    assert refer_to == ReferTo(None, Replaces("abc", "1", "2"))


@pytest.mark.parametrize(
    "value",
    ["abc;to-tag=1", "abc;from-tag=2", ";to-tag=1;from-tag=2", "abc;to-tag=;from-tag=2", ""],
)
def test_a_replaces_without_its_three_parts_is_refused(value: str) -> None:
    assert parse_replaces(value) is None
    # ... and so is the Refer-To carrying it, rather than falling back to a blind transfer.
    assert parse_refer_to(f"<sip:4402@h?Replaces={value.replace(';', '%3B')}>") is None


def test_replaces_takes_the_early_only_flag_and_ignores_case() -> None:
    assert parse_replaces("abc; To-Tag=1 ;FROM-TAG=2;early-only") == Replaces(
        "abc", "1", "2", early_only=True
    )


@pytest.mark.parametrize(
    ("key", "named"),
    [
        (("abc", "1", "2"), True),
        (("abc", "2", "1"), True),  # the tags seen from the other end of the dialog
        (("abc", "1", "3"), False),
        (("abd", "1", "2"), False),
        (("abc", "1", "1"), False),
    ],
)
def test_which_dialog_a_replaces_names(key: tuple[str, str, str], named: bool) -> None:
    assert Replaces("abc", "1", "2").names(key) is named
