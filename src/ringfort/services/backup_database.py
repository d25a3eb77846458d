"""The database in a backup: a consistent snapshot taken while the server runs, and its load.

A snapshot is always an SQLite file at the schema revision of the database it was
taken from, whatever that database is:

- from SQLite, with SQLite's online backup API, which copies the pages of one read
  transaction (the server keeps writing; WAL readers never block it);
- from PostgreSQL, by reading every table in one ``REPEATABLE READ`` transaction into
  an SQLite file whose schema Alembic built at the same revision.

Loading goes the other way: into SQLite the snapshot file simply becomes the database;
into PostgreSQL its rows are copied in one transaction. Either way Alembic then brings
the schema up to this Ringfort's head, so an older backup is migrated on restore.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table, func, inspect, pool, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from ringfort.db import migrate
from ringfort.db.engine import is_sqlite, make_engine, sqlite_path
from ringfort.services.backup_archive import ArchiveDamagedError, BackupError

__all__ = [
    "SchemaTooNewError",
    "check_known_revision",
    "copy_rows",
    "database_holds_data",
    "load_into_postgresql",
    "snapshot_database",
    "snapshot_revision",
    "sqlite_url",
    "upgrade_sqlite",
]

_BATCH_ROWS = 1000


class SchemaTooNewError(BackupError):
    """The backup's database is at a schema revision this Ringfort does not know (newer)."""


def sqlite_url(path: Path) -> str:
    """The async SQLAlchemy URL of the SQLite file ``path``."""
    return f"sqlite+aiosqlite:///{path}"


def known_revisions() -> list[str]:
    """Every revision of the migration scripts, oldest first (read from Alembic)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    return [script.revision for script in reversed(list(scripts.walk_revisions()))]


def check_known_revision(revision: str) -> None:
    """:class:`SchemaTooNewError` unless this Ringfort's migrations know ``revision``."""
    known = known_revisions()
    if revision not in known:
        raise SchemaTooNewError(
            f"the backup's database is at schema revision {revision}, which this Ringfort"
            f" does not know (its newest is {known[-1]}): it was made by a newer Ringfort;"
            " restore it with that version or newer"
        )


def snapshot_revision(snapshot: Path) -> str:
    """The schema revision recorded in a snapshot file; ArchiveDamagedError if it has none."""
    try:
        connection = sqlite3.connect(f"{snapshot.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = connection.execute(f"SELECT version_num FROM {migrate.VERSION_TABLE}")  # noqa: S608
            revisions = [str(row[0]) for row in rows]
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise ArchiveDamagedError(f"the backup's database cannot be read ({exc})") from None
    if len(revisions) != 1:
        raise ArchiveDamagedError(
            f"the backup's database has {len(revisions)} schema revisions; expected one"
        )
    return revisions[0]


async def snapshot_database(url: str, target: Path) -> str:
    """Write a consistent snapshot of the database at ``url`` to the new file ``target``.

    Returns the schema revision it is at. The source is only read: it is neither
    migrated nor locked against the server's writes.
    """
    if is_sqlite(url):
        path = sqlite_path(url)
        if path is None:
            raise BackupError("an in-memory database cannot be backed up")
        if not path.is_file():
            raise BackupError(
                f"no database at {path}: nothing to back up (ringfort init creates one)"
            )
        try:
            await asyncio.to_thread(_sqlite_snapshot, path, target)
        except sqlite3.Error as exc:
            raise BackupError(f"cannot take a snapshot of {path}: {exc}") from None
    else:
        try:
            await _postgresql_snapshot(url, target)
        except (OSError, SQLAlchemyError, migrate.MigrationError) as exc:
            raise BackupError(f"cannot take a snapshot of the database: {exc}") from None
    await asyncio.to_thread(_seal, target)
    return snapshot_revision(target)


def _sqlite_snapshot(source: Path, target: Path) -> None:
    # Busy timeout: a checkpoint by the server may hold the file for a moment.
    origin = sqlite3.connect(source, timeout=30)
    try:
        copy = sqlite3.connect(target)
        try:
            # pages=-1 (the default): all pages in one step, under one read lock, so
            # the copy is of one moment even while the server commits.
            origin.backup(copy)
        finally:
            copy.close()
    finally:
        origin.close()


def _seal(snapshot: Path) -> None:
    """Make the snapshot one self-contained file (no WAL beside it) and check it."""
    connection = sqlite3.connect(snapshot)
    try:
        connection.execute("PRAGMA journal_mode=DELETE")
        (result,) = connection.execute("PRAGMA integrity_check").fetchone()
        if result != "ok":
            raise BackupError(f"the database snapshot failed SQLite's integrity check: {result}")
    finally:
        connection.close()


async def _postgresql_snapshot(url: str, target: Path) -> None:
    engine = make_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            # One snapshot for every table: rows committed meanwhile are not seen.
            connection = await connection.execution_options(isolation_level="REPEATABLE READ")
            await connection.execute(text("SET TRANSACTION READ ONLY"))
            revision = await connection.run_sync(_stored_revision)
            if revision is None:
                raise BackupError("the database has no schema yet: nothing to back up")
            check_known_revision(revision)
            await migrate.upgrade(sqlite_url(target), revision)
            copy_engine = make_engine(sqlite_url(target), poolclass=pool.NullPool)
            try:
                async with copy_engine.begin() as copy:
                    await copy_rows(connection, copy)
            finally:
                await copy_engine.dispose()
    finally:
        await engine.dispose()


def _stored_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table(migrate.VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {migrate.VERSION_TABLE}"))  # noqa: S608
    revisions = [str(row[0]) for row in rows]
    return revisions[0] if len(revisions) == 1 else None


def _reflect(connection: Connection) -> MetaData:
    metadata = MetaData()
    metadata.reflect(connection)
    return metadata


def _portable(value: Any, *, to_sqlite: bool) -> Any:
    """A value read from one database as the other stores it.

    Ringfort keeps every timestamp in UTC (``UtcDateTime``): SQLite as naive text,
    PostgreSQL as ``timestamptz``, which hands values back in the session's zone.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if to_sqlite else value
    return value


async def copy_rows(source: AsyncConnection, target: AsyncConnection) -> int:
    """Copy every row of every table from ``source`` to the empty tables of ``target``.

    Both must be at the same schema revision; tables go parents first, so foreign keys
    hold at every insert. Returns the number of rows copied.
    """
    source_tables = (await source.run_sync(_reflect)).tables
    target_metadata = await target.run_sync(_reflect)
    to_sqlite = target.dialect.name == "sqlite"
    copied = 0
    for table in target_metadata.sorted_tables:
        if table.name == migrate.VERSION_TABLE:
            continue
        origin = source_tables.get(table.name)
        if origin is None:
            raise BackupError(f"table {table.name} is missing from the source database")
        names = [column.name for column in table.columns if column.name in origin.columns]
        result = await source.stream(select(*(origin.columns[name] for name in names)))
        async for rows in result.partitions(_BATCH_ROWS):
            batch = [
                {
                    name: _portable(value, to_sqlite=to_sqlite)
                    for name, value in zip(names, row, strict=True)
                }
                for row in rows
            ]
            await target.execute(table.insert(), batch)
            copied += len(batch)
    if target.dialect.name == "postgresql":
        await _advance_sequences(target, target_metadata.sorted_tables)
    return copied


async def _advance_sequences(connection: AsyncConnection, tables: Iterable[Table]) -> None:
    """Move each id sequence past the ids copied in, so the next insert gets a fresh one."""
    for table in tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1 or keys[0].type.python_type is not int:
            continue
        key = keys[0]
        highest = (await connection.execute(select(func.max(key)))).scalar()
        await connection.execute(
            text("SELECT setval(pg_get_serial_sequence(:table, :column), :value, :called)"),
            {
                "table": table.name,
                "column": key.name,
                "value": highest if highest is not None else 1,
                "called": highest is not None,
            },
        )


async def upgrade_sqlite(path: Path) -> str:
    """Migrate the SQLite file ``path`` (a restored snapshot) to this Ringfort's head.

    Returns the revision it is at now.
    """
    try:
        await migrate.upgrade(sqlite_url(path))
    except (OSError, SQLAlchemyError, migrate.MigrationError) as exc:
        raise BackupError(f"cannot migrate the restored database: {exc}") from None
    await asyncio.to_thread(_seal, path)
    return snapshot_revision(path)


def _alembic(connection: Connection, command_name: str, revision: str) -> None:
    from alembic import command

    config = migrate.alembic_config()
    config.attributes["connection"] = connection
    getattr(command, command_name)(config, revision)


async def load_into_postgresql(snapshot: Path, url: str) -> str:
    """Replace the database at ``url`` with the snapshot's rows, then migrate it to head.

    One transaction (PostgreSQL's DDL is transactional): any failure leaves the
    database as it was. Returns the revision it is at now.
    """
    revision = snapshot_revision(snapshot)
    engine = make_engine(url, poolclass=pool.NullPool)
    origin_engine = make_engine(sqlite_url(snapshot), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            if await connection.run_sync(_stored_revision) is not None:
                await connection.run_sync(_alembic, "downgrade", "base")
            await connection.run_sync(_alembic, "upgrade", revision)
            async with origin_engine.connect() as origin:
                await copy_rows(origin, connection)
            await connection.run_sync(_alembic, "upgrade", "head")
            head = await connection.run_sync(_stored_revision)
            await connection.commit()
    except (OSError, SQLAlchemyError) as exc:
        raise BackupError(f"cannot load the database: {exc}") from None
    except Exception as exc:
        if type(exc).__module__.startswith("alembic"):
            raise BackupError(f"cannot load the database: {exc}") from None
        raise
    finally:
        await origin_engine.dispose()
        await engine.dispose()
    return str(head)


async def database_holds_data(url: str) -> bool:
    """True when the database at ``url`` exists and has a schema (so a restore replaces it)."""
    if is_sqlite(url):
        path = sqlite_path(url)
        return path is not None and path.is_file() and path.stat().st_size > 0
    try:
        return await migrate.current_revision(url) is not None
    except (OSError, SQLAlchemyError, migrate.MigrationError) as exc:
        raise BackupError(f"cannot open the database: {exc}") from None
