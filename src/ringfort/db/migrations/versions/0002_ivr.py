"""Auto-attendant menus, their options, and time conditions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out rather than imported from the models: a migration records the
# schema as it was at this revision, and the models will move on.
_NAME = 64
_NUMBER = 20
_DESTINATION = 128


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create ivr_menus, ivr_options and time_conditions."""
    op.create_table(
        "ivr_menus",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=_NAME), nullable=False),
        sa.Column("number", sa.String(length=_NUMBER), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("greeting", sa.Text(), nullable=False),
        sa.Column("direct_dial", sa.Boolean(), nullable=False),
        sa.Column("digit_timeout", sa.Float(), nullable=False),
        sa.Column("interdigit_timeout", sa.Float(), nullable=False),
        sa.Column("timeout_retries", sa.Integer(), nullable=False),
        sa.Column("timeout_prompt", sa.Text(), nullable=False),
        sa.Column("timeout_destination", sa.String(length=_DESTINATION), nullable=False),
        sa.Column("invalid_retries", sa.Integer(), nullable=False),
        sa.Column("invalid_prompt", sa.Text(), nullable=False),
        sa.Column("invalid_destination", sa.String(length=_DESTINATION), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.CheckConstraint(
            "timeout_retries >= 0 AND invalid_retries >= 0", name=op.f("ck_ivr_menus_retries")
        ),
        sa.CheckConstraint(
            "digit_timeout > 0 AND interdigit_timeout > 0", name=op.f("ck_ivr_menus_timeouts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ivr_menus")),
        sa.UniqueConstraint("name", name=op.f("uq_ivr_menus_name")),
        sa.UniqueConstraint("number", name=op.f("uq_ivr_menus_number")),
    )

    op.create_table(
        "ivr_options",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("menu_id", sa.Integer(), nullable=False),
        sa.Column("digits", sa.String(length=8), nullable=False),
        sa.Column("destination", sa.String(length=_DESTINATION), nullable=False),
        sa.ForeignKeyConstraint(
            ["menu_id"],
            ["ivr_menus.id"],
            name=op.f("fk_ivr_options_menu_id_ivr_menus"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ivr_options")),
        sa.UniqueConstraint("menu_id", "digits", name=op.f("uq_ivr_options_menu_id_digits")),
    )

    op.create_table(
        "time_conditions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=_NAME), nullable=False),
        sa.Column("number", sa.String(length=_NUMBER), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("holidays", sa.Text(), nullable=False),
        sa.Column("match_destination", sa.String(length=_DESTINATION), nullable=False),
        sa.Column("nomatch_destination", sa.String(length=_DESTINATION), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_conditions")),
        sa.UniqueConstraint("name", name=op.f("uq_time_conditions_name")),
        sa.UniqueConstraint("number", name=op.f("uq_time_conditions_number")),
    )


def downgrade() -> None:
    """Drop the tables of this revision, options before the menus they belong to."""
    op.drop_table("time_conditions")
    op.drop_table("ivr_options")
    op.drop_table("ivr_menus")
