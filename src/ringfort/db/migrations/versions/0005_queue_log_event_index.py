"""An index of the queue log by event and time, for the reports.

Reports read one kind of event over a period (the calls' outcomes, the logins
and pauses); without this index they would read every event of the period.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ix_queue_log_event_time."""
    op.create_index(op.f("ix_queue_log_event_time"), "queue_log", ["event", "time"], unique=False)


def downgrade() -> None:
    """Drop ix_queue_log_event_time."""
    op.drop_index(op.f("ix_queue_log_event_time"), table_name="queue_log")
