"""Mailbox options: ring time, operator, limits, whether the owner's phone is asked the PIN.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DESTINATION = 80


def upgrade() -> None:
    """Add the per-extension ring time and the mailbox's options to extensions."""
    with op.batch_alter_table("extensions") as table:
        table.add_column(sa.Column("ring_seconds", sa.Integer(), nullable=True))
        table.add_column(
            sa.Column("voicemail_operator", sa.String(length=_DESTINATION), nullable=True)
        )
        table.add_column(
            sa.Column("voicemail_max_messages", sa.Integer(), server_default="100", nullable=False)
        )
        table.add_column(
            sa.Column("voicemail_max_seconds", sa.Integer(), server_default="180", nullable=False)
        )
        table.add_column(
            sa.Column("voicemail_ask_pin", sa.Boolean(), server_default=sa.true(), nullable=False)
        )


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("extensions") as table:
        for column in (
            "voicemail_ask_pin",
            "voicemail_max_seconds",
            "voicemail_max_messages",
            "voicemail_operator",
            "ring_seconds",
        ):
            table.drop_column(column)
