"""YAML export and import: round trips, and bad items reported by line while good ones are kept."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from ringfort.apps.ivr.config import IvrMenu, MenuOption
from ringfort.apps.timecond import TimeCondition, WeeklyRule
from ringfort.errors import NotFoundError, ValidationError
from ringfort.pbx.destination import Destination
from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService
from ringfort.services.ivr import IvrService
from ringfort.services.ivr_yaml import ImportProblem, IvrYamlService
from ringfort.services.timecond import TimeConditionService


def to(text: str) -> Destination:
    return Destination.parse(text)


MAIN = IvrMenu(
    name="main",
    number="700",
    language="ru",
    greeting=("company", "welcome"),
    options=(
        MenuOption("1", to("extension:101")),
        MenuOption("2", to("ivr:sales")),
        MenuOption("#", to("hangup")),
    ),
    direct_dial=False,
    digit_timeout=7.5,
    timeout_retries=1,
    timeout_destination=to("extension:102"),
    invalid_prompt=(),
)
SALES = IvrMenu(name="sales", options=(MenuOption("0", to("ivr:main")),))
OFFICE = TimeCondition(
    name="office",
    timezone="Europe/Moscow",
    rules=(WeeklyRule.parse("mon-fri 09:00-18:00"), WeeklyRule.parse("sat,sun 10:00-14:00")),
    match_destination=to("ivr:main"),
    nomatch_destination=to("extension:101"),
    holidays=(dt.date(2026, 12, 31),),
    number="710",
)


def yaml_text(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@pytest.fixture
async def phones(db: Database) -> None:
    extensions = ExtensionService(db=db)
    await extensions.add("101", "Alice", "secret123")
    await extensions.add("102", "Bob", "secret123")


async def stock(db: Database) -> None:
    menus = IvrService(db=db)
    await menus.add(IvrMenu(name="main", number="700"))
    await menus.add(SALES)
    await menus.update(MAIN)
    await TimeConditionService(db=db).add(OFFICE)


@pytest.mark.usefixtures("phones")
async def test_export_writes_friendly_keys_one_line_lists_and_plain_dates(db: Database) -> None:
    await stock(db)

    text = await IvrYamlService(db=db).export_yaml()

    assert text.startswith("# Ringfort menus and time conditions.")
    assert "  greeting: [company, welcome]\n" in text
    assert "    '1': extension:101\n" in text
    assert "    '#': hangup\n" in text
    assert "  number: '700'\n" in text
    assert "  timeout: 7.5\n  interdigit_timeout: 2\n" in text
    assert "  invalid_prompt: []\n" in text
    assert "  rules: ['mon-fri 09:00-18:00', 'sat,sun 10:00-14:00']\n" in text
    assert "  holidays: [2026-12-31]\n" in text
    assert "  match: ivr:main\n" in text
    sales = text[text.index("- name: sales") :]
    assert "number" not in sales.split("- name:", 2)[1], "no number, no key"


@pytest.mark.usefixtures("phones")
async def test_export_of_named_menus_keeps_every_time_condition(db: Database) -> None:
    await stock(db)
    service = IvrYamlService(db=db)

    text = await service.export_yaml(["sales"])

    assert "- name: sales" in text
    assert "- name: main" not in text
    assert "- name: office" in text
    with pytest.raises(NotFoundError, match="no menu called nope"):
        await service.export_yaml(["sales", "nope"])


@pytest.mark.usefixtures("phones")
async def test_what_is_exported_imports_back_the_same_into_another_database(
    db: Database, tmp_path_factory: pytest.TempPathFactory
) -> None:
    await stock(db)
    text = await IvrYamlService(db=db).export_yaml()
    other = Database(url=f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('other') / 'r.db'}")
    await other.open()
    try:
        await ExtensionService(db=other).add("101", "Alice", "secret123")
        await ExtensionService(db=other).add("102", "Bob", "secret123")

        report = await IvrYamlService(db=other).import_yaml(text)

        assert report.ok, report.problems
        assert sorted(report.created) == ["menu main", "menu sales", "time condition office"]
        assert await IvrService(db=other).list() == [MAIN, SALES]
        assert await TimeConditionService(db=other).list() == [OFFICE]
    finally:
        await other.close()


@pytest.mark.usefixtures("phones")
async def test_importing_the_export_again_updates_everything_and_changes_nothing(
    db: Database,
) -> None:
    await stock(db)
    service = IvrYamlService(db=db)
    text = await service.export_yaml()

    report = await service.import_yaml(text)

    assert report.ok
    assert report.created == []
    assert sorted(report.updated) == ["menu main", "menu sales", "time condition office"]
    assert await service.export_yaml() == text


@pytest.mark.usefixtures("phones")
async def test_a_bad_item_is_reported_with_its_line_and_the_good_ones_are_kept(
    db: Database,
) -> None:
    text = yaml_text(
        """
        menus:
          - name: first
            options: {1: extension:101}
          - name: second
            greeting: [welcome]
            timeout: 0.1
          - name: third
            number: 720
        time_conditions:
          - name: office
            timezone: UTC
            rules: [mon-fri 09:00-18:00, weekends 10:00-12:00]
            match: ivr:first
            nomatch: hangup
          - name: always
            timezone: UTC
            rules: mon-sun 00:00-24:00
            match: ivr:third
            nomatch: hangup
        """
    )

    report = await IvrYamlService(db=db).import_yaml(text)

    assert report.problems == [
        ImportProblem("menus", 2, 6, "second", "timeout must be 0.5 to 60 seconds, got 0.1"),
        ImportProblem(
            "time_conditions",
            1,
            12,
            "office",
            "rules: 'weekends 10:00-12:00': 'weekends' is not a day or a range of days; use mon,"
            " tue, wed, thu, fri, sat, sun, ranges like mon-fri and lists like sat,sun",
        ),
    ]
    assert str(report.problems[0]) == (
        "line 6: menus item 2 (second): timeout must be 0.5 to 60 seconds, got 0.1"
    )
    assert sorted(report.created) == ["menu first", "menu third", "time condition always"]
    assert [menu.name for menu in await IvrService(db=db).list()] == ["first", "third"]
    assert (await IvrService(db=db).get("third")).number == "720"
    assert [c.name for c in await TimeConditionService(db=db).list()] == ["always"]


async def test_an_item_leading_to_a_refused_item_is_refused_too_and_says_why(
    db: Database,
) -> None:
    text = yaml_text(
        """
        menus:
          - name: main
            options:
              '1': ivr:sales
          - name: sales
            language: english
          - name: lobby
            invalid_destination: ivr:main
        """
    )

    report = await IvrYamlService(db=db).import_yaml(text)

    assert [(p.name, p.line) for p in report.problems] == [
        ("main", 4),
        ("sales", 6),
        ("lobby", 8),
    ]
    assert report.problems[0].message == (
        "options.1 is ivr:sales, but menu sales (line 5) is not imported either; fix it first"
    )
    assert "menu main (line 2) is not imported either" in report.problems[2].message
    assert await IvrService(db=db).list() == []


async def test_items_may_refer_to_each_other_in_any_order_and_in_a_circle(db: Database) -> None:
    text = yaml_text(
        """
        time_conditions:
          - {name: office, timezone: UTC, rules: [mon-fri 09:00-18:00], match: ivr:main,
             nomatch: timecond:night}
          - {name: night, timezone: UTC, rules: [mon-sun 22:00-06:00], match: hangup,
             nomatch: ivr:sales}
        menus:
          - {name: main, options: {'1': ivr:sales, '9': timecond:office}}
          - {name: sales, options: {'0': ivr:main}}
        """
    )

    report = await IvrYamlService(db=db).import_yaml(text)

    assert report.ok, report.problems
    assert len(report.created) == 4
    assert (await IvrService(db=db).get("sales")).option_for("0") == to("ivr:main")


async def test_values_are_read_as_written_not_as_yaml_guesses(db: Database) -> None:
    text = yaml_text(
        """
        menus:
          - name: norsk
            number: 0700
            language: no
            direct_dial: no
            timeout: 3
            timeout_retries: '0'
            options:
              1: hangup
              '*': hangup
              '#': hangup
              010: hangup
        time_conditions:
          - name: office
            number: 0710
            timezone: UTC
            rules: [mon-fri 9:00-18:00]
            holidays: [2026-12-31, '2027-01-01']
            match: ivr:norsk
            nomatch: hangup
        """
    )

    report = await IvrYamlService(db=db).import_yaml(text)

    assert report.ok, report.problems
    menu = await IvrService(db=db).get("norsk")
    assert (menu.number, menu.language, menu.direct_dial) == ("0700", "no", False)
    assert (menu.digit_timeout, menu.timeout_retries) == (3.0, 0)
    assert [option.digits for option in menu.options] == ["010", "1", "*", "#"]
    condition = await TimeConditionService(db=db).get("office")
    assert condition.number == "0710"
    assert condition.holidays == (dt.date(2026, 12, 31), dt.date(2027, 1, 1))


@pytest.mark.usefixtures("phones")
async def test_numbers_are_checked_against_the_database_and_the_file(db: Database) -> None:
    text = yaml_text(
        """
        menus:
          - name: clash
            number: 101
          - name: twin-a
            number: 720
          - name: twin-b
            number: 720
          - name: fine
            number: 721
        """
    )

    report = await IvrYamlService(db=db).import_yaml(text)

    messages = {problem.name: problem.message for problem in report.problems}
    assert messages["clash"].startswith("number 101 already belongs to extension 101")
    assert messages["twin-a"].startswith("number 720 already belongs to menu twin-b")
    assert sorted(report.created) == ["menu fine", "menu twin-b"]


async def test_an_import_may_swap_the_numbers_of_two_menus(db: Database) -> None:
    menus = IvrService(db=db)
    await menus.add(IvrMenu(name="a", number="700"))
    await menus.add(IvrMenu(name="b", number="701"))
    text = "menus:\n  - {name: a, number: '701'}\n  - {name: b, number: '700'}\n"

    report = await IvrYamlService(db=db).import_yaml(text)

    assert report.ok, report.problems
    assert (await menus.get("a")).number == "701"
    assert (await menus.get("b")).number == "700"


async def test_a_failed_update_keeps_the_stored_item_and_its_number(db: Database) -> None:
    menus = IvrService(db=db)
    await menus.add(IvrMenu(name="a", number="700"))
    text = "menus:\n  - {name: a, number: '701', timeout: -1}\n  - {name: b, number: '700'}\n"

    report = await IvrYamlService(db=db).import_yaml(text)

    assert [problem.name for problem in report.problems] == ["a", "b"]
    assert "already belongs to menu a" in report.problems[1].message
    assert await menus.list() == [IvrMenu(name="a", number="700")]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("menus:\n  - just text\n", ("", 2, "each item of menus must be a mapping")),
        ("menus:\n  - {greeting: [welcome]}\n", ("", 2, "name is required")),
        ("menus:\n  - {name: a, colour: red}\n", ("a", 2, "unknown menu key 'colour'")),
        ("menus:\n  - name: a\n    name: b\n", ("a", 3, "name is given twice")),
        ("menus:\n  - {name: a, options: [1, 2]}\n", ("a", 2, "options must map keys")),
        ("menus:\n  - {name: a, options: {'1': phone}}\n", ("a", 2, "unknown destination kind")),
        ("menus:\n  - {name: a, timeout_retries: 1.5}\n", ("a", 2, "must be a whole number")),
        ("menus:\n  - {name: a, direct_dial: maybe}\n", ("a", 2, "must be true or false")),
        (
            "time_conditions:\n  - name: t\n    timezone: UTC\n    rules: [mon 09:00-10:00]\n"
            "    holidays: [31.12.2026]\n    match: hangup\n    nomatch: hangup\n",
            ("t", 5, "holiday '31.12.2026' is not a date; write it as YYYY-MM-DD"),
        ),
        (
            "time_conditions:\n  - {name: t, timezone: UTC, rules: [mon 09:00-10:00]}\n",
            ("t", 2, "match is required"),
        ),
    ],
)
async def test_malformed_items_are_refused_one_by_one(
    db: Database, text: str, problem: tuple[str, int, str]
) -> None:
    good = "  - {name: good}\n"
    if text.startswith("time_conditions"):
        good = "  - {name: good, timezone: UTC, rules: [sun 10:00-11:00], match: hangup,"
        good += " nomatch: hangup}\n"

    report = await IvrYamlService(db=db).import_yaml(text + good)

    assert len(report.problems) == 1
    found = report.problems[0]
    assert (found.name, found.line) == problem[:2]
    assert problem[2] in found.message
    assert len(report.created) == 1


async def test_a_name_given_twice_in_the_file_is_refused_the_second_time(db: Database) -> None:
    text = "menus:\n  - {name: a}\n  - {name: b}\n  - {name: a, number: '700'}\n"

    report = await IvrYamlService(db=db).import_yaml(text)

    assert [str(problem) for problem in report.problems] == [
        "line 4: menus item 3 (a): menu a is already given at line 2"
    ]
    assert (await IvrService(db=db).get("a")).number is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("menus:\n  - name: a\n   bad: [\n", "not valid YAML at line 3"),
        ("- name: a\n", "line 1: the file must be a mapping"),
        ("menu:\n  - name: a\n", "line 1: unknown section 'menu'; use menus and time_conditions"),
        ("menus: main\n", "line 1: menus must be a list"),
        ("menus: []\nmenus: []\n", "line 2: menus appears twice"),
        ("--- {}\n--- {}\n", "not valid YAML"),
    ],
)
async def test_a_file_that_is_not_a_menu_document_imports_nothing(
    db: Database, text: str, says: str
) -> None:
    with pytest.raises(ValidationError, match=says):
        await IvrYamlService(db=db).import_yaml(text)


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "menus:\ntime_conditions: []\n"])
async def test_an_empty_file_imports_nothing_without_complaint(db: Database, text: str) -> None:
    report = await IvrYamlService(db=db).import_yaml(text)

    assert report.ok
    assert (report.created, report.updated) == ([], [])
