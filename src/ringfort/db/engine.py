"""Building the async engine and session factory for a database URL."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SQLITE_BUSY_TIMEOUT_MS = 5000
"""How long a writer waits for another process's write to finish (the CLI while a server runs)."""

_SQLITE_PRAGMAS = (
    # With WAL, NORMAL syncs at checkpoints rather than every commit: a
    # committed transaction survives a crash of the process, which is what we
    # promise; only a power cut or OS crash may lose the last moments. FULL
    # would cost an fsync per registration refresh.
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)

_WAL_RETRY_SECONDS = 0.02


# People write the URL they know from other tools; the engine needs an asyncio
# driver, so the plain forms are mapped to the drivers Ringfort ships with.
_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def async_url(url: str | URL) -> URL:
    """``url`` with an asyncio driver: ``sqlite://`` becomes ``sqlite+aiosqlite://``, and so on."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    return parsed if driver is None else parsed.set(drivername=driver)


def is_sqlite(url: str | URL) -> bool:
    """True when ``url`` names an SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str | URL) -> Path | None:
    """The file of an SQLite URL, or None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def ensure_sqlite_directory(url: str | URL) -> None:
    """Create the directory an SQLite file lives in, so a fresh data directory just works."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def _set_sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    # The driver is asyncio (aiosqlite): run_async hands our coroutine its
    # connection, so waiting for another process's lock never blocks the loop.
    dbapi_connection.run_async(_prepare_sqlite)


async def _prepare_sqlite(connection: Any) -> None:
    # First, so every later statement waits for another process's lock
    # instead of failing at once.
    await connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    await _use_wal(connection)
    for pragma in _SQLITE_PRAGMAS:
        await connection.execute(pragma)


async def _use_wal(connection: Any) -> None:
    """Put the database in WAL mode: readers (`ringfort status`) run while the server writes.

    WAL is stored in the file, so opening a database already in WAL changes
    nothing. Switching needs the file to itself, and SQLite answers "locked"
    at once, without calling the busy handler, when another process opens the
    same fresh file at that moment (a server and a CLI command on a new data
    directory); so the switch is retried for up to the busy timeout.
    """
    async with connection.execute("PRAGMA journal_mode") as cursor:
        row = await cursor.fetchone()
    if row is not None and str(row[0]).lower() == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            await connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            await asyncio.sleep(_WAL_RETRY_SECONDS)


def make_engine(url: str | URL, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url``; SQLite connections get WAL, a busy timeout and foreign keys.

    A URL without an asyncio driver gets one (see :func:`async_url`).
    ``kwargs`` go to :func:`sqlalchemy.ext.asyncio.create_async_engine`.
    """
    url = async_url(url)
    if url.get_backend_name() == "postgresql":
        # Nodes of a cluster outlive database failovers; a pooled connection
        # to the old primary must be noticed at checkout, not mid-request.
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        # Each pooled connection is a separate SQLite handle, and PRAGMAs are
        # per handle, so they are set on every connect, not once.
        event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
    return engine


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions bound to ``engine`` whose objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
