"""Schema migrations: bringing a database (fresh or old) to the schema the code expects.

Alembic is configured here in code, so a deployed Ringfort needs no
``alembic.ini``. Migrations run on a connection of the async engine through
``run_sync``, inside the caller's event loop.

Alembic is imported only when a migration actually runs: checking that a
database is already at head is a plain query, so every ``ringfort`` command
and every server start skip the cost of loading Alembic.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ringfort.db.engine import ensure_sqlite_directory, make_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

HEAD_REVISION = "0012"
"""The newest revision in ``migrations/versions``; a test keeps the two in step."""

VERSION_TABLE = "alembic_version"

# Any constant will do; it only has to be the same on every node sharing one
# PostgreSQL database, so that two nodes starting together migrate one at a time.
_PG_MIGRATION_LOCK = 0x52_49_4E_47_46_52_54  # "RINGFRT"


class MigrationError(RuntimeError):
    """The database cannot be brought to head, typically because a newer Ringfort wrote it."""


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for Ringfort's migrations, built without an ini file."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # Kept out of the ini options, where ``%`` in a password would be
        # taken for interpolation.
        config.attributes["url"] = url
    return config


def head_revision() -> str:
    """The head revision as Alembic reads it from the migration scripts."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise MigrationError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


@asynccontextmanager
async def _engine_for(target: str | AsyncEngine) -> AsyncIterator[AsyncEngine]:
    if isinstance(target, AsyncEngine):
        ensure_sqlite_directory(target.url)
        yield target
        return
    ensure_sqlite_directory(target)
    engine = make_engine(target, poolclass=pool.NullPool)
    try:
        yield engine
    finally:
        await engine.dispose()


def _stored_revisions(connection: Connection) -> list[str]:
    if not inspect(connection).has_table(VERSION_TABLE):
        return []
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))  # noqa: S608
    return sorted(str(row[0]) for row in rows)


async def current_revision(target: str | AsyncEngine) -> str | None:
    """The revision the database is at; None when it has never been migrated."""
    async with _engine_for(target) as engine, engine.connect() as connection:
        revisions = await connection.run_sync(_stored_revisions)
    if len(revisions) > 1:
        raise MigrationError(f"database has several revisions {revisions}; expected one")
    return revisions[0] if revisions else None


async def _take_migration_lock(connection: AsyncConnection) -> None:
    dialect = connection.dialect.name
    if dialect == "sqlite":
        # An immediate transaction takes SQLite's write lock now, so a second
        # process opening a fresh data directory waits (busy_timeout) and then
        # finds the schema already at head instead of racing to create it.
        await connection.exec_driver_sql("BEGIN IMMEDIATE")
    elif dialect == "postgresql":
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
        )


def _run_command(connection: Connection, name: str, revision: str) -> None:
    from alembic import command
    from alembic.util import CommandError

    config = alembic_config()
    config.attributes["connection"] = connection
    try:
        getattr(command, name)(config, revision)
    except CommandError as exc:
        raise MigrationError(str(exc)) from exc


async def upgrade(target: str | AsyncEngine, revision: str = "head") -> None:
    """Migrate the database at ``target`` (a URL or an engine) up to ``revision``.

    Works on a fresh database (an SQLite file and its directory are created)
    and on one at any earlier revision; at head it changes nothing. The whole
    upgrade is one transaction where the database allows DDL in transactions.
    Raises :class:`MigrationError` when the database is at a revision these
    scripts do not know.
    """
    async with _engine_for(target) as engine, engine.connect() as connection:
        await _take_migration_lock(connection)
        await connection.run_sync(_run_command, "upgrade", revision)
        await connection.commit()


async def downgrade(target: str | AsyncEngine, revision: str) -> None:
    """Migrate the database back to ``revision`` (``"base"`` drops every table)."""
    async with _engine_for(target) as engine, engine.connect() as connection:
        await _take_migration_lock(connection)
        await connection.run_sync(_run_command, "downgrade", revision)
        await connection.commit()


async def upgrade_if_needed(target: str | AsyncEngine) -> bool:
    """Upgrade to head unless the database is already there; True when it migrated.

    The check takes no lock, so opening an up-to-date database (every CLI
    command while a server runs) never waits on the server's writes.
    """
    async with _engine_for(target) as engine:
        if await current_revision(engine) == HEAD_REVISION:
            return False
        await upgrade(engine)
        return True
