"""An index for newest-first article reads on PostgreSQL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite serves `date DESC NULLS LAST, id DESC` from ix_articles_visible_date read backwards
# (NULL sorts lowest there); PostgreSQL sorts NULL highest, so it needs an index in that order.


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_articles_newest",
            "articles",
            ["hidden", sa.text("date DESC NULLS LAST"), sa.text("id DESC")],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_articles_newest", table_name="articles")
