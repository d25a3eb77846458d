"""IvrService: menus added, changed and deleted with their fields, number and references checked."""

from __future__ import annotations

import dataclasses

import pytest

from ringfort.apps.ivr.config import IvrMenu, MenuOption
from ringfort.apps.timecond import TimeCondition, WeeklyRule
from ringfort.errors import ConflictError, NotFoundError, ValidationError
from ringfort.pbx.destination import Destination
from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService
from ringfort.services.ivr import IvrService
from ringfort.services.timecond import TimeConditionService


def to(text: str) -> Destination:
    return Destination.parse(text)


def menu(name: str, number: str | None = None, **options: str) -> IvrMenu:
    """A menu whose options are given as ``k1="extension:101"`` (key 1)."""
    return IvrMenu(
        name=name,
        number=number,
        options=tuple(MenuOption(key[1:], to(target)) for key, target in options.items()),
    )


def condition(name: str, number: str | None = None, match: str = "hangup") -> TimeCondition:
    return TimeCondition(
        name=name,
        timezone="Europe/Moscow",
        rules=(WeeklyRule.parse("mon-fri 09:00-18:00"),),
        match_destination=to(match),
        nomatch_destination=to("hangup"),
        number=number,
    )


@pytest.fixture
async def extensions(db: Database) -> ExtensionService:
    service = ExtensionService(db=db)
    await service.add("101", "Alice", "secret123")
    await service.add("102", "Bob", "secret123")
    return service


async def test_a_menu_is_stored_with_every_field(
    db: Database, extensions: ExtensionService
) -> None:
    full = IvrMenu(
        name="main",
        number="700",
        language="ru",
        greeting=("company", "welcome"),
        options=(MenuOption("1", to("extension:101")), MenuOption("*9", to("hangup"))),
        direct_dial=False,
        digit_timeout=7.5,
        interdigit_timeout=1.5,
        timeout_retries=0,
        timeout_prompt=(),
        timeout_destination=to("extension:102"),
        invalid_retries=10,
        invalid_prompt=("digits/7",),
        invalid_destination=to("ivr:main"),
    )
    service = IvrService(db=db)

    await service.add(full)

    assert await service.get("main") == full
    assert await service.find_by_number("700") == full
    assert await service.list() == [full]


async def test_options_come_back_in_keypad_order(db: Database) -> None:
    service = IvrService(db=db)
    keys = ["#", "9", "*", "10", "0", "1", "*1"]
    unordered = IvrMenu(name="main", options=tuple(MenuOption(k, to("hangup")) for k in keys))

    stored = await service.add(unordered)

    assert [option.digits for option in stored.options] == ["0", "1", "10", "9", "*", "*1", "#"]
    assert await service.get("main") == stored


async def test_update_changes_options_in_place_and_can_move_a_destination_between_keys(
    db: Database, extensions: ExtensionService
) -> None:
    service = IvrService(db=db)
    await service.add(menu("main", k1="extension:101", k2="extension:102", k3="hangup"))

    changed = menu("main", k1="extension:102", k2="extension:101", k4="hangup")
    await service.update(changed)

    assert await service.get("main") == changed
    await service.update(menu("main"))
    assert (await service.get("main")).options == ()


async def test_a_menu_may_send_calls_back_to_itself(db: Database) -> None:
    service = IvrService(db=db)

    await service.add(menu("main", k9="ivr:main"))

    assert (await service.get("main")).option_for("9") == to("ivr:main")


async def test_a_destination_that_does_not_exist_is_refused_and_named(
    db: Database, extensions: ExtensionService
) -> None:
    service = IvrService(db=db)
    cases = [
        (menu("main", k1="ivr:sales"), "options.1", "there is no menu sales; add the menu first"),
        (menu("main", k2="extension:199"), "options.2", "there is no extension 199"),
        (menu("main", k3="timecond:office"), "options.3", "there is no time condition office"),
        (
            dataclasses.replace(menu("main"), timeout_destination=to("ivr:gone")),
            "timeout_destination",
            "there is no menu gone",
        ),
        (
            dataclasses.replace(menu("main"), invalid_destination=to("extension:5")),
            "invalid_destination",
            "there is no extension 5",
        ),
    ]
    for bad, field, says in cases:
        with pytest.raises(ValidationError, match=says) as caught:
            await service.add(bad)
        assert caught.value.field == field
    assert await service.list() == []


async def test_an_extension_destination_naming_a_menus_number_says_whose_it_is(
    db: Database,
) -> None:
    service = IvrService(db=db)
    await service.add(menu("sales", "701"))

    with pytest.raises(
        ValidationError, match=r"no extension 701 \(701 is the number of menu sales"
    ):
        await service.add(menu("main", k1="extension:701"))


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"name": "Main"}, "name", "names are lower case"),
        ({"name": "-x"}, "name", "not valid"),
        ({"number": "7a"}, "number", "1 to 20 digits"),
        ({"number": ""}, "number", "1 to 20 digits"),
        ({"language": "english"}, "language", "not a language code"),
        ({"greeting": ()}, "greeting", "at least one prompt"),
        ({"greeting": ("Welcome",)}, "greeting", "not a prompt name"),
        ({"greeting": ("../secret",)}, "greeting", "not a prompt name"),
        ({"timeout_prompt": ("a b",)}, "timeout_prompt", "not a prompt name"),
        ({"greeting": ("welcome",) * 21}, "greeting", "at most 20"),
        ({"digit_timeout": 0.1}, "timeout", "0.5 to 60 seconds"),
        ({"interdigit_timeout": 61.0}, "interdigit_timeout", "0.5 to 60 seconds"),
        ({"timeout_retries": -1}, "timeout_retries", "0 to 10"),
        ({"invalid_retries": 11}, "invalid_retries", "0 to 10"),
        ({"options": (MenuOption("a", to("hangup")),)}, "options", "1 to 8 of 0-9, \\* and #"),
        ({"options": (MenuOption("123456789", to("hangup")),)}, "options", "1 to 8"),
        (
            {"options": (MenuOption("1", to("hangup")), MenuOption("1", to("hangup")))},
            "options.1",
            "given twice",
        ),
    ],
)
async def test_bad_fields_are_refused_with_the_field_named(
    db: Database, changes: dict[str, object], field: str, says: str
) -> None:
    bad = dataclasses.replace(menu("main"), **changes)  # type: ignore[arg-type]

    with pytest.raises(ValidationError, match=says) as caught:
        await IvrService(db=db).add(bad)

    assert caught.value.field == field


async def test_adding_a_name_twice_is_a_conflict_and_updating_a_missing_one_is_not_found(
    db: Database,
) -> None:
    service = IvrService(db=db)
    await service.add(menu("main"))

    with pytest.raises(ConflictError, match="menu main already exists"):
        await service.add(menu("main"))
    with pytest.raises(NotFoundError, match="menu other does not exist"):
        await service.update(menu("other"))
    with pytest.raises(NotFoundError, match="menu other does not exist"):
        await service.get("other")
    assert await service.find("other") is None


async def test_one_number_space_is_shared_by_extensions_menus_and_time_conditions(
    db: Database, extensions: ExtensionService
) -> None:
    menus = IvrService(db=db)
    conditions = TimeConditionService(db=db)
    await menus.add(menu("main", "700"))
    await conditions.add(condition("office", "710"))

    with pytest.raises(ConflictError, match="number 101 already belongs to extension 101"):
        await menus.add(menu("other", "101"))
    with pytest.raises(ConflictError, match="number 700 already belongs to menu main"):
        await menus.add(menu("other", "700"))
    with pytest.raises(ConflictError, match="number 710 already belongs to time condition office"):
        await menus.add(menu("other", "710"))
    with pytest.raises(ConflictError, match="number 700 already belongs to menu main"):
        await conditions.add(condition("other", "700"))
    with pytest.raises(ConflictError, match="number 101 already belongs to extension 101"):
        await conditions.update(condition("office", "101"))
    with pytest.raises(ConflictError, match="number 700 already belongs to menu main"):
        await extensions.add("700", "Carol")
    with pytest.raises(ConflictError, match="number 710 already belongs to time condition office"):
        await extensions.add("710", "Carol")


async def test_a_menu_keeps_or_changes_its_own_number(db: Database) -> None:
    service = IvrService(db=db)
    await service.add(menu("main", "700"))

    await service.update(dataclasses.replace(menu("main", "700"), language="ru"))
    await service.update(menu("main", "701"))
    await service.add(menu("other", "700"))

    assert (await service.get("main")).number == "701"
    assert (await service.find_by_number("700")) == menu("other", "700")


async def test_a_menu_others_send_calls_to_cannot_be_deleted_and_they_are_named(
    db: Database,
) -> None:
    menus = IvrService(db=db)
    await menus.add(menu("sales"))
    await menus.add(menu("main", k2="ivr:sales"))
    await menus.add(dataclasses.replace(menu("lobby"), invalid_destination=to("ivr:sales")))
    await TimeConditionService(db=db).add(condition("office", match="ivr:sales"))

    with pytest.raises(
        ConflictError,
        match="menu sales is still used by menu lobby, menu main, time condition office",
    ):
        await menus.delete("sales")

    assert await menus.find("sales") is not None


async def test_delete_removes_a_menu_that_refers_only_to_itself(db: Database) -> None:
    service = IvrService(db=db)
    await service.add(menu("main", "700", k9="ivr:main"))

    await service.delete("main")

    assert await service.list() == []
    await service.add(menu("again", "700"))
    with pytest.raises(NotFoundError):
        await service.delete("main")


async def test_every_committed_change_is_reported_by_name(db: Database) -> None:
    changed: list[str] = []
    service = IvrService(db=db, on_change=changed.append)

    await service.add(menu("main"))
    await service.update(menu("main", "700"))
    with pytest.raises(ConflictError):
        await service.add(menu("main"))
    await service.delete("main")

    assert changed == ["main", "main", "main"]
