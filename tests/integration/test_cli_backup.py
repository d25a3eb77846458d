"""``ringfort backup`` as an administrator runs it: the installed command on real data
directories, checked by what is on disk afterwards."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from harness import ServerFactory

from ringfort.apps.voicemail import NewMessage
from ringfort.db import migrate
from ringfort.db.engine import make_engine
from ringfort.rtp.wav import encode_wav
from ringfort.services.database import Database
from ringfort.services.voicemail import VoicemailService

RINGFORT = Path(sys.executable).with_name("ringfort")
COMMAND_TIMEOUT = 120
RECEIVED = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


def ringfort(data_dir: Path, *args: str) -> Result:
    """The installed command, as a subprocess, on ``data_dir``."""
    if not RINGFORT.exists():
        pytest.skip(f"{RINGFORT} not installed (pip install -e . --no-deps)")
    env = {key: value for key, value in os.environ.items() if not key.startswith("RINGFORT_")}
    env["RINGFORT_DATA_DIR"] = str(data_dir)
    done = subprocess.run(
        [str(RINGFORT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def ok(data_dir: Path, *args: str) -> Result:
    result = ringfort(data_dir, *args)
    assert result.returncode == 0, result.stderr
    return result


def tone(seconds: float) -> bytes:
    samples = bytearray()
    for index in range(int(8000 * seconds)):
        samples += ((index * 53) % 16000 - 8000).to_bytes(2, "little", signed=True)
    return encode_wav(bytes(samples))


async def leave_message(data_dir: Path) -> None:
    """A caller's message, stored the way the voicemail application stores one."""
    db = Database(url=f"sqlite+aiosqlite:///{data_dir / 'ringfort.db'}")
    await db.open()
    try:
        service = VoicemailService(db, data_dir / "voicemail")
        file = service.new_file("101")
        file.write_bytes(tone(2.0))
        file.with_suffix(".json").write_text('{"caller": "4501"}')
        await service.save(NewMessage("101", "4501", '"" <4501>', RECEIVED, 2.0, file, "u-1"))
    finally:
        await db.close()


def files_of(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.startswith("ringfort.db")
    }


def rows_of(database: Path) -> dict[str, list[tuple[object, ...]]]:
    connection = sqlite3.connect(database)
    try:
        names = [
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        return {
            name: sorted(connection.execute(f'SELECT * FROM "{name}"'), key=repr)
            for name in sorted(names)
        }
    finally:
        connection.close()


def state_of(data_dir: Path) -> tuple[dict[str, str], dict[str, list[tuple[object, ...]]]]:
    return files_of(data_dir), rows_of(data_dir / "ringfort.db")


@pytest.fixture
def node(tmp_path: Path) -> Path:
    """A data directory with extensions, a message, a greeting, a recording and music."""
    data = tmp_path / "data"
    ok(data, "extension", "add", "101", "--name", "Anna")
    ok(data, "extension", "add", "102", "--name", "Boris")
    ok(data, "voicemail", "enable", "101")
    asyncio.run(leave_message(data))
    greetings = data / "voicemail" / "101" / "greetings"
    greetings.mkdir(parents=True)
    (greetings / "busy.wav").write_bytes(tone(1.0))
    day = data / "recordings" / "2026" / "12" / "02"
    day.mkdir(parents=True)
    (day / "call-1.wav").write_bytes(tone(4.0))
    (day / "call-1.json").write_text('{"uniqueid": "call-1"}')
    (data / "moh").mkdir()
    (data / "moh" / "01-tune.wav").write_bytes(tone(1.0))
    return data


def create(data: Path, *args: str) -> Path:
    made = json.loads(ok(data, "backup", "create", "--json", *args).stdout)
    return Path(made["archive"])


def test_backup_then_restore_into_an_empty_data_directory_brings_back_everything(
    node: Path, tmp_path: Path
) -> None:
    archive = create(node)
    fresh = tmp_path / "fresh"

    restored = ringfort(fresh, "backup", "restore", str(archive))

    assert restored.returncode == 0, restored.stderr
    assert "restored" in restored.stdout
    assert "schema" in restored.stdout
    files, rows = state_of(node)
    del files[f"backups/{archive.name}"]
    assert state_of(fresh) == (files, rows)
    listed = json.loads(ok(fresh, "voicemail", "list", "--json").stdout)
    assert [(m["mailbox"], m["caller"]) for m in listed] == [("101", "4501")]
    assert Path(listed[0]["file"]).read_bytes() == tone(2.0)
    numbers = [e["number"] for e in json.loads(ok(fresh, "extension", "list", "--json").stdout)]
    assert numbers == ["101", "102"]
    checked = ok(fresh, "backup", "verify", str(archive))
    assert ": ok," in checked.stdout


def spoiled(archive: Path, how: str, out: Path) -> Path:
    data = bytearray(archive.read_bytes())
    if how == "flipped":
        for offset in (len(data) // 3, len(data) // 2):
            data[offset] ^= 0x5A
    else:
        del data[len(data) * 2 // 3 :]
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize(("how", "said"), [("flipped", "is damaged"), ("cut", "is truncated")])
def test_a_corrupted_archive_is_refused_with_one_clear_line_and_nothing_changes(
    node: Path, tmp_path: Path, how: str, said: str
) -> None:
    archive = create(node)
    bad = spoiled(archive, how, tmp_path / "bad.tar.gz")
    before = state_of(node)
    siblings = sorted(p.name for p in tmp_path.iterdir())

    refused = ringfort(node, "backup", "restore", "--replace", str(bad))

    assert refused.returncode == 1
    assert refused.stdout == ""
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    assert said in lines[0]
    assert state_of(node) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == siblings
    checked = ringfort(node, "backup", "verify", str(bad))
    assert checked.returncode == 1
    assert said in checked.stderr


def test_restoring_over_data_asks_for_replace_and_keeps_the_old_copy(
    node: Path, tmp_path: Path
) -> None:
    archive = create(node)
    ok(node, "extension", "add", "103", "--name", "Added later")

    refused = ringfort(node, "backup", "restore", str(archive))
    assert refused.returncode == 2
    assert "--replace" in refused.stderr

    replaced = ok(node, "backup", "restore", "--replace", "--json", str(archive))
    result = json.loads(replaced.stdout)
    numbers = [e["number"] for e in json.loads(ok(node, "extension", "list", "--json").stdout)]
    assert numbers == ["101", "102"]
    (previous,) = result["previous"]
    assert Path(previous).name.startswith("data.before-restore-")
    assert "103" in str(rows_of(Path(previous) / "ringfort.db")["extensions"])
    assert result["carried_over"] == ["backups"]
    assert archive.is_file()


def newer_schema_copy(archive: Path, out: Path) -> Path:
    """The archive re-made (valid checksums) with its database claiming revision 9999."""
    with tarfile.open(archive) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]
    database = out.with_suffix(".db")
    database.write_bytes(members[0][1])
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    connection.close()
    content = database.read_bytes()
    manifest = json.loads(members[-1][1])
    manifest["schema_revision"] = "9999"
    manifest["members"][0].update(size=len(content), sha256=hashlib.sha256(content).hexdigest())
    members[0] = (members[0][0], content)
    members[-1] = (members[-1][0], json.dumps(manifest).encode())
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb") as packed,
        tarfile.open(fileobj=packed, mode="w") as tar,
    ):
        for member, data in members:
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    out.write_bytes(buffer.getvalue())
    return out


def test_an_archive_from_a_newer_schema_is_refused(node: Path, tmp_path: Path) -> None:
    newer = newer_schema_copy(create(node), tmp_path / "newer.tar.gz")
    fresh = tmp_path / "fresh"

    refused = ringfort(fresh, "backup", "restore", str(newer))

    assert refused.returncode == 1
    assert "schema revision 9999" in refused.stderr
    assert "newer Ringfort" in refused.stderr
    assert not fresh.exists()
    assert not list(tmp_path.glob("fresh*"))


async def old_node(data: Path) -> None:
    """A data directory an older Ringfort left: schema 0005, one extension."""
    url = f"sqlite+aiosqlite:///{data / 'ringfort.db'}"
    await migrate.upgrade(url, "0005")
    engine = make_engine(url)
    async with engine.begin() as connection:
        await connection.exec_driver_sql(
            "INSERT INTO extensions (number, name, sip_password, created_at, updated_at)"
            " VALUES ('201', 'Old Timer', 'an-old-password-1', '2025-01-01 00:00:00',"
            " '2025-01-01 00:00:00')"
        )
    await engine.dispose()


def test_a_backup_of_an_older_schema_is_migrated_on_restore(tmp_path: Path) -> None:
    old = tmp_path / "old"
    asyncio.run(old_node(old))
    archive = create(old, "--include", "none")
    assert asyncio.run(migrate.current_revision(f"sqlite:///{old / 'ringfort.db'}")) == "0005"
    fresh = tmp_path / "fresh"

    result = json.loads(ok(fresh, "backup", "restore", "--json", str(archive)).stdout)

    assert result["schema_revision"] == "0005"
    assert result["migrated_to"] == migrate.head_revision()
    listed = json.loads(ok(fresh, "extension", "list", "--json").stdout)
    assert [(e["number"], e["name"]) for e in listed] == [("201", "Old Timer")]


def test_keep_trims_the_backup_directory_and_list_shows_the_rest(node: Path) -> None:
    create(node, "--include", "none")
    made = json.loads(
        ok(node, "backup", "create", "--json", "--include", "none", "--keep", "1").stdout
    )
    listed = json.loads(ok(node, "backup", "list", "--json").stdout)
    assert [item["archive"] for item in listed] == [made["archive"]]
    assert len(made["removed"]) == 1


def test_bad_include_is_a_usage_error(node: Path) -> None:
    refused = ringfort(node, "backup", "create", "--include", "recordings,photos")
    assert refused.returncode == 2
    assert "unknown backup part photos" in refused.stderr


@pytest.mark.parametrize("command", ["create", "restore", "verify", "list"])
def test_every_backup_command_explains_itself(tmp_path: Path, command: str) -> None:
    helped = ok(tmp_path, "backup", command, "--help")
    assert "Usage: ringfort backup" in helped.stdout
    assert len(helped.stdout.splitlines()) > 5


def test_a_running_server_backs_up_on_its_schedule_and_blocks_a_restore(
    ringfort_factory: ServerFactory,
) -> None:
    server = ringfort_factory(
        env={"RINGFORT_BACKUP__SCHEDULE": "* * * * *", "RINGFORT_BACKUP__KEEP": "1"}
    )
    data = server.data_dir
    ok(data, "extension", "add", "101", "--name", "Anna")
    # The schedule fires on each minute and, keeping 1, prunes older archives: the one
    # made next must outlive the restore attempt, so it is not made just before a minute.
    if time.time() % 60 > 45:
        time.sleep(62 - time.time() % 60)

    online = create(data, "--include", "none")  # while the server runs
    refused = ringfort(data, "backup", "restore", "--replace", str(online))
    assert refused.returncode == 1
    assert "server is running" in refused.stderr

    # The schedule fires at the next minute; with keep 1, only its archive stays.
    deadline = time.monotonic() + 75
    while time.monotonic() < deadline:
        listed = json.loads(ok(data, "backup", "list", "--json").stdout)
        if [item["archive"] for item in listed] != [str(online)] and len(listed) == 1:
            break
        time.sleep(1)
    else:
        pytest.fail(f"no scheduled backup replaced {online.name}:\n{server.log(40)}")
    assert "written" in server.log(200)

    server.stop()
    restored = ok(data, "backup", "restore", "--replace", listed[0]["archive"])
    assert "restored" in restored.stdout
