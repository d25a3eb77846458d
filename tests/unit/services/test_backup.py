"""Backup and restore of a whole node: real databases, real files, real archives."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sqlite3
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ringfort.apps.voicemail import NewMessage
from ringfort.cron import CronSchedule
from ringfort.db import migrate
from ringfort.db.engine import make_engine
from ringfort.db.models import Base
from ringfort.rtp.wav import encode_wav
from ringfort.services.backup import BackupLayout, BackupService, RestoreRefusedError
from ringfort.services.backup_archive import ArchiveDamagedError, BackupError
from ringfort.services.backup_database import SchemaTooNewError, copy_rows, known_revisions
from ringfort.services.backup_schedule import ScheduledBackups
from ringfort.services.data_directory import DataDirectoryInUseError, DataDirectoryLock
from ringfort.services.database import Database
from ringfort.services.extensions import ExtensionService
from ringfort.services.voicemail import VoicemailService
from ringfort.settings import Settings

RECEIVED = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
PG_URL_VARIABLE = "RINGFORT_TEST_PG_URL"


def leftovers(directory: Path, pattern: str) -> list[Path]:
    return list(directory.glob(pattern))


def settings_for(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir)


def service_for(settings: Settings) -> BackupService:
    return BackupService(
        layout=BackupLayout.from_settings(settings), directory=settings.backup_directory
    )


def tone(seconds: float) -> bytes:
    """A WAV of a rising sawtooth: audio that is not all zeros, so compression is real."""
    samples = bytearray()
    for index in range(int(8000 * seconds)):
        samples += ((index * 37) % 20000 - 10000).to_bytes(2, "little", signed=True)
    return encode_wav(bytes(samples))


async def populate(settings: Settings) -> None:
    """A node with extensions, a voicemail message (and a greeting), a recording, music."""
    db = Database(url=settings.effective_database_url)
    await db.open()
    try:
        extensions = ExtensionService(db=db)
        await extensions.add("101", "Anna")
        await extensions.add("102", "Boris")
        voicemail = VoicemailService(db, settings.voicemail_directory)
        await voicemail.set_enabled("101", True)
        file = voicemail.new_file("101")
        file.write_bytes(tone(2.0))
        file.with_suffix(".json").write_text('{"caller": "4501"}')
        await voicemail.save(NewMessage("101", "4501", '"" <4501>', RECEIVED, 2.0, file, "u-1"))
    finally:
        await db.close()
    greetings = settings.voicemail_directory / "101" / "greetings"
    greetings.mkdir(parents=True)
    (greetings / "unavailable.wav").write_bytes(tone(1.0))
    day = settings.recording_directory / "2026" / "12" / "02"
    day.mkdir(parents=True)
    (day / "call-1.wav").write_bytes(tone(3.0))
    (day / "call-1.json").write_text('{"uniqueid": "call-1"}')
    settings.moh_directory.mkdir(parents=True)
    (settings.moh_directory / "01-tune.wav").write_bytes(tone(1.5))
    (settings.prompts_directory / "en").mkdir(parents=True)
    (settings.prompts_directory / "en" / "welcome.wav").write_bytes(tone(0.5))


def checksums(root: Path) -> dict[str, str]:
    """Every file under ``root`` (the database files aside) by its SHA-256."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith("ringfort.db"):
            found[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def dump_sqlite(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, sorted, to compare two databases by content."""
    connection = sqlite3.connect(path)
    try:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            table: sorted(connection.execute(f'SELECT * FROM "{table}"'), key=repr)
            for table in tables
        }
    finally:
        connection.close()


def snapshot_of(root: Path) -> dict[str, object]:
    """All a directory holds, database rows included, for 'untouched' checks."""
    return {
        "files": checksums(root),
        "database": dump_sqlite(root / "ringfort.db"),
        "names": sorted(p.name for p in root.parent.iterdir()),
    }


@pytest.fixture
async def backed_up(tmp_path: Path) -> tuple[Settings, Path]:
    settings = settings_for(tmp_path / "data")
    await populate(settings)
    result = await service_for(settings).create()
    return settings, result.path


async def test_a_restore_into_an_empty_data_directory_brings_back_everything(
    backed_up: tuple[Settings, Path], tmp_path: Path
) -> None:
    settings, archive = backed_up
    assert archive.name.startswith("ringfort-backup-")
    assert archive.suffixes == [".tar", ".gz"]
    assert archive.stat().st_mode & 0o777 == 0o600
    fresh = settings_for(tmp_path / "fresh")

    result = await service_for(fresh).restore(archive)

    original = checksums(settings.data_dir)
    del original[f"backups/{archive.name}"]
    assert checksums(fresh.data_dir) == original
    assert "voicemail/101/greetings/unavailable.wav" in original
    assert "recordings/2026/12/02/call-1.wav" in original
    assert dump_sqlite(fresh.data_dir / "ringfort.db") == dump_sqlite(
        settings.data_dir / "ringfort.db"
    )
    assert result.previous == ()
    assert result.carried_over == ()
    assert result.schema_revision == known_revisions()[-1]
    assert result.manifest.parts == ("recordings", "voicemail", "prompts", "moh")
    db = Database(url=fresh.effective_database_url)
    await db.open()
    try:
        messages = await VoicemailService(db, fresh.voicemail_directory).messages("101")
        assert [(m.caller, m.received_at) for m in messages] == [("4501", RECEIVED)]
        assert messages[0].path.endswith(".wav")
    finally:
        await db.close()
    assert (fresh.voicemail_directory / messages[0].path).read_bytes() == tone(2.0)
    assert not leftovers(tmp_path, "*.restore-*")


async def test_include_limits_the_files_and_the_database_is_always_there(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path / "data")
    await populate(settings)
    result = await service_for(settings).create(parts=("voicemail",))
    names = [member.path for member in result.manifest.members]
    assert names[0] == "database.sqlite"
    assert any(name.startswith("voicemail/101/") for name in names)
    assert not any(name.startswith(("recordings/", "moh/", "prompts/")) for name in names)
    with tarfile.open(result.path) as tar:
        assert tar.getnames()[-1] == "manifest.json"


def flip_byte(path: Path, at: float) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path, at: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * at)])


def rewrite(path: Path, change: str) -> None:
    """Repack the archive as valid gzip and tar, but altered inside."""
    with tarfile.open(path) as tar:
        members = [(member, tar.extractfile(member).read()) for member in tar]  # type: ignore[union-attr]
    out = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=out, mode="wb") as compressed,
        tarfile.open(fileobj=compressed, mode="w") as tar,
    ):
        for member, data in members:
            if change == "drop manifest" and member.name == "manifest.json":
                continue
            if change == "alter a recording" and member.name.endswith("call-1.wav"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            tar.addfile(member, io.BytesIO(data))
            if change == "add a member" and member.name == "database.sqlite":
                extra = tarfile.TarInfo("voicemail/101/extra.wav")
                extra.size = 4
                tar.addfile(extra, io.BytesIO(b"RIFF"))
    path.write_bytes(out.getvalue())


DAMAGE: dict[str, tuple[Callable[[Path], object], str]] = {
    "a flipped byte": (lambda path: flip_byte(path, 0.5), "damaged"),
    "a flipped byte in the gzip trailer": (lambda path: flip_byte(path, 0.9999), "damaged"),
    "truncated": (lambda path: truncate(path, 0.6), "truncated"),
    "cut at the end": (lambda path: truncate(path, 0.999), "truncated"),
    "no manifest": (lambda path: rewrite(path, "drop manifest"), "no manifest.json"),
    "an altered file": (
        lambda path: rewrite(path, "alter a recording"),
        "call-1.wav does not match its checksum",
    ),
    "an extra file": (
        lambda path: rewrite(path, "add a member"),
        "extra.wav, which its manifest does not list",
    ),
    "not a backup": (lambda path: path.write_bytes(b"hello"), "damaged"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
async def test_a_damaged_archive_is_refused_and_the_data_is_untouched(
    backed_up: tuple[Settings, Path], tmp_path: Path, damage: str
) -> None:
    _settings, archive = backed_up
    spoil, message = DAMAGE[damage]
    spoiled = tmp_path / "spoiled.tar.gz"
    spoiled.write_bytes(archive.read_bytes())
    spoil(spoiled)
    target = settings_for(tmp_path / "target")
    await populate(target)
    before = snapshot_of(target.data_dir)

    with pytest.raises(ArchiveDamagedError, match=message):
        await service_for(target).restore(spoiled, replace=True)
    with pytest.raises(ArchiveDamagedError, match=message):
        await service_for(target).verify(spoiled)

    assert snapshot_of(target.data_dir) == before


async def test_restoring_over_data_needs_replace_and_keeps_the_old_data_beside(
    backed_up: tuple[Settings, Path], tmp_path: Path
) -> None:
    _settings, archive = backed_up
    now = datetime(2027, 1, 5, 8, 0, tzinfo=UTC)
    target = settings_for(tmp_path / "target")
    db = Database(url=target.effective_database_url)
    await db.open()
    await ExtensionService(db=db).add("555", "Somebody else")
    await db.close()
    (target.data_dir / "backups").mkdir()
    (target.data_dir / "backups" / "keep-me.tar.gz").write_bytes(b"mine")
    before = snapshot_of(target.data_dir)

    with pytest.raises(RestoreRefusedError, match="--replace"):
        await service_for(target).restore(archive)
    assert snapshot_of(target.data_dir) == before

    result = await service_for(target).restore(archive, replace=True, now=now)

    old = tmp_path / "target.before-restore-20270105T080000Z"
    assert result.previous == (old,)
    assert dump_sqlite(old / "ringfort.db") == before["database"]
    assert result.carried_over == ("backups",)
    assert (target.data_dir / "backups" / "keep-me.tar.gz").read_bytes() == b"mine"
    rows = dump_sqlite(target.data_dir / "ringfort.db")["extensions"]
    assert sorted(str(row[1]) for row in rows) == ["101", "102"]


async def test_the_archive_may_live_in_the_data_directory_it_restores(
    backed_up: tuple[Settings, Path],
) -> None:
    settings, archive = backed_up
    await service_for(settings).restore(archive, replace=True)
    assert archive.is_file()  # moved along with backups/ into the new data directory


async def test_restore_is_refused_while_a_server_holds_the_data_directory(
    backed_up: tuple[Settings, Path], tmp_path: Path
) -> None:
    settings, archive = backed_up
    with DataDirectoryLock(settings.data_dir) as server:
        server.hold_shared()
        with pytest.raises(DataDirectoryInUseError, match="server is running"):
            await service_for(settings).restore(archive, replace=True)
    assert not leftovers(tmp_path, "*.restore-*")
    await service_for(settings).restore(archive, replace=True)


async def test_a_server_cannot_start_during_a_restore(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "ringfort.lock").touch()
    with DataDirectoryLock(tmp_path / "data") as restore:
        restore.hold_exclusive()
        with pytest.raises(DataDirectoryInUseError, match="restore"):
            DataDirectoryLock(tmp_path / "data").hold_shared()


def with_revision(archive: Path, revision: str, out: Path) -> None:
    """A copy of ``archive`` whose database claims ``revision``, with a matching manifest."""
    with tarfile.open(archive) as tar:
        members = [(member, tar.extractfile(member).read()) for member in tar]  # type: ignore[union-attr]
    database = out.with_suffix(".db")
    database.write_bytes(members[0][1])
    connection = sqlite3.connect(database)
    connection.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    connection.commit()
    connection.close()
    members[0] = (members[0][0], database.read_bytes())
    manifest = json.loads(members[-1][1])
    manifest["schema_revision"] = revision
    manifest["members"][0]["size"] = len(members[0][1])
    manifest["members"][0]["sha256"] = hashlib.sha256(members[0][1]).hexdigest()
    members[-1] = (members[-1][0], json.dumps(manifest).encode())
    with tarfile.open(out, "w:gz") as tar:
        for member, data in members:
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))


async def test_an_archive_from_a_newer_schema_is_refused(
    backed_up: tuple[Settings, Path], tmp_path: Path
) -> None:
    _, archive = backed_up
    newer = tmp_path / "newer.tar.gz"
    with_revision(archive, "9999", newer)
    target = settings_for(tmp_path / "target")

    with pytest.raises(SchemaTooNewError, match="revision 9999, which this Ringfort does not"):
        await service_for(target).restore(newer)
    with pytest.raises(SchemaTooNewError, match="newer Ringfort"):
        await service_for(target).verify(newer)
    assert not target.data_dir.exists()
    assert not leftovers(tmp_path, "target*")


async def test_an_older_database_is_migrated_on_restore(tmp_path: Path) -> None:
    old = settings_for(tmp_path / "old")
    url = old.effective_database_url
    await migrate.upgrade(url, "0005")
    engine = make_engine(url)
    async with engine.begin() as connection:
        await connection.exec_driver_sql(
            "INSERT INTO extensions (number, name, sip_password, created_at, updated_at)"
            " VALUES ('201', 'Old Timer', 'secret-pw-1234', '2026-01-01 00:00:00',"
            " '2026-01-01 00:00:00')"
        )
    await engine.dispose()

    result = await service_for(old).create()
    assert result.manifest.schema_revision == "0005"
    assert await migrate.current_revision(url) == "0005"  # the source is not migrated
    new = settings_for(tmp_path / "new")
    restored = await service_for(new).restore(result.path)

    assert restored.schema_revision == known_revisions()[-1] != "0005"
    db = Database(url=new.effective_database_url)
    await db.open()
    try:
        assert not db.migrated_on_open
        found = await ExtensionService(db=db).list()
        assert [(e.number, e.name) for e in found] == [("201", "Old Timer")]
    finally:
        await db.close()


async def test_nothing_to_back_up_without_a_database(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "none")
    with pytest.raises(BackupError, match="no database at"):
        await service_for(settings).create()
    assert not list((tmp_path / "none" / "backups").iterdir())


async def test_retention_keeps_the_newest_n_and_touches_nothing_else(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data")
    await populate(settings)
    service = service_for(settings)
    start = datetime(2026, 12, 1, 3, 30, tzinfo=UTC)
    made = [(await service.create(now=start + timedelta(days=day))).path for day in range(4)]
    foreign = settings.backup_directory / "ringfort-backup-notes.txt"
    foreign.write_text("mine")

    removed = service.prune(2)

    assert sorted(removed) == made[:2]
    assert [info.path for info in service.archives()] == made[:1:-1]
    assert foreign.exists()


async def test_an_archive_gone_while_listing_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server's schedule prunes while ``backup list`` runs: the directory
    # listing still names an archive that is gone by the time it is looked at.
    settings = settings_for(tmp_path / "data")
    await populate(settings)
    service = service_for(settings)
    start = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    pruned, kept = [(await service.create(now=start + timedelta(days=d))).path for d in (0, 1)]
    listing = [kept, pruned]
    pruned.unlink()
    monkeypatch.setattr(Path, "iterdir", lambda self: iter(listing))

    assert [info.path for info in service.archives()] == [kept]
    assert service.prune(1) == []


async def test_the_schedule_makes_a_backup_and_applies_the_retention(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data")
    await populate(settings)
    service = service_for(settings)
    clock = datetime(2026, 12, 2, 3, 0, tzinfo=UTC).timestamp()
    scheduled = ScheduledBackups(
        backups=service,
        schedule=CronSchedule.parse("30 3 * * *"),
        keep=1,
        parts=("voicemail",),
        zone=UTC,
        wall=lambda: clock,
    )
    assert scheduled.next_due() == datetime(2026, 12, 2, 3, 30, tzinfo=UTC)
    first = await scheduled.run_once()
    second = await scheduled.run_once()
    assert [info.path for info in service.archives()] == [second.path]
    assert not first.path.exists()
    assert second.manifest.parts == ("voicemail",)


async def test_rows_copy_between_databases_as_the_postgresql_path_does(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data")
    await populate(settings)
    copy = tmp_path / "copy.db"
    await migrate.upgrade(f"sqlite+aiosqlite:///{copy}")
    source_engine = make_engine(settings.effective_database_url)
    target_engine = make_engine(f"sqlite+aiosqlite:///{copy}")
    try:
        async with source_engine.connect() as source, target_engine.begin() as target:
            copied = await copy_rows(source, target)
        assert copied >= 3  # two extensions, one message
        async with target_engine.connect() as target:
            received = await first_message_time(target)
        assert received == RECEIVED.replace(tzinfo=None)
    finally:
        await source_engine.dispose()
        await target_engine.dispose()
    assert dump_sqlite(copy) == dump_sqlite(settings.data_dir / "ringfort.db")


async def first_message_time(connection: AsyncConnection) -> object:
    metadata = MetaData()
    await connection.run_sync(lambda sync: metadata.reflect(sync, only=["voicemail_messages"]))
    table = metadata.tables["voicemail_messages"]
    return (await connection.execute(select(table.c.received_at))).scalar_one()


async def test_files_keep_their_times_and_the_key_stays_private(
    backed_up: tuple[Settings, Path], tmp_path: Path
) -> None:
    settings, archive = backed_up
    key = settings.data_dir / "node.key"
    key.write_text("00" * 32)
    os.chmod(key, 0o600)
    wav = settings.recording_directory / "2026" / "12" / "02" / "call-1.wav"
    os.utime(wav, (1_700_000_000, 1_700_000_000))
    archive = (await service_for(settings).create()).path
    fresh = settings_for(tmp_path / "fresh")
    await service_for(fresh).restore(archive)
    restored = fresh.recording_directory / "2026" / "12" / "02" / "call-1.wav"
    assert restored.stat().st_mtime == 1_700_000_000
    assert (fresh.data_dir / "node.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.postgres
async def test_postgresql_backs_up_and_restores_both_ways(tmp_path: Path) -> None:
    url = os.environ.get(PG_URL_VARIABLE)
    if not url:
        pytest.skip(f"{PG_URL_VARIABLE} is not set")
    await reset_postgres(url)
    try:
        node = Settings(data_dir=tmp_path / "pg-node", database_url=url)
        await populate(node)
        made = await service_for(node).create()
        assert made.manifest.source_database == "postgresql"

        # Into SQLite: the same rows, timestamps still UTC.
        sqlite_node = settings_for(tmp_path / "sqlite-node")
        await service_for(sqlite_node).restore(made.path)
        assert await listing(sqlite_node) == await listing(node)

        # Back into PostgreSQL over changed data, in one transaction.
        db = Database(url=url)
        await db.open()
        await ExtensionService(db=db).add("555", "Changed since")
        await db.close()
        again = await service_for(sqlite_node).create()
        restored = await service_for(node).restore(again.path, replace=True)
        assert restored.schema_revision == known_revisions()[-1]
        assert await listing(node) == await listing(sqlite_node)
        db = Database(url=url)
        await db.open()
        await ExtensionService(db=db).add("556", "After restore")  # ids carry on past the copy
        await db.close()
    finally:
        await reset_postgres(url)


async def reset_postgres(url: str) -> None:
    """Drop Ringfort's tables (and nothing else), as the unit tests' PostgreSQL fixture does."""
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            for table in [*Base.metadata.sorted_tables, "alembic_version"]:
                await connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}" CASCADE')
    finally:
        await engine.dispose()


async def listing(settings: Settings) -> tuple[object, ...]:
    db = Database(url=settings.effective_database_url)
    await db.open()
    try:
        extensions = [(e.number, e.name) for e in await ExtensionService(db=db).list()]
        messages = await VoicemailService(db, settings.voicemail_directory).messages()
        return extensions, [(m.mailbox, m.caller, m.received_at, m.path) for m in messages]
    finally:
        await db.close()
