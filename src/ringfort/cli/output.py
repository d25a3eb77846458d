"""How the ringfort command prints: plain tables for people, JSON for scripts, errors on stderr."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any

import typer

EXIT_USER_ERROR = 2
"""Bad input, a clash or a missing object: the user can fix the command (as with usage errors)."""
EXIT_FAILURE = 1
"""Something outside the command failed (the database could not be opened, ...)."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_record(value: Any) -> dict[str, Any]:
    """A dataclass instance as a dict, for JSON output."""
    if not is_dataclass(value) or isinstance(value, type):
        raise TypeError(f"expected a dataclass instance, got {type(value).__name__}")
    return asdict(value)


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON; datetimes become ISO 8601 strings."""
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=_jsonable))


def format_time(value: datetime | None) -> str:
    """A UTC time as ``YYYY-MM-DD HH:MM:SS UTC`` (empty for None)."""
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print rows under headers in left-aligned columns two spaces apart."""
    cells = [[str(header) for header in headers]]
    cells += [["" if cell is None else str(cell) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    for row in cells:
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        typer.echo(line.rstrip())


def fail(message: str, *, code: int = EXIT_USER_ERROR) -> typer.Exit:
    """Print ``error: message`` on stderr and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)
