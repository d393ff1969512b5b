"""Web reader opens per article (and per Mini App reader)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.tables

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reads",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("reader", sa.BigInteger(), nullable=False),
        sa.Column("opens", sa.Integer(), nullable=False),
        sa.Column("first_at", bot.db.tables.UTCDateTime(), nullable=False),
        sa.Column("last_at", bot.db.tables.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_reads_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", "reader", name=op.f("pk_reads")),
    )


def downgrade() -> None:
    op.drop_table("reads")
