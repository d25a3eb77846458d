"""Destinations: the ``kind:target`` text form, read and written back, and what is refused."""

from __future__ import annotations

import pytest

from ringfort.pbx.destination import (
    Destination,
    DestinationKind,
    is_name,
    is_number,
    mailbox_after,
)


@pytest.mark.parametrize(
    ("text", "expected", "written"),
    [
        ("extension:101", Destination(DestinationKind.EXTENSION, "101"), "extension:101"),
        ("ivr:main", Destination(DestinationKind.IVR, "main"), "ivr:main"),
        (
            "timecond:office-hours",
            Destination(DestinationKind.TIMECOND, "office-hours"),
            "timecond:office-hours",
        ),
        ("hangup", Destination(DestinationKind.HANGUP), "hangup"),
        ("hangup:", Destination(DestinationKind.HANGUP), "hangup"),
        (" IVR : sales_2 ", Destination(DestinationKind.IVR, "sales_2"), "ivr:sales_2"),
        ("Extension:0", Destination(DestinationKind.EXTENSION, "0"), "extension:0"),
        ("queue:support", Destination(DestinationKind.QUEUE, "support"), "queue:support"),
        (
            "queue:support ; Priority=5",
            Destination(DestinationKind.QUEUE, "support", 5),
            "queue:support;priority=5",
        ),
        ("queue:vip;priority=0", Destination(DestinationKind.QUEUE, "vip"), "queue:vip"),
        ("voicemail:101", Destination(DestinationKind.VOICEMAIL, "101"), "voicemail:101"),
        ("voicemail", Destination(DestinationKind.VOICEMAIL), "voicemail"),
        ("Voicemail:", Destination(DestinationKind.VOICEMAIL), "voicemail"),
    ],
)
def test_destinations_parse_and_write_back_in_one_form(
    text: str, expected: Destination, written: str
) -> None:
    destination = Destination.parse(text)

    assert destination == expected
    assert str(destination) == written
    assert Destination.parse(str(destination)) == destination


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("phone:101", "unknown destination kind 'phone'.*use one of extension, ivr, timecond"),
        ("voicemail:abc", "'abc' is not an extension number"),
        ("external:+4930123", "not available yet"),
        ("", "empty destination"),
        (":main", "empty destination"),
        ("extension", "needs an extension number, e.g. extension:101"),
        ("extension:", "needs an extension number"),
        ("extension:10a", "'10a' is not an extension number"),
        ("extension:123456789012345678901", "not an extension number"),
        ("ivr", "needs a menu name, e.g. ivr:main"),
        ("ivr:Main", "not a menu name \\(names are lower case\\)"),
        ("ivr:-main", "not a menu name"),
        ("ivr:" + "a" * 65, "not a menu name"),
        ("timecond:office hours", "not a time-condition name"),
        ("hangup:now", "'hangup' takes no target"),
        ("queue:sales;priority=101", "priority is 0 to 100"),
        ("queue:sales;priority=-1", "takes only a priority"),
        ("queue:sales;music=jazz", "takes only a priority, e.g. queue:support;priority=5"),
        ("ivr:main;priority=5", "not a menu name"),
    ],
)
def test_bad_destinations_say_what_to_write_instead(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        Destination.parse(text)


def test_names_and_numbers_follow_the_shared_patterns() -> None:
    assert is_name("a")
    assert is_name("office-hours_2")
    assert is_name("x" * 64)
    assert not is_name("x" * 65)
    assert not is_name("_hidden")
    assert not is_name("Main")
    assert is_number("7")
    assert is_number("1" * 20)
    assert not is_number("1" * 21)
    assert not is_number("+7")


@pytest.mark.parametrize(
    ("cause", "busy"),
    [("busy", True), ("declined", True), ("no-answer", False), ("unavailable", False)],
)
def test_a_call_an_extension_did_not_take_goes_to_its_mailbox(cause: str, busy: bool) -> None:
    assert mailbox_after("101", cause) == Destination(DestinationKind.VOICEMAIL, "101", busy=busy)


@pytest.mark.parametrize("cause", ["cancelled", "incompatible", "answered"])
def test_no_mailbox_for_a_failure_a_mailbox_is_not_for(cause: str) -> None:
    assert mailbox_after("101", cause) is None
