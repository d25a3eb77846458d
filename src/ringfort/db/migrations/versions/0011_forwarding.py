"""Call forwarding (always, busy, no answer) and do-not-disturb per extension.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NUMBER = 20
_FORWARDS = ("forward_always", "forward_busy", "forward_no_answer")


def upgrade() -> None:
    """Add the do-not-disturb switch and the three forwards to extensions."""
    with op.batch_alter_table("extensions") as table:
        table.add_column(sa.Column("dnd", sa.Boolean(), server_default=sa.false(), nullable=False))
        for column in _FORWARDS:
            table.add_column(sa.Column(column, sa.String(length=_NUMBER), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("extensions") as table:
        for column in (*reversed(_FORWARDS), "dnd"):
            table.drop_column(column)
