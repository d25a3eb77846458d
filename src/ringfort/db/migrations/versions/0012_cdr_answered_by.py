"""Call records say which extension's phone answered (a forwarded call's ``dst`` is the
number dialled).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 11:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PARTY = 80


def upgrade() -> None:
    """Add ``answered_by`` to the call detail records."""
    with op.batch_alter_table("cdr") as table:
        table.add_column(sa.Column("answered_by", sa.String(length=_PARTY), nullable=True))


def downgrade() -> None:
    """Drop it again."""
    with op.batch_alter_table("cdr") as table:
        table.drop_column("answered_by")
