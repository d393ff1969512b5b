"""Alembic environment: runs on the connection digestbot hands over, or on ALEMBIC_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from bot.db.engine import create_db_engine
from bot.db.tables import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set sqlalchemy.url (alembic -x or alembic.ini) to generate migrations")
    with create_db_engine(url).begin() as conn:
        _run(conn)
