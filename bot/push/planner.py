"""Planning: insert a pending ledger row for every subscriber due at `now`, idempotently.

The planner decides (bot.scheduling: who is due, which articles); its SQL lives in bot.db.
"""

from __future__ import annotations

import functools
import importlib.metadata
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from bot.db import articles, deliveries, follows, meta, subscribers, topics
from bot.model import PlanResult, SharedPlan, Subscriber
from bot.scheduling import (
    PushDefaults,
    due_day,
    first_open_slot,
    forced_day,
    is_due,
    is_due_forced,
    newest_window,
    pick_articles,
    subscriber_zone,
    zone_or_default,
)
from bot.store import Store

PAGE = 10_000  # subscribers per page and per transaction
NEVER = datetime.min.replace(tzinfo=UTC)  # before any subscription
ALL: frozenset[int] = frozenset()  # following no topic: every article is offered

_DEFAULTS_KEY = "push_defaults"


@functools.cache
def zone_database_version() -> str:
    """Return the IANA zone database's version zoneinfo reads (its tzdata.zi), or ''.

    Read once: zoneinfo keeps the zones it loaded, so a newer database takes a restart anyway,
    and a tick must not open a file.
    """
    for root in zoneinfo.TZPATH:
        try:
            with (Path(root) / "tzdata.zi").open(encoding="utf-8") as f:
                return f.readline().removeprefix("# version").strip()
        except OSError:
            continue
    try:
        return importlib.metadata.version("tzdata")
    except importlib.metadata.PackageNotFoundError:
        return ""


def defaults_fingerprint(defaults: PushDefaults) -> str:
    """Return what the stored next push instants depend on besides each subscriber's own."""
    return "|".join(
        (
            defaults.push_time.isoformat(),
            defaults.timezone,
            str(defaults.grace.total_seconds()),
            zone_database_version(),
        )
    )


class Planner:
    """Plans pushes into the ledger on a store's database, a page of subscribers at a time."""

    def __init__(self, store: Store, *, page: int = PAGE) -> None:
        self._read = store.engine.begin
        # Store.writing: on SQLite BEGIN IMMEDIATE (see bot.db.engine), never into a lost file.
        self._write = store.writing
        self._page = page

    def _defaults_changed(self, defaults: PushDefaults) -> bool:
        """Tell whether the stored instants were computed with other push defaults."""
        with self._read() as c:
            return meta.get(c, _DEFAULTS_KEY) != defaults_fingerprint(defaults)

    def _reschedule_on_new_defaults(self, defaults: PushDefaults) -> None:
        """Unschedule everyone once when the push defaults differ from the stored instants'."""
        fingerprint = defaults_fingerprint(defaults)
        with self._read() as c:
            if meta.get(c, _DEFAULTS_KEY) == fingerprint:
                return  # the common case: one point read a tick
        with self._write() as c:
            if meta.get(c, _DEFAULTS_KEY) != fingerprint:
                subscribers.unschedule_all(c)
                meta.put(c, _DEFAULTS_KEY, fingerprint)

    def plan(
        self,
        run_id: int | None,
        now: datetime,
        defaults: PushDefaults,
        *,
        force: bool = False,
        dry_run: bool = False,
    ) -> PlanResult:
        """Insert pending rows for every subscriber due at `now`; idempotent.

        A tick reads only the subscribers whose next push instant (`next_push_at`) has
        come, a page at a time (memory stays flat), one transaction per page, and stores
        each one's next instant after deciding; `force` pages through every active
        subscriber by id and plans today's push for everyone who has not had it. A due subscriber
        with nothing new gets nothing and keeps its date open, so an article imported later
        within the grace window still goes out that day. `dry_run` writes nothing and
        returns the (chat_id, article_id) pairs instead.
        """
        if not dry_run:
            if force:
                return self._forced(run_id, now, defaults)
            self._reschedule_on_new_defaults(defaults)
            return self._tick(run_id, now, defaults)
        # Stored instants were computed with the defaults of their time: after a change of
        # PUSH_TIME, TIMEZONE, PUSH_GRACE or the zone database they may be late. A real tick
        # recomputes them all once; a dry run reads everyone instead of writing.
        everyone = force or self._defaults_changed(defaults)
        tally = _Tally()
        after_id = 0  # everyone: keyset over every active subscriber by id
        after_due: tuple[datetime, int] | None = None  # a tick: over (next_push_at, id)
        seen: set[int] = set()  # see _tick
        while True:
            with self._read() as c:
                if everyone:
                    page = subscribers.active_page(c, after_id=after_id, limit=self._page)
                    if not page:
                        break
                    after_id = page[-1].id
                    scheduled = [(sub, NEVER) for sub in page]
                else:
                    scheduled = subscribers.due_page(c, now, after=after_due, limit=self._page)
                    if not scheduled:
                        break
                    after_due = (scheduled[-1][1], scheduled[-1][0].id)
                    scheduled = [(sub, at) for sub, at in scheduled if sub.id not in seen]
                    seen.update(sub.id for sub, _ in scheduled)
                self._plan_each(
                    c,
                    scheduled,
                    run_id=None,
                    now=now,
                    defaults=defaults,
                    tally=tally,
                    force=force,
                    dry_run=True,
                )
        return tally.result()

    def _tick(self, run_id: int | None, now: datetime, defaults: PushDefaults) -> PlanResult:
        """Plan the subscribers whose next push instant has come, set-based.

        Subscribers sharing a push time, zone and last push date share a decision: one per
        such key (bot.scheduling.due_day, first_open_slot), then one INSERT … SELECT of their
        deliveries and two UPDATEs of their dates and instants, whatever their number. Only
        those whose answer is their own are decided one by one (_plan_each): chats that
        subscribed within the grace window (a slot before they came is not theirs), chats
        following topics (offered other articles), and every chat under the "backlog" policy
        (its pick depends on each one's whole history).
        """
        tally = _Tally()
        after: tuple[datetime, int] | None = None  # keyset over (next_push_at, id)
        # A row whose new instant is still due (nothing new to send yet) can move ahead of
        # the cursor and come round again in this plan: it is decided once.
        seen: set[int] = set()
        while True:
            # The page, the articles and the writes share one transaction (SQLite: BEGIN
            # IMMEDIATE). On PostgreSQL the page is locked: a concurrent planner skips these
            # subscribers, and sees their last_push_date once this commits, so two planners
            # never give one subscriber two different articles on one day.
            with self._write() as c:
                page, last = subscribers.due_ids(c, now, after=after, limit=self._page, lock=True)
                if last is None:
                    break
                after = last
                ids = [i for i in page if i not in seen]
                seen.update(ids)
                self._plan_page(c, ids, run_id=run_id, now=now, defaults=defaults, tally=tally)
        return tally.result()

    def _forced(self, run_id: int | None, now: datetime, defaults: PushDefaults) -> PlanResult:
        """Plan today's push for every active subscriber that has not had it, set-based.

        As _tick, a page of ids at a time, but the decision of a key is the zone's local
        date (bot.scheduling.forced_day), and the instants stay where they are.
        """
        tally = _Tally()
        after_id = 0  # keyset over every active subscriber by id
        while True:
            # On PostgreSQL the page is locked and a locked row waited for (active_page).
            with self._write() as c:
                ids = subscribers.active_ids(c, after_id=after_id, limit=self._page, lock=True)
                if not ids:
                    break
                after_id = ids[-1]
                self._plan_page(
                    c, ids, run_id=run_id, now=now, defaults=defaults, tally=tally, force=True
                )
        return tally.result()

    def _plan_page(
        self,
        c: Connection,
        ids: Sequence[int],
        *,
        run_id: int | None,
        now: datetime,
        defaults: PushDefaults,
        tally: _Tally,
        force: bool = False,
    ) -> None:
        """Plan a page of subscribers: those deciding alike by key, the others one by one."""
        if not ids:
            return
        shared_policy = defaults.policy == "newest"
        # A forced plan ignores when each one subscribed: only followers decide alone.
        recent = None if force else now - defaults.grace
        own = subscribers.scheduled(c, ids, own=shared_policy, subscribed_after=recent)
        self._plan_each(
            c, own, run_id=run_id, now=now, defaults=defaults, tally=tally, force=force
        )
        mine = {sub.id for sub, _ in own}
        shared = [i for i in ids if i not in mine]
        if shared:
            self._plan_shared(
                c, shared, run_id=run_id, now=now, defaults=defaults, tally=tally, force=force
            )

    def _plan_shared(
        self,
        c: Connection,
        ids: Sequence[int],
        *,
        run_id: int | None,
        now: datetime,
        defaults: PushDefaults,
        tally: _Tally,
        force: bool = False,
    ) -> None:
        """Plan subscribers deciding alike by key: "newest", every article, not just come.

        Forced, a subscriber that had today's push counts as skipped (as in _plan_each).
        """
        decide = _forced_plan if force else _shared_plan
        plans: list[SharedPlan] = []
        due = done = 0
        for key, count in subscribers.shared_keys(c, ids, defaults.push_time):
            plans.append(decide(*key, now, defaults))
            if plans[-1].day is not None:
                due += count
            elif force:
                done += count
        window = newest_window("newest", self._visible(c, newest_first=True), defaults.max_per_day)
        rows = deliveries.insert_shared(
            c, ids, plans, window, default_time=defaults.push_time, run_id=run_id, now=now
        )
        pushed = list(dict.fromkeys(rows))
        tally.planned += len(rows)
        tally.due += due
        tally.skipped += done + due - len(pushed)
        subscribers.record_shared(c, ids, pushed, plans, defaults.push_time)

    def _plan_each(
        self,
        c: Connection,
        scheduled: Sequence[tuple[Subscriber, datetime]],
        *,
        run_id: int | None,
        now: datetime,
        defaults: PushDefaults,
        tally: _Tally,
        force: bool = False,
        dry_run: bool = False,
    ) -> None:
        """Decide, pick and (unless `dry_run`) store each of these subscribers on its own."""
        decide = is_due_forced if force else is_due
        due: list[tuple[Subscriber, date]] = []
        for sub, _ in scheduled:
            day = decide(sub, now, defaults)
            if day is not None:
                due.append((sub, day))
            elif force:
                tally.skipped += 1  # already had today's push
        picks = self._pick(c, due, defaults)
        pushed = {sub.id for sub, _, _ in picks}
        tally.skipped += len(due) - len(pushed)
        tally.due += len(due)
        if dry_run:
            tally.planned += len(picks)
            tally.pairs.extend((sub.chat_id, article_id) for sub, article_id, _ in picks)
            return
        pushed_on: dict[int, date] = {sub.id: day for sub, day in due if sub.id in pushed}
        if picks:
            rows = [(sub.id, article_id, day) for sub, article_id, day in picks]
            tally.planned += deliveries.insert_pending(c, rows, run_id=run_id, now=now)
        # A forced plan leaves each one's next instant: a tick moves it once it reads the row.
        moved = [] if force else _next_instants(scheduled, pushed_on, now, defaults)
        subscribers.record_plan(c, pushed_on, moved)

    def _pick(
        self, c: Connection, due: Sequence[tuple[Subscriber, date]], defaults: PushDefaults
    ) -> list[tuple[Subscriber, int, date]]:
        """Pick each due subscriber's articles: (subscriber, article_id, local date) rows.

        A subscriber that follows topics is offered only the articles of those topics (in
        the same order); one that follows none is offered every article.
        """
        if not due:
            return []
        ordered = self._visible(c, newest_first=defaults.policy == "newest")
        if not ordered:
            return []
        followed = follows.followed_by(c, [sub.id for sub, _ in due])
        offered = self._offered(c, ordered, set(followed.values()))
        windows = {
            key: newest_window(defaults.policy, ids, defaults.max_per_day)
            for key, ids in offered.items()
        }
        window = sorted({a for ids in windows.values() for a in ids})
        delivered = self._delivered(c, [sub.id for sub, _ in due], window, defaults)
        picks: list[tuple[Subscriber, int, date]] = []
        for sub, day in due:
            chosen = pick_articles(
                defaults.policy,
                offered[followed.get(sub.id, ALL)],
                delivered.get(sub.id, set()),
                defaults.max_per_day,
            )
            picks.extend((sub, article_id, day) for article_id in chosen)
        return picks

    @staticmethod
    def _visible(c: Connection, *, newest_first: bool) -> list[int]:
        """Return the visible articles in push order (newest or oldest first)."""
        return articles.visible_ids(c, newest_first=newest_first)

    @staticmethod
    def _offered(
        c: Connection, ordered: list[int], sets: set[frozenset[int]]
    ) -> dict[frozenset[int], list[int]]:
        """Return the articles offered to each distinct set of followed topics, in push order."""
        offered: dict[frozenset[int], list[int]] = {ALL: ordered}
        sets.discard(ALL)
        if not sets:
            return offered
        members = topics.articles_of(c, {t for s in sets for t in s})
        for topic_set in sets:
            allowed = set().union(*(members.get(t, set()) for t in topic_set))
            offered[topic_set] = [a for a in ordered if a in allowed]
        return offered

    def _delivered(
        self,
        c: Connection,
        subscriber_ids: Sequence[int],
        window: Sequence[int],
        defaults: PushDefaults,
    ) -> dict[int, set[int]]:
        """Return the articles each due subscriber already has a row for, as far as it matters."""
        # "newest" only looks at the window; "backlog" needs each subscriber's whole history.
        among = window if defaults.policy == "newest" else None
        return deliveries.delivered(c, subscriber_ids, among)


def _next_instants(
    scheduled: Sequence[tuple[Subscriber, datetime]],
    pushed_on: dict[int, date],
    now: datetime,
    defaults: PushDefaults,
) -> list[tuple[int, datetime]]:
    """Return (id, next push instant) for each scheduled row whose instant moves.

    A row that was pushed counts its new last_push_date; a due row with nothing to send
    keeps its slot (so an article imported later in the grace window still goes out).
    Chats share a few (time, zone, last day) settings: each is computed once, and only a
    chat that subscribed after that slot needs its own answer.
    """
    moved: list[tuple[int, datetime]] = []
    shared: dict[tuple[time, ZoneInfo, date | None], datetime] = {}
    for sub, at in scheduled:
        last = pushed_on.get(sub.id, sub.last_push_date)
        key = (sub.push_time or defaults.push_time, subscriber_zone(sub, defaults), last)
        instant = shared.get(key)
        if instant is None:
            instant = shared[key] = first_open_slot(
                *key[:2], now, defaults.grace, last_push_date=last, not_before=NEVER
            )
        if sub.subscribed_at > instant:
            instant = first_open_slot(
                *key[:2], now, defaults.grace, last_push_date=last, not_before=sub.subscribed_at
            )
        if instant != at:
            moved.append((sub.id, instant))
    return moved


@dataclass
class _Tally:
    """What a plan has done so far."""

    planned: int = 0
    due: int = 0
    skipped: int = 0
    pairs: list[tuple[int, int]] = field(default_factory=list)

    def result(self) -> PlanResult:
        return PlanResult(self.planned, self.due, self.skipped, tuple(self.pairs))


def _shared_plan(
    push_time: time, timezone: str, last: date, now: datetime, defaults: PushDefaults
) -> SharedPlan:
    """Decide once for every subscriber of a key that subscribed before the grace window.

    Every slot within the grace window is after they subscribed, so when they subscribed
    changes neither whether they are due (due_day) nor their next instant (first_open_slot).
    """
    tz = zone_or_default(timezone, defaults)
    day = due_day(push_time, tz, now, defaults.grace, last_push_date=last, subscribed_at=NEVER)
    kept = first_open_slot(push_time, tz, now, defaults.grace, last_push_date=last,
                           not_before=NEVER)  # fmt: skip
    pushed = kept
    if day is not None:
        pushed = first_open_slot(
            push_time, tz, now, defaults.grace, last_push_date=day, not_before=NEVER
        )
    return SharedPlan(push_time, timezone, last, day, pushed, kept)


def _forced_plan(
    push_time: time, timezone: str, last: date, now: datetime, defaults: PushDefaults
) -> SharedPlan:
    """Decide once for every subscriber of a key in a forced plan: the zone's local today.

    Their instants stay (see _plan_each): a tick moves each once it reads the row.
    """
    tz = zone_or_default(timezone, defaults)
    day = forced_day(tz, now, last_push_date=last)
    return SharedPlan(push_time, timezone, last, day, None, None)
