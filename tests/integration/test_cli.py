"""The real ``ringfort`` command, run as a subprocess on a data directory of its own."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Protocol

import pytest

from ringfort.db.migrate import HEAD_REVISION
from ringfort.pbx.ports import Binding, BlockedAddress
from ringfort.services.database import Database
from ringfort.services.store_ports import SqlBindingStore, SqlBlockStore

RINGFORT = Path(sys.executable).with_name("ringfort")
COMMAND_TIMEOUT = 60


def environment(data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RINGFORT_")}
    env["RINGFORT_DATA_DIR"] = str(data_dir)
    return env


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


class Run(Protocol):
    def __call__(
        self, *args: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]: ...


@pytest.fixture
def ringfort(data_dir: Path) -> Run:
    """Run ``ringfort ARGS...`` on the test's data directory."""
    if not RINGFORT.exists():
        pytest.skip(f"{RINGFORT} not installed (pip install -e . --no-deps)")

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(RINGFORT), *args],
            env=environment(data_dir),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )

    return run


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def password_in(output: str) -> str:
    match = re.search(r"^password: (\S+)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["init"],
        ["serve"],
        ["status"],
        ["extension"],
        ["extension", "add"],
        ["extension", "list"],
        ["extension", "remove"],
        ["extension", "set-password"],
        ["cdr"],
        ["cdr", "list"],
        ["ivr"],
        ["timecond"],
        ["recording"],
        ["user"],
        ["user", "add"],
        ["did"],
        ["did", "add"],
        ["user", "token"],
        ["voicemail", "set-pin"],
        ["voicemail", "options"],
        ["voicemail", "greeting"],
    ],
)
def test_every_command_explains_itself(ringfort: Run, command: list[str]) -> None:
    out = ok(ringfort(*command, "--help"))

    assert out.startswith("Usage: ringfort")
    assert "Traceback" not in out


def test_init_creates_the_data_directory_and_database(ringfort: Run, data_dir: Path) -> None:
    out = ok(ringfort("init"))

    assert (data_dir / "ringfort.db").is_file()
    assert f"data directory: {data_dir}" in out
    assert "ringfort.db" in out
    assert f"{HEAD_REVISION} (migrated now)" in out
    assert f"{HEAD_REVISION} (up to date)" in ok(ringfort("init"))


def test_init_demo_creates_101_and_102_once(ringfort: Run) -> None:
    first = ok(ringfort("init", "--demo"))
    second = ok(ringfort("init", "--demo"))

    assert re.search(r"^  101  Demo 101  password: [A-Za-z0-9]{20}$", first, re.MULTILINE)
    assert re.search(r"^  102  Demo 102  password: [A-Za-z0-9]{20}$", first, re.MULTILINE)
    assert "password:" not in second
    assert "101 and 102 already exist" in second


def test_a_fresh_data_directory_just_works_without_init(ringfort: Run, data_dir: Path) -> None:
    assert json.loads(ok(ringfort("extension", "list", "--json"))) == []
    assert (data_dir / "ringfort.db").is_file()


def test_extension_add_list_set_password_remove(ringfort: Run) -> None:
    added = ok(ringfort("extension", "add", "201", "--name", "Front desk"))
    assert "added extension 201 (Front desk)" in added
    assert re.fullmatch(r"[A-Za-z0-9]{20}", password_in(added))

    given = ok(ringfort("extension", "add", "1000", "--name", "Sales", "--password", "s3cret-pw"))
    assert "password:" not in given
    ok(ringfort("extension", "add", "202", "--name", "Back office"))

    listed = json.loads(ok(ringfort("extension", "list", "--json")))
    assert [entry["number"] for entry in listed] == ["201", "202", "1000"]
    fields = {"number", "name", "created_at", "dnd", "forward_always", "forward_busy"}
    assert all(set(entry) == {*fields, "forward_no_answer"} for entry in listed)
    assert (listed[0]["dnd"], listed[0]["forward_busy"]) == (False, None)
    assert listed[0]["name"] == "Front desk"
    assert listed[0]["created_at"].endswith("+00:00")

    table = ok(ringfort("extension", "list")).splitlines()
    assert table[0].split() == ["NUMBER", "NAME", "CREATED", "FORWARDING"]
    assert table[1].startswith("201  ")
    assert table[1].rstrip().endswith("  -")

    assert re.fullmatch(
        r"[A-Za-z0-9]{20}", password_in(ok(ringfort("extension", "set-password", "201")))
    )
    changed = ok(ringfort("extension", "set-password", "201", "--password", "another-pw"))
    assert "password of extension 201 changed" in changed

    assert "removed extension 202" in ok(ringfort("extension", "remove", "202"))
    remaining = json.loads(ok(ringfort("extension", "list", "--json")))
    assert [entry["number"] for entry in remaining] == ["201", "1000"]


def test_a_password_can_come_from_standard_input(ringfort: Run) -> None:
    out = ok(
        ringfort("extension", "add", "201", "--name", "A", "--password", "-", stdin="piped-pw1\n")
    )
    assert "password:" not in out

    bad = ringfort("extension", "set-password", "201", "--password", "-", stdin="short\n")
    assert bad.returncode == 2
    assert "error: password" in bad.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["extension", "add", "1", "--name", "A"], "error: number must be 2 to 15 digits"),
        (["extension", "add", "12a", "--name", "A"], "error: number must be 2 to 15 digits"),
        (["extension", "add", "201", "--name", ""], "error: name must not be empty"),
        (
            ["extension", "add", "201", "--name", "A", "--password", "short"],
            "error: password must be at least 8 characters",
        ),
        (["extension", "remove", "999"], "error: extension 999 does not exist"),
        (["extension", "set-password", "999"], "error: extension 999 does not exist"),
        (["cdr", "list", "--since", "yesterday"], "error: since: expected an ISO 8601"),
    ],
)
def test_bad_input_prints_an_error_naming_the_field_and_exits_2(
    ringfort: Run, args: list[str], message: str
) -> None:
    result = ringfort(*args)

    assert result.returncode == 2
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_duplicate_number_is_refused(ringfort: Run) -> None:
    ok(ringfort("extension", "add", "201", "--name", "A"))

    result = ringfort("extension", "add", "201", "--name", "B")

    assert result.returncode == 2
    assert result.stderr == "error: extension 201 already exists\n"
    listed = json.loads(ok(ringfort("extension", "list", "--json")))
    assert [entry["name"] for entry in listed] == ["A"]


def test_an_unusable_data_directory_fails_with_a_message(ringfort: Run, data_dir: Path) -> None:
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    data_dir.write_text("a file, not a directory")

    result = ringfort("extension", "list")

    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr


def test_status_when_nothing_is_registered(ringfort: Run) -> None:
    assert json.loads(ok(ringfort("status", "--json"))) == {
        "registrations": [],
        "blocked": [],
        "voicemail_email": {"pending": 0, "failed": 0, "last_error": None},
    }
    out = ok(ringfort("status"))
    assert "registrations: 0" in out
    assert "blocked addresses: 0" in out
    assert "voicemail e-mail" not in out  # said only when some is waiting


def test_status_shows_what_a_server_stored(ringfort: Run, data_dir: Path) -> None:
    far_future = time.time() + 3600

    async def store() -> None:
        async with Database(url=f"sqlite+aiosqlite:///{data_dir / 'ringfort.db'}") as db:
            await SqlBindingStore(db=db).save_bindings(
                [
                    Binding(
                        number="101",
                        contact="sip:101@10.0.0.4:5060",
                        expires_at=far_future,
                        call_id="c1",
                        cseq=1,
                        q=None,
                        transport="UDP",
                        source_host="203.0.113.9",
                        source_port=40123,
                        behind_nat=True,
                        user_agent="Deskphone/2.1",
                    )
                ],
                [],
            )
            await SqlBlockStore(db=db).save_block(
                BlockedAddress("198.51.100.7", far_future, 10, "failed authentication")
            )

    asyncio.run(store())

    status = json.loads(ok(ringfort("status", "--json")))

    (registration,) = status["registrations"]
    assert set(registration) == {
        "number",
        "contact",
        "source",
        "transport",
        "expires_in",
        "user_agent",
        "behind_nat",
    }
    assert registration["source"] == "203.0.113.9:40123"
    assert 3500 < registration["expires_in"] <= 3600
    (block,) = status["blocked"]
    assert set(block) == {"address", "blocked_until", "seconds_left", "failures", "reason"}
    assert block["address"] == "198.51.100.7"
    assert "sip:101@10.0.0.4:5060" in ok(ringfort("status"))


def test_cdr_list_is_empty_before_any_call(ringfort: Run) -> None:
    assert json.loads(ok(ringfort("cdr", "list", "--json"))) == []
    assert "no call records" in ok(ringfort("cdr", "list", "--since", "2024-05-31"))


def test_global_data_dir_option_beats_the_environment(ringfort: Run, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"

    ok(ringfort("--data-dir", str(other), "init"))

    assert (other / "ringfort.db").is_file()


def test_a_bad_listen_address_for_serve_is_a_usage_error(ringfort: Run) -> None:
    result = ringfort("serve", "--sip", "nonsense")

    assert result.returncode == 2
    assert "HOST:PORT" in result.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("ringfort.runtime") is None, reason="ringfort.runtime not written yet"
)
def test_serve_starts_and_stops_cleanly_on_sigint(data_dir: Path) -> None:
    process = subprocess.Popen(
        [str(RINGFORT), "serve", "--sip", "127.0.0.1:0", "--http", "127.0.0.1:0", "--demo"],
        env=environment(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        lines = []
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Ringfort ready"):
                break
        assert any(line.startswith("Ringfort ready") for line in lines), lines
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.mark.skipif(
    resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 4096, reason="hard open-file limit below 4096"
)
def test_serve_raises_its_open_file_limit_and_says_when_it_is_short(data_dir: Path) -> None:
    def limited() -> None:
        # A service's default soft limit, under a hard limit too low for 1000 calls.
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 4096))

    process = subprocess.Popen(
        [str(RINGFORT), "serve", "--sip", "127.0.0.1:0", "--http", "127.0.0.1:0"],
        env=environment(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limited,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        ready = False
        while time.monotonic() < deadline and not ready:
            line = process.stdout.readline()
            if not line:
                break
            ready = line.startswith("Ringfort ready")
        assert ready
        limits = Path(f"/proc/{process.pid}/limits").read_text()
        [open_files] = [line for line in limits.splitlines() if line.startswith("Max open files")]
        assert open_files.split()[3:5] == ["4096", "4096"], open_files
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=30)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert "open-file limit (4096) is short of the 5024" in errors, errors
    assert "calls past about 768 will be refused" in errors, errors
