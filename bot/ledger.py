"""The delivery ledger: one row per (subscriber, article), pending → sending → sent | failed.

The ledger is what makes the push idempotent. Planning inserts rows under the unique
(subscriber_id, article_id) key, so re-running a tick or a second instance adds nothing.
Senders claim rows in batches (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: one
`BEGIN IMMEDIATE` write transaction), so two claimers never get the same row. A claim is a
lease: a worker refreshes `claimed_at` of its rows while it runs (heartbeat), and rows left
`sending` by a worker that died are claimed again once the lease has expired. Outcomes are
written back in batches (executemany), so per-message database cost stays small.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Select,
    Table,
    bindparam,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.models import ArticleRow, DeliveryRow, PushRunRow, SubscriberRow, UTCDateTime
from bot.scheduling import PushDefaults, is_due, is_due_forced, newest_window, pick_articles
from bot.store import Store, Subscriber

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
BLOCKED_PREFIX = "blocked"  # failed rows whose chat is gone; counted apart from failures
PAGE = 1000

D = cast(Table, DeliveryRow.__table__)
S = cast(Table, SubscriberRow.__table__)
R = cast(Table, PushRunRow.__table__)
A = cast(Table, ArticleRow.__table__)

_SUBSCRIBER_COLUMNS = (
    S.c.id,
    S.c.chat_id,
    S.c.chat_type,
    S.c.title,
    S.c.language,
    S.c.language_locked,
    S.c.push_time,
    S.c.timezone,
    S.c.active,
    S.c.subscribed_at,
    S.c.last_push_date,
)


@dataclass(frozen=True, slots=True)
class PushRun:
    """A push run row; `created` is False when another caller had already started it."""

    id: int
    key: str
    started_at: datetime
    created: bool


@dataclass(frozen=True, slots=True)
class Claim:
    """One claimed ledger row with what sending it needs."""

    delivery_id: int
    subscriber_id: int
    chat_id: int
    chat_type: str
    language: str
    article_id: int
    attempts: int


@dataclass(frozen=True, slots=True)
class PlanResult:
    """What planning did: rows inserted, subscribers due, skipped, and (dry runs) the pairs."""

    planned: int
    due: int
    skipped: int
    pairs: tuple[tuple[int, int], ...] = ()  # (chat_id, article_id), dry runs only


@dataclass(frozen=True, slots=True)
class RunStats:
    """A push run's counts from the ledger (messages, not subscribers)."""

    run_id: int
    key: str
    due: int
    sent: int
    pending: int
    sending: int
    failed: int
    blocked: int
    skipped: int
    started_at: datetime
    finished_at: datetime | None

    @property
    def duration(self) -> timedelta | None:
        """Return how long the run took, None while it is unfinished."""
        return None if self.finished_at is None else self.finished_at - self.started_at


@dataclass(slots=True)
class Outcomes:
    """A batch of send outcomes to write back in one transaction."""

    sent: list[tuple[int, int | None]] = field(default_factory=list)  # (delivery_id, message_id)
    failed: list[tuple[int, str]] = field(default_factory=list)  # (delivery_id, reason)
    # (delivery_id, not_before, reason, counts_as_attempt)
    retries: list[tuple[int, datetime, str, bool]] = field(default_factory=list)
    deactivate: list[tuple[int, str]] = field(default_factory=list)  # (subscriber_id, reason)

    def __len__(self) -> int:
        """Return how many outcomes are waiting."""
        return len(self.sent) + len(self.failed) + len(self.retries) + len(self.deactivate)

    def take(self) -> Outcomes:
        """Move everything into a new batch and leave this one empty."""
        batch = Outcomes(self.sent, self.failed, self.retries, self.deactivate)
        self.sent, self.failed, self.retries, self.deactivate = [], [], [], []
        return batch

    def restore(self, batch: Outcomes) -> None:
        """Put a batch taken earlier (and not written) back in front of what came since."""
        self.sent[:0] = batch.sent
        self.failed[:0] = batch.failed
        self.retries[:0] = batch.retries
        self.deactivate[:0] = batch.deactivate


def _subscriber(row: Any) -> Subscriber:
    return Subscriber(*row)


def _visible_ids(c: Connection, *, newest_first: bool) -> list[int]:
    """Return visible article ids in push order (as Store.visible_article_ids), on `c`."""
    order = (
        (A.c.date.desc().nulls_last(), A.c.id.desc())
        if newest_first
        else (A.c.date.is_(None), A.c.date.asc(), A.c.id.asc())
    )
    return list(c.scalars(select(A.c.id).where(A.c.hidden.is_(False)).order_by(*order)))


def _page_rows(  # noqa: PLR0917 - private helper of plan()
    due: list[tuple[Subscriber, date]],
    ordered: list[int],
    delivered: dict[int, set[int]],
    defaults: PushDefaults,
    run_id: int | None,
    now: datetime,
) -> tuple[list[dict[str, Any]], list[tuple[int, date]]]:
    """Pick each due subscriber's articles: the rows to insert, and who gets a push."""
    rows: list[dict[str, Any]] = []
    pushed: list[tuple[int, date]] = []
    for sub, day in due:
        picks = pick_articles(
            defaults.policy, ordered, delivered.get(sub.id, set()), defaults.max_per_day
        )
        if not picks:
            continue
        pushed.append((sub.id, day))
        rows.extend(
            {
                "subscriber_id": sub.id,
                "article_id": article_id,
                "run_id": run_id,
                "push_date": day,
                "state": PENDING,
                "attempts": 0,
                "created_at": now,
            }
            for article_id in picks
        )
    return rows, pushed


class Ledger:
    """The delivery ledger on a store's database (SQLite or PostgreSQL)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._read = store.engine
        # On SQLite the store's write engine begins with BEGIN IMMEDIATE (see bot.db).
        self._write = store.write_engine
        self.is_postgres = store.engine.dialect.name == "postgresql"

    def _insert(self, table: Any) -> Any:
        return pg_insert(table) if self.is_postgres else sqlite_insert(table)

    # -- runs ------------------------------------------------------------------------

    def start_run(self, key: str, now: datetime) -> PushRun:
        """Create the run `key`, or return the one another caller created (created=False)."""
        with self._write.begin() as c:
            stmt = self._insert(R).on_conflict_do_nothing(index_elements=["key"]).returning(R.c.id)
            values = {"key": key, "started_at": now, "due": 0, "sent": 0, "failed": 0}
            inserted = c.execute(stmt, {**values, "blocked": 0, "skipped": 0}).first()
            row = c.execute(select(R.c.id, R.c.started_at).where(R.c.key == key)).one()
        return PushRun(id=row.id, key=key, started_at=row.started_at, created=inserted is not None)

    def finish_run(self, run_id: int, now: datetime, *, skipped: int = 0) -> RunStats | None:
        """Store the run's counts and its latest plan's `skipped`; return its stats.

        The run is finished (finished_at) only once none of its rows is pending or sending.
        Finishing it again keeps the first finish time unless rows were planned into it
        since, so a no-op rerun of `push --now` does not stretch the run's duration.
        """
        stats = self.run_stats(run_id)
        if stats is None:
            return None
        finished_at = stats.finished_at
        if stats.pending or stats.sending:
            finished_at = None
        elif finished_at is None or self._planned_since(run_id, finished_at):
            finished_at = now
        with self._write.begin() as c:
            c.execute(
                update(R)
                .where(R.c.id == run_id)
                .values(
                    finished_at=finished_at,
                    due=stats.due,
                    sent=stats.sent,
                    failed=stats.failed,
                    blocked=stats.blocked,
                    skipped=skipped,
                )
            )
        return self.run_stats(run_id)

    def _planned_since(self, run_id: int, when: datetime) -> bool:
        """Tell whether rows were added to the run after `when`."""
        with self._read.connect() as c:
            query = select(D.c.id).where(D.c.run_id == run_id, D.c.created_at > when).limit(1)
            return c.execute(query).first() is not None

    def discard_run(self, run_id: int) -> bool:
        """Delete a run that planned nothing (a tick where nobody was due); True if deleted."""
        with self._write.begin() as c:
            used = c.execute(select(D.c.id).where(D.c.run_id == run_id).limit(1)).first()
            if used is not None:
                return False
            c.execute(delete(R).where(R.c.id == run_id))
            return True

    def run_stats(self, run_id: int) -> RunStats | None:
        """Return a run's counts, read from its ledger rows."""
        with self._read.connect() as c:
            run = c.execute(select(R).where(R.c.id == run_id)).first()
            if run is None:
                return None
            blocked = D.c.error.like(f"{BLOCKED_PREFIX}%")
            counts: dict[tuple[str, bool], int] = {
                (state, bool(is_blocked)): n
                for state, is_blocked, n in c.execute(
                    select(D.c.state, blocked, func.count())
                    .where(D.c.run_id == run_id)
                    .group_by(D.c.state, blocked)
                )
            }
        by_state: dict[str, int] = defaultdict(int)
        for (state, _), n in counts.items():
            by_state[state] += n
        return RunStats(
            run_id=run.id,
            key=run.key,
            due=sum(by_state.values()),
            sent=by_state[SENT],
            pending=by_state[PENDING],
            sending=by_state[SENDING],
            failed=counts.get((FAILED, False), 0),
            blocked=counts.get((FAILED, True), 0),
            skipped=run.skipped,
            started_at=run.started_at,
            finished_at=run.finished_at,
        )

    def last_run_stats(self) -> RunStats | None:
        """Return the stats of the most recently started run, None before the first push."""
        with self._read.connect() as c:
            run_id = c.execute(
                select(R.c.id).order_by(R.c.started_at.desc(), R.c.id.desc()).limit(1)
            ).scalar()
        return None if run_id is None else self.run_stats(run_id)

    # -- planning --------------------------------------------------------------------

    def plan(
        self,
        run_id: int | None,
        now: datetime,
        defaults: PushDefaults,
        *,
        force: bool = False,
        dry_run: bool = False,
        page: int = PAGE,
    ) -> PlanResult:
        """Insert pending rows for every subscriber due at `now`; idempotent.

        Pages through active subscribers by id (memory stays flat), one transaction per
        page; `force` plans today's push for everyone who has not had it. A due subscriber
        with nothing new gets nothing and keeps its date open, so an article imported later
        within the grace window still goes out that day. `dry_run` writes nothing and
        returns the (chat_id, article_id) pairs instead.
        """
        decide = is_due_forced if force else is_due
        newest_first = defaults.policy == "newest"
        planned = due_count = skipped = 0
        pairs: list[tuple[int, int]] = []
        after = 0
        engine = self._read if dry_run else self._write
        while True:
            # The page, the articles and the writes share one transaction (SQLite: BEGIN
            # IMMEDIATE). On PostgreSQL the page is locked: a concurrent planner skips these
            # subscribers, and sees their last_push_date once this commits, so two planners
            # never give one subscriber two different articles on one day.
            page_query = (
                select(*_SUBSCRIBER_COLUMNS)
                .where(S.c.active.is_(True), S.c.id > after)
                .order_by(S.c.id)
                .limit(page)
            )
            if self.is_postgres and not dry_run:
                page_query = page_query.with_for_update(skip_locked=True)
            with engine.begin() as c:
                subs = [_subscriber(r) for r in c.execute(page_query)]
                if not subs:
                    break
                after = subs[-1].id
                due: list[tuple[Subscriber, date]] = []
                for sub in subs:
                    day = decide(sub, now, defaults)
                    if day is not None:
                        due.append((sub, day))
                    elif force:
                        skipped += 1  # already had today's push
                ordered = _visible_ids(c, newest_first=newest_first) if due else []
                if not ordered:
                    skipped += len(due)
                    due_count += len(due)
                    continue
                window = list(newest_window(defaults.policy, ordered, defaults.max_per_day))
                delivered = self._delivered(c, [s.id for s, _ in due], window, defaults)
                rows, pushed = _page_rows(due, ordered, delivered, defaults, run_id, now)
                skipped += len(due) - len(pushed)
                due_count += len(due)
                if dry_run:
                    planned += len(rows)
                    chat = {sub.id: sub.chat_id for sub, _ in due}
                    pairs.extend((chat[r["subscriber_id"]], r["article_id"]) for r in rows)
                elif rows:
                    planned += self._insert_rows(c, rows)
                    by_day: dict[date, list[int]] = defaultdict(list)
                    for sub_id, day in pushed:
                        by_day[day].append(sub_id)
                    for day, sub_ids in by_day.items():  # one UPDATE per local date, not per row
                        c.execute(update(S).where(S.c.id.in_(sub_ids)).values(last_push_date=day))
        return PlanResult(planned=planned, due=due_count, skipped=skipped, pairs=tuple(pairs))

    def _insert_rows(self, c: Connection, rows: list[dict[str, Any]]) -> int:
        """Insert pending rows, skipping existing (subscriber, article) pairs; return inserted."""
        # RETURNING counts only rows this call inserted, not another planner's.
        if self.is_postgres:
            # One statement over arrays: psycopg would otherwise parse a 7000-parameter query.
            stmt = text(
                "INSERT INTO deliveries"
                " (subscriber_id, article_id, run_id, push_date, state, attempts, created_at)"
                " SELECT s, a, :run, d, :state, 0, :now FROM unnest("
                "CAST(:subs AS integer[]), CAST(:arts AS integer[]), CAST(:days AS date[])"
                ") AS t(s, a, d)"
                " ON CONFLICT (subscriber_id, article_id) DO NOTHING RETURNING id"
            ).bindparams(bindparam("now", type_=UTCDateTime()))
            result = c.execute(
                stmt,
                {
                    "run": rows[0]["run_id"],
                    "state": PENDING,
                    "now": rows[0]["created_at"],
                    "subs": [r["subscriber_id"] for r in rows],
                    "arts": [r["article_id"] for r in rows],
                    "days": [r["push_date"] for r in rows],
                },
            )
            return len(result.all())
        many = (
            sqlite_insert(D)
            .on_conflict_do_nothing(index_elements=["subscriber_id", "article_id"])
            .returning(D.c.id)
        )
        return len(c.execute(many, rows).all())

    def _delivered(
        self,
        c: Connection,
        subscriber_ids: Sequence[int],
        window: Sequence[int],
        defaults: PushDefaults,
    ) -> dict[int, set[int]]:
        query = select(D.c.subscriber_id, D.c.article_id).where(
            D.c.subscriber_id.in_(subscriber_ids)
        )
        if defaults.policy == "newest":
            query = query.where(D.c.article_id.in_(window))
        found: dict[int, set[int]] = defaultdict(set)
        for subscriber_id, article_id in c.execute(query):
            found[subscriber_id].add(article_id)
        return found

    # -- claiming --------------------------------------------------------------------

    def _lock(self, query: Select[Any]) -> Select[Any]:
        return query.with_for_update(skip_locked=True) if self.is_postgres else query

    def claim(
        self,
        worker: str,
        limit: int,
        now: datetime,
        *,
        lease: timedelta,
        run_id: int | None = None,
    ) -> list[Claim]:
        """Claim up to `limit` rows for `worker`: due pending rows and other workers' stale ones.

        Rows whose subscriber has gone inactive or whose article was hidden since planning
        are failed here instead of being handed out.
        """
        if limit <= 0:
            return []
        with self._write.begin() as c:
            # Never our own rows: a worker whose heartbeat lagged would resend what it has
            # in flight. Its rows go to others once it is gone (or back with release()).
            stale = select(D.c.id).where(
                D.c.state == SENDING,
                D.c.claimed_at < now - lease,
                or_(D.c.claimed_by.is_(None), D.c.claimed_by != worker),
            )
            pending = select(D.c.id).where(
                D.c.state == PENDING, or_(D.c.not_before.is_(None), D.c.not_before <= now)
            )
            if run_id is not None:
                stale = stale.where(D.c.run_id == run_id)
                pending = pending.where(D.c.run_id == run_id)
            ids = list(c.scalars(self._lock(stale.order_by(D.c.id).limit(limit))))
            if len(ids) < limit:
                more = pending.order_by(D.c.id).limit(limit - len(ids))
                ids.extend(c.scalars(self._lock(more)))
            if not ids:
                return []
            rows = c.execute(
                select(
                    D.c.id,
                    D.c.subscriber_id,
                    S.c.chat_id,
                    S.c.chat_type,
                    S.c.language,
                    D.c.article_id,
                    D.c.attempts,
                    S.c.active,
                    A.c.hidden,
                )
                .join(S, S.c.id == D.c.subscriber_id)
                .join(A, A.c.id == D.c.article_id)
                .where(D.c.id.in_(ids))
                .order_by(D.c.id)
            ).all()
            claims: list[Claim] = []
            dropped: list[dict[str, Any]] = []
            for r in rows:
                if not r.active or r.hidden:
                    reason = "subscriber inactive" if not r.active else "article hidden"
                    dropped.append({"b_id": r.id, "b_error": reason})
                    continue
                claims.append(
                    Claim(
                        r.id,
                        r.subscriber_id,
                        r.chat_id,
                        r.chat_type,
                        r.language,
                        r.article_id,
                        r.attempts,
                    )
                )
            if claims:
                c.execute(
                    update(D)
                    .where(D.c.id.in_([cl.delivery_id for cl in claims]))
                    .values(state=SENDING, claimed_by=worker, claimed_at=now)
                )
            if dropped:
                c.execute(
                    update(D)
                    .where(D.c.id == bindparam("b_id"))
                    .values(state=FAILED, error=bindparam("b_error"), claimed_by=None),
                    dropped,
                )
        return claims

    def heartbeat(self, worker: str, now: datetime) -> int:
        """Renew the lease on every row `worker` holds; return how many."""
        with self._write.begin() as c:
            result = c.execute(
                update(D)
                .where(D.c.state == SENDING, D.c.claimed_by == worker)
                .values(claimed_at=now)
            )
            return int(result.rowcount)

    def release(self, worker: str) -> int:
        """Hand `worker`'s unsent claims back as pending (a clean shutdown); return how many."""
        with self._write.begin() as c:
            result = c.execute(
                update(D)
                .where(D.c.state == SENDING, D.c.claimed_by == worker)
                .values(state=PENDING, claimed_by=None, claimed_at=None)
            )
            return int(result.rowcount)

    # -- outcomes --------------------------------------------------------------------

    def record(self, outcomes: Outcomes, now: datetime, *, worker: str) -> None:
        """Write a batch of `worker`'s outcomes in one transaction (executemany per kind).

        A row is only written while `worker` still holds it (`sending`, claimed by it): once
        its lease expired and another worker claimed it, a late outcome of the first (a
        retry putting a sent row back to pending) would otherwise undo the second's.
        """
        if not len(outcomes):
            return
        held = (D.c.id == bindparam("b_id"), D.c.state == SENDING, D.c.claimed_by == worker)
        with self._write.begin() as c:
            if outcomes.sent:
                c.execute(
                    update(D)
                    .where(*held)
                    .values(
                        state=SENT,
                        message_id=bindparam("b_message"),
                        sent_at=bindparam("b_now"),
                        error=None,
                    ),
                    [{"b_id": i, "b_message": m, "b_now": now} for i, m in outcomes.sent],
                )
            if outcomes.failed:
                c.execute(
                    update(D)
                    .where(*held)
                    .values(state=FAILED, error=bindparam("b_error"), attempts=D.c.attempts + 1),
                    [{"b_id": i, "b_error": reason[:1000]} for i, reason in outcomes.failed],
                )
            if outcomes.retries:
                c.execute(
                    update(D)
                    .where(*held)
                    .values(
                        state=PENDING,
                        not_before=bindparam("b_not_before"),
                        error=bindparam("b_error"),
                        attempts=D.c.attempts + bindparam("b_inc"),
                        claimed_by=None,
                        claimed_at=None,
                    ),
                    [
                        {
                            "b_id": i,
                            "b_not_before": nb,
                            "b_error": reason[:1000],
                            "b_inc": int(inc),
                        }
                        for i, nb, reason, inc in outcomes.retries
                    ],
                )
            if outcomes.deactivate:
                # The chat is gone whoever holds the row now: no claim check here.
                c.execute(
                    update(S)
                    .where(S.c.id == bindparam("b_id"), S.c.active.is_(True))
                    .values(
                        active=False,
                        unsubscribed_at=bindparam("b_now"),
                        inactive_reason=bindparam("b_reason"),
                    ),
                    [{"b_id": i, "b_now": now, "b_reason": r} for i, r in outcomes.deactivate],
                )

    def mark_sent(
        self, sent: Sequence[tuple[int, int | None]], now: datetime, *, worker: str
    ) -> None:
        """Mark `worker`'s rows sent with Telegram's message ids, in one transaction."""
        self.record(Outcomes(sent=list(sent)), now, worker=worker)

    def mark_failed(
        self, failed: Sequence[tuple[int, str]], now: datetime, *, worker: str
    ) -> None:
        """Mark `worker`'s rows failed with their reasons, in one transaction."""
        self.record(Outcomes(failed=list(failed)), now, worker=worker)

    def retry_later(
        self,
        delivery_id: int,
        not_before: datetime,
        reason: str,
        *,
        worker: str,
        count_attempt: bool = True,
    ) -> None:
        """Put `worker`'s row back to pending until `not_before` (attempts + 1 unless told not)."""
        self.record(
            Outcomes(retries=[(delivery_id, not_before, reason, count_attempt)]),
            not_before,
            worker=worker,
        )

    def deactivate(self, subscriber_ids: Sequence[int], reason: str, now: datetime) -> None:
        """Mark subscribers inactive (blocked, chat gone); a later /start reactivates them."""
        # No ledger row is touched, so no worker holds anything here.
        self.record(Outcomes(deactivate=[(i, reason) for i in subscriber_ids]), now, worker="")

    # -- reading ---------------------------------------------------------------------

    def pending_count(self, run_id: int | None = None) -> int:
        """Return how many rows wait to be sent (pending, including delayed retries)."""
        query = select(func.count()).select_from(D).where(D.c.state == PENDING)
        if run_id is not None:
            query = query.where(D.c.run_id == run_id)
        with self._read.connect() as c:
            return int(c.scalar(query) or 0)

    def outstanding(self, worker: str) -> tuple[int, datetime | None]:
        """Return rows not yet settled that are not `worker`'s own, and the next retry time.

        Counts pending rows and rows other workers are sending (live or dead: a dead
        worker's rows come back once their lease expires).
        """
        with self._read.connect() as c:
            pending, next_retry = c.execute(
                select(func.count(), func.min(D.c.not_before)).where(D.c.state == PENDING)
            ).one()
            others = c.scalar(
                select(func.count()).where(
                    D.c.state == SENDING,
                    or_(D.c.claimed_by.is_(None), D.c.claimed_by != worker),
                )
            )
        if next_retry is not None and not isinstance(next_retry, datetime):
            next_retry = None  # pragma: no cover - aggregate lost the column type
        return int(pending or 0) + int(others or 0), next_retry

    def deliveries(self, subscriber_id: int) -> list[tuple[int, str, str | None]]:
        """Return a subscriber's (article_id, state, error) rows, oldest first (tests, /stats)."""
        with self._read.connect() as c:
            return [
                (r.article_id, r.state, r.error)
                for r in c.execute(
                    select(D.c.article_id, D.c.state, D.c.error)
                    .where(D.c.subscriber_id == subscriber_id)
                    .order_by(D.c.id)
                )
            ]
