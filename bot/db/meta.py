"""Core queries of the `meta` table: small facts the database keeps about itself, by key."""

from __future__ import annotations

from sqlalchemy import Connection, select

from bot.db.engine import insert_on_conflict
from bot.db.tables import META


def get(c: Connection, key: str) -> str | None:
    """Return the value stored under `key`, None when there is none."""
    value = c.execute(select(META.c.value).where(META.c.key == key)).scalar()
    return None if value is None else str(value)


def put(c: Connection, key: str, value: str) -> None:
    """Store `value` under `key`, replacing what was there."""
    stmt = insert_on_conflict(c, META).values(key=key, value=value)
    c.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))
