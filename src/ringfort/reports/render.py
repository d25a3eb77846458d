"""Reports as text: CSV for spreadsheets, and cells for printed tables."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from ringfort.reports.model import Column, Kind, Report

__all__ = ["display", "duration", "table_cells", "to_csv"]


def duration(seconds: float) -> str:
    """Seconds as ``H:MM:SS`` (hours are not wrapped into days)."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def display(value: Any, kind: Kind) -> str:
    """How a value of ``kind`` reads in a printed table."""
    if value is None:
        return ""
    if kind is Kind.SECONDS:
        return duration(value)
    if kind is Kind.PERCENT:
        return f"{value:.1f}%"
    if kind is Kind.NUMBER:
        return f"{value:.2f}"
    if kind is Kind.TIME and isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dict):
        return ", ".join(f"{key} {duration(seconds)}" for key, seconds in value.items())
    return str(value)


def _csv_value(value: Any, kind: Kind) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if kind is Kind.PERCENT:
        return f"{value:.1f}"
    if kind is Kind.NUMBER:
        return f"{value:.2f}"
    if isinstance(value, dict):
        return "; ".join(f"{key}={seconds}" for key, seconds in value.items())
    return value


def to_csv(report: Report) -> str:
    """The report's rows as CSV, one header line of column keys (seconds as numbers).

    A report whose answer is its summary alone (the totals) is one row of it.
    """
    columns: tuple[Column, ...] = report.columns or report.summary_columns
    rows = report.rows if report.columns else [report.summary]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([column.key for column in columns])
    for row in rows:
        writer.writerow([_csv_value(row.get(column.key), column.kind) for column in columns])
    return out.getvalue()


def table_cells(columns: tuple[Column, ...], rows: list[dict[str, Any]]) -> list[list[str]]:
    """Rows as printable cells, in column order."""
    return [[display(row.get(column.key), column.kind) for column in columns] for row in rows]
