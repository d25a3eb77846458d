"""Initial schema: extensions, registrations, call detail records, blocked addresses.

Revision ID: 0001
Revises:
Create Date: 2024-06-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out rather than imported from the models: a migration records the
# schema as it was at this revision, and the models will move on.
_DISPOSITIONS = "disposition IN ('ANSWERED', 'NO ANSWER', 'BUSY', 'FAILED', 'CANCELLED')"
_HANGUP_BY = "hangup_by IN ('caller', 'callee', 'system')"


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the first tables."""
    op.create_table(
        "extensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=15), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("sip_password", sa.String(length=128), nullable=False),
        sa.Column("voicemail_pin", sa.String(length=16), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extensions")),
        sa.UniqueConstraint("number", name=op.f("uq_extensions_number")),
    )

    op.create_table(
        "registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=15), nullable=False),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("cseq", sa.Integer(), nullable=False),
        sa.Column("q", sa.Float(), nullable=True),
        sa.Column("transport", sa.String(length=8), nullable=False),
        sa.Column("source_host", sa.String(length=255), nullable=False),
        sa.Column("source_port", sa.Integer(), nullable=False),
        sa.Column("behind_nat", sa.Boolean(), nullable=False),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registrations")),
        sa.UniqueConstraint("number", "contact", name=op.f("uq_registrations_number_contact")),
    )
    op.create_index(op.f("ix_registrations_number"), "registrations", ["number"])
    op.create_index(op.f("ix_registrations_expires_at"), "registrations", ["expires_at"])

    op.create_table(
        "cdr",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uniqueid", sa.String(length=64), nullable=False),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("src", sa.String(length=80), nullable=False),
        sa.Column("dst", sa.String(length=80), nullable=False),
        sa.Column("clid", sa.String(length=160), nullable=False),
        sa.Column("start", _timestamp(), nullable=False),
        sa.Column("answer", _timestamp(), nullable=True),
        sa.Column("end", _timestamp(), nullable=False),
        sa.Column("duration", sa.Integer(), nullable=False),
        sa.Column("billsec", sa.Integer(), nullable=False),
        sa.Column("disposition", sa.String(length=16), nullable=False),
        sa.Column("hangup_by", sa.String(length=8), nullable=True),
        sa.Column("recording", sa.Text(), nullable=True),
        sa.CheckConstraint(_DISPOSITIONS, name=op.f("ck_cdr_disposition")),
        sa.CheckConstraint(_HANGUP_BY, name=op.f("ck_cdr_hangup_by")),
        sa.CheckConstraint("duration >= 0 AND billsec >= 0", name=op.f("ck_cdr_durations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cdr")),
        sa.UniqueConstraint("uniqueid", name=op.f("uq_cdr_uniqueid")),
    )
    op.create_index(op.f("ix_cdr_linkedid"), "cdr", ["linkedid"])
    op.create_index(op.f("ix_cdr_start"), "cdr", ["start"])

    op.create_table(
        "blocked_addresses",
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("blocked_until", sa.Float(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("blocked_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_blocked_addresses")),
    )


def downgrade() -> None:
    """Drop every table of the first revision."""
    op.drop_table("blocked_addresses")
    op.drop_index(op.f("ix_cdr_start"), table_name="cdr")
    op.drop_index(op.f("ix_cdr_linkedid"), table_name="cdr")
    op.drop_table("cdr")
    op.drop_index(op.f("ix_registrations_expires_at"), table_name="registrations")
    op.drop_index(op.f("ix_registrations_number"), table_name="registrations")
    op.drop_table("registrations")
    op.drop_table("extensions")
