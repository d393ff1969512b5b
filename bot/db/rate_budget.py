"""Core queries of the `rate_budget` table: grant send slots from a bucket under its row lock.

Each call is meant to be the whole of a tiny transaction: on PostgreSQL the bucket's row is
locked (`SELECT ... FOR UPDATE`) from the read to the write, so concurrent grants serialize on
it; on SQLite the store's write transactions are `BEGIN IMMEDIATE`, which serializes them all.
The arithmetic is bot.ratebudget's.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, delete, select, update

from bot.db.engine import insert_on_conflict
from bot.db.tables import RATE_BUDGET
from bot.ratebudget import GLOBAL_CHAT, Grant, grant

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


def take_chats(
    c: Connection, budget: str, claims: Sequence[tuple[int, float, float]]
) -> list[Grant]:
    """Grant one slot per `(chat_id, at, step)` claim of `budget`'s chats, or refuse it (count 0).

    The whole batch costs three statements: create the missing buckets, lock them all (in
    chat order, so concurrent batches cannot deadlock), write the new instants. Claims on one
    chat are granted in the batch's order.
    """
    chats = sorted({chat for chat, _, _ in claims})
    where = (RATE_BUDGET.c.budget == budget) & RATE_BUDGET.c.chat_id.in_(chats)
    # 0.0 is an instant long past: a new bucket grants from now, like an unused one.
    rows = [{"budget": budget, "chat_id": chat, "next_at": 0.0} for chat in chats]
    create = insert_on_conflict(c, RATE_BUDGET).values(rows)
    c.execute(create.on_conflict_do_nothing(index_elements=list(_KEY)))
    locked = select(RATE_BUDGET.c.chat_id, RATE_BUDGET.c.next_at).where(where)
    current = {
        int(chat): float(at)
        for chat, at in c.execute(locked.order_by(RATE_BUDGET.c.chat_id).with_for_update())
    }
    grants: list[Grant] = []
    for chat, at, step in claims:
        granted = grant(current[chat], at, step=step, count=1, horizon=0)
        if granted.count:
            current[chat] = granted.next_at
        grants.append(granted)
    changed = {chat for (chat, _, _), granted in zip(claims, grants, strict=True) if granted.count}
    if changed:
        c.execute(
            update(RATE_BUDGET)
            .where(RATE_BUDGET.c.budget == budget, RATE_BUDGET.c.chat_id == bindparam("b_chat"))
            .values(next_at=bindparam("b_next")),
            [{"b_chat": chat, "b_next": current[chat]} for chat in sorted(changed)],
        )
    return grants


def prune(c: Connection, budget: str, before: float) -> int:
    """Delete the chats' buckets of `budget` free since before `before`; return how many."""
    result = c.execute(
        delete(RATE_BUDGET).where(
            RATE_BUDGET.c.budget == budget,
            RATE_BUDGET.c.chat_id != GLOBAL_CHAT,
            RATE_BUDGET.c.next_at < before,
        )
    )
    return result.rowcount
