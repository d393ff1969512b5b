"""Queries on `deliveries`, the ledger's rows: plan, claim, lease, settle; the table's one writer.

One row per (subscriber, article), pending → sending → sent | failed. Claims take whole
chats: all the claimable rows of a chat (its subscriber, or every forum topic of a group
that subscribed) go to one worker, and none while another worker holds a live row of it
(PostgreSQL: each chat's first subscriber row and then the deliveries are locked
`FOR ... SKIP LOCKED`; SQLite: the caller's `BEGIN IMMEDIATE` serializes claimers).
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Integer,
    Select,
    String,
    Update,
    and_,
    any_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.db import subscribers
from bot.db.engine import among, among_bound, id_list, insert_on_conflict
from bot.db.tables import ARTICLES, DELIVERIES, SUBSCRIBERS, UTCDateTime
from bot.model import BLOCKED_PREFIX, FAILED, PENDING, SENDING, SENT, Claim, Outcomes, SharedPlan

_CLAIM_COLUMNS = (
    DELIVERIES.c.id.label("delivery_id"),
    DELIVERIES.c.subscriber_id,
    SUBSCRIBERS.c.chat_id,
    SUBSCRIBERS.c.chat_type,
    SUBSCRIBERS.c.language,
    DELIVERIES.c.article_id,
    DELIVERIES.c.attempts,
    DELIVERIES.c.parts_sent,
    SUBSCRIBERS.c.thread_id,
)

# The PostgreSQL planner's insert: one statement over arrays, where psycopg would otherwise
# parse a query of thousands of parameters. RETURNING counts only the rows this call added.
_INSERT_PENDING_PG = text(
    "INSERT INTO deliveries"
    " (subscriber_id, article_id, run_id, push_date, state, attempts, created_at)"
    " SELECT s, a, :run, d, :state, 0, :now FROM unnest("
    "CAST(:subs AS integer[]), CAST(:arts AS integer[]), CAST(:days AS date[])"
    ") AS t(s, a, d)"
    " ON CONFLICT (subscriber_id, article_id) DO NOTHING RETURNING id"
).bindparams(bindparam("now", type_=UTCDateTime()))


# Sent rows, settled in one statement over the batch (the row must still be `worker`'s):
# SQLite reads [delivery_id, message_id] pairs from a JSON array, PostgreSQL two arrays.
_SENT_SET = (
    "UPDATE deliveries SET state = :sent, sent_at = :now, error = NULL,"
    " message_id = COALESCE(deliveries.message_id, {message})"
)
_SENT = {
    False: text(
        _SENT_SET.format(message="json_extract(t.value, '$[1]')")
        + " FROM json_each(:rows) AS t WHERE deliveries.id = json_extract(t.value, '$[0]')"
        # No index term for the state (see claim): SQLite would walk every `sending` row.
        " AND deliveries.state || '' = :sending AND deliveries.claimed_by = :worker"
    ).bindparams(bindparam("now", type_=UTCDateTime())),
    True: text(
        _SENT_SET.format(message="t.m")
        + " FROM unnest(CAST(:ids AS integer[]), CAST(:messages AS bigint[])) AS t(id, m)"
        " WHERE deliveries.id = t.id"
        " AND deliveries.state = :sending AND deliveries.claimed_by = :worker"
    ).bindparams(bindparam("now", type_=UTCDateTime())),
}


# -- planning ---------------------------------------------------------------------------


def delivered(
    c: Connection, subscriber_ids: Sequence[int], articles: Sequence[int] | None = None
) -> dict[int, set[int]]:
    """Return the articles each subscriber has a row for (only among `articles` if given)."""
    among: Any = DELIVERIES.c.subscriber_id.in_(list(subscriber_ids))
    if c.dialect.name == "postgresql":
        # One array parameter: psycopg would otherwise parse a query of a page's ids.
        ids = bindparam("b_subs", list(subscriber_ids), type_=ARRAY(Integer()))
        among = DELIVERIES.c.subscriber_id == any_(ids)
    query = select(DELIVERIES.c.subscriber_id, DELIVERIES.c.article_id).where(among)
    if articles is not None:
        query = query.where(DELIVERIES.c.article_id.in_(list(articles)))
    found: dict[int, set[int]] = defaultdict(set)
    for subscriber_id, article_id in c.execute(query):
        found[subscriber_id].add(article_id)
    return found


def insert_pending(
    c: Connection,
    rows: Sequence[tuple[int, int, date]],
    *,
    run_id: int | None,
    now: datetime,
) -> int:
    """Insert pending (subscriber_id, article_id, push_date) rows; return how many were new.

    A pair that already has a row is skipped (ON CONFLICT DO NOTHING), so planning twice, or
    two planners at once, never doubles a delivery.
    """
    if not rows:
        return 0
    if c.dialect.name == "postgresql":
        values = {
            "run": run_id,
            "state": PENDING,
            "now": now,
            "subs": [sub for sub, _, _ in rows],
            "arts": [art for _, art, _ in rows],
            "days": [day for _, _, day in rows],
        }
        return len(c.execute(_INSERT_PENDING_PG, values).all())
    many = (
        sqlite_insert(DELIVERIES)
        .on_conflict_do_nothing(index_elements=["subscriber_id", "article_id"])
        .returning(DELIVERIES.c.id)
    )
    params = [
        {
            "subscriber_id": sub,
            "article_id": art,
            "run_id": run_id,
            "push_date": day,
            "state": PENDING,
            "attempts": 0,
            "created_at": now,
        }
        for sub, art, day in rows
    ]
    return len(c.execute(many, params).all())


def insert_shared(
    c: Connection,
    ids: Sequence[int],
    plans: Sequence[SharedPlan],
    window: Sequence[int],
    *,
    default_time: time,
    run_id: int | None,
    now: datetime,
) -> list[int]:
    """Insert the "newest" pushes of subscribers `ids` with INSERT … SELECT; return who got one.

    Each subscriber under a due plan (bot.db.subscribers.shared_plans) gets the articles of
    `window` (newest first) up to the first one it already has: bot.scheduling.pick_articles
    for a subscriber offered every article. One statement per article of the window: the
    first goes to everyone who lacks it (ON CONFLICT skips who has it), each next one only to
    those that got the one before. Returns the subscriber id of each row inserted.
    """
    due = [p for p in plans if p.day is not None]
    if not ids or not due:
        return []
    table = subscribers.shared_plans(c, due, pushed=True)
    inserted: list[int] = []
    takers = list(ids)
    for article_id in window:
        rows = (
            select(
                SUBSCRIBERS.c.id,
                literal(article_id, type_=Integer()),
                literal(run_id, type_=Integer()),
                table.c.day,
                literal(PENDING),
                literal(0),
                literal(now, type_=UTCDateTime()),
            )
            .select_from(SUBSCRIBERS.join(table, subscribers.sharing(table, default_time)))
            .where(among(c, SUBSCRIBERS.c.id, takers))
        )
        insert = (
            insert_on_conflict(c, DELIVERIES)
            .from_select(_SHARED_COLUMNS, rows)
            .on_conflict_do_nothing(index_elements=["subscriber_id", "article_id"])
            .returning(DELIVERIES.c.subscriber_id)
        )
        takers = list(c.scalars(insert))
        if not takers:
            break
        inserted.extend(takers)
    return inserted


_SHARED_COLUMNS = (
    "subscriber_id",
    "article_id",
    "run_id",
    "push_date",
    "state",
    "attempts",
    "created_at",
)


# -- claims -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ClaimStatements:
    """A claim's statements, built once per dialect (see _claim_statements)."""

    stale: Select[int]
    pending: Select[int]
    topics: Select[int, int]
    lock: Select[int]
    busy: Select[int]
    rows_of: Select[int, int]
    rows: Select[Any]
    take: Update


@functools.cache
def _claim_statements(dialect: str, by_run: bool) -> _ClaimStatements:
    """Build the claim's statements once: building them costs more than running them.

    Parameters: b_worker, b_live (the lease's start: now - lease), b_now, b_limit, b_run
    (`by_run`), and b_ids, an id list (bot.db.engine.id_list).
    """
    worker, now = bindparam("b_worker", type_=String()), bindparam("b_now", type_=UTCDateTime())
    live = bindparam("b_live", type_=UTCDateTime())
    runs = (DELIVERIES.c.run_id == bindparam("b_run"),) if by_run else ()

    def ids(column: ColumnElement[int]) -> ColumnElement[bool]:
        return among_bound(dialect, column, "b_ids")

    def others(table: Any) -> ColumnElement[bool]:
        return or_(table.c.claimed_by.is_(None), table.c.claimed_by != worker)

    # Never our own rows: a worker whose heartbeat lagged would resend what it has in
    # flight. Its rows go to others once it is gone (or back with release()).
    stale = (DELIVERIES.c.claimed_at < live, others(DELIVERIES))
    due = or_(DELIVERIES.c.not_before.is_(None), DELIVERIES.c.not_before <= now)
    held = DELIVERIES.alias("held")  # another worker holds a live row of the subscriber
    held_by_another = exists().where(
        held.c.subscriber_id == DELIVERIES.c.subscriber_id,
        held.c.state == SENDING,
        held.c.claimed_at >= live,
        others(held),
    )
    candidates = (
        select(DELIVERIES.c.subscriber_id)
        .where(*runs, ~held_by_another)
        .order_by(DELIVERIES.c.id)
        .limit(bindparam("b_limit", type_=Integer()))
    )
    of_chats = SUBSCRIBERS.alias("of_chats")
    # SQLite keeps no statistics: `state = ?` looks selective to it, and it would walk every
    # row in that state; a state that is no index term keeps it on the subscribers' rows.
    state = DELIVERIES.c.state.concat("")
    return _ClaimStatements(
        stale=candidates.where(DELIVERIES.c.state == SENDING, *stale),
        pending=candidates.where(DELIVERIES.c.state == PENDING, due),
        topics=select(SUBSCRIBERS.c.id, SUBSCRIBERS.c.chat_id).where(
            SUBSCRIBERS.c.chat_id.in_(select(of_chats.c.chat_id).where(ids(of_chats.c.id)))
        ),
        lock=select(SUBSCRIBERS.c.chat_id)
        .where(ids(SUBSCRIBERS.c.id))
        .with_for_update(skip_locked=True, key_share=True),
        busy=select(DELIVERIES.c.subscriber_id)
        .where(
            ids(DELIVERIES.c.subscriber_id),
            state == SENDING,
            DELIVERIES.c.claimed_at >= live,
            others(DELIVERIES),
        )
        .distinct(),
        rows_of=select(DELIVERIES.c.id, DELIVERIES.c.subscriber_id)
        .where(ids(DELIVERIES.c.subscriber_id), *runs)
        .where(or_(and_(state == SENDING, *stale), and_(state == PENDING, due)))
        .with_for_update(skip_locked=True),
        rows=select(*_CLAIM_COLUMNS, SUBSCRIBERS.c.active, ARTICLES.c.hidden)
        .join(SUBSCRIBERS, SUBSCRIBERS.c.id == DELIVERIES.c.subscriber_id)
        .join(ARTICLES, ARTICLES.c.id == DELIVERIES.c.article_id)
        .where(ids(DELIVERIES.c.id))
        .order_by(DELIVERIES.c.id),
        take=update(DELIVERIES)
        .where(ids(DELIVERIES.c.id))
        .values(state=SENDING, claimed_by=worker, claimed_at=now),
    )


def claim(
    c: Connection,
    worker: str,
    limit: int,
    now: datetime,
    *,
    lease: timedelta,
    run_id: int | None = None,
) -> list[Claim]:
    """Claim up to `limit` rows for `worker`, whole chats at a time.

    Claimable rows are due pending rows and other workers' stale ones. A chat is only
    claimed while no other worker holds a live row of it, and then all its claimable rows go
    to `worker` (up to `limit`; the rest wait for `worker`, as the chat is now held). A chat
    is its subscriber, or every forum topic of a group that subscribed (each topic is a
    subscriber of its own): one worker sends to a chat at a time, so the local pacer's
    1/s per chat and 20/min per group hold across processes. Rows whose subscriber has gone
    inactive or whose article was hidden since planning are failed here instead of being
    handed out.
    """
    dialect = c.dialect.name
    st = _claim_statements(dialect, run_id is not None)
    params: dict[str, Any] = {
        "b_worker": worker,
        "b_live": now - lease,
        "b_now": now,
        "b_limit": limit,
        "b_run": run_id,
    }

    def among_ids(ids: Sequence[int]) -> dict[str, Any]:
        return {**params, "b_ids": id_list(dialect, ids)}

    subs = list(c.scalars(st.stale, params))
    if len(subs) < limit:
        subs.extend(c.scalars(st.pending, {**params, "b_limit": limit - len(subs)}))
    if not subs:
        return []
    # The candidates' chats, with every subscriber (forum topic) of each. The candidates
    # skipped subscribers another worker holds; a chat held through another topic is left
    # out below, once locked.
    chat_of = {int(sub): int(chat) for sub, chat in c.execute(st.topics, among_ids(subs))}
    order = {chat: rank for rank, chat in enumerate(dict.fromkeys(chat_of[s] for s in subs))}
    first: dict[int, int] = {}
    for subscriber_id, chat_id in sorted(chat_of.items()):
        first.setdefault(chat_id, subscriber_id)
    # PostgreSQL: lock each chat's first subscriber row (its lowest id: every claimer picks
    # the same one), skipping chats another claimer is taking; the next statements see what
    # a claimer that held one until now committed (READ COMMITTED), so `busy` then leaves out
    # a chat claimed meanwhile. NO KEY: planners may still add rows referring to it.
    # SQLite: BEGIN IMMEDIATE has serialized the claimers already.
    locked = set(c.scalars(st.lock, among_ids(list(first.values()))))
    mine = [s for s, chat in chat_of.items() if chat in locked]
    if not mine:
        return []
    busy = {chat_of[s] for s in c.scalars(st.busy, among_ids(mine))}
    free = [s for s in mine if chat_of[s] not in busy]
    if not free:
        return []
    found = sorted(
        c.execute(st.rows_of, among_ids(free)),
        key=lambda row: (order[chat_of[row.subscriber_id]], row.id),
    )
    ids = [row.id for row in found[:limit]]
    if not ids:
        return []
    claims: list[Claim] = []
    dropped: list[dict[str, Any]] = []
    # Positional: _CLAIM_COLUMNS are Claim's fields, in order.
    for *values, active, hidden in c.execute(st.rows, among_ids(ids)):
        if not active or hidden:
            reason = "subscriber inactive" if not active else "article hidden"
            dropped.append({"b_id": values[0], "b_error": reason})
            continue
        claims.append(Claim(*values))
    if claims:
        c.execute(st.take, among_ids([cl.delivery_id for cl in claims]))
    if dropped:
        c.execute(
            update(DELIVERIES)
            .where(DELIVERIES.c.id == bindparam("b_id"))
            .values(state=FAILED, error=bindparam("b_error"), claimed_by=None),
            dropped,
        )
    return claims


def claim_pair(
    c: Connection, subscriber_id: int, article_id: int, *, day: date, worker: str, now: datetime
) -> Claim | None:
    """Plan and claim the (subscriber, article) row for `worker` at once, outside any run.

    A new pair gets its row; a pending one (planned by a push, not yet sent) is taken over.
    None when the pair's row is sent, failed, or held by another sender: it goes out once.
    """
    insert_pending(c, [(subscriber_id, article_id, day)], run_id=None, now=now)
    # On PostgreSQL a push holding the row (FOR UPDATE) makes this wait, then see `sending`.
    taken = c.execute(
        update(DELIVERIES)
        .where(
            DELIVERIES.c.subscriber_id == subscriber_id,
            DELIVERIES.c.article_id == article_id,
            DELIVERIES.c.state == PENDING,
        )
        .values(state=SENDING, claimed_by=worker, claimed_at=now, not_before=None)
    )
    if not taken.rowcount:
        return None
    row = (
        c.execute(
            select(*_CLAIM_COLUMNS)
            .join(SUBSCRIBERS, SUBSCRIBERS.c.id == DELIVERIES.c.subscriber_id)
            .where(
                DELIVERIES.c.subscriber_id == subscriber_id,
                DELIVERIES.c.article_id == article_id,
            )
        )
        .mappings()
        .one()
    )
    return Claim(**row)


def heartbeat(c: Connection, worker: str, now: datetime) -> int:
    """Renew the lease on every row `worker` holds; return how many."""
    result = c.execute(
        update(DELIVERIES)
        .where(DELIVERIES.c.state == SENDING, DELIVERIES.c.claimed_by == worker)
        .values(claimed_at=now)
    )
    return int(result.rowcount)


def release(c: Connection, worker: str) -> int:
    """Hand `worker`'s unsent rows back as pending; return how many."""
    result = c.execute(
        update(DELIVERIES)
        .where(DELIVERIES.c.state == SENDING, DELIVERIES.c.claimed_by == worker)
        .values(state=PENDING, claimed_by=None, claimed_at=None)
    )
    return int(result.rowcount)


def record(c: Connection, outcomes: Outcomes, now: datetime, *, worker: str) -> None:
    """Write `worker`'s part progress, sent, failed and retried rows (executemany per kind).

    Progress goes first: a batch may hold a row's progress and then its retry, which hands
    the row back (and the progress must land while the row is still held). A row keeps the
    id of its digest's first message. A row is only written while `worker` still holds it
    (`sending`, claimed by it): once its lease expired and another worker claimed it, a late
    outcome of the first (a retry putting a sent row back to pending) would otherwise undo
    the second's. The batch's `deactivate` part is the subscribers'
    (bot.db.subscribers.deactivate).
    """
    held = (
        DELIVERIES.c.id == bindparam("b_id"),
        DELIVERIES.c.state == SENDING,
        DELIVERIES.c.claimed_by == worker,
    )
    if outcomes.progress:
        # parts_sent 0: the digest starts over in a new chat (a group became a supergroup).
        first = bindparam("b_parts", type_=Integer()) == 0
        c.execute(
            update(DELIVERIES)
            .where(*held)
            .values(
                parts_sent=bindparam("b_parts"),
                message_id=case(
                    (first, None),
                    else_=func.coalesce(DELIVERIES.c.message_id, bindparam("b_message")),
                ),
            ),
            [{"b_id": i, "b_parts": n, "b_message": m} for i, n, m in outcomes.progress],
        )
    if outcomes.sent:
        # The bulk of a push: one statement over the batch, not one per row.
        sent = _SENT[c.dialect.name == "postgresql"]
        values = {"sent": SENT, "sending": SENDING, "worker": worker, "now": now}
        if c.dialect.name == "postgresql":
            values["ids"] = [i for i, _ in outcomes.sent]
            values["messages"] = [m for _, m in outcomes.sent]
        else:
            values["rows"] = json.dumps(outcomes.sent)
        c.execute(sent, values)
    if outcomes.failed:
        c.execute(
            update(DELIVERIES)
            .where(*held)
            .values(state=FAILED, error=bindparam("b_error"), attempts=DELIVERIES.c.attempts + 1),
            [{"b_id": i, "b_error": reason[:1000]} for i, reason in outcomes.failed],
        )
    if outcomes.retries:
        c.execute(
            update(DELIVERIES)
            .where(*held)
            .values(
                state=PENDING,
                not_before=bindparam("b_not_before"),
                error=bindparam("b_error"),
                attempts=DELIVERIES.c.attempts + bindparam("b_inc"),
                claimed_by=None,
                claimed_at=None,
            ),
            [
                {"b_id": i, "b_not_before": nb, "b_error": reason[:1000], "b_inc": int(inc)}
                for i, nb, reason, inc in outcomes.retries
            ],
        )


# -- reads ------------------------------------------------------------------------------


def pending_count(c: Connection, run_id: int | None = None) -> int:
    """Return how many rows wait to be sent (pending, including delayed retries)."""
    query = select(func.count()).select_from(DELIVERIES).where(DELIVERIES.c.state == PENDING)
    if run_id is not None:
        query = query.where(DELIVERIES.c.run_id == run_id)
    return int(c.scalar(query) or 0)


def count_by_state(c: Connection) -> dict[str, int]:
    """Return how many rows the ledger holds in each state (an index-only scan)."""
    query = select(DELIVERIES.c.state, func.count()).group_by(DELIVERIES.c.state)
    return {state: int(n) for state, n in c.execute(query)}


def outstanding(c: Connection, worker: str) -> tuple[int, datetime | None]:
    """Return rows not yet settled that are not `worker`'s own, and the next retry time."""
    pending, next_retry = c.execute(
        select(func.count(), func.min(DELIVERIES.c.not_before)).where(
            DELIVERIES.c.state == PENDING
        )
    ).one()
    others = c.scalar(
        select(func.count()).where(
            DELIVERIES.c.state == SENDING,
            or_(DELIVERIES.c.claimed_by.is_(None), DELIVERIES.c.claimed_by != worker),
        )
    )
    if next_retry is not None and not isinstance(next_retry, datetime):
        next_retry = None  # pragma: no cover - aggregate lost the column type
    return int(pending or 0) + int(others or 0), next_retry


def history(c: Connection, subscriber_id: int) -> list[tuple[int, str, str | None]]:
    """Return a subscriber's (article_id, state, error) rows, oldest first."""
    query = (
        select(DELIVERIES.c.article_id, DELIVERIES.c.state, DELIVERIES.c.error)
        .where(DELIVERIES.c.subscriber_id == subscriber_id)
        .order_by(DELIVERIES.c.id)
    )
    return [(r.article_id, r.state, r.error) for r in c.execute(query)]


def run_used(c: Connection, run_id: int) -> bool:
    """Tell whether the run has any row."""
    query = select(DELIVERIES.c.id).where(DELIVERIES.c.run_id == run_id).limit(1)
    return c.execute(query).first() is not None


def added_since(c: Connection, run_id: int, when: datetime) -> bool:
    """Tell whether rows were added to the run after `when`."""
    query = (
        select(DELIVERIES.c.id)
        .where(DELIVERIES.c.run_id == run_id, DELIVERIES.c.created_at > when)
        .limit(1)
    )
    return c.execute(query).first() is not None


def run_counts(c: Connection, run_id: int) -> dict[tuple[str, bool], int]:
    """Return the run's row counts by (state, whether the failure is a blocked chat)."""
    blocked = DELIVERIES.c.error.like(f"{BLOCKED_PREFIX}%")
    query = (
        select(DELIVERIES.c.state, blocked, func.count())
        .where(DELIVERIES.c.run_id == run_id)
        .group_by(DELIVERIES.c.state, blocked)
    )
    counts: dict[tuple[str, bool], int] = defaultdict(int)
    for state, is_blocked, n in c.execute(query):
        counts[state, bool(is_blocked)] += n
    return counts
