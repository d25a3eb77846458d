"""The number a REFER's Refer-To names (RFC 3515 §2.1; RFC 3891 for Replaces)."""

from __future__ import annotations

import pytest

from ringfort.pbx.b2bua import _refer_target


@pytest.mark.parametrize(
    ("refer_to", "number"),
    [
        ("<sip:4402@127.0.0.1>", "4402"),
        ("sip:4402@pbx.example.com;user=phone", "4402"),
        ('"Sales" <sip:%2B4402@127.0.0.1:5060;transport=udp>', "4402"),
        ("<sips:600@pbx.example.com>", "600"),
        ("<tel:+4402>", "4402"),
        # Attended transfer: Replaces in the URI's headers (RFC 3891) is not a number.
        ("<sip:4402@127.0.0.1?Replaces=abc%40host%3Bto-tag%3D1%3Bfrom-tag%3D2>", ""),
        (None, None),
        ("", None),
        ("<sip:127.0.0.1>", None),
        ("<sip:alice@127.0.0.1>", None),
        ("not a uri at all <", None),
    ],
)
def test_the_number_in_refer_to(refer_to: str | None, number: str | None) -> None:
    assert _refer_target(refer_to) == number
