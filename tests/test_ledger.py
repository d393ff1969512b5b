"""The delivery ledger on SQLite and PostgreSQL: planning, claims, leases, outcomes, runs."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.model import Article
from bot.db.engine import create_db_engine, open_database
from bot.ledger import Ledger
from bot.model import Claim, Outcomes
from bot.ledger.planning import _visible_ids
from bot.models import DeliveryRow
from bot.scheduling import PushDefaults
from bot.store import Store
from bot.model import ArticleUpsert

# 08:00 in Shanghai on 2026-06-01 is 00:00 UTC.
SLOT = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
NOW = SLOT + timedelta(minutes=1)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
DEFAULTS = PushDefaults(push_time=time(8, 0), timezone="Asia/Shanghai")
LEASE = timedelta(minutes=2)


def add_articles(store: Store, count: int) -> list[int]:
    """Add `count` dated articles (a1 oldest); return their ids, oldest first."""
    articles = [
        Article(
            slug=f"a{i}",
            title=f"Article {i}",
            date=date(2026, 1, 1) + timedelta(days=i),
            author="",
            source="",
            url=f"https://example.com/{i}",
            one_line=f"Summary {i}",
            points=(),
            risks=(),
            body="",
            tags=(),
        )
        for i in range(1, count + 1)
    ]
    store.apply_sync(
        inserts=[ArticleUpsert(a, f"/seeds/{a.slug}.md", 1, 1, a.slug) for a in articles],
        updates=[],
        restamps=[],
        hide=[],
    )
    by_slug = {s.article.slug: s.id for s in store.list_articles()}
    return [by_slug[a.slug] for a in articles]


def add_subscribers(store: Store, count: int, **values: Any) -> None:
    """Add `count` active private subscribers with chat ids 1..count."""
    store.add_subscribers(
        [
            {
                "chat_id": i,
                "chat_type": "private",
                "language": "zh" if i % 2 else "en",
                "subscribed_at": LONG_AGO,
                **values,
            }
            for i in range(1, count + 1)
        ]
    )


def add_subscriber_rows(store: Store, rows: list[dict[str, Any]]) -> None:
    """Add private English subscribers that subscribed long before NOW, with `rows`' values."""
    base = {"chat_type": "private", "language": "en", "subscribed_at": LONG_AGO}
    store.add_subscribers([{**base, **row} for row in rows])


def delivery_count(store: Store) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(DeliveryRow)) or 0)


@pytest.fixture
def ledger(store: Store) -> Ledger:
    return Ledger(store)


def test_plan_creates_one_row_per_due_subscriber_and_is_idempotent(
    store: Store, ledger: Ledger
) -> None:
    ids = add_articles(store, 3)
    add_subscribers(store, 5)
    run = ledger.start_run("r1", NOW)
    result = ledger.plan(run.id, NOW, DEFAULTS)
    assert (result.planned, result.due, result.skipped) == (5, 5, 0)
    assert ledger.plan(run.id, NOW, DEFAULTS).planned == 0
    assert ledger.plan(run.id, NOW, DEFAULTS, force=True).planned == 0
    assert delivery_count(store) == 5
    sub = store.get_subscriber(3)
    assert sub is not None
    assert sub.last_push_date == date(2026, 6, 1)
    assert ledger.deliveries(sub.id) == [(ids[-1], "pending", None)]  # the newest


def test_plan_waits_for_the_push_time_and_respects_the_grace(store: Store, ledger: Ledger) -> None:
    add_articles(store, 1)
    add_subscribers(store, 2)
    assert ledger.plan(None, SLOT - timedelta(minutes=1), DEFAULTS).planned == 0
    assert ledger.plan(None, SLOT + timedelta(hours=7), DEFAULTS).planned == 0
    assert ledger.plan(None, SLOT + timedelta(hours=5), DEFAULTS).planned == 2


def test_plan_never_pushes_hidden_articles(store: Store, ledger: Ledger) -> None:
    ids = add_articles(store, 2)
    store.apply_sync(inserts=[], updates=[], restamps=[], hide=["a2"])
    add_subscribers(store, 1)
    ledger.plan(None, NOW, DEFAULTS)
    sub = store.get_subscriber(1)
    assert sub is not None
    assert [a for a, _, _ in ledger.deliveries(sub.id)] == [ids[0]]


def test_plan_with_nothing_new_sends_nothing_and_keeps_the_day_open(
    store: Store, ledger: Ledger
) -> None:
    """No articles → nothing planned; an article imported within the grace still goes out."""
    add_subscribers(store, 2)
    result = ledger.plan(None, NOW, DEFAULTS)
    assert (result.planned, result.skipped) == (0, 2)
    sub = store.get_subscriber(1)
    assert sub is not None
    assert sub.last_push_date is None
    add_articles(store, 1)
    assert ledger.plan(None, NOW + timedelta(hours=1), DEFAULTS).planned == 2


def test_newest_policy_sends_nothing_when_the_newest_was_received(
    store: Store, ledger: Ledger
) -> None:
    add_articles(store, 3)
    add_subscribers(store, 1)
    assert ledger.plan(None, NOW, DEFAULTS).planned == 1
    next_day = NOW + timedelta(days=1)
    result = ledger.plan(None, next_day, DEFAULTS)
    assert (result.planned, result.skipped) == (0, 1)
    new = add_articles_named(store, "b1")
    assert ledger.plan(None, next_day + timedelta(minutes=1), DEFAULTS).planned == 1
    sub = store.get_subscriber(1)
    assert sub is not None
    assert ledger.deliveries(sub.id)[-1][0] == new


def add_articles_named(store: Store, slug: str) -> int:
    article = Article(slug, slug, date(2027, 1, 1), "", "", "", "x", (), (), "", ())
    store.apply_sync(
        inserts=[ArticleUpsert(article, f"/{slug}.md", 1, 1, slug)],
        updates=[],
        restamps=[],
        hide=[],
    )
    found = store.get_article_by_slug(slug)
    assert found is not None
    return found.id


def test_backlog_policy_walks_oldest_first_with_max_per_day(store: Store, ledger: Ledger) -> None:
    ids = add_articles(store, 5)
    add_subscribers(store, 1)
    backlog = PushDefaults(push_time=time(8), timezone="Asia/Shanghai", policy="backlog",
                           max_per_day=2)  # fmt: skip
    ledger.plan(None, NOW, backlog)
    ledger.plan(None, NOW + timedelta(days=1), backlog)
    sub = store.get_subscriber(1)
    assert sub is not None
    assert [a for a, _, _ in ledger.deliveries(sub.id)] == ids[:4]


def test_plan_follows_each_subscribers_timezone(store: Store, ledger: Ledger) -> None:
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
    result = ledger.plan(None, NOW, DEFAULTS)
    assert result.planned == 2  # London is still asleep (01:01 BST)
    london = store.get_subscriber(2)
    assert london is not None
    assert london.last_push_date is None
    assert ledger.plan(None, datetime(2026, 6, 1, 7, 5, tzinfo=UTC), DEFAULTS).planned == 1


def test_dry_run_plans_in_memory_only(store: Store, ledger: Ledger) -> None:
    ids = add_articles(store, 2)
    add_subscribers(store, 3)
    result = ledger.plan(None, NOW, DEFAULTS, dry_run=True)
    assert sorted(result.pairs) == [(1, ids[1]), (2, ids[1]), (3, ids[1])]
    assert delivery_count(store) == 0
    sub = store.get_subscriber(1)
    assert sub is not None
    assert sub.last_push_date is None


def test_run_key_is_unique_and_a_second_caller_joins(store: Store, ledger: Ledger) -> None:
    first = ledger.start_run("2026-06-01T00:00", NOW)
    second = ledger.start_run("2026-06-01T00:00", NOW + timedelta(seconds=5))
    other = ledger.start_run("now:2026-06-01", NOW)
    assert first.created
    assert not second.created
    assert second.id == first.id
    assert other.id != first.id


def test_claims_are_batched_and_disjoint(store: Store, ledger: Ledger) -> None:
    add_articles(store, 1)
    add_subscribers(store, 30)
    ledger.plan(None, NOW, DEFAULTS)
    a = ledger.claim("a", 10, NOW, lease=LEASE)
    b = ledger.claim("b", 100, NOW, lease=LEASE)
    assert len(a) == 10
    assert len(b) == 20
    assert not {c.delivery_id for c in a} & {c.delivery_id for c in b}
    assert ledger.claim("c", 10, NOW, lease=LEASE) == []
    assert {c.language for c in a} == {"zh", "en"}


def test_concurrent_claimers_in_threads_never_share_a_row(database_url: str) -> None:
    """Four threads, each with its own engine, claim small batches until none is left."""
    store = Store(open_database(database_url))
    try:
        add_articles(store, 1)
        add_subscribers(store, 400)
        led = Ledger(store)
        led.plan(None, NOW, DEFAULTS)
        got: dict[str, list[int]] = {}
        errors: list[BaseException] = []

        def claimer(name: str) -> None:
            mine: list[int] = []
            # Already migrated; Alembic's migrate is not thread-safe, so no open_database here.
            worker_store = Store(create_db_engine(database_url))
            try:
                led = Ledger(worker_store)
                while batch := led.claim(name, 7, NOW, lease=LEASE):
                    mine.extend(c.delivery_id for c in batch)
            except BaseException as exc:
                errors.append(exc)
            finally:
                worker_store.close()
            got[name] = mine

        threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        all_ids = [i for ids in got.values() for i in ids]
        assert len(all_ids) == 400
        assert len(set(all_ids)) == 400
    finally:
        store.close()


def test_stale_sending_rows_are_reclaimed_after_the_lease(store: Store, ledger: Ledger) -> None:
    add_articles(store, 1)
    add_subscribers(store, 3)
    ledger.plan(None, NOW, DEFAULTS)
    dead = ledger.claim("dead", 10, NOW, lease=LEASE)
    assert len(dead) == 3
    assert ledger.claim("alive", 10, NOW + timedelta(minutes=1), lease=LEASE) == []
    again = ledger.claim("alive", 10, NOW + timedelta(minutes=3), lease=LEASE)
    assert sorted(c.delivery_id for c in again) == sorted(c.delivery_id for c in dead)


def test_heartbeat_keeps_a_live_workers_claims(store: Store, ledger: Ledger) -> None:
    add_articles(store, 1)
    add_subscribers(store, 2)
    ledger.plan(None, NOW, DEFAULTS)
    ledger.claim("slow", 10, NOW, lease=LEASE)
    assert ledger.heartbeat("slow", NOW + timedelta(minutes=2)) == 2
    assert ledger.claim("other", 10, NOW + timedelta(minutes=3), lease=LEASE) == []
    assert ledger.release("slow") == 2
    assert len(ledger.claim("other", 10, NOW + timedelta(minutes=3), lease=LEASE)) == 2


def test_outcomes_move_rows_to_sent_failed_or_back_to_pending(
    store: Store, ledger: Ledger
) -> None:
    add_articles(store, 1)
    add_subscribers(store, 4)
    ledger.plan(None, NOW, DEFAULTS)
    c1, c2, c3, c4 = ledger.claim("w", 10, NOW, lease=LEASE)
    ledger.mark_sent([(c1.delivery_id, 111)], NOW, worker="w")
    ledger.mark_failed([(c2.delivery_id, "Bad Request: message is too long")], NOW, worker="w")
    later = NOW + timedelta(seconds=30)
    ledger.retry_later(c3.delivery_id, later, "timed out", worker="w")
    ledger.record(
        Outcomes(failed=[(c4.delivery_id, "blocked: Forbidden")], deactivate=[(c4.subscriber_id,
                 "blocked: Forbidden")]),
        NOW,
        worker="w",
    )  # fmt: skip
    assert ledger.deliveries(c1.subscriber_id)[0][1] == "sent"
    assert ledger.deliveries(c2.subscriber_id)[0][1:] == (
        "failed",
        "Bad Request: message is too long",
    )
    assert ledger.claim("w", 10, NOW, lease=LEASE) == []  # the retry waits for not_before
    (retry,) = ledger.claim("w", 10, later, lease=LEASE)
    assert (retry.delivery_id, retry.attempts) == (c3.delivery_id, 1)
    blocked = store.get_subscriber(c4.chat_id)
    assert blocked is not None
    assert not blocked.active
    with store.session() as s:
        row = s.get(DeliveryRow, c1.delivery_id)
        assert row is not None
        assert (row.message_id, row.sent_at) == (111, NOW)


def test_claim_fails_rows_of_unsubscribed_chats_and_hidden_articles(
    store: Store, ledger: Ledger
) -> None:
    add_articles(store, 1)
    add_subscribers(store, 3)
    ledger.plan(None, NOW, DEFAULTS)
    store.unsubscribe(1)
    claims = ledger.claim("w", 10, NOW, lease=LEASE)
    assert sorted(c.chat_id for c in claims) == [2, 3]
    gone = store.get_subscriber(1)
    assert gone is not None
    assert ledger.deliveries(gone.id)[0][1:] == ("failed", "subscriber inactive")


def test_run_stats_count_the_runs_rows(store: Store, ledger: Ledger) -> None:
    add_articles(store, 1)
    add_subscribers(store, 5)
    assert ledger.last_run_stats() is None
    run = ledger.start_run("r", NOW)
    ledger.plan(run.id, NOW, DEFAULTS)
    claims: list[Claim] = ledger.claim("w", 3, NOW, lease=LEASE)
    ledger.record(
        Outcomes(
            sent=[(claims[0].delivery_id, 1)],
            failed=[(claims[1].delivery_id, "boom"), (claims[2].delivery_id, "blocked: gone")],
        ),
        NOW,
        worker="w",
    )
    stats = ledger.run_stats(run.id)
    assert stats is not None
    assert (stats.due, stats.sent, stats.failed, stats.blocked) == (5, 1, 1, 1)
    assert (stats.pending, stats.sending) == (2, 0)
    assert stats.duration is None
    assert ledger.pending_count() == 2
    unfinished = ledger.finish_run(run.id, NOW + timedelta(seconds=5), skipped=4)
    assert unfinished is not None
    assert unfinished.finished_at is None  # two rows are still pending
    rest = ledger.claim("w", 10, NOW, lease=LEASE)
    ledger.mark_sent([(c.delivery_id, 2) for c in rest], NOW, worker="w")
    done = ledger.finish_run(run.id, NOW + timedelta(seconds=9), skipped=4)
    assert done is not None
    assert done.duration == timedelta(seconds=9)
    assert done.skipped == 4
    last = ledger.last_run_stats()
    assert last is not None
    assert last.run_id == run.id


def test_an_empty_run_can_be_discarded_but_a_used_one_cannot(store: Store, ledger: Ledger) -> None:
    add_articles(store, 1)
    add_subscribers(store, 1)
    empty = ledger.start_run("empty", NOW)
    assert ledger.discard_run(empty.id)
    used = ledger.start_run("used", NOW)
    ledger.plan(used.id, NOW, DEFAULTS)
    assert not ledger.discard_run(used.id)
    assert ledger.start_run("empty", NOW).created  # the key is free again


def test_finishing_a_run_again_keeps_its_finish_time_and_latest_skipped(
    store: Store, ledger: Ledger
) -> None:
    """Re-finishing a finished run (a no-op `push --now` rerun) neither moves finished_at
    nor adds up `skipped`; rows planned into it later do move the finish."""
    add_articles(store, 1)
    add_subscribers(store, 2)
    run = ledger.start_run("now:2026-06-01", NOW)
    ledger.plan(run.id, NOW, DEFAULTS)
    claims = ledger.claim("w", 10, NOW, lease=LEASE)
    ledger.mark_sent([(c.delivery_id, 1) for c in claims], NOW, worker="w")
    first = ledger.finish_run(run.id, NOW + timedelta(seconds=3), skipped=1)
    assert first is not None
    assert (first.finished_at, first.skipped) == (NOW + timedelta(seconds=3), 1)
    again = ledger.finish_run(run.id, NOW + timedelta(hours=1), skipped=2)
    assert again is not None
    assert (again.finished_at, again.skipped) == (NOW + timedelta(seconds=3), 2)
    add_subscribers_from(store, 3, 1)
    later = NOW + timedelta(hours=2)
    assert ledger.plan(run.id, later, DEFAULTS, force=True).planned == 1
    (claim,) = ledger.claim("w", 10, later, lease=LEASE)
    ledger.mark_sent([(claim.delivery_id, 3)], later, worker="w")
    extended = ledger.finish_run(run.id, later + timedelta(seconds=1), skipped=2)
    assert extended is not None
    assert extended.finished_at == later + timedelta(seconds=1)
    assert (extended.due, extended.sent, extended.skipped) == (3, 3, 2)


def add_subscribers_from(store: Store, first: int, count: int) -> None:
    """Add `count` active private subscribers with chat ids from `first`."""
    store.add_subscribers(
        [
            {"chat_id": i, "chat_type": "private", "language": "en", "subscribed_at": LONG_AGO}
            for i in range(first, first + count)
        ]
    )


def test_a_worker_never_reclaims_its_own_stale_rows(store: Store, ledger: Ledger) -> None:
    """A worker whose heartbeat lagged past the lease does not re-queue (and resend) its own
    in-flight rows; another worker still takes them over."""
    add_articles(store, 1)
    add_subscribers(store, 3)
    ledger.plan(None, NOW, DEFAULTS)
    assert len(ledger.claim("lagging", 10, NOW, lease=LEASE)) == 3
    assert ledger.claim("lagging", 10, NOW + timedelta(minutes=3), lease=LEASE) == []
    assert len(ledger.claim("other", 10, NOW + timedelta(minutes=3), lease=LEASE)) == 3


def test_late_outcomes_of_a_worker_that_lost_its_claim_change_nothing(
    store: Store, ledger: Ledger
) -> None:
    """After a lease expired and another worker re-claimed and sent a row, the first
    worker's late outcome (a retry, a failure, a send) does not overwrite it."""
    add_articles(store, 1)
    add_subscribers(store, 3)
    ledger.plan(None, NOW, DEFAULTS)
    slow = ledger.claim("slow", 10, NOW, lease=LEASE)
    fast = ledger.claim("fast", 10, NOW + timedelta(minutes=3), lease=LEASE)
    assert [c.delivery_id for c in fast] == [c.delivery_id for c in slow]
    a, b, c = (claim.delivery_id for claim in fast)
    ledger.mark_sent([(a, 100), (b, 101)], NOW, worker="fast")
    ledger.record(
        Outcomes(
            sent=[(a, 900)],
            failed=[(b, "Bad Request")],
            retries=[(c, NOW + timedelta(minutes=5), "timed out", True)],
        ),
        NOW + timedelta(minutes=4),
        worker="slow",
    )
    with store.session() as s:
        rows = {r.id: r for r in s.scalars(select(DeliveryRow))}
    assert (rows[a].state, rows[a].message_id) == ("sent", 100)
    assert (rows[b].state, rows[b].message_id, rows[b].error) == ("sent", 101, None)
    assert (rows[c].state, rows[c].claimed_by, rows[c].attempts) == ("sending", "fast", 0)
    assert ledger.pending_count() == 0


def test_plan_reads_articles_in_the_stores_push_order(store: Store, ledger: Ledger) -> None:
    """The planner's own article query (inside its transaction) orders like the store's."""
    add_articles(store, 3)
    undated = Article("undated", "Undated", None, "", "", "", "x", (), (), "", ())
    store.apply_sync(
        inserts=[ArticleUpsert(undated, "/undated.md", 1, 1, "undated")],
        updates=[],
        restamps=[],
        hide=[],
    )
    add_articles_named(store, "dated-later")
    with store.write_engine.begin() as c:
        for newest_first in (True, False):
            expected = store.visible_article_ids(newest_first=newest_first)
            assert _visible_ids(c, newest_first=newest_first) == expected


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

        class PausingLedger(Ledger):
            def _delivered(self, *args: Any, **kwargs: Any) -> dict[int, set[int]]:
                paused.set()
                resume.wait(timeout=60)
                return super()._delivered(*args, **kwargs)

        def plan_a() -> None:
            try:
                PausingLedger(store).plan(None, NOW, DEFAULTS)
            except BaseException as exc:
                errors.append(exc)

        a = threading.Thread(target=plan_a)
        a.start()
        try:
            assert paused.wait(timeout=60)
            add_articles_named(other, "imported-meanwhile")
            b = Ledger(other).plan(None, NOW + timedelta(seconds=1), DEFAULTS)
        finally:
            resume.set()
            a.join()
        assert errors == []
        assert b.planned == 0  # A holds the page: B skips those subscribers
        with store.session() as s:
            pairs = s.execute(select(DeliveryRow.subscriber_id, DeliveryRow.article_id)).all()
        per_subscriber = Counter(sub for sub, _ in pairs)
        assert len(per_subscriber) == 20
        assert set(per_subscriber.values()) == {1}
    finally:
        other.close()
        store.close()
