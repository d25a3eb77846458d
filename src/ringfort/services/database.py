"""The open database of a node: its engine, sessions and schema upgrade on open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ringfort.db import migrate
from ringfort.db.engine import (
    async_url,
    ensure_sqlite_directory,
    make_engine,
    make_session_factory,
)
from ringfort.db.writes import TableWrites
from ringfort.errors import RingfortError


class DatabaseUnavailableError(RingfortError):
    """The database cannot be opened or migrated (wrong URL, server down, file unwritable)."""


class Database:
    """One database, opened once per process and shared by every service.

    ``open()`` brings the schema to the revision this code expects, so a fresh
    data directory just works and an upgraded Ringfort migrates on its first start.
    """

    def __init__(self, *, url: str) -> None:
        try:
            self._url = async_url(url).render_as_string(hide_password=False)
        except ArgumentError as exc:
            raise DatabaseUnavailableError(f"not a database URL: {exc}") from exc
        self._engine: AsyncEngine | None = None
        self._session_factory: async_sessionmaker[AsyncSession] | None = None
        self._migrated_on_open = False
        self._writes = TableWrites()

    @property
    def url(self) -> str:
        """The SQLAlchemy URL with its asyncio driver, password included."""
        return self._url

    @property
    def display_url(self) -> str:
        """The URL with any password hidden, for printing and logs."""
        return make_url(self._url).render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return make_url(self._url).get_backend_name()

    @property
    def migrated_on_open(self) -> bool:
        """True when the last ``open()`` upgraded the schema (a fresh or older database)."""
        return self._migrated_on_open

    @property
    def engine(self) -> AsyncEngine:
        """The engine; only while open."""
        if self._engine is None:
            raise RuntimeError("Database is not open")
        return self._engine

    @property
    def session_factory(self) -> async_sessionmaker[AsyncSession]:
        """Makes sessions; only while open."""
        if self._session_factory is None:
            raise RuntimeError("Database is not open")
        return self._session_factory

    async def open(self, *, migrate_schema: bool = True) -> None:
        """Connect, and upgrade the schema to head unless ``migrate_schema`` is False.

        Raises :class:`DatabaseUnavailableError` when the database cannot be
        reached or migrated; nothing is left open then.
        """
        if self._engine is not None:
            raise RuntimeError("Database is already open")
        try:
            ensure_sqlite_directory(self._url)
            engine = make_engine(self._url)
        except (OSError, SQLAlchemyError, ValueError) as exc:
            raise DatabaseUnavailableError(f"cannot open {self.display_url}: {exc}") from exc
        migrated = False
        try:
            if migrate_schema:
                migrated = await migrate.upgrade_if_needed(engine)
            else:
                async with engine.connect():
                    pass
        except (OSError, SQLAlchemyError, migrate.MigrationError) as exc:
            await engine.dispose()
            raise DatabaseUnavailableError(f"cannot open {self.display_url}: {exc}") from exc
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine
        self._writes.watch(engine.sync_engine)
        self._session_factory = make_session_factory(engine)
        self._migrated_on_open = migrated

    async def close(self) -> None:
        """Close every pooled connection; a closed Database can be opened again."""
        engine, self._engine, self._session_factory = self._engine, None, None
        if engine is not None:
            await engine.dispose()

    def writes(self, tables: frozenset[str]) -> int:
        """How many committed transactions of this process wrote to any of ``tables``: the
        same number twice means nothing was written to them here in between."""
        return self._writes.count(tables)

    async def current_revision(self) -> str | None:
        """The schema revision of the open database."""
        return await migrate.current_revision(self.engine)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for one unit of work; rolled back unless the caller committed."""
        async with self.session_factory() as session:
            yield session

    async def __aenter__(self) -> Database:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
