"""Recording rules: which calls are recorded from their answer.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out rather than imported from the models: a migration records the
# schema as it was at this revision, and the models will move on.
_KIND = 16
_TARGET = 20
_DIRECTION = 8


def upgrade() -> None:
    """Create recording_rules."""
    op.create_table(
        "recording_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=_KIND), nullable=False),
        sa.Column("target", sa.String(length=_TARGET), nullable=False),
        sa.Column("direction", sa.String(length=_DIRECTION), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('extension', 'number', 'prefix')", name=op.f("ck_recording_rules_kind")
        ),
        sa.CheckConstraint(
            "direction IN ('in', 'out', 'both')", name=op.f("ck_recording_rules_direction")
        ),
        sa.CheckConstraint(
            "kind = 'extension' OR direction = 'both'",
            name=op.f("ck_recording_rules_direction_scope"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_rules")),
        sa.UniqueConstraint(
            "kind",
            "target",
            "direction",
            name=op.f("uq_recording_rules_kind_target_direction"),
        ),
    )


def downgrade() -> None:
    """Drop recording_rules."""
    op.drop_table("recording_rules")
