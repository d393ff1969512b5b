"""Core queries of the `rate_budget` table: grant send slots from a bucket under its row lock.

Each call is meant to be the whole of a tiny transaction: on PostgreSQL the bucket's row is
locked (`SELECT ... FOR UPDATE`) from the read to the write, so concurrent grants serialize on
it; on SQLite the store's write transactions are `BEGIN IMMEDIATE`, which serializes them all.
The arithmetic is bot.ratebudget's.
"""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from bot.db.engine import insert_on_conflict
from bot.db.tables import RATE_BUDGET
from bot.ratebudget import Grant, grant

_KEY = (RATE_BUDGET.c.budget, RATE_BUDGET.c.chat_id)


def take(
    c: Connection,
    budget: str,
    chat_id: int,
    now: float,
    *,
    step: float,
    count: int,
    horizon: float,
) -> Grant:
    """Grant up to `count` slots of the bucket (`budget`, `chat_id`) from `now` (a refusal: 0)."""
    where = (RATE_BUDGET.c.budget == budget) & (RATE_BUDGET.c.chat_id == chat_id)
    current = c.execute(select(RATE_BUDGET.c.next_at).where(where).with_for_update()).scalar()
    if current is None:
        granted = grant(None, now, step=step, count=count, horizon=horizon)
        stmt = insert_on_conflict(c, RATE_BUDGET).values(
            budget=budget, chat_id=chat_id, next_at=granted.next_at
        )
        # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT DO NOTHING.
        created = stmt.on_conflict_do_nothing(index_elements=list(_KEY)).returning(_KEY[1])
        if c.execute(created).first() is not None:
            return granted
        # Another process created the bucket meanwhile: lock its row and grant from it.
        current = c.execute(
            select(RATE_BUDGET.c.next_at).where(where).with_for_update()
        ).scalar_one()
    granted = grant(float(current), now, step=step, count=count, horizon=horizon)
    if granted.count:
        c.execute(update(RATE_BUDGET).where(where).values(next_at=granted.next_at))
    return granted
