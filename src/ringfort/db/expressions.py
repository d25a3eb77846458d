"""The few SQL expressions that SQLite and PostgreSQL spell differently.

Reports and services run the same queries on both stores; these constructs
compile to each dialect's own spelling so the queries stay plain SQLAlchemy Core.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

__all__ = ["epoch", "seconds_of"]


class epoch(FunctionElement[int]):  # noqa: N801 - named like the SQL functions it stands for
    """Whole seconds since 1970 of a stored UTC time."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch"


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: Any, **kw: Any) -> str:
    # Times are stored as UTC text ('YYYY-MM-DD HH:MM:SS.ffffff'); %s reads them as UTC.
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(epoch, "postgresql")
def _epoch_postgresql(element: epoch, compiler: Any, **kw: Any) -> str:
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


class seconds_of(FunctionElement[int]):  # noqa: N801 - named like the SQL functions it stands for
    """A queue log field read as whole seconds; 0 where it holds no number.

    The fields are text (Asterisk's format), and a log imported from elsewhere
    may hold anything: SQLite's CAST already gives 0 for non-numbers, while
    PostgreSQL's would fail the whole report, so it is guarded there.
    """

    type = Integer()
    inherit_cache = True
    name = "seconds_of"


@compiles(seconds_of, "sqlite")
def _seconds_sqlite(element: seconds_of, compiler: Any, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


@compiles(seconds_of, "postgresql")
def _seconds_postgresql(element: seconds_of, compiler: Any, **kw: Any) -> str:
    field = compiler.process(element.clauses, **kw)
    return f"(CASE WHEN {field} ~ '^[0-9]{{1,9}}$' THEN CAST({field} AS INTEGER) ELSE 0 END)"
