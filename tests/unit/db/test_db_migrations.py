"""Migrations: a fresh database reaches head, and head is exactly what the models describe."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from ringfort.db import migrate
from ringfort.db.engine import make_engine
from ringfort.db.models import Base

RINGFORT_TABLES = {
    "extensions",
    "registrations",
    "cdr",
    "blocked_addresses",
    "ivr_menus",
    "ivr_options",
    "time_conditions",
    "recording_rules",
}


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def _diff(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_schema_diff)
    finally:
        await engine.dispose()


async def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()
    return set(names)


async def test_fresh_database_has_no_revision(database_url: str) -> None:
    assert await migrate.current_revision(database_url) is None


async def test_upgrade_from_empty_reaches_head_and_creates_every_table(database_url: str) -> None:
    await migrate.upgrade(database_url)

    assert await migrate.current_revision(database_url) == migrate.head_revision()
    assert await _tables(database_url) >= RINGFORT_TABLES


async def test_upgrade_creates_the_sqlite_file_and_its_directory(tmp_path: Path) -> None:
    path = tmp_path / "not" / "there" / "ringfort.db"

    await migrate.upgrade(f"sqlite+aiosqlite:///{path}")

    assert path.is_file()


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    await migrate.upgrade(database_url)

    assert await _diff(database_url) == []


async def test_schema_comparison_notices_a_missing_index(database_url: str) -> None:
    # Guards the test above: an empty diff must mean "same", not "not compared".
    await migrate.upgrade(database_url)
    engine = make_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP INDEX ix_cdr_start"))
    await engine.dispose()

    diff = await _diff(database_url)

    assert [entry[0] for entry in diff] == ["add_index"]


async def test_upgrade_if_needed_migrates_once_then_does_nothing(database_url: str) -> None:
    assert await migrate.upgrade_if_needed(database_url) is True
    assert await migrate.upgrade_if_needed(database_url) is False
    assert await migrate.current_revision(database_url) == migrate.head_revision()


async def test_downgrade_to_base_removes_every_table_and_upgrade_restores_them(
    database_url: str,
) -> None:
    await migrate.upgrade(database_url)

    await migrate.downgrade(database_url, "base")
    assert await migrate.current_revision(database_url) is None
    assert not (await _tables(database_url) & RINGFORT_TABLES)

    await migrate.upgrade(database_url)
    assert await _diff(database_url) == []


async def test_two_processes_opening_a_fresh_database_at_once_both_succeed(
    database_url: str,
) -> None:
    # Separate engines stand in for two processes (a server and a CLI command).
    results = await asyncio.gather(
        migrate.upgrade_if_needed(database_url), migrate.upgrade_if_needed(database_url)
    )

    assert True in results
    assert await migrate.current_revision(database_url) == migrate.head_revision()


def test_head_revision_constant_matches_the_migration_scripts() -> None:
    # Fails when a new revision is added without updating HEAD_REVISION.
    assert migrate.head_revision() == migrate.HEAD_REVISION


async def test_a_revision_the_scripts_do_not_know_is_refused(database_url: str) -> None:
    await migrate.upgrade(database_url)
    engine = make_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    await engine.dispose()

    with pytest.raises(migrate.MigrationError, match="9999"):
        await migrate.upgrade_if_needed(database_url)


def test_migration_scripts_ship_inside_the_package() -> None:
    assert (migrate.MIGRATIONS_DIR / "env.py").is_file()
    assert (migrate.MIGRATIONS_DIR / "script.py.mako").is_file()
    assert list((migrate.MIGRATIONS_DIR / "versions").glob("0001_*.py"))


@pytest.mark.parametrize("url", ["sqlite+aiosqlite:///:memory:"])
async def test_upgrade_accepts_an_in_memory_database(url: str) -> None:
    # Nothing to create on disk; the call must not try.
    await migrate.upgrade(url)
