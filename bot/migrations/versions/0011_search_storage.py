"""PostgreSQL search: a GIN index of (id, search_text) and search_text compressed with lz4

Revision ID: 0011_search_storage
Revises: 0010_search
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import Connection

revision: str = "0011_search_storage"
down_revision: str | None = "0010_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL only (SQLite's FTS5 index is unchanged). /search asks for the matches among the
# newest ids (`id >= low AND search_text LIKE '%word%'`, bot.db.articles._pg_candidates):
# with the id in the trigram index (btree_gin, a trusted extension like pg_trgm), the index
# hands back only the window's matches, so only their rows are read. Reading a row is the
# costly part: its text is rechecked (and its words counted), and pglz took most of that
# time decompressing it (a row is over 2 kB, so the text is compressed inline); lz4
# decompresses several times faster. The column is rewritten so existing rows take lz4:
# ALTER TYPE with USING rewrites the table in place (no dead rows), before the index is
# built on it. At 100 000 articles this takes a minute or two.


def _lz4(bind: Connection) -> bool:
    """Tell whether this server was built with lz4 (PostgreSQL 14+, most packages)."""
    found = bind.exec_driver_sql(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    )
    return bool(found.scalar())


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    schema = bind.exec_driver_sql(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'"
    ).scalar_one()
    op.drop_index("ix_articles_search_trgm", table_name="articles")
    if _lz4(bind):
        # One statement: a type change alone would reset the column's compression, and the
        # rewrite runs after both, so the rows are written with lz4.
        op.execute(
            "ALTER TABLE articles"
            " ALTER COLUMN search_text TYPE text USING search_text || '',"
            " ALTER COLUMN search_text SET COMPRESSION lz4"
        )
    # btree_gin's int4_ops is the default GIN operator class for integers, found whatever
    # schema the extension lives in.
    op.execute(
        "CREATE INDEX ix_articles_id_search_trgm ON articles"
        f" USING gin (id, search_text {schema}.gin_trgm_ops)"
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        return
    schema = bind.exec_driver_sql(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'"
    ).scalar_one()
    op.drop_index("ix_articles_id_search_trgm", table_name="articles")
    if _lz4(bind):
        op.execute("ALTER TABLE articles ALTER COLUMN search_text SET COMPRESSION default")
    op.execute(
        "CREATE INDEX ix_articles_search_trgm ON articles"
        f" USING gin (search_text {schema}.gin_trgm_ops)"
    )
