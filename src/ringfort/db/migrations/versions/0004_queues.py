"""Queues, agents, queue members (who is logged in where) and the queue event log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Written out rather than imported from the models: a migration records the
# schema as it was at this revision.

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create queues, agents, queue_members and queue_log."""
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("pin", sa.String(length=16), nullable=False),
        sa.Column("wrapup", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("number", name=op.f("uq_agents_number")),
        sa.UniqueConstraint("pin", name=op.f("uq_agents_pin")),
    )
    op.create_table(
        "queue_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("callid", sa.String(length=64), nullable=False),
        sa.Column("queuename", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=20), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("data1", sa.String(length=128), nullable=False),
        sa.Column("data2", sa.String(length=128), nullable=False),
        sa.Column("data3", sa.String(length=128), nullable=False),
        sa.Column("data4", sa.String(length=128), nullable=False),
        sa.Column("data5", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_log")),
    )
    op.create_index(op.f("ix_queue_log_agent_time"), "queue_log", ["agent", "time"], unique=False)
    op.create_index(op.f("ix_queue_log_callid"), "queue_log", ["callid"], unique=False)
    op.create_index(
        op.f("ix_queue_log_queuename_time"), "queue_log", ["queuename", "time"], unique=False
    )
    op.create_index(op.f("ix_queue_log_time"), "queue_log", ["time"], unique=False)

    op.create_table(
        "queues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=True),
        sa.Column("strategy", sa.String(length=16), nullable=False),
        sa.Column("ring_timeout", sa.Float(), nullable=False),
        sa.Column("retry_delay", sa.Float(), nullable=False),
        sa.Column("wrapup", sa.Float(), nullable=False),
        sa.Column("max_wait", sa.Float(), nullable=False),
        sa.Column("max_length", sa.Integer(), nullable=False),
        sa.Column("overflow", sa.String(length=128), nullable=False),
        sa.Column("join_empty", sa.String(length=16), nullable=False),
        sa.Column("leave_empty", sa.String(length=16), nullable=False),
        sa.Column("announce_position", sa.Boolean(), nullable=False),
        sa.Column("announce_first", sa.Float(), nullable=False),
        sa.Column("announce_every", sa.Float(), nullable=False),
        sa.Column("periodic_prompt", sa.String(length=64), nullable=True),
        sa.Column("periodic_every", sa.Float(), nullable=False),
        sa.Column("exit_key", sa.String(length=1), nullable=True),
        sa.Column("exit_destination", sa.String(length=128), nullable=True),
        sa.Column("record", sa.Boolean(), nullable=False),
        sa.Column("autopause", sa.Integer(), nullable=False),
        sa.Column("service_level", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "join_empty IN ('always', 'loggedin', 'available')", name=op.f("ck_queues_join_empty")
        ),
        sa.CheckConstraint(
            "leave_empty IN ('never', 'loggedin', 'available')", name=op.f("ck_queues_leave_empty")
        ),
        sa.CheckConstraint(
            "strategy IN ('ringall', 'leastrecent', 'fewestcalls', 'random', 'rrmemory',"
            " 'linear', 'wrandom')",
            name=op.f("ck_queues_strategy"),
        ),
        sa.CheckConstraint(
            "ring_timeout > 0 AND retry_delay >= 0 AND wrapup >= 0 AND max_wait >= 0"
            " AND max_length >= 0 AND autopause >= 0 AND service_level > 0",
            name=op.f("ck_queues_limits"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queues")),
        sa.UniqueConstraint("name", name=op.f("uq_queues_name")),
        sa.UniqueConstraint("number", name=op.f("uq_queues_number")),
    )
    op.create_table(
        "queue_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("penalty", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=15), nullable=True),
        sa.Column("logged_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("pause_reason", sa.String(length=64), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("penalty >= 0", name=op.f("ck_queue_members_penalty")),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_queue_members_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_queue_members_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_members")),
        sa.UniqueConstraint(
            "queue_id", "agent_id", name=op.f("uq_queue_members_queue_id_agent_id")
        ),
    )
    op.create_index(op.f("ix_queue_members_agent_id"), "queue_members", ["agent_id"], unique=False)


def downgrade() -> None:
    """Drop them."""
    op.drop_index(op.f("ix_queue_members_agent_id"), table_name="queue_members")

    op.drop_table("queue_members")
    op.drop_table("queues")
    op.drop_index(op.f("ix_queue_log_time"), table_name="queue_log")
    op.drop_index(op.f("ix_queue_log_queuename_time"), table_name="queue_log")
    op.drop_index(op.f("ix_queue_log_callid"), table_name="queue_log")
    op.drop_index(op.f("ix_queue_log_agent_time"), table_name="queue_log")

    op.drop_table("queue_log")
    op.drop_table("agents")
