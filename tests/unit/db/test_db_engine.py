"""The engine factory: SQLite connections get the settings durability and concurrency need."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from ringfort.db import migrate
from ringfort.db.engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    async_url,
    ensure_sqlite_directory,
    is_sqlite,
    make_engine,
    make_session_factory,
    sqlite_path,
)
from ringfort.db.models import BlockedAddress


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'ringfort.db'}"


async def test_sqlite_connections_use_wal_normal_sync_foreign_keys_and_busy_timeout(
    sqlite_url: str,
) -> None:
    engine = make_engine(sqlite_url)
    try:
        async with engine.connect() as connection:
            pragmas = {
                name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
    finally:
        await engine.dispose()

    # synchronous: 1 is NORMAL.
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 1,
        "foreign_keys": 1,
        "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
    }


def test_sqlite_path_is_none_for_memory_and_other_databases() -> None:
    assert sqlite_path("sqlite+aiosqlite:////srv/ringfort/ringfort.db") == Path(
        "/srv/ringfort/ringfort.db"
    )
    assert sqlite_path("sqlite+aiosqlite:///:memory:") is None
    assert sqlite_path("sqlite+aiosqlite://") is None
    assert sqlite_path("postgresql+asyncpg://u:p@localhost/ringfort") is None
    assert is_sqlite("sqlite+aiosqlite://")
    assert not is_sqlite("postgresql+asyncpg://localhost/ringfort")


def test_ensure_sqlite_directory_creates_missing_parents(tmp_path: Path) -> None:
    ensure_sqlite_directory(f"sqlite+aiosqlite:///{tmp_path / 'a' / 'b' / 'ringfort.db'}")

    assert (tmp_path / "a" / "b").is_dir()


async def test_timestamps_are_stored_in_utc_and_read_back_aware(sqlite_url: str) -> None:
    await migrate.upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    plus_two = timezone(timedelta(hours=2))
    written = datetime(2024, 5, 31, 10, 0, 0, 123456, tzinfo=plus_two)
    try:
        async with sessions() as session:
            session.add(
                BlockedAddress(
                    address="192.0.2.1",
                    blocked_until=1.0,
                    failures=3,
                    reason="test",
                    blocked_at=written,
                )
            )
            await session.commit()
        async with sessions() as session:
            read = await session.scalar(select(BlockedAddress.blocked_at))
    finally:
        await engine.dispose()

    assert read == written
    assert read is not None
    assert read.tzinfo is UTC
    assert read.hour == 8


async def test_naive_timestamps_are_refused(sqlite_url: str) -> None:
    await migrate.upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    try:
        async with sessions() as session:
            session.add(
                BlockedAddress(
                    address="192.0.2.1",
                    blocked_until=1.0,
                    failures=3,
                    reason="test",
                    blocked_at=datetime(2024, 5, 31, 10, 0),
                )
            )
            with pytest.raises(StatementError, match="naive datetime"):
                await session.commit()
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:////srv/r.db", "sqlite+aiosqlite:////srv/r.db"),
        ("sqlite+aiosqlite:////srv/r.db", "sqlite+aiosqlite:////srv/r.db"),
        ("postgresql://u:p@db/ringfort", "postgresql+asyncpg://u:p@db/ringfort"),
        ("postgres://u:p@db/ringfort", "postgresql+asyncpg://u:p@db/ringfort"),
        ("postgresql+asyncpg://u:p@db/ringfort", "postgresql+asyncpg://u:p@db/ringfort"),
    ],
)
def test_urls_without_an_asyncio_driver_get_one(given: str, expected: str) -> None:
    assert async_url(given).render_as_string(hide_password=False) == expected
