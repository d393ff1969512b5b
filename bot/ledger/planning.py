"""Planning: insert a pending ledger row for every subscriber due at `now`, idempotently."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.ledger.base import LedgerBase
from bot.ledger.tables import PENDING, A, D, S
from bot.models import UTCDateTime
from bot.scheduling import PushDefaults, is_due, is_due_forced, newest_window, pick_articles
from bot.store import Subscriber

PAGE = 1000

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
class PlanResult:
    """What planning did: rows inserted, subscribers due, skipped, and (dry runs) the pairs."""

    planned: int
    due: int
    skipped: int
    pairs: tuple[tuple[int, int], ...] = ()  # (chat_id, article_id), dry runs only


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


class PlanningMixin(LedgerBase):
    """The Ledger's planning."""

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
