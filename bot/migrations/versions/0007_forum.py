"""Forum topics: a subscription is keyed by (chat_id, thread_id), 0 for the whole chat

Revision ID: 0007_forum
Revises: 0006
Create Date: 2026-12-05
"""

import contextlib
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_forum"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables whose rows cascade from a subscriber (ON DELETE CASCADE).
_DEPENDENTS = ("deliveries", "follows")


def upgrade() -> None:
    with _dependents_kept(), op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("thread_id", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.drop_constraint("uq_subscribers_chat_id", type_="unique")
        batch_op.create_unique_constraint("uq_subscribers_chat_thread", ["chat_id", "thread_id"])


def downgrade() -> None:
    # Only the whole-chat subscriptions fit the old one-row-per-chat key.
    op.execute("DELETE FROM subscribers WHERE thread_id != 0")
    with _dependents_kept(), op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_constraint("uq_subscribers_chat_thread", type_="unique")
        batch_op.create_unique_constraint("uq_subscribers_chat_id", ["chat_id"])
        batch_op.drop_column("thread_id")


@contextlib.contextmanager
def _dependents_kept() -> Iterator[None]:
    """Keep the rows that reference subscribers across SQLite's table rebuild.

    On SQLite a batch operation that changes a constraint copies the table and drops the old
    one; with foreign keys on (the engine turns them on, and PRAGMA foreign_keys is a no-op
    inside the migration's transaction) that DROP deletes every delivery and follow through
    ON DELETE CASCADE. Their rows wait in temporary tables and come back after the rebuild,
    which keeps each subscriber's id. PostgreSQL alters in place: nothing to keep.
    """
    sqlite = op.get_bind().dialect.name == "sqlite"
    # The table names are this module's constants, never input.
    if sqlite:
        for table in _DEPENDENTS:
            op.execute(f"CREATE TEMP TABLE kept_{table} AS SELECT * FROM {table}")  # noqa: S608
    yield
    if sqlite:
        for table in _DEPENDENTS:
            op.execute(f"DELETE FROM {table}")  # noqa: S608
            op.execute(f"INSERT INTO {table} SELECT * FROM kept_{table}")  # noqa: S608
            op.execute(f"DROP TABLE kept_{table}")
