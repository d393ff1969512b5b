"""Queries on `subscribers`: every read and write of a subscription; the table's one writer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.db.tables import SUBSCRIBERS
from bot.model import Subscriber

# The one mapping of a row to a Subscriber: the dataclass's fields are column names.
COLUMNS = tuple(SUBSCRIBERS.c[f.name] for f in fields(Subscriber))

# Every command reads this: one prebuilt statement keeps SQLAlchemy's compile cache warm.
_BY_CHAT = select(*COLUMNS).where(SUBSCRIBERS.c.chat_id == bindparam("chat_id"))


def to_subscriber(row: RowMapping) -> Subscriber:
    """Map a row selected with `COLUMNS` to a Subscriber."""
    return Subscriber(**row)


def by_chat(c: Connection, chat_id: int, *, lock: bool = False) -> Subscriber | None:
    """Return the subscriber of a chat, active or not (`lock`: hold its row until commit)."""
    query = _BY_CHAT.with_for_update() if lock else _BY_CHAT
    row = c.execute(query, {"chat_id": chat_id}).mappings().first()
    return None if row is None else to_subscriber(row)


def chat_taken(c: Connection, chat_id: int) -> bool:
    """Tell whether a subscriber row exists for the chat."""
    query = select(SUBSCRIBERS.c.id).where(SUBSCRIBERS.c.chat_id == chat_id)
    return c.execute(query).first() is not None


def active_page(
    c: Connection, *, after_id: int = 0, limit: int = 1000, lock: bool = False
) -> list[Subscriber]:
    """Return a page of active subscribers by id (keyset paging keeps memory flat).

    `lock` (PostgreSQL) locks the page's rows and skips rows another transaction holds.
    """
    query = (
        select(*COLUMNS)
        .where(SUBSCRIBERS.c.active.is_(True), SUBSCRIBERS.c.id > after_id)
        .order_by(SUBSCRIBERS.c.id)
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(skip_locked=True)
    return [to_subscriber(row) for row in c.execute(query).mappings()]


def count_by_active(c: Connection) -> tuple[int, int]:
    """Return how many subscribers are active and how many inactive."""
    counts: dict[bool, int] = dict(
        c.execute(select(SUBSCRIBERS.c.active, func.count()).group_by(SUBSCRIBERS.c.active)).all()
    )
    return int(counts.get(True, 0)), int(counts.get(False, 0))


def insert_new(
    c: Connection, chat_id: int, *, chat_type: str, language: str, title: str, now: datetime
) -> Subscriber | None:
    """Insert an active subscriber for a chat that never subscribed; None if one just did."""
    values = {
        "chat_id": chat_id,
        "chat_type": chat_type,
        "title": title,
        "language": language,
        "language_locked": False,
        "active": True,
        "subscribed_at": now,
    }
    # Two /start of one chat at once both find no row; the second must not fail on chat_id.
    dialect_insert = pg_insert if c.dialect.name == "postgresql" else sqlite_insert
    query = dialect_insert(SUBSCRIBERS).on_conflict_do_nothing(index_elements=["chat_id"])
    row = c.execute(query.returning(*COLUMNS), values).mappings().first()
    return None if row is None else to_subscriber(row)


def change(c: Connection, chat_id: int, **values: Any) -> Subscriber | None:
    """Set columns of a chat's subscriber; return it changed, None if the chat has none."""
    query = update(SUBSCRIBERS).where(SUBSCRIBERS.c.chat_id == chat_id).values(**values)
    row = c.execute(query.returning(*COLUMNS)).mappings().first()
    return None if row is None else to_subscriber(row)


def unsubscribe(c: Connection, chat_id: int, *, reason: str, now: datetime) -> bool:
    """Mark an active chat inactive with a reason; return False if it was not active."""
    result = c.execute(
        update(SUBSCRIBERS)
        .where(SUBSCRIBERS.c.chat_id == chat_id, SUBSCRIBERS.c.active.is_(True))
        .values(active=False, unsubscribed_at=now, inactive_reason=reason)
    )
    return bool(result.rowcount)


def deactivate(c: Connection, reasons: Sequence[tuple[int, str]], now: datetime) -> None:
    """Mark subscribers inactive by id, each with its reason (a blocked or vanished chat)."""
    if reasons:
        c.execute(
            update(SUBSCRIBERS)
            .where(SUBSCRIBERS.c.id == bindparam("b_id"), SUBSCRIBERS.c.active.is_(True))
            .values(
                active=False,
                unsubscribed_at=bindparam("b_now"),
                inactive_reason=bindparam("b_reason"),
            ),
            [{"b_id": i, "b_now": now, "b_reason": reason} for i, reason in reasons],
        )


def set_last_push_date(c: Connection, subscriber_ids: Sequence[int], day: date) -> None:
    """Record that these subscribers got their push for local date `day`."""
    if subscriber_ids:
        query = update(SUBSCRIBERS).where(SUBSCRIBERS.c.id.in_(list(subscriber_ids)))
        c.execute(query.values(last_push_date=day))


def move_chat(c: Connection, old_chat_id: int, new_chat_id: int) -> None:
    """Move a group's subscriber to the supergroup it became."""
    c.execute(
        update(SUBSCRIBERS)
        .where(SUBSCRIBERS.c.chat_id == old_chat_id)
        .values(chat_id=new_chat_id, chat_type="supergroup")
    )
