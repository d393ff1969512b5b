"""The push planner on SQLite and PostgreSQL: who is due, which articles, idempotently."""

from __future__ import annotations

import logging
import random
import threading
import time as clock
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, bindparam, func, select, text
from sqlalchemy.orm import Session

from bot.db import subscribers
from bot.db.engine import create_db_engine, open_database
from bot.db.tables import DeliveryRow, SubscriberRow, UTCDateTime
from bot.ledger import Ledger
from bot.model import Article, ArticleUpsert, Subscriber
from bot.push.planner import Planner
from bot.scheduling import Policy, PushDefaults, is_due, is_due_forced, pick_articles
from bot.store import Store
from tests.conftest import (
    DEFAULTS,
    LONG_AGO,
    NOW,
    SLOT,
    add_article_named,
    add_articles,
    add_subscriber_rows,
    add_subscribers,
)


def delivery_count(store: Store) -> int:
    with Session(store.engine) as s:
        return int(s.scalar(select(func.count()).select_from(DeliveryRow)) or 0)


@pytest.fixture
def planner(store: Store) -> Planner:
    return Planner(store)


@pytest.fixture
def ledger(store: Store) -> Ledger:
    return Ledger(store)


def test_plan_creates_one_row_per_due_subscriber_and_is_idempotent(
    store: Store, planner: Planner, ledger: Ledger
) -> None:
    ids = add_articles(store, 3)
    add_subscribers(store, 5)
    run = ledger.start_run("r1", NOW)
    result = planner.plan(run.id, NOW, DEFAULTS)
    assert (result.planned, result.due, result.skipped) == (5, 5, 0)
    assert planner.plan(run.id, NOW, DEFAULTS).planned == 0
    assert planner.plan(run.id, NOW, DEFAULTS, force=True).planned == 0
    assert delivery_count(store) == 5
    sub = store.get_subscriber(3)
    assert sub is not None
    assert sub.last_push_date == date(2026, 6, 1)
    assert ledger.deliveries(sub.id) == [(ids[-1], "pending", None)]  # the newest


def test_plan_waits_for_the_push_time_and_respects_the_grace(
    store: Store, planner: Planner
) -> None:
    add_articles(store, 1)
    add_subscribers(store, 2)
    assert planner.plan(None, SLOT - timedelta(minutes=1), DEFAULTS).planned == 0
    # Missed by more than the grace: that day is skipped ...
    assert planner.plan(None, SLOT + timedelta(hours=7), DEFAULTS).planned == 0
    # ... and the next day's slot, reached within the grace, is pushed. (Time only moves
    # forward here: the planner stores each subscriber's next push instant.)
    assert planner.plan(None, SLOT + timedelta(days=1, hours=5), DEFAULTS).planned == 2


def test_plan_never_pushes_hidden_articles(store: Store, planner: Planner, ledger: Ledger) -> None:
    ids = add_articles(store, 2)
    store.apply_sync(inserts=[], updates=[], restamps=[], hide=["a2"])
    add_subscribers(store, 1)
    planner.plan(None, NOW, DEFAULTS)
    sub = store.get_subscriber(1)
    assert sub is not None
    assert [a for a, _, _ in ledger.deliveries(sub.id)] == [ids[0]]


def test_plan_with_nothing_new_sends_nothing_and_keeps_the_day_open(
    store: Store, planner: Planner
) -> None:
    """No articles → nothing planned; an article imported within the grace still goes out."""
    add_subscribers(store, 2)
    result = planner.plan(None, NOW, DEFAULTS)
    assert (result.planned, result.skipped) == (0, 2)
    sub = store.get_subscriber(1)
    assert sub is not None
    assert sub.last_push_date is None
    add_articles(store, 1)
    assert planner.plan(None, NOW + timedelta(hours=1), DEFAULTS).planned == 2


def test_newest_policy_sends_nothing_when_the_newest_was_received(
    store: Store, planner: Planner, ledger: Ledger
) -> None:
    add_articles(store, 3)
    add_subscribers(store, 1)
    assert planner.plan(None, NOW, DEFAULTS).planned == 1
    next_day = NOW + timedelta(days=1)
    result = planner.plan(None, next_day, DEFAULTS)
    assert (result.planned, result.skipped) == (0, 1)
    new = add_article_named(store, "b1")
    assert planner.plan(None, next_day + timedelta(minutes=1), DEFAULTS).planned == 1
    sub = store.get_subscriber(1)
    assert sub is not None
    assert ledger.deliveries(sub.id)[-1][0] == new


def test_backlog_policy_walks_oldest_first_with_max_per_day(
    store: Store, planner: Planner, ledger: Ledger
) -> None:
    ids = add_articles(store, 5)
    add_subscribers(store, 1)
    backlog = PushDefaults(push_time=time(8), timezone="Asia/Shanghai", policy="backlog",
                           max_per_day=2)  # fmt: skip
    planner.plan(None, NOW, backlog)
    planner.plan(None, NOW + timedelta(days=1), backlog)
    sub = store.get_subscriber(1)
    assert sub is not None
    assert [a for a, _, _ in ledger.deliveries(sub.id)] == ids[:4]


def test_plan_follows_each_subscribers_timezone(store: Store, planner: Planner) -> None:
    add_articles(store, 1)
    add_subscriber_rows(
        store,
        [
            {"chat_id": 1},  # Shanghai, 08:00
            {"chat_id": 2, "timezone": "Europe/London"},
            {
                "chat_id": 3,
                "timezone": "America/New_York",
                "push_time": time(20, 0),  # 20:00 EDT on May 31 = 00:00 UTC June 1
            },
        ],
    )
    result = planner.plan(None, NOW, DEFAULTS)
    assert result.planned == 2  # London is still asleep (01:01 BST)
    london = store.get_subscriber(2)
    assert london is not None
    assert london.last_push_date is None
    assert planner.plan(None, datetime(2026, 6, 1, 7, 5, tzinfo=UTC), DEFAULTS).planned == 1


def test_dry_run_plans_in_memory_only(store: Store, planner: Planner) -> None:
    ids = add_articles(store, 2)
    add_subscribers(store, 3)
    result = planner.plan(None, NOW, DEFAULTS, dry_run=True)
    assert sorted(result.pairs) == [(1, ids[1]), (2, ids[1]), (3, ids[1])]
    assert delivery_count(store) == 0
    sub = store.get_subscriber(1)
    assert sub is not None
    assert sub.last_push_date is None


def test_plan_pages_through_subscribers(store: Store) -> None:
    """A page smaller than the subscribers still plans everyone, one row each."""
    add_articles(store, 1)
    add_subscribers(store, 7)
    result = Planner(store, page=3).plan(None, NOW, DEFAULTS)
    assert (result.planned, result.due) == (7, 7)
    assert delivery_count(store) == 7


@pytest.mark.postgres
def test_two_planners_racing_an_import_give_each_subscriber_one_article(pg_url: str) -> None:
    """Planner A reads its page and pauses; an article is imported; planner B plans the same
    day; then A finishes. Each subscriber ends with rows for one article only."""
    store = Store(open_database(pg_url))
    other = Store(create_db_engine(pg_url))
    try:
        add_articles(store, 1)
        add_subscribers(store, 20)
        paused, resume = threading.Event(), threading.Event()
        errors: list[BaseException] = []

        class PausingPlanner(Planner):
            @staticmethod
            def _visible(c: Connection, *, newest_first: bool) -> list[int]:
                paused.set()
                resume.wait(timeout=60)
                return Planner._visible(c, newest_first=newest_first)

        def plan_a() -> None:
            try:
                PausingPlanner(store).plan(None, NOW, DEFAULTS)
            except BaseException as exc:
                errors.append(exc)

        a = threading.Thread(target=plan_a)
        a.start()
        try:
            assert paused.wait(timeout=60)
            add_article_named(other, "imported-meanwhile")
            b = Planner(other).plan(None, NOW + timedelta(seconds=1), DEFAULTS)
        finally:
            resume.set()
            a.join()
        assert errors == []
        assert b.planned == 0  # A holds the page: B skips those subscribers
        with Session(store.engine) as s:
            pairs = s.execute(select(DeliveryRow.subscriber_id, DeliveryRow.article_id)).all()
        per_subscriber = Counter(sub for sub, _ in pairs)
        assert len(per_subscriber) == 20
        assert set(per_subscriber.values()) == {1}
    finally:
        other.close()
        store.close()


# -- next_push_at: a tick reads only who is due ------------------------------------------

ZONES = ("Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Sydney", None)


def next_push(store: Store, chat_id: int) -> datetime:
    sub = store.get_subscriber(chat_id)
    assert sub is not None
    with Session(store.engine) as s:
        at = s.scalar(select(SubscriberRow.next_push_at).where(SubscriberRow.id == sub.id))
    assert at is not None
    return at


def test_ticks_plan_exactly_what_reading_everyone_would(store: Store, planner: Planner) -> None:
    """Over four days of ticks every 30 minutes (a DST change in New York included), 120
    subscribers with assorted times and zones get exactly the (subscriber, day) pushes that
    deciding is_due for every active subscriber at every tick gives."""
    rng = random.Random(10)  # noqa: S311 - a reproducible population, not crypto
    start = datetime(2026, 3, 6, 0, 0, tzinfo=UTC)
    rows = [
        {
            "chat_id": i,
            "chat_type": "private",
            "language": "en",
            "push_time": time(rng.randrange(24), rng.choice((0, 30, 45))),
            "timezone": rng.choice(ZONES),
            "subscribed_at": start - timedelta(hours=rng.randrange(48)),
        }
        for i in range(1, 121)
    ]
    add_subscriber_rows(store, rows)
    add_articles(store, 10)
    backlog = PushDefaults(
        push_time=time(8, 0), timezone="Asia/Shanghai", policy="backlog", max_per_day=1
    )
    reference = {sub.id: sub for sub in (store.get_subscriber(r["chat_id"]) for r in rows) if sub}
    expected: set[tuple[int, date]] = set()
    now = start
    while now < start + timedelta(days=4):
        planner.plan(None, now, backlog)
        for sub_id, sub in reference.items():
            day = is_due(sub, now, backlog)
            if day is not None:
                expected.add((sub_id, day))
                reference[sub_id] = replace(sub, last_push_date=day)
        now += timedelta(minutes=30)  # push times at :45 fall between two ticks
    with Session(store.engine) as s:
        got = set(s.execute(select(DeliveryRow.subscriber_id, DeliveryRow.push_date)).all())
    assert got == expected
    assert len(expected) >= 120 * 3


def _article(slug: str, day: date, tag: str) -> ArticleUpsert:
    article = Article(slug, slug, day, "", "", "", "x", (), (), "", (tag,))
    return ArticleUpsert(article, f"/{slug}.md", 1, 1, slug)


def _publish(store: Store, n: int, tags: dict[int, str], dated: dict[int, date]) -> None:
    """Add article p`n`, tagged red or blue by turns, and note its tag and date by id.

    Every third article is dated back, behind the one before it: a chat that received that
    one holds the newest article but not the next.
    """
    slug, tag = f"p{n}", ("red", "blue")[n % 2]
    day = date(2026, 1, 1) + timedelta(days=n if n % 3 != 2 else n - 2)
    store.apply_sync(inserts=[_article(slug, day, tag)], updates=[], restamps=[], hide=[])
    found = store.get_article_by_slug(slug)
    assert found is not None
    tags[found.id], dated[found.id] = tag, day


def _seed_following_red(
    store: Store, rows: list[dict[str, Any]]
) -> tuple[dict[int, Subscriber], set[int]]:
    """Add these subscribers, every fifth chat following topic red; return them by id, and
    the ids of those that follow."""
    add_subscriber_rows(store, rows)
    red = store.find_topic("red")
    assert red is not None
    for row in rows:
        if row["chat_id"] % 5 == 0:
            assert store.set_following(row["chat_id"], red.id, follow=True)
    reference = {sub.id: sub for sub in (store.get_subscriber(r["chat_id"]) for r in rows) if sub}
    return reference, {sub.id for sub in reference.values() if sub.chat_id % 5 == 0}


def _instants(store: Store) -> dict[int, datetime | None]:
    with Session(store.engine) as s:
        return dict(s.execute(select(SubscriberRow.id, SubscriberRow.next_push_at)).all())


def _planned_rows(store: Store) -> set[tuple[int, int, date]]:
    """Return the ledger's (subscriber, article, push date) rows."""
    query = select(DeliveryRow.subscriber_id, DeliveryRow.article_id, DeliveryRow.push_date)
    with Session(store.engine) as s:
        return {(sub_id, article_id, day) for sub_id, article_id, day in s.execute(query)}


@pytest.mark.parametrize(("policy", "per_day"), [("newest", 1), ("newest", 2), ("backlog", 2)])
def test_ticks_plan_exactly_what_deciding_each_subscriber_would(
    store: Store, planner: Planner, policy: Policy, per_day: int
) -> None:
    """Over four days of ticks every 30 minutes (a DST change in New York included), with an
    article arriving every 17 hours, 150 subscribers with assorted times and zones (some
    following a topic, some subscribing during those days) get exactly the (subscriber,
    article, day) rows that deciding is_due and pick_articles for each of them at every tick
    gives: the set-based plan of those that decide alike, and one by one the others. Some
    articles are dated back, so a chat may hold the newest but not the next one."""
    rng = random.Random(11)  # noqa: S311 - a reproducible population, not crypto
    start = datetime(2026, 3, 6, 0, 0, tzinfo=UTC)
    defaults = PushDefaults(
        push_time=time(8, 0), timezone="Asia/Shanghai", policy=policy, max_per_day=per_day
    )
    tags: dict[int, str] = {}
    dated: dict[int, date] = {}

    def publish(n: int) -> None:
        _publish(store, n, tags, dated)

    for n in range(3):
        publish(n)
    rows = [
        {
            "chat_id": i,
            "push_time": rng.choice((None, time(rng.randrange(24), rng.choice((0, 30, 45))))),
            "timezone": rng.choice((*ZONES, "Not/AZone")),
            "subscribed_at": start + timedelta(hours=rng.randrange(-48, 96)),
        }
        for i in range(1, 151)
    ]
    reference, follows_red = _seed_following_red(store, rows)
    had: dict[int, set[int]] = {sub_id: set() for sub_id in reference}
    expected: set[tuple[int, int, date]] = set()
    published, now = 3, start
    while now < start + timedelta(days=4):
        if now >= start + timedelta(hours=17 * (published - 2)):
            publish(published)
            published += 1
        planner.plan(None, now, defaults)
        ordered = sorted(tags, key=lambda a: (dated[a], a), reverse=policy == "newest")
        for sub_id, sub in reference.items():
            day = is_due(sub, now, defaults)
            if day is None:
                continue
            offered = [a for a in ordered if sub_id not in follows_red or tags[a] == "red"]
            chosen = pick_articles(policy, offered, had[sub_id], per_day)
            if chosen:
                had[sub_id].update(chosen)
                expected.update((sub_id, article_id, day) for article_id in chosen)
                reference[sub_id] = replace(sub, last_push_date=day)
        now += timedelta(minutes=30)  # push times at :45 fall between two ticks
    assert _planned_rows(store) == expected
    assert len({(sub_id, day) for sub_id, _, day in expected}) >= 150 * 2


@pytest.mark.parametrize(("policy", "per_day"), [("newest", 1), ("newest", 2), ("backlog", 2)])
def test_forced_plans_give_exactly_what_deciding_each_subscriber_would(
    store: Store, policy: Policy, per_day: int
) -> None:
    """Forced plans (`push --now`) every 5 hours over two days (a DST change in New York
    included), with an article arriving before every other one, give 160 subscribers with
    assorted times, zones and last push dates (some following a topic, some inactive, some
    subscribed only later) exactly the (subscriber, article, day) rows and the planned, due
    and skipped counts that deciding is_due_forced and pick_articles for each of them gives,
    as the dry run (which decides each one) does; and no one's next push instant moves."""
    rng = random.Random(12)  # noqa: S311 - a reproducible population, not crypto
    start = datetime(2026, 3, 7, 2, 0, tzinfo=UTC)
    defaults = PushDefaults(
        push_time=time(8, 0), timezone="Asia/Shanghai", policy=policy, max_per_day=per_day
    )
    tags: dict[int, str] = {}
    dated: dict[int, date] = {}
    for n in range(3):
        _publish(store, n, tags, dated)
    rows = [
        {
            "chat_id": i,
            "push_time": rng.choice((None, time(rng.randrange(24), rng.choice((0, 30))))),
            "timezone": rng.choice((*ZONES, "Not/AZone")),
            "last_push_date": rng.choice((None, *(date(2026, 3, d) for d in range(5, 9)))),
            "subscribed_at": start + timedelta(hours=rng.randrange(-48, 48)),
            "active": rng.random() > 0.1,
            "next_push_at": start + timedelta(minutes=rng.randrange(-600, 600)),
        }
        for i in range(1, 161)
    ]
    reference, follows_red = _seed_following_red(store, rows)
    had: dict[int, set[int]] = {sub_id: set() for sub_id in reference}
    instants = _instants(store)
    planner, ledger = Planner(store, page=40), Ledger(store)
    expected: set[tuple[int, int, date]] = set()
    published, now = 3, start
    for step in range(10):
        if step % 2:
            _publish(store, published, tags, dated)
            published += 1
        ordered = sorted(tags, key=lambda a: (dated[a], a), reverse=policy == "newest")
        tally = Counter[str]()
        for sub_id, sub in reference.items():
            if not sub.active:
                continue
            day = is_due_forced(sub, now, defaults)
            offered = [a for a in ordered if sub_id not in follows_red or tags[a] == "red"]
            chosen = [] if day is None else pick_articles(policy, offered, had[sub_id], per_day)
            tally.update(due=day is not None, skipped=not chosen, planned=len(chosen))
            if chosen and day is not None:
                had[sub_id].update(chosen)
                expected.update((sub_id, article_id, day) for article_id in chosen)
                reference[sub_id] = replace(sub, last_push_date=day)
        dry = planner.plan(None, now, defaults, force=True, dry_run=True)
        run = ledger.start_run(f"forced {step}", now)
        result = planner.plan(run.id, now, defaults, force=True)
        counts = (result.planned, result.due, result.skipped)
        assert counts == (tally["planned"], tally["due"], tally["skipped"])
        assert counts == (dry.planned, dry.due, dry.skipped)
        now += timedelta(hours=5)
    assert _planned_rows(store) == expected
    assert len({(sub_id, day) for sub_id, _, day in expected}) >= 140
    assert _instants(store) == instants


def test_a_tick_compiles_no_statement_a_tick_before_it_compiled(
    store: Store, planner: Planner, caplog: pytest.LogCaptureFixture
) -> None:
    """The second day's tick, with more subscribers under more (push time, zone) plans than
    the first day's, runs only statements SQLAlchemy has cached: the plans are bound as
    parameters, not written into the statement (which would compile it on every tick)."""
    add_articles(store, 3)
    start = datetime(2026, 3, 6, 0, 0, tzinfo=UTC)
    day_one = [{"chat_id": i, "push_time": time(8, 0), "timezone": "UTC"} for i in (1, 2, 3)]
    add_subscriber_rows(store, day_one)
    planner.plan(None, start + timedelta(hours=9), DEFAULTS)
    more = [
        {"chat_id": 10 + i, "push_time": time(7, 30 + i), "timezone": zone}
        for i, zone in enumerate(("UTC", "Europe/London", "Africa/Abidjan", "Atlantic/Reykjavik"))
    ]
    add_subscriber_rows(store, more)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine.Engine")
    result = planner.plan(None, start + timedelta(days=1, hours=9), DEFAULTS)
    assert (result.planned, result.due) == (4, 7)  # the first three have the newest
    stats = [
        r.getMessage()
        for r in caplog.records
        if r.name == "sqlalchemy.engine.Engine" and r.getMessage().startswith("[")
    ]
    assert stats
    compiled = [s for s in stats if not s.startswith("[raw sql]")]  # BEGIN IMMEDIATE
    assert [s for s in compiled if not s.startswith("[cached since")] == []


def test_a_tick_reads_only_rows_whose_instant_has_come(store: Store, planner: Planner) -> None:
    """After a push each row waits for tomorrow's slot: a tick in between reads no row."""
    add_articles(store, 1)
    add_subscribers(store, 3)
    assert planner.plan(None, NOW, DEFAULTS).planned == 3
    assert next_push(store, 1) == SLOT + timedelta(days=1)
    result = planner.plan(None, NOW + timedelta(hours=1), DEFAULTS)
    assert (result.planned, result.due, result.skipped) == (0, 0, 0)


def test_a_new_default_push_time_reschedules_everyone_at_the_next_tick(
    store: Store, planner: Planner
) -> None:
    """Instants stored under PUSH_TIME 08:00 would wait for tomorrow; an operator who moves the
    default to 06:00 gets today's push at the next tick, and a dry run already shows it."""
    add_articles(store, 1)
    add_subscribers(store, 2)
    early = SLOT - timedelta(hours=3)  # 05:00 Shanghai: nobody due under the 08:00 default
    assert planner.plan(None, early, DEFAULTS).planned == 0
    assert next_push(store, 1) == SLOT
    moved = replace(DEFAULTS, push_time=time(4, 30))
    assert planner.plan(None, early, moved, dry_run=True).planned == 2
    assert planner.plan(None, early, moved).planned == 2
    assert planner.plan(None, early + timedelta(minutes=1), moved).planned == 0


def test_changing_the_push_time_reschedules_the_chat(store: Store, planner: Planner) -> None:
    """A chat pushed at 08:00 that moves its time to 10:00 gets tomorrow's push at 10:00, and
    a timezone change counts likewise; both take effect at the next tick."""
    add_articles(store, 2)
    add_subscribers(store, 2)
    assert planner.plan(None, NOW, DEFAULTS).planned == 2
    store.set_push_time(1, time(10, 0))
    store.set_timezone(2, "Europe/London")  # 08:00 London = 07:00 UTC in June
    add_article_named(store, "b1")
    tomorrow = SLOT + timedelta(days=1)  # 08:00 Shanghai
    assert planner.plan(None, tomorrow + timedelta(minutes=1), DEFAULTS).planned == 0
    assert next_push(store, 1) == tomorrow + timedelta(hours=2)
    assert next_push(store, 2) == tomorrow + timedelta(hours=7)
    assert planner.plan(None, tomorrow + timedelta(hours=2), DEFAULTS).planned == 1
    assert planner.plan(None, tomorrow + timedelta(hours=7), DEFAULTS).planned == 1


def test_a_returning_subscriber_is_rescheduled(store: Store, planner: Planner) -> None:
    """Unsubscribed and back after today's slot: the welcome's rule holds, tomorrow's slot."""
    add_articles(store, 1)
    add_subscribers(store, 1)
    store.unsubscribe(1)
    assert planner.plan(None, NOW, DEFAULTS).planned == 0
    store.subscribe(1, chat_type="private", language="zh")
    result = planner.plan(None, NOW + timedelta(minutes=5), DEFAULTS)
    assert result.planned == 0  # it subscribed (now, for real) after today's slot
    assert next_push(store, 1) > NOW


def test_rows_from_before_the_migration_are_scheduled_at_the_first_tick(
    store: Store, ledger: Ledger
) -> None:
    """Rows inserted without next_push_at (as the 0003 upgrade leaves them) are all read by
    the first tick, page after page, and get their next instant."""
    add_articles(store, 1)
    with store.write_engine.begin() as c:
        for chat in range(1, 8):
            c.execute(
                text(
                    "INSERT INTO subscribers (chat_id, chat_type, title, language,"
                    " language_locked, active, subscribed_at)"
                    " VALUES (:chat, 'private', '', 'en', false, true, :at)"
                ).bindparams(bindparam("at", type_=UTCDateTime())),
                {"chat": chat, "at": LONG_AGO},
            )
    result = Planner(store, page=2).plan(None, NOW, DEFAULTS)
    assert (result.planned, result.due) == (7, 7)
    assert next_push(store, 7) == SLOT + timedelta(days=1)
    assert ledger.pending_count() == 7


@pytest.mark.postgres
def test_a_forced_plan_waits_for_a_planner_holding_a_page_and_plans_it_when_that_one_dies(
    pg_url: str,
) -> None:
    """Another `push --now` locked a page of subscribers and was killed before its commit:
    the forced plan waited for it, then planned that page too (none is left out)."""
    store = Store(open_database(pg_url))
    other = create_db_engine(pg_url)
    try:
        add_articles(store, 1)
        add_subscribers(store, 30)
        run = Ledger(store).start_run("r1", NOW)
        with other.connect() as c, ThreadPoolExecutor(1) as pool:
            dying = c.begin()
            subscribers.active_page(c, limit=10, lock=True)
            planning = pool.submit(Planner(store).plan, run.id, NOW, DEFAULTS, force=True)
            clock.sleep(0.5)
            waited = not planning.done()
            dying.rollback()  # the other process is gone: its transaction with it
            result = planning.result(timeout=30)
        assert waited
        assert result.planned == 30
        assert delivery_count(store) == 30
    finally:
        other.dispose()
        store.close()
