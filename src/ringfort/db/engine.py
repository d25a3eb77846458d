"""Building the async engine and session factory for a database URL."""

from __future__ import annotations

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
    # WAL lets readers (``ringfort status``) run while the server writes.
    "PRAGMA journal_mode=WAL",
    # With WAL, NORMAL syncs at checkpoints rather than every commit: a
    # committed transaction survives a crash of the process, which is what we
    # promise; only a power cut or OS crash may lose the last moments. FULL
    # would cost an fsync per registration refresh.
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
)


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
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


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
