"""A text search index on articles: FTS5 trigram on SQLite, pg_trgm GIN on PostgreSQL

Revision ID: 0010_search
Revises: 0009_channels
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010_search"
down_revision: str | None = "0009_channels"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Both index `articles.search_text` (casefolded) by trigrams, as Chinese has no spaces to split
# words on. SQLite: an external-content FTS5 table holding only visible articles, kept in
# sync by triggers, so every writer of `articles` (bot.db.articles) keeps it without knowing.
# PostgreSQL: a GIN trigram index that serves `search_text LIKE '%word%'`.

_SQLITE_UP = (
    "CREATE VIRTUAL TABLE articles_fts USING fts5("
    "search_text, content='articles', content_rowid='id', tokenize='trigram')",
    "INSERT INTO articles_fts (rowid, search_text)"
    " SELECT id, search_text FROM articles WHERE NOT hidden",
    "CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles WHEN NOT new.hidden BEGIN"
    " INSERT INTO articles_fts (rowid, search_text) VALUES (new.id, new.search_text); END",
    # An external-content table forgets a row by being told its indexed text exactly.
    "CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles WHEN NOT old.hidden BEGIN"
    " INSERT INTO articles_fts (articles_fts, rowid, search_text)"
    " VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER articles_fts_update AFTER UPDATE OF search_text, hidden ON articles BEGIN"
    " INSERT INTO articles_fts (articles_fts, rowid, search_text)"
    " SELECT 'delete', old.id, old.search_text WHERE NOT old.hidden;"
    " INSERT INTO articles_fts (rowid, search_text)"
    " SELECT new.id, new.search_text WHERE NOT new.hidden; END",
)
_SQLITE_DOWN = (
    "DROP TRIGGER articles_fts_update",
    "DROP TRIGGER articles_fts_delete",
    "DROP TRIGGER articles_fts_insert",
    "DROP TABLE articles_fts",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in _SQLITE_UP:
            op.execute(statement)
        return
    # pg_trgm is a trusted extension (PostgreSQL 13+), in Debian's postgresql package and the
    # official image. The operator class is named with the schema it lives in, which need not
    # be on this connection's search_path.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema = bind.exec_driver_sql(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'"
    ).scalar_one()
    op.execute(
        "CREATE INDEX ix_articles_search_trgm ON articles"
        f" USING gin (search_text {schema}.gin_trgm_ops)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_DOWN:
            op.execute(statement)
        return
    op.drop_index("ix_articles_search_trgm", table_name="articles")
