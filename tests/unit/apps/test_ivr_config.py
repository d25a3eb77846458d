"""IvrMenu: defaults, options by keys, and every place a menu can send a call."""

from __future__ import annotations

from ringfort.apps.ivr.config import IvrMenu, MenuOption
from ringfort.pbx.destination import Destination, DestinationKind

SALES = Destination(DestinationKind.IVR, "sales")
ALICE = Destination(DestinationKind.EXTENSION, "101")
HANGUP = Destination(DestinationKind.HANGUP)


def test_a_menu_with_only_a_name_has_the_documented_defaults() -> None:
    menu = IvrMenu(name="main")

    assert menu.number is None
    assert (menu.language, menu.greeting, menu.options) == ("en", ("welcome",), ())
    assert menu.direct_dial is True
    assert (menu.digit_timeout, menu.interdigit_timeout) == (5.0, 2.0)
    assert (menu.timeout_retries, menu.invalid_retries) == (2, 2)
    assert (menu.timeout_prompt, menu.invalid_prompt) == (("no-input",), ("invalid",))
    assert menu.timeout_destination == menu.invalid_destination == HANGUP


def test_option_for_finds_the_exact_keys_only() -> None:
    menu = IvrMenu(name="main", options=(MenuOption("1", ALICE), MenuOption("12", SALES)))

    assert menu.option_for("1") == ALICE
    assert menu.option_for("12") == SALES
    assert menu.option_for("2") is None
    assert menu.option_for("121") is None


def test_destinations_name_the_field_of_each_place() -> None:
    menu = IvrMenu(
        name="main",
        options=(MenuOption("1", ALICE), MenuOption("#", SALES)),
        timeout_destination=SALES,
    )

    assert menu.destinations() == (
        ("options.1", ALICE),
        ("options.#", SALES),
        ("timeout_destination", SALES),
        ("invalid_destination", HANGUP),
    )
