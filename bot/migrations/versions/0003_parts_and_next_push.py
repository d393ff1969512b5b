"""Per-part progress of long digests; each subscription's next push instant under an index

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.tables

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Existing rows get the UNSCHEDULED instant (1970): the first tick after the upgrade reads
# them all once, as every tick did before, and stores each one's real next push instant.
_UNSCHEDULED = "1970-01-01 00:00:00.000000"  # bot.db.tables.UNSCHEDULED_SQL


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("parts_sent", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "next_push_at",
                bot.db.tables.UTCDateTime(),
                nullable=False,
                server_default=sa.text(f"'{_UNSCHEDULED}'"),
            )
        )
        batch_op.create_index(
            "ix_subscribers_next_push", ["active", "next_push_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_index("ix_subscribers_next_push")
        batch_op.drop_column("next_push_at")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("parts_sent")
