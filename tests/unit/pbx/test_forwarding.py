"""Which failures an extension's forwards and mailbox take over."""

from __future__ import annotations

import pytest

from ringfort.pbx.forwarding import (
    BUSY_CAUSES,
    FAILOVER_CAUSES,
    NO_ANSWER_CAUSES,
    NO_FORWARDING,
    Forwarding,
)


@pytest.mark.parametrize(
    ("cause", "number"),
    [("busy", "201"), ("declined", "201"), ("no-answer", "202"), ("unavailable", "202")],
)
def test_a_failure_goes_to_the_forward_for_it(cause: str, number: str) -> None:
    assert Forwarding(busy="201", no_answer="202").after(cause) == number


@pytest.mark.parametrize("cause", ["normal", "incompatible", "callee-500", "cancelled"])
def test_no_forward_for_a_failure_no_forward_is_for(cause: str) -> None:
    assert Forwarding(always="200", busy="201", no_answer="202").after(cause) is None


def test_the_always_forward_is_not_a_failure_forward() -> None:
    assert Forwarding(always="200").after("busy") is None
    assert Forwarding(always="200").after("no-answer") is None


def test_failover_is_every_failure_with_a_mailbox_else_the_forwarded_ones() -> None:
    assert NO_FORWARDING.failover(mailbox=False) == frozenset()
    assert NO_FORWARDING.failover(mailbox=True) == FAILOVER_CAUSES
    assert Forwarding(busy="201").failover(mailbox=False) == BUSY_CAUSES
    assert Forwarding(no_answer="202").failover(mailbox=False) == NO_ANSWER_CAUSES
    assert Forwarding(busy="201", no_answer="202").failover(mailbox=False) == FAILOVER_CAUSES
    # Forwarding everything, or do-not-disturb, never rings the phones: nothing to fail over.
    assert Forwarding(always="200", dnd=True).failover(mailbox=False) == frozenset()


def test_active_says_whether_anything_is_set() -> None:
    assert not NO_FORWARDING.active
    assert Forwarding(dnd=True).active
    assert Forwarding(no_answer="202").active
