"""Feature codes dialled from phones: which are forwarding and do-not-disturb codes."""

from __future__ import annotations

import pytest

from ringfort.apps.features import FeatureCodes, split_feature, split_forwarding
from ringfort.pbx.destination import Destination, DestinationKind


@pytest.mark.parametrize(
    ("dialled", "split"),
    [
        ("*72103", ("*72", "103")),
        ("*9074951230000", ("*90", "74951230000")),
        ("*52500", ("*52", "500")),
        ("*73", ("*73", "")),
        ("*91", ("*91", "")),
        ("*53", ("*53", "")),
        ("*78", ("*78", "")),
        ("*79", ("*79", "")),
        ("*76", ("*76", "")),
        ("*72", ("*72", "")),
        ("*52", ("*52", "")),
    ],
)
def test_forwarding_codes_split_into_code_and_number(dialled: str, split: tuple[str, str]) -> None:
    assert split_forwarding(dialled) == split


@pytest.mark.parametrize("dialled", ["*72abc", "*73103", "*781", "*45500", "72103", "*7"])
def test_other_numbers_are_no_forwarding_code(dialled: str) -> None:
    assert split_forwarding(dialled) is None


def test_agent_codes_stay_apart_from_forwarding_codes() -> None:
    assert split_feature("*72103") is None
    assert split_feature("*45500") == ("*45", "500")


class _Plan:
    async def resolve(self, number: str) -> Destination | None:
        return Destination(DestinationKind.IVR, "main") if number == "500" else None


async def test_the_call_core_sees_forwarding_codes_as_features() -> None:
    codes = FeatureCodes(_Plan())
    assert await codes.resolve("*72103") == Destination(DestinationKind.FEATURE, "*72103")
    assert await codes.resolve("*78") == Destination(DestinationKind.FEATURE, "*78")
    assert await codes.resolve("500") == Destination(DestinationKind.IVR, "main")
    assert await codes.resolve("*72") == Destination(DestinationKind.FEATURE, "*72")
    assert await codes.resolve("*7") is None
