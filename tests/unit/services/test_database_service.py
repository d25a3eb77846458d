"""Database: opening migrates, failures are reported as errors a person can act on."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from ringfort.db import migrate
from ringfort.services.database import Database, DatabaseUnavailableError


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def test_opening_a_fresh_data_directory_creates_and_migrates_the_database(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data" / "ringfort.db"
    db = Database(url=sqlite_url(path))

    await db.open()
    try:
        assert path.is_file()
        assert db.migrated_on_open
        assert await db.current_revision() == migrate.head_revision()
    finally:
        await db.close()

    async with Database(url=sqlite_url(path)) as again:
        assert not again.migrated_on_open


async def test_open_without_migrating_leaves_the_schema_alone(tmp_path: Path) -> None:
    async with Database(url=sqlite_url(tmp_path / "r.db")) as db:
        await db.close()
        await db.open(migrate_schema=False)
        assert db.migrated_on_open is False


async def test_sessions_need_an_open_database(tmp_path: Path) -> None:
    db = Database(url=sqlite_url(tmp_path / "r.db"))

    with pytest.raises(RuntimeError, match="not open"):
        async with db.session():
            pass


async def test_a_database_that_cannot_be_created_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")

    with pytest.raises(DatabaseUnavailableError, match="cannot open"):
        await Database(url=sqlite_url(blocker / "ringfort.db")).open()


async def test_an_unreachable_server_is_unavailable_and_hides_the_password() -> None:
    db = Database(url="postgresql+asyncpg://ringfort:s3cret@127.0.0.1:1/ringfort")

    with pytest.raises(DatabaseUnavailableError) as caught:
        await db.open()

    assert "s3cret" not in str(caught.value)
    assert "***" in db.display_url


async def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "r.db")
    async with Database(url=url) as db, db.session() as session:
        await session.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        await session.commit()

    with pytest.raises(DatabaseUnavailableError, match="9999"):
        await Database(url=url).open()


async def test_a_plain_sqlite_url_is_given_the_asyncio_driver(tmp_path: Path) -> None:
    async with Database(url=f"sqlite:///{tmp_path / 'r.db'}") as db:
        assert db.url.startswith("sqlite+aiosqlite:///")
        assert db.dialect == "sqlite"


def test_something_that_is_not_a_url_is_refused_at_once() -> None:
    with pytest.raises(DatabaseUnavailableError, match="not a database URL"):
        Database(url="not a url")
