"""Which tables this process has changed: committed writes counted per table."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.dml import UpdateBase

__all__ = ["TableWrites"]

_TOUCHED = "ringfort.touched"
"""Key in a connection's ``info``: the tables the open transaction wrote to."""


class TableWrites:
    """Counts, per table, the transactions this process committed that wrote to it.

    Whoever keeps something made from the tables (the report cache) notes the count when it
    reads and compares later: the same count means nothing was written here since. Writes
    by other processes (the CLI, another node) are not seen; such a keeper also bounds how
    long it trusts what it kept.
    """

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def watch(self, engine: Engine) -> None:
        """Count the writes made through ``engine`` (the sync engine of an async one)."""
        event.listen(engine, "after_execute", self._executed)
        event.listen(engine, "commit", self._committed)
        event.listen(engine, "rollback", self._rolled_back)

    def count(self, tables: frozenset[str]) -> int:
        """Committed transactions that wrote to any of ``tables`` (each table counted)."""
        return sum(self._counts.get(table, 0) for table in tables)

    def _executed(self, conn: Connection, clause: Any, *_: Any) -> None:
        if isinstance(clause, UpdateBase):  # INSERT, UPDATE, DELETE, by the ORM or not
            name = getattr(clause.table, "name", None)
            if name is not None:
                conn.info.setdefault(_TOUCHED, set()).add(name)

    def _committed(self, conn: Connection) -> None:
        # Counted at commit, not at the write: a reader that starts between the two still
        # sees the old rows, and must not take them for the new count.
        for name in conn.info.pop(_TOUCHED, ()):
            self._counts[name] = self._counts.get(name, 0) + 1

    def _rolled_back(self, conn: Connection) -> None:
        conn.info.pop(_TOUCHED, None)
