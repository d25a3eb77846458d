"""``ringfort ivr`` and ``ringfort timecond`` as a person runs them, on a data directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest
from typer.testing import CliRunner

from ringfort.cli.main import app

RINGFORT = Path(sys.executable).with_name("ringfort")
COMMAND_TIMEOUT = 60


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


class Run(Protocol):
    def __call__(self, *args: str, stdin: str | None = None) -> Result: ...


@pytest.fixture
def ringfort(tmp_path: Path) -> Run:
    """Run ``ringfort ARGS...`` in this process (fast) on the test's own data directory."""
    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("RINGFORT_")}
    env["RINGFORT_DATA_DIR"] = str(tmp_path / "data")
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> Result:
        result = runner.invoke(app, list(args), input=stdin, env=env, prog_name="ringfort")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Result(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def ringfort_command(tmp_path: Path) -> Run:
    """Run the installed ``ringfort`` command as a subprocess on the test's data directory."""
    if not RINGFORT.exists():
        pytest.skip(f"{RINGFORT} not installed (pip install -e . --no-deps)")
    env = {key: value for key, value in os.environ.items() if not key.startswith("RINGFORT_")}
    env["RINGFORT_DATA_DIR"] = str(tmp_path / "data")

    def run(*args: str, stdin: str | None = None) -> Result:
        done = subprocess.run(
            [str(RINGFORT), *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    return run


def ok(result: Result) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(result: Result, code: int = 2) -> str:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    return result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["ivr"],
        ["ivr", "add"],
        ["ivr", "set"],
        ["ivr", "list"],
        ["ivr", "show"],
        ["ivr", "delete"],
        ["ivr", "export"],
        ["ivr", "import"],
        ["timecond"],
        ["timecond", "add"],
        ["timecond", "set"],
        ["timecond", "list"],
        ["timecond", "show"],
        ["timecond", "delete"],
        ["timecond", "check"],
    ],
)
def test_every_ivr_and_timecond_command_explains_itself(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], prog_name="ringfort")

    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ringfort")
    assert len(result.output.split("\n\n", 2)[1].strip()) > 20, "a sentence, not a stub"


def test_a_menu_is_added_shown_changed_listed_and_deleted(ringfort: Run) -> None:
    ok(ringfort("extension", "add", "101", "--name", "Alice"))
    ok(ringfort("extension", "add", "102", "--name", "Bob"))

    added = ok(
        ringfort(
            "ivr", "add", "main", "--number", "700", "--greeting", "company,welcome",
            "--option", "1=extension:101", "--option", "#=hangup", "--no-direct-dial",
            "--timeout", "3", "--retries", "1", "--timeout-destination", "extension:102",
        )
    )  # fmt: skip
    assert added == "added menu main on number 700\n"

    shown = json.loads(ok(ringfort("ivr", "show", "main", "--json")))
    assert shown["options"] == {"1": "extension:101", "#": "hangup"}
    assert shown["greeting"] == ["company", "welcome"]
    assert (shown["direct_dial"], shown["timeout"], shown["timeout_retries"]) == (False, 3, 1)
    assert (shown["invalid_retries"], shown["timeout_destination"]) == (1, "extension:102")

    ok(ringfort("ivr", "add", "sales", "--option", "0=ivr:main"))
    changed = ok(
        ringfort(
            "ivr", "set", "main", "--option", "2=ivr:sales", "--option", "1=extension:102",
            "--remove-option", "#", "--direct-dial", "--no-number",
        )
    )  # fmt: skip
    assert changed == "changed menu main\n"
    shown = json.loads(ok(ringfort("ivr", "show", "main", "--json")))
    assert shown["options"] == {"1": "extension:102", "2": "ivr:sales"}
    assert (shown["number"], shown["direct_dial"], shown["timeout"]) == (None, True, 3)

    text = ok(ringfort("ivr", "show", "main"))
    assert "  2 -> ivr:sales\n" in text
    assert "no key: no-input; 1 retries, then extension:102\n" in text

    table = ok(ringfort("ivr", "list")).splitlines()
    assert table[0].split() == ["NAME", "NUMBER", "LANGUAGE", "DIRECT", "DIAL", "OPTIONS"]
    assert table[1].split() == ["main", "en", "yes", "1=extension:102", "2=ivr:sales"]
    assert [menu["name"] for menu in json.loads(ok(ringfort("ivr", "list", "--json")))] == [
        "main",
        "sales",
    ]

    in_use = refused(ringfort("ivr", "delete", "sales"))
    assert "menu sales is still used by menu main; change or delete them first" in in_use
    ok(ringfort("ivr", "set", "main", "--remove-option", "2"))
    assert ok(ringfort("ivr", "delete", "sales")) == "deleted menu sales\n"
    assert ok(ringfort("ivr", "delete", "main")) == "deleted menu main\n"
    assert ok(ringfort("ivr", "list")).startswith("no menus; add one with: ringfort ivr add")


def test_mistakes_are_refused_with_what_to_do_next(ringfort: Run) -> None:
    ok(ringfort("extension", "add", "101", "--name", "Alice"))

    missing = refused(ringfort("ivr", "add", "main", "--option", "1=ivr:sales"))
    assert "options.1 is ivr:sales, but there is no menu sales; add the menu first" in missing
    taken = refused(ringfort("ivr", "add", "main", "--number", "101"))
    assert "number 101 already belongs to extension 101; choose another number" in taken
    kind = refused(ringfort("ivr", "add", "main", "--option", "1=phone:101"))
    assert "unknown destination kind 'phone'" in kind
    shape = refused(ringfort("ivr", "add", "main", "--option", "1"))
    assert "write KEYS=DESTINATION, e.g. --option 1=extension:101" in shape
    assert "0.5 to 60 seconds" in refused(ringfort("ivr", "add", "main", "--timeout", "99"))
    assert "names are lower case" in refused(ringfort("ivr", "add", "Main"))
    assert "menu nope does not exist" in refused(ringfort("ivr", "show", "nope"))

    ok(ringfort("ivr", "add", "main", "--number", "700"))
    assert "menu main already exists" in refused(ringfort("ivr", "add", "main"))
    no_option = refused(ringfort("ivr", "set", "main", "--remove-option", "5"))
    assert "menu main has no option 5 (its keys: none)" in no_option
    extension = refused(ringfort("extension", "add", "700", "--name", "Carol"))
    assert "number 700 already belongs to menu main" in extension


def test_a_time_condition_is_added_checked_changed_and_deleted(ringfort: Run) -> None:
    ok(ringfort("extension", "add", "101", "--name", "Alice"))
    ok(ringfort("ivr", "add", "day", "--number", "700"))

    added = ok(
        ringfort(
            "timecond", "add", "office", "--timezone", "Europe/Moscow",
            "--rule", "mon-fri 09:00-18:00", "--rule", "sat 10:00-14:00",
            "--holiday", "2026-12-31", "--match", "ivr:day", "--nomatch", "extension:101",
            "--number", "710",
        )
    )  # fmt: skip
    assert added == "added time condition office on number 710\n"

    def check(at: str) -> str:
        return ok(ringfort("timecond", "check", "office", "--at", at))

    assert check("2026-11-23T10:00") == (
        "office at 2026-11-23 10:00 MSK (Mon): inside the hours (mon-fri 09:00-18:00) -> ivr:day\n"
    )
    assert check("2026-11-23T16:00Z") == (
        "office at 2026-11-23 19:00 MSK (Mon): outside the hours -> extension:101\n"
    )
    assert check("2026-12-31T10:00") == (
        "office at 2026-12-31 10:00 MSK (Thu): a holiday -> extension:101\n"
    )
    now = json.loads(ok(ringfort("timecond", "check", "office", "--json")))
    assert now["destination"] in {"ivr:day", "extension:101"}
    assert now["local_time"].endswith("+03:00")

    ok(
        ringfort(
            "timecond", "set", "office", "--rule", "mon-sun 00:00-24:00",
            "--remove-holiday", "2026-12-31", "--holiday", "2027-01-01",
        )
    )  # fmt: skip
    shown = json.loads(ok(ringfort("timecond", "show", "office", "--json")))
    assert shown["rules"] == ["mon-sun 00:00-24:00"]
    assert shown["holidays"] == ["2027-01-01"]
    assert check("2026-12-31T10:00").endswith("inside the hours (mon-sun 00:00-24:00) -> ivr:day\n")
    text = ok(ringfort("timecond", "show", "office"))
    assert "outside the hours and on holidays: extension:101\n" in text
    listed = ok(ringfort("timecond", "list")).splitlines()
    assert listed[1].split()[:3] == ["office", "710", "Europe/Moscow"]

    assert "menu day is still used by time condition office" in refused(
        ringfort("ivr", "delete", "day")
    )
    assert ok(ringfort("timecond", "delete", "office")) == "deleted time condition office\n"
    assert ok(ringfort("timecond", "list")).startswith("no time conditions; add one with")


def test_time_condition_mistakes_say_what_to_write(ringfort: Run) -> None:
    def add(*more: str) -> str:
        base = ["--rule", "mon 09:00-10:00", "--match", "hangup", "--nomatch", "hangup"]
        return refused(ringfort("timecond", "add", "office", "--timezone", "UTC", *base, *more))

    zone = refused(
        ringfort(
            "timecond", "add", "office", "--timezone", "Europe/Moskow",
            "--rule", "mon 09:00-10:00", "--match", "hangup", "--nomatch", "hangup",
        )
    )  # fmt: skip
    assert "did you mean Europe/Moscow" in zone
    assert "'weekdays' is not a day" in add("--rule", "weekdays 09:00-18:00")
    assert "not a date; write it as YYYY-MM-DD" in add("--holiday", "31.12.2026")
    assert "match is timecond:office" not in add("--match", "timecond:office")
    ok(ringfort("timecond", "add", "office", "--timezone", "UTC", "--rule", "mon 09:00-10:00",
                "--match", "hangup", "--nomatch", "hangup"))  # fmt: skip
    bad_time = refused(ringfort("timecond", "check", "office", "--at", "tomorrow"))
    assert "is not an ISO 8601 time; write e.g. 2026-12-31T10:00" in bad_time
    assert "time condition nope does not exist" in refused(ringfort("timecond", "check", "nope"))


def test_export_and_import_carry_menus_and_conditions_to_another_system(
    ringfort: Run, tmp_path: Path
) -> None:
    ok(ringfort("extension", "add", "101", "--name", "Alice"))
    ok(ringfort("ivr", "add", "main", "--number", "700", "--option", "1=extension:101"))
    ok(ringfort("ivr", "add", "sales", "--option", "0=ivr:main"))
    ok(ringfort("ivr", "set", "main", "--option", "2=ivr:sales"))
    ok(
        ringfort(
            "timecond", "add", "office", "--timezone", "UTC", "--rule", "mon-fri 09:00-18:00",
            "--holiday", "2026-12-31", "--match", "ivr:main", "--nomatch", "hangup",
        )
    )  # fmt: skip
    exported = tmp_path / "menus.yaml"

    assert ok(ringfort("ivr", "export", "--to", str(exported))) == f"wrote {exported}\n"
    text = exported.read_text(encoding="utf-8")
    assert ok(ringfort("ivr", "export")) == text
    only_sales = ok(ringfort("ivr", "export", "sales"))
    assert "- name: main" not in only_sales
    assert "- name: office" in only_sales

    ok(ringfort("timecond", "delete", "office"))
    ok(ringfort("ivr", "set", "main", "--remove-option", "2"))
    ok(ringfort("ivr", "delete", "sales"))
    ok(ringfort("ivr", "delete", "main"))
    report = ok(ringfort("ivr", "import", str(exported)))

    assert sorted(report.splitlines()) == [
        "created menu main",
        "created menu sales",
        "created time condition office",
    ]
    assert ok(ringfort("ivr", "export")) == text
    assert ok(ringfort("ivr", "import", "-", stdin=text)).count("updated") == 3


def test_import_keeps_the_good_items_and_exits_1_naming_the_bad_ones(
    ringfort_command: Run, tmp_path: Path
) -> None:
    ringfort = ringfort_command  # the installed command, end to end
    source = tmp_path / "menus.yaml"
    source.write_text(
        "menus:\n"
        "  - name: good\n"
        "    number: '700'\n"
        "  - name: bad\n"
        "    options:\n"
        "      '1': extension:999\n",
        encoding="utf-8",
    )

    result = ringfort("ivr", "import", str(source))

    assert result.returncode == 1
    assert result.stdout == "created menu good\n"
    assert result.stderr.splitlines() == [
        f"error: {source}: line 6: menus item 2 (bad): options.1 is extension:999, but there is"
        " no extension 999; add the extension first, or choose another destination",
        "1 item(s) not imported, 1 imported; fix the items above and import the file again",
    ]
    assert json.loads(ok(ringfort("ivr", "list", "--json")))[0]["name"] == "good"


def test_import_of_a_file_that_is_not_menus_changes_nothing(ringfort: Run, tmp_path: Path) -> None:
    assert "not valid YAML at line 2" in refused(ringfort("ivr", "import", "-", stdin="a: [\n"))
    assert "unknown section 'menu'" in refused(ringfort("ivr", "import", "-", stdin="menu: []\n"))
    missing = refused(ringfort("ivr", "import", str(tmp_path / "nope.yaml")))
    assert "cannot read" in missing
    assert ok(ringfort("ivr", "list", "--json")) == "[]\n"


def test_an_extension_menus_send_calls_to_cannot_be_removed_until_they_stop(
    ringfort: Run,
) -> None:
    ok(ringfort("extension", "add", "101", "--name", "Alice"))
    ok(ringfort("extension", "add", "102", "--name", "Bob"))
    ok(
        ringfort(
            "ivr", "add", "main", "--number", "700", "--option", "1=extension:101",
            "--timeout-destination", "extension:101",
        )
    )  # fmt: skip
    ok(
        ringfort(
            "timecond", "add", "office", "--timezone", "UTC", "--rule", "mon-fri 09:00-18:00",
            "--match", "extension:102", "--nomatch", "extension:101",
        )
    )  # fmt: skip

    message = refused(ringfort("extension", "remove", "101"))
    assert "menu main (on timeout)" in message
    assert "menu main (key 1)" in message
    assert "time condition office (out of hours)" in message
    assert "ringfort ivr set" in message
    assert "101" in ok(ringfort("extension", "list"))

    ok(ringfort("ivr", "delete", "main"))
    ok(ringfort("timecond", "delete", "office"))
    assert "removed extension 101" in ok(ringfort("extension", "remove", "101"))
