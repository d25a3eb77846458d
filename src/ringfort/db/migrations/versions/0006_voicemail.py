"""Voicemail: a per-extension switch, and one row per message (its audio a file under the
voicemail directory).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out rather than imported from the models: a migration records the
# schema as it was at this revision, and the models will move on.
_NUMBER = 15
_FOLDER = 8
_PARTY = 80
_CLID = 160
_PATH = 255
_ID = 64


def upgrade() -> None:
    """Create voicemail_messages; add extensions.voicemail_enabled."""
    with op.batch_alter_table("extensions") as table:
        table.add_column(
            sa.Column("voicemail_enabled", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "voicemail_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox", sa.String(length=_NUMBER), nullable=False),
        sa.Column("folder", sa.String(length=_FOLDER), nullable=False),
        sa.Column("caller", sa.String(length=_PARTY), nullable=False),
        sa.Column("clid", sa.String(length=_CLID), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("path", sa.String(length=_PATH), nullable=False),
        sa.Column("uniqueid", sa.String(length=_ID), nullable=False),
        sa.CheckConstraint("folder IN ('INBOX', 'Old')", name=op.f("ck_voicemail_messages_folder")),
        sa.CheckConstraint("seconds >= 0", name=op.f("ck_voicemail_messages_seconds")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voicemail_messages")),
        sa.UniqueConstraint("path", name=op.f("uq_voicemail_messages_path")),
    )
    op.create_index(
        op.f("ix_voicemail_messages_mailbox_folder_received_at"),
        "voicemail_messages",
        ["mailbox", "folder", "received_at"],
        unique=False,
    )


def downgrade() -> None:
    """Drop voicemail_messages."""
    op.drop_index(
        op.f("ix_voicemail_messages_mailbox_folder_received_at"), table_name="voicemail_messages"
    )
    op.drop_table("voicemail_messages")
    with op.batch_alter_table("extensions") as table:
        table.drop_column("voicemail_enabled")
