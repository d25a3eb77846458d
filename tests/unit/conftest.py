"""Databases for the store's, services' and reports' unit tests: SQLite per test, PostgreSQL
if set."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from ringfort.db.engine import make_engine
from ringfort.db.models import Base
from ringfort.services.database import Database

PG_URL_VARIABLE = "RINGFORT_TEST_PG_URL"


async def reset_postgres(url: str) -> None:
    """Drop Ringfort's tables (and nothing else) so each test starts from an empty schema."""
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            for table in [*Base.metadata.sorted_tables, "alembic_version"]:
                await connection.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL of an empty database: SQLite in tmp_path, or RINGFORT_TEST_PG_URL (emptied)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'ringfort.db'}"
        return
    url = os.environ.get(PG_URL_VARIABLE)
    if not url:
        pytest.skip(f"{PG_URL_VARIABLE} is not set")
    await reset_postgres(url)
    yield url
    await reset_postgres(url)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """An open, migrated Database."""
    database = Database(url=database_url)
    await database.open()
    yield database
    await database.close()
