"""An open Database for the services' tests (``database_url`` is in tests/unit/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ringfort.services.database import Database


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """An open, migrated Database."""
    database = Database(url=database_url)
    await database.open()
    yield database
    await database.close()
