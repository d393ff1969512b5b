"""Queries on `subscribers`: every read and write of a subscription; the table's one writer.

A subscription is a chat, or one forum topic of a chat: keyed by (chat_id, thread_id), where
thread_id 0 is the whole chat (a private chat, a group, a forum's General topic).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Connection,
    Date,
    RowMapping,
    Select,
    String,
    Time,
    and_,
    bindparam,
    cast,
    column,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import TypeEngine

from bot.db.engine import among, insert_on_conflict
from bot.db.tables import FOLLOWS, SUBSCRIBERS, UNSCHEDULED, UTCDateTime
from bot.model import SharedPlan, Subscriber, SubscriberImport

# The one mapping of a row to a Subscriber: the dataclass's fields are column names.
COLUMNS = tuple(SUBSCRIBERS.c[f.name] for f in fields(Subscriber))

# Every command reads this: one prebuilt statement keeps SQLAlchemy's compile cache warm.
_BY_CHAT = select(*COLUMNS).where(
    SUBSCRIBERS.c.chat_id == bindparam("chat_id"),
    SUBSCRIBERS.c.thread_id == bindparam("thread_id"),
)


def to_subscriber(row: RowMapping) -> Subscriber:
    """Map a row selected with `COLUMNS` to a Subscriber."""
    return Subscriber(**row)


def by_chat(
    c: Connection, chat_id: int, thread_id: int = 0, *, lock: bool = False
) -> Subscriber | None:
    """Return the subscriber of a chat's thread, active or not (`lock`: hold it until commit)."""
    query = _BY_CHAT.with_for_update() if lock else _BY_CHAT
    row = c.execute(query, {"chat_id": chat_id, "thread_id": thread_id}).mappings().first()
    return None if row is None else to_subscriber(row)


def chat_taken(c: Connection, chat_id: int) -> bool:
    """Tell whether a subscriber row exists for the chat (the whole chat or any topic)."""
    query = select(SUBSCRIBERS.c.id).where(SUBSCRIBERS.c.chat_id == chat_id)
    return c.execute(query).first() is not None


def active_page(
    c: Connection, *, after_id: int = 0, limit: int = 1000, lock: bool = False
) -> list[Subscriber]:
    """Return a page of active subscribers by id (keyset paging keeps memory flat).

    `lock` (PostgreSQL) locks the page's rows, waiting for another planner that holds them:
    were they skipped and that planner killed before its commit, a forced push (no later
    tick to catch them) would leave them out. Planners lock in id order, so none deadlock.
    """
    query = _active(select(*COLUMNS), after_id, limit, lock)
    return [to_subscriber(row) for row in c.execute(query).mappings()]


def active_ids(
    c: Connection, *, after_id: int = 0, limit: int = 1000, lock: bool = False
) -> list[int]:
    """Return the ids of a page of active subscribers (see active_page), locked alike."""
    return list(c.scalars(_active(select(SUBSCRIBERS.c.id), after_id, limit, lock)))


def _active(query: Select[Any], after_id: int, limit: int, lock: bool) -> Select[Any]:
    """Narrow `query` to a page of active subscribers after `after_id`, in id order."""
    query = (
        query.where(SUBSCRIBERS.c.active.is_(True), SUBSCRIBERS.c.id > after_id)
        .order_by(SUBSCRIBERS.c.id)
        .limit(limit)
    )
    return query.with_for_update() if lock else query


def due_page(
    c: Connection,
    now: datetime,
    *,
    after: tuple[datetime, int] | None = None,
    limit: int = 1000,
    lock: bool = False,
) -> list[tuple[Subscriber, datetime]]:
    """Return active subscribers whose next_push_at is at or before `now`, with that instant.

    Ordered by (next_push_at, id) and paged by that key (`after`), all from the index
    ix_subscribers_next_push, so a tick costs what is due, not what is subscribed. `lock`
    (PostgreSQL) locks the page's rows and skips rows another transaction holds.
    """
    query = _due(select(*COLUMNS, SUBSCRIBERS.c.next_push_at), now, after, limit, lock)
    # Positional: COLUMNS are the dataclass's fields in order, and a tick may read 100 000.
    return [(Subscriber(*row[:-1]), row[-1]) for row in c.execute(query)]


def _at(value: datetime) -> Any:
    return literal(value, type_=UTCDateTime())


def _due(
    query: Select[Any], now: datetime, after: tuple[datetime, int] | None, limit: int, lock: bool
) -> Select[Any]:
    """Narrow `query` to a page of due active subscribers, in (next_push_at, id) order."""
    query = query.where(
        SUBSCRIBERS.c.active == True,  # noqa: E712 - `IS true` would not use the index on PG
        SUBSCRIBERS.c.next_push_at <= now,
    )
    if after is not None:
        key = tuple_(SUBSCRIBERS.c.next_push_at, SUBSCRIBERS.c.id)
        query = query.where(key > tuple_(_at(after[0]), literal(after[1])))
    query = query.order_by(SUBSCRIBERS.c.next_push_at, SUBSCRIBERS.c.id).limit(limit)
    return query.with_for_update(skip_locked=True) if lock else query


# -- a tick's set-based plan: subscribers sharing a (time, zone, last date) share a decision --

# The grouping key of a NULL last_push_date: a day before any a plan looks at, so it decides
# exactly as "never pushed" does (bot.scheduling compares it with yesterday's local date).
NEVER_PUSHED = date(1970, 1, 1)


def due_ids(
    c: Connection,
    now: datetime,
    *,
    after: tuple[datetime, int] | None = None,
    limit: int = 1000,
    lock: bool = False,
) -> tuple[list[int], tuple[datetime, int] | None]:
    """Return the ids of a page of due active subscribers (see due_page), and its last key.

    Only ids come back (a tick may read 100 000): the last one's instant is read apart.
    """
    ids = list(c.scalars(_due(select(SUBSCRIBERS.c.id), now, after, limit, lock)))
    if not ids:
        return [], None
    last = select(SUBSCRIBERS.c.next_push_at).where(SUBSCRIBERS.c.id == ids[-1])
    return ids, (c.execute(last).scalar_one(), ids[-1])


def scheduled(
    c: Connection,
    ids: Sequence[int],
    *,
    own: bool = False,
    subscribed_after: datetime | None = None,
) -> list[tuple[Subscriber, datetime]]:
    """Return these subscribers with their next push instants, by id.

    With `own`, only those that need a decision of their own: the ones that follow topics,
    and the ones that subscribed after `subscribed_after` (if given).
    """
    query = select(*COLUMNS, SUBSCRIBERS.c.next_push_at).where(among(c, SUBSCRIBERS.c.id, ids))
    if own:
        mine: ColumnElement[bool] = exists().where(FOLLOWS.c.subscriber_id == SUBSCRIBERS.c.id)
        if subscribed_after is not None:
            mine = or_(SUBSCRIBERS.c.subscribed_at > subscribed_after, mine)
        query = query.where(mine)
    query = query.order_by(SUBSCRIBERS.c.id)
    return [(Subscriber(*row[:-1]), row[-1]) for row in c.execute(query)]


def _shared_key(default_time: time) -> tuple[ColumnElement[Any], ...]:
    """Return the columns a shared plan groups by, NULLs read as what they mean."""
    return (
        func.coalesce(SUBSCRIBERS.c.push_time, literal(default_time, type_=Time())),
        func.coalesce(SUBSCRIBERS.c.timezone, literal("", type_=String())),
        func.coalesce(SUBSCRIBERS.c.last_push_date, literal(NEVER_PUSHED, type_=Date())),
    )


def shared_keys(
    c: Connection, ids: Sequence[int], default_time: time
) -> list[tuple[tuple[time, str, date], int]]:
    """Return each (push time, zone, last push date) key among these subscribers, with a count."""
    key = _shared_key(default_time)
    query = select(*key, func.count()).where(among(c, SUBSCRIBERS.c.id, ids)).group_by(*key)
    return [((row[0], row[1], row[2]), int(row[3])) for row in c.execute(query)]


# The plans table's columns, in the order shared_plans binds them.
_PLAN_COLUMNS: tuple[tuple[str, TypeEngine[Any]], ...] = (
    ("push_time", Time()),
    ("timezone", String()),
    ("last_push_date", Date()),
    ("day", Date()),
    ("at", UTCDateTime()),
)


def shared_plans(c: Connection, plans: Sequence[SharedPlan], *, pushed: bool) -> CTE:
    """Return the plans as a table: (key..., day, at), `at` being pushed_at or kept_at.

    The rows are bound as one parameter per column (PostgreSQL: arrays for unnest) or one
    JSON parameter (SQLite: json_each), never as a VALUES list: SQLAlchemy caches no
    statement that holds one, so every plan would compile its statements again.
    """
    rows = [
        (
            p.push_time,
            p.timezone,
            p.last_push_date,
            p.day or NEVER_PUSHED,
            p.pushed_at if pushed else p.kept_at,
        )
        for p in plans
    ]
    dialect = c.dialect
    if dialect.name == "postgresql":
        arrays: list[ColumnElement[Any]] = [
            cast(bindparam(f"b_plan_{name}", list(values_), type_=ARRAY(type_)), ARRAY(type_))
            for (name, type_), values_ in zip(_PLAN_COLUMNS, zip(*rows, strict=True), strict=True)
        ]
        table = func.unnest(*arrays).table_valued(
            *(column(name, type_) for name, type_ in _PLAN_COLUMNS), name="plans_rows"
        )
        return select(*table.render_derived().c).cte("plans")
    # SQLite: each value as the column type stores it (the text SQLAlchemy would bind).
    processors = [t.dialect_impl(dialect).bind_processor(dialect) for _, t in _PLAN_COLUMNS]
    data = [
        [
            v if v is None or to_db is None else to_db(v)
            for v, to_db in zip(row, processors, strict=True)
        ]
        for row in rows
    ]
    each = func.json_each(bindparam("b_plans", json.dumps(data), type_=String()))
    value = each.table_valued("value").c.value
    return select(
        *(
            type_coerce(func.json_extract(value, f"$[{i}]"), type_).label(name)
            for i, (name, type_) in enumerate(_PLAN_COLUMNS)
        )
    ).cte("plans")


def sharing(plans: CTE, default_time: time) -> ColumnElement[bool]:
    """Return the condition: the subscriber row falls under the plan row."""
    key = _shared_key(default_time)
    return and_(
        key[0] == plans.c.push_time,
        key[1] == plans.c.timezone,
        key[2] == plans.c.last_push_date,
    )


def record_shared(
    c: Connection,
    ids: Sequence[int],
    pushed: Sequence[int],
    plans: Sequence[SharedPlan],
    default_time: time,
) -> None:
    """Store a set-based plan of subscribers `ids`: `pushed` ones got articles for their day.

    Two UPDATEs whatever the count: the pushed subscribers take their day and next instant,
    then every other one whose instant moves takes its kept one. (A pushed row now carries
    its new day in the key: the plan of that key, if any, keeps the instant it just got.)
    A forced plan's (no instants) is the first UPDATE, of the day alone.
    """
    due = [p for p in plans if p.day is not None]
    if pushed and due:
        table = shared_plans(c, due, pushed=True)
        changes: dict[str, Any] = {"last_push_date": table.c.day}
        if all(p.pushed_at is not None for p in due):
            changes["next_push_at"] = table.c.at
        c.execute(
            update(SUBSCRIBERS)
            .where(among(c, SUBSCRIBERS.c.id, pushed), sharing(table, default_time))
            .values(changes)
        )
    kept = [p for p in plans if p.kept_at is not None]
    if kept:
        table = shared_plans(c, kept, pushed=False)
        c.execute(
            update(SUBSCRIBERS)
            .where(
                among(c, SUBSCRIBERS.c.id, ids),
                sharing(table, default_time),
                SUBSCRIBERS.c.next_push_at != table.c.at,
            )
            .values(next_push_at=table.c.at)
        )


# The PostgreSQL plan write: one statement over arrays instead of one UPDATE per row (or a
# query of thousands of parameters for psycopg to parse).
_PLANNED_PG = text(
    "UPDATE subscribers SET next_push_at = COALESCE(t.at, subscribers.next_push_at),"
    " last_push_date = COALESCE(t.day, subscribers.last_push_date)"
    " FROM unnest(CAST(:ids AS integer[]), CAST(:ats AS timestamp[]), CAST(:days AS date[]))"
    " AS t(id, at, day) WHERE subscribers.id = t.id"
)


def record_plan(
    c: Connection, pushed_on: dict[int, date], moved: Sequence[tuple[int, datetime]]
) -> None:
    """Store a planned page: each pushed subscriber's local date, each moved next instant."""
    if c.dialect.name != "postgresql":
        by_day: dict[date, list[int]] = defaultdict(list)
        for subscriber_id, day in pushed_on.items():
            by_day[day].append(subscriber_id)
        for day, ids in by_day.items():  # one UPDATE per local date, not per row
            set_last_push_date(c, ids, day)
        reschedule(c, moved)
        return
    instants = dict(moved)
    ids = list(pushed_on.keys() | instants.keys())
    if ids:
        ats = [instants.get(i) for i in ids]
        naive = [None if at is None else at.astimezone(UTC).replace(tzinfo=None) for at in ats]
        days = [pushed_on.get(i) for i in ids]
        c.execute(_PLANNED_PG, {"ids": ids, "ats": naive, "days": days})


def reschedule(c: Connection, rows: Sequence[tuple[int, datetime]]) -> None:
    """Store each (subscriber id, next push instant), an aware datetime."""
    if not rows:
        return
    if c.dialect.name == "postgresql":
        record_plan(c, {}, rows)
        return
    by_instant: dict[datetime, list[int]] = defaultdict(list)
    for subscriber_id, at in rows:
        by_instant[at].append(subscriber_id)
    if len(by_instant) * 4 <= len(rows):
        # Most chats share a few push times: one UPDATE per instant beats one per row.
        for at, ids in by_instant.items():
            query = update(SUBSCRIBERS).where(SUBSCRIBERS.c.id.in_(ids))
            c.execute(query.values(next_push_at=at))
        return
    c.execute(
        update(SUBSCRIBERS)
        .where(SUBSCRIBERS.c.id == bindparam("b_id"))
        .values(next_push_at=bindparam("b_at")),
        [{"b_id": i, "b_at": at} for i, at in rows],
    )


def unschedule_all(c: Connection) -> None:
    """Mark every active subscriber's next push instant as not computed (the next tick does)."""
    c.execute(
        update(SUBSCRIBERS)
        .where(SUBSCRIBERS.c.active.is_(True), SUBSCRIBERS.c.next_push_at != UNSCHEDULED)
        .values(next_push_at=UNSCHEDULED)
    )


def page(c: Connection, *, after_id: int = 0, limit: int = 1000) -> list[Subscriber]:
    """Return a page of every subscriber, active or not, by id."""
    query = select(*COLUMNS).where(SUBSCRIBERS.c.id > after_id).order_by(SUBSCRIBERS.c.id)
    return [to_subscriber(row) for row in c.execute(query.limit(limit)).mappings()]


def import_batch(
    c: Connection, rows: Sequence[SubscriberImport], now: datetime
) -> tuple[int, int]:
    """Insert new chats and update known ones from a subscriber file; return (added, updated).

    A subscription is a (chat, thread) pair. Each written row is unscheduled: the next tick
    computes its next push instant. A pair that appears twice in the batch keeps its last row.
    """
    latest = {(row.chat_id, row.thread_id): row for row in rows}
    chats = list({chat_id for chat_id, _ in latest})
    query = select(SUBSCRIBERS.c.chat_id, SUBSCRIBERS.c.thread_id).where(
        SUBSCRIBERS.c.chat_id.in_(chats)
    )
    known = {(chat_id, thread_id) for chat_id, thread_id in c.execute(query)}
    fresh = [
        {
            "chat_id": r.chat_id,
            "thread_id": r.thread_id,
            "chat_type": r.chat_type,
            "title": r.title,
            "language": r.language,
            "language_locked": False,
            "push_time": r.push_time,
            "timezone": r.timezone,
            "active": r.active,
            "subscribed_at": now,
            "unsubscribed_at": None if r.active else now,
            "inactive_reason": None if r.active else "imported inactive",
            "next_push_at": UNSCHEDULED,
        }
        for key, r in latest.items()
        if key not in known
    ]
    if fresh:
        c.execute(insert(SUBSCRIBERS), fresh)
    changed = [
        {
            "b_chat": r.chat_id,
            "b_thread": r.thread_id,
            "b_type": r.chat_type,
            "b_title": r.title,
            "b_language": r.language,
            "b_time": r.push_time,
            "b_zone": r.timezone,
            "b_active": r.active,
        }
        for key, r in latest.items()
        if key in known
    ]
    if changed:
        c.execute(
            update(SUBSCRIBERS)
            .where(
                SUBSCRIBERS.c.chat_id == bindparam("b_chat"),
                SUBSCRIBERS.c.thread_id == bindparam("b_thread"),
            )
            .values(
                chat_type=bindparam("b_type"),
                title=bindparam("b_title"),
                language=bindparam("b_language"),
                push_time=bindparam("b_time"),
                timezone=bindparam("b_zone"),
                active=bindparam("b_active"),
                next_push_at=UNSCHEDULED,
            ),
            changed,
        )
    return len(fresh), len(changed)


def count_by_active(c: Connection) -> tuple[int, int]:
    """Return how many subscribers are active and how many inactive."""
    counts: dict[bool, int] = dict(
        c.execute(select(SUBSCRIBERS.c.active, func.count()).group_by(SUBSCRIBERS.c.active)).all()
    )
    return int(counts.get(True, 0)), int(counts.get(False, 0))


def count_by_kind(c: Connection) -> dict[tuple[str, bool], int]:
    """Return how many subscribers there are by (chat type, active)."""
    query = select(SUBSCRIBERS.c.chat_type, SUBSCRIBERS.c.active, func.count()).group_by(
        SUBSCRIBERS.c.chat_type, SUBSCRIBERS.c.active
    )
    return {(kind, bool(active)): int(n) for kind, active, n in c.execute(query)}


def insert_new(
    c: Connection,
    chat_id: int,
    thread_id: int = 0,
    *,
    chat_type: str,
    language: str,
    title: str,
    now: datetime,
) -> Subscriber | None:
    """Insert an active subscriber for a chat's thread that never subscribed; None if it has a row.

    The chat may have been subscribed by another writer since the caller looked (two
    instances each handling a /start): ON CONFLICT DO NOTHING leaves that row as it is.
    """
    values = {
        "chat_id": chat_id,
        "thread_id": thread_id,
        "chat_type": chat_type,
        "title": title,
        "language": language,
        "language_locked": False,
        "active": True,
        "subscribed_at": now,
    }
    stmt = insert_on_conflict(c, SUBSCRIBERS).on_conflict_do_nothing(
        index_elements=["chat_id", "thread_id"]
    )
    row = c.execute(stmt.returning(*COLUMNS), values).mappings().first()
    return None if row is None else to_subscriber(row)


def change(c: Connection, chat_id: int, thread_id: int, **values: Any) -> Subscriber | None:
    """Set columns of a chat thread's subscriber; return it changed, None if it has none."""
    query = (
        update(SUBSCRIBERS)
        .where(SUBSCRIBERS.c.chat_id == chat_id, SUBSCRIBERS.c.thread_id == thread_id)
        .values(**values)
    )
    row = c.execute(query.returning(*COLUMNS)).mappings().first()
    return None if row is None else to_subscriber(row)


def unsubscribe(
    c: Connection, chat_id: int, thread_id: int | None, *, reason: str, now: datetime
) -> bool:
    """Mark a chat thread (None: every thread of the chat) inactive; False if none was active."""
    query = update(SUBSCRIBERS).where(
        SUBSCRIBERS.c.chat_id == chat_id, SUBSCRIBERS.c.active.is_(True)
    )
    if thread_id is not None:
        query = query.where(SUBSCRIBERS.c.thread_id == thread_id)
    result = c.execute(query.values(active=False, unsubscribed_at=now, inactive_reason=reason))
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


def move_chat(c: Connection, old_chat_id: int, new_chat_id: int) -> bool:
    """Move a group's subscribers to the supergroup it became; False if that chat has a row.

    The supergroup's row may appear after the caller checked (its /start, handled by another
    instance): the move then gives way in a savepoint instead of failing the transaction.
    """
    query = (
        update(SUBSCRIBERS)
        .where(SUBSCRIBERS.c.chat_id == old_chat_id)
        .values(chat_id=new_chat_id, chat_type="supergroup")
    )
    try:
        with c.begin_nested():
            c.execute(query)
    except IntegrityError:
        return False
    return True


def by_id(c: Connection, subscriber_id: int) -> Subscriber | None:
    """Return a subscriber by its row id, active or not."""
    query = select(*COLUMNS).where(SUBSCRIBERS.c.id == subscriber_id)
    row = c.execute(query).mappings().first()
    return None if row is None else to_subscriber(row)


def of_type(c: Connection, chat_type: str, *, limit: int = 1000) -> list[Subscriber]:
    """Return the subscribers of one chat type (channels), active or not, by id."""
    query = select(*COLUMNS).where(SUBSCRIBERS.c.chat_type == chat_type)
    return [
        to_subscriber(row)
        for row in c.execute(query.order_by(SUBSCRIBERS.c.id).limit(limit)).mappings()
    ]


def insert_channel(
    c: Connection,
    chat_id: int,
    *,
    title: str,
    language: str,
    connected_by: int,
    inactive_reason: str | None,
    now: datetime,
) -> Subscriber | None:
    """Insert a channel's subscriber (inactive with a reason, or active); None if it has a row."""
    values = {
        "chat_id": chat_id,
        "chat_type": "channel",
        "title": title,
        "language": language,
        "language_locked": False,
        "active": inactive_reason is None,
        "inactive_reason": inactive_reason,
        "unsubscribed_at": None if inactive_reason is None else now,
        "subscribed_at": now,
        "connected_by": connected_by,
        "thread_id": 0,  # a channel has no topics
    }
    stmt = insert_on_conflict(c, SUBSCRIBERS).on_conflict_do_nothing(
        index_elements=["chat_id", "thread_id"]
    )
    row = c.execute(stmt.returning(*COLUMNS), values).mappings().first()
    return None if row is None else to_subscriber(row)
