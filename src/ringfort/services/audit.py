"""The audit log: every change made through the API, with who, when, and before and after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from ringfort.db.models import AuditEntry
from ringfort.services.database import Database

__all__ = ["AuditService", "AuditView"]

_PATH = 255
_TEXT = 200_000
"""Objects larger than this are cut (a report is not an object anyone edits)."""


@dataclass(frozen=True, slots=True)
class AuditView:
    """One change as the log shows it."""

    id: int
    at: datetime
    username: str
    source: str
    method: str
    path: str
    status: int
    before: str | None
    after: str | None


class AuditService:
    """Writes and reads the audit log."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self,
        *,
        username: str,
        source: str,
        method: str,
        path: str,
        status: int,
        before: str | None,
        after: str | None,
    ) -> None:
        """Add one change."""
        async with self._db.session() as session, session.begin():
            session.add(
                AuditEntry(
                    username=username[:64],
                    source=source[:64],
                    method=method[:8],
                    path=path[:_PATH],
                    status=status,
                    before=None if before is None else before[:_TEXT],
                    after=None if after is None else after[:_TEXT],
                )
            )

    async def entries(
        self, *, limit: int = 50, offset: int = 0, username: str | None = None
    ) -> tuple[list[AuditView], int]:
        """The newest changes first (of one user when given), and how many there are."""
        query = select(AuditEntry)
        counted = select(func.count(AuditEntry.id))
        if username is not None:
            query = query.where(AuditEntry.username == username)
            counted = counted.where(AuditEntry.username == username)
        async with self._db.session() as session:
            rows = (
                await session.scalars(
                    query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
                )
            ).all()
            total = int(await session.scalar(counted) or 0)
        views = [
            AuditView(
                row.id,
                row.at,
                row.username,
                row.source,
                row.method,
                row.path,
                row.status,
                row.before,
                row.after,
            )
            for row in rows
        ]
        return views, total
