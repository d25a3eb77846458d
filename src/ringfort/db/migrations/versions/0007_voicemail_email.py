"""Voicemail to e-mail: each mailbox's address and options, each message's sending state.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ADDRESS = 254
_STATE = 8


def upgrade() -> None:
    """Add the mailbox's e-mail columns to extensions and the sending state to messages."""
    with op.batch_alter_table("extensions") as table:
        table.add_column(sa.Column("voicemail_email", sa.String(length=_ADDRESS), nullable=True))
        table.add_column(
            sa.Column("voicemail_attach", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        table.add_column(
            sa.Column(
                "voicemail_delete_emailed", sa.Boolean(), server_default=sa.false(), nullable=False
            )
        )
    with op.batch_alter_table("voicemail_messages") as table:
        table.add_column(sa.Column("email_to", sa.String(length=_ADDRESS), nullable=True))
        table.add_column(sa.Column("email_state", sa.String(length=_STATE), nullable=True))
        table.add_column(
            sa.Column("email_attempts", sa.Integer(), server_default="0", nullable=False)
        )
        table.add_column(sa.Column("email_next_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("email_error", sa.Text(), nullable=True))
    op.create_index(
        op.f("ix_voicemail_messages_email_state_email_next_at"),
        "voicemail_messages",
        ["email_state", "email_next_at"],
        unique=False,
    )


def downgrade() -> None:
    """Drop them again."""
    op.drop_index(
        op.f("ix_voicemail_messages_email_state_email_next_at"), table_name="voicemail_messages"
    )
    with op.batch_alter_table("voicemail_messages") as table:
        for column in ("email_error", "email_next_at", "email_attempts", "email_state", "email_to"):
            table.drop_column(column)
    with op.batch_alter_table("extensions") as table:
        for column in ("voicemail_delete_emailed", "voicemail_attach", "voicemail_email"):
            table.drop_column(column)
