"""Topics, the topics of each article, and the topics each subscriber follows

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.topics import topic_key

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    topics = op.create_table(
        "topics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topics")),
        sa.UniqueConstraint("key", name=op.f("uq_topics_key")),
    )
    links = op.create_table(
        "article_topics",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_article_topics_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["topics.id"],
            name=op.f("fk_article_topics_topic_id_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", "topic_id", name=op.f("pk_article_topics")),
    )
    op.create_index("ix_article_topics_topic", "article_topics", ["topic_id", "article_id"])
    op.create_table(
        "follows",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_follows_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["topics.id"],
            name=op.f("fk_follows_topic_id_topics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscriber_id", "topic_id", name=op.f("pk_follows")),
    )
    op.create_index("ix_follows_topic", "follows", ["topic_id", "subscriber_id"])
    _backfill(topics, links)


def _backfill(topics: sa.Table, links: sa.Table) -> None:
    """Give the articles already imported their topics, from their stored tags."""
    bind = op.get_bind()
    articles = sa.table("articles", sa.column("id", sa.Integer), sa.column("tags", sa.JSON))
    rows = [(row.id, list(row.tags or [])) for row in bind.execute(sa.select(articles))]
    names: dict[str, str] = {}
    for _, tags in rows:
        for tag in tags:
            key = topic_key(str(tag))
            if key:
                names.setdefault(key, str(tag).strip())
    if not names:
        return
    bind.execute(sa.insert(topics), [{"key": k, "name": n} for k, n in names.items()])
    ids = dict(bind.execute(sa.select(topics.c.key, topics.c.id)).all())
    pairs = {
        (article_id, ids[topic_key(str(tag))])
        for article_id, tags in rows
        for tag in tags
        if topic_key(str(tag)) in ids
    }
    if pairs:
        bind.execute(
            sa.insert(links), [{"article_id": a, "topic_id": t} for a, t in sorted(pairs)]
        )


def downgrade() -> None:
    op.drop_index("ix_follows_topic", table_name="follows")
    op.drop_table("follows")
    op.drop_index("ix_article_topics_topic", table_name="article_topics")
    op.drop_table("article_topics")
    op.drop_table("topics")
