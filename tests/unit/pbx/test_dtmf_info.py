"""DTMF digits in SIP INFO bodies, in the forms phones send."""

from __future__ import annotations

import pytest

from ringfort.pbx.dtmf_info import digits_of_info


@pytest.mark.parametrize(
    ("content_type", "body", "digit"),
    [
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", "5"),
        ("application/dtmf-relay", b"Signal= *\nDuration= 250", "*"),
        ("Application/DTMF-Relay; charset=x", b"signal=#\r\n", "#"),
        ("application/dtmf-relay", b"Signal=11\r\nDuration=100", "#"),
        ("application/dtmf-relay", b"Signal=a\r\n", "A"),
        ("application/dtmf", b"7", "7"),
        ("application/dtmf", b"10\r\n", "*"),
    ],
)
def test_dtmf_bodies_give_their_digit(content_type: str, body: bytes, digit: str) -> None:
    assert digits_of_info(content_type, body) == digit


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/dtmf-relay", b"Duration=160\r\n"),
        ("application/dtmf-relay", b"Signal=12\r\n"),
        ("application/dtmf-relay", b"Signal=\xff\r\n"),
        ("application/dtmf", b"55"),
        ("application/media_control+xml", b"<media_control/>"),
        (None, b"Signal=5"),
    ],
)
def test_other_bodies_are_not_digits(content_type: str | None, body: bytes) -> None:
    assert digits_of_info(content_type, body) is None
