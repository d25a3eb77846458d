"""FastEnum: identity hashing that agrees with Enum's equality."""

from __future__ import annotations

from ringfort.fast_enum import FastEnum


class Colour(FastEnum):
    RED = "red"
    GREEN = "green"


def test_members_hash_by_identity_and_still_behave_as_enum_members() -> None:
    assert hash(Colour.RED) == object.__hash__(Colour.RED)
    assert {Colour.RED: 1, Colour.GREEN: 2}[Colour("green")] == 2
    assert Colour.RED != "red"
    assert list(Colour) == [Colour.RED, Colour.GREEN]
    assert Colour["RED"] is Colour.RED
