"""``ringfort recording`` as a person runs it: rules, the recordings there are, purging old ones."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pytest
from typer.testing import CliRunner

from ringfort.cli.main import app
from ringfort.services.cdr import CdrService
from ringfort.services.database import Database

RINGFORT = Path(sys.executable).with_name("ringfort")
COMMAND_TIMEOUT = 60
WAV = b"RIFF" + bytes(2000)


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


class Run(Protocol):
    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result: ...


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def ringfort(data_dir: Path) -> Run:
    """Run ``ringfort ARGS...`` in this process on the test's own data directory."""
    base: dict[str, str | None] = {key: None for key in os.environ if key.startswith("RINGFORT_")}
    base["RINGFORT_DATA_DIR"] = str(data_dir)
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        result = runner.invoke(app, list(args), env={**base, **(env or {})}, prog_name="ringfort")
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Result(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def ringfort_command(data_dir: Path) -> Run:
    """Run the installed ``ringfort`` command as a subprocess on the test's data directory."""
    if not RINGFORT.exists():
        pytest.skip(f"{RINGFORT} not installed (pip install -e . --no-deps)")
    base = {key: value for key, value in os.environ.items() if not key.startswith("RINGFORT_")}
    base["RINGFORT_DATA_DIR"] = str(data_dir)

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        done = subprocess.run(
            [str(RINGFORT), *args],
            env={**base, **(env or {})},
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


def record_call(data_dir: Path, uniqueid: str, start: datetime, *, pauses: int = 0) -> str:
    """Leave a recording on disk as the server does and a CDR row naming it; its path."""
    relative = f"{start:%Y/%m/%d}/{uniqueid}.wav"
    wav = data_dir / "recordings" / relative
    wav.parent.mkdir(parents=True, exist_ok=True)
    wav.write_bytes(WAV)
    ended = start + timedelta(seconds=62)
    metadata = {
        "format": 1,
        "uniqueid": uniqueid,
        "linkedid": uniqueid,
        "src": "101",
        "dst": "102",
        "channels": 2,
        "left": "caller",
        "right": "callee",
        "started": (start + timedelta(seconds=2)).isoformat(),
        "ended": ended.isoformat(),
        "seconds": 55.2,
        "pauses": [
            {
                "at": 12.34,
                "from": (start + timedelta(seconds=14)).isoformat(),
                "to": (start + timedelta(seconds=18.8)).isoformat(),
                "seconds": 4.8,
                "reason": "hold",
            }
        ][:pauses],
    }
    wav.with_suffix(".json").write_text(json.dumps(metadata), encoding="utf-8")

    async def add() -> None:
        async with Database(url=f"sqlite+aiosqlite:///{data_dir / 'ringfort.db'}") as db:
            await CdrService(db=db).add(
                uniqueid=uniqueid,
                linkedid=uniqueid,
                src="101",
                dst="102",
                clid='"Alice" <101>',
                start=start,
                answer=start + timedelta(seconds=2),
                end=ended,
                disposition="ANSWERED",
                recording=relative,
            )

    asyncio.run(add())
    return relative


@pytest.mark.parametrize(
    "command",
    [
        ["recording"],
        ["recording", "rule"],
        ["recording", "rule", "add"],
        ["recording", "rule", "list"],
        ["recording", "rule", "delete"],
        ["recording", "list"],
        ["recording", "show"],
        ["recording", "purge"],
    ],
)
def test_every_recording_command_explains_itself(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], prog_name="ringfort")

    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ringfort")
    assert len(result.output.split("\n\n", 2)[1].strip()) > 20, "a sentence, not a stub"


def test_rules_are_added_listed_and_deleted(ringfort: Run) -> None:
    assert ok(ringfort("recording", "rule", "list")).startswith("no recording rules")

    assert ok(ringfort("recording", "rule", "add", "--extension", "101")) == (
        "added rule 1: record calls to and from extension 101\n"
    )
    assert "calls to extension 102" in ok(
        ringfort("recording", "rule", "add", "--extension", "102", "--direction", "in")
    )
    ok(ringfort("recording", "rule", "add", "--number", "5551234"))
    ok(ringfort("recording", "rule", "add", "--prefix", "00"))

    listed = json.loads(ok(ringfort("recording", "rule", "list", "--json")))
    assert [(r["id"], r["kind"], r["target"], r["direction"]) for r in listed] == [
        (1, "extension", "101", "both"),
        (2, "extension", "102", "in"),
        (3, "number", "5551234", "both"),
        (4, "prefix", "00", "both"),
    ]
    table = ok(ringfort("recording", "rule", "list")).splitlines()
    assert table[0].split() == ["ID", "KIND", "TARGET", "DIRECTION", "RECORDS"]
    assert "calls to numbers starting with 00" in table[4]

    assert ok(ringfort("recording", "rule", "delete", "2")) == (
        "deleted rule 2 (calls to extension 102)\n"
    )
    remaining = json.loads(ok(ringfort("recording", "rule", "list", "--json")))
    assert [rule["id"] for rule in remaining] == [1, 3, 4]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one of --extension, --number or --prefix"),
        (["--extension", "101", "--prefix", "00"], "exactly one of"),
        (["--number", "555", "--direction", "in"], "--direction goes with --extension only"),
        (["--extension", "10x"], "extension must be 1 to 20 of 0-9, * and #"),
        (["--prefix", "+44"], "prefix must be 1 to 20 of 0-9, * and #"),
    ],
)
def test_a_wrong_rule_is_refused_with_the_reason(
    ringfort: Run, args: list[str], message: str
) -> None:
    assert message in refused(ringfort("recording", "rule", "add", *args))


def test_a_duplicate_rule_and_an_unknown_id_are_refused(ringfort: Run) -> None:
    ok(ringfort("recording", "rule", "add", "--extension", "101", "--direction", "out"))

    duplicate = refused(
        ringfort("recording", "rule", "add", "--extension", "101", "--direction", "out")
    )
    assert "rule 1 already records calls from extension 101" in duplicate
    assert "recording rule 9 does not exist" in refused(
        ringfort("recording", "rule", "delete", "9")
    )


def test_recordings_are_listed_and_shown_with_their_pauses(ringfort: Run, data_dir: Path) -> None:
    ok(ringfort("init"))
    start = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    relative = record_call(data_dir, "1763805600.1", start, pauses=1)
    record_call(data_dir, "1763809200.2", start + timedelta(hours=1))

    listed = json.loads(ok(ringfort("recording", "list", "--json")))
    assert [item["uniqueid"] for item in listed] == ["1763809200.2", "1763805600.1"]
    assert listed[1]["path"] == relative
    assert (listed[1]["exists"], listed[1]["size"], listed[1]["seconds"]) == (True, 2004, 55.2)
    assert [pause["reason"] for pause in listed[1]["pauses"]] == ["hold"]

    table = ok(ringfort("recording", "list", "--until", "2026-11-22T10:30+00:00")).splitlines()
    assert len(table) == 2
    assert table[1].split()[3:6] == ["1763805600.1", "101", "102"]
    assert table[1].endswith(relative)
    assert ok(ringfort("recording", "list", "--since", "2026-11-23T00:00+00:00")) == (
        "no recordings\n"
    )

    shown = ok(ringfort("recording", "show", "1763805600.1"))
    assert "channels: 2 (stereo, caller left, callee right)" in shown
    assert "seconds of audio: 55.2" in shown
    assert "at 12.3 s: 4.8 s of hold (2026-11-22 10:00:14 UTC to" in shown
    as_json = json.loads(ok(ringfort("recording", "show", "1763805600.1", "--json")))
    assert as_json["metadata"]["left"] == "caller"

    assert "no call 404.1" in refused(ringfort("recording", "show", "404.1"))
    assert "expected an ISO 8601" in refused(ringfort("recording", "list", "--since", "soon"))


def test_a_recording_whose_file_went_is_listed_as_missing(ringfort: Run, data_dir: Path) -> None:
    ok(ringfort("init"))
    relative = record_call(data_dir, "u1", datetime(2026, 11, 22, 10, 0, tzinfo=UTC))
    (data_dir / "recordings" / relative).unlink()

    assert f"{relative} (missing)" in ok(ringfort("recording", "list"))


def test_purge_without_a_retention_asks_for_one(ringfort: Run) -> None:
    message = refused(ringfort("recording", "purge"))

    assert "--older-than" in message
    assert "RINGFORT_RECORDING__RETENTION_DAYS" in message


def test_purge_dry_run_then_for_real_using_the_retention_setting(
    ringfort: Run, data_dir: Path
) -> None:
    ok(ringfort("init"))
    now = datetime.now(UTC)
    old = record_call(data_dir, "old", now - timedelta(days=40))
    new = record_call(data_dir, "new", now - timedelta(days=1))
    retention = {"RINGFORT_RECORDING__RETENTION_DAYS": "30"}

    dry = ok(ringfort("recording", "purge", "--dry-run", env=retention))
    assert dry.startswith("would delete 1 recording that ended more than 30 days ago")
    assert f"  {old}" in dry
    assert "1 call record would no longer name a recording" in dry
    assert (data_dir / "recordings" / old).is_file()

    done = ok(ringfort("recording", "purge", env=retention))
    assert done.startswith("deleted 1 recording that ended more than 30 days ago")
    assert "2 files" in done
    assert not (data_dir / "recordings" / old).exists()
    assert (data_dir / "recordings" / new).is_file()
    listed = json.loads(ok(ringfort("recording", "list", "--json")))
    assert [item["uniqueid"] for item in listed] == ["new"]


def test_purge_older_than_overrides_the_setting_and_reports_as_json(
    ringfort: Run, data_dir: Path
) -> None:
    ok(ringfort("init"))
    old = record_call(data_dir, "old", datetime.now(UTC) - timedelta(days=10))

    report = json.loads(
        ok(
            ringfort(
                "recording", "purge", "--older-than", "7", "--json",
                env={"RINGFORT_RECORDING__RETENTION_DAYS": "365"},
            )
        )
    )  # fmt: skip

    assert report["recordings"] == [old]
    assert (report["older_than_days"], report["files"], report["cdr_rows_cleared"]) == (7, 2, 1)
    assert report["problems"] == []


def test_the_installed_command_manages_rules_and_refuses_a_purge_without_retention(
    ringfort_command: Run,
) -> None:
    ringfort = ringfort_command  # the installed command, end to end

    assert ok(ringfort("recording", "rule", "add", "--prefix", "00")).startswith("added rule 1")
    listed = json.loads(ok(ringfort("recording", "rule", "list", "--json")))
    assert [(rule["kind"], rule["target"]) for rule in listed] == [("prefix", "00")]
    assert "RINGFORT_RECORDING__RETENTION_DAYS" in refused(ringfort("recording", "purge"))
    assert ok(ringfort("recording", "purge", "--older-than", "1")).startswith(
        "deleted 0 recordings"
    )
