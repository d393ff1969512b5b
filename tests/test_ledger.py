"""The delivery ledger on SQLite and PostgreSQL: runs, claims, leases, outcomes."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import deliveries, push_runs
from bot.db.engine import create_db_engine, open_database
from bot.db.tables import SUBSCRIBERS, DeliveryRow
from bot.ledger import Ledger
from bot.model import Claim, Outcomes
from bot.push.planner import Planner
from bot.store import Store
from tests.conftest import (
    DEFAULTS,
    LEASE,
    NOW,
    add_articles,
    add_subscriber_rows,
    add_subscribers,
    add_subscribers_from,
    while_another_writer,
)


def plan(store: Store, run_id: int | None = None) -> None:
    """Plan the push at NOW: one pending row per subscriber."""
    Planner(store).plan(run_id, NOW, DEFAULTS)


@pytest.fixture
def ledger(store: Store) -> Ledger:
    return Ledger(store)


def test_run_key_is_unique_and_a_second_caller_joins(store: Store, ledger: Ledger) -> None:
    first = ledger.start_run("2026-06-01T00:00", NOW)
    second = ledger.start_run("2026-06-01T00:00", NOW + timedelta(seconds=5))
    other = ledger.start_run("now:2026-06-01", NOW)
    assert first.created
    assert not second.created
    assert second.id == first.id
    assert other.id != first.id


def test_a_run_another_instance_is_starting_is_joined(
    database_url: str, store: Store, ledger: Ledger
) -> None:
    # Two instances tick at the same slot: the second waits for the first's row and joins it.
    joined = while_another_writer(
        database_url,
        lambda c: push_runs.start(c, "2026-06-01T00:00", NOW),
        lambda: ledger.start_run("2026-06-01T00:00", NOW + timedelta(seconds=1)),
    )
    assert not joined.created
    assert joined.started_at == NOW
    assert ledger.last_run_stats() is not None


def test_claims_are_batched_and_disjoint(store: Store, ledger: Ledger) -> None:
    add_articles(store, 1)
    add_subscribers(store, 30)
    plan(store)
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
        plan(store)
        got = claim_in_threads(database_url, 7)
        all_ids = [i for ids in got.values() for i in ids]
        assert len(all_ids) == 400
        assert len(set(all_ids)) == 400
    finally:
        store.close()


def plan_backlogs(store: Store, subscribers: int, articles: int) -> list[int]:
    """Plan `articles` pending rows for each of `subscribers` new subscribers, article by article
    (so one subscriber's rows are far apart in id order); return the subscriber ids."""
    arts = add_articles(store, articles)
    add_subscribers(store, subscribers)
    with store.writing() as c:
        subs = list(c.scalars(select(SUBSCRIBERS.c.id).order_by(SUBSCRIBERS.c.id)))
        rows = [(sub, art, NOW.date()) for art in arts for sub in subs]
        deliveries.insert_pending(c, rows, run_id=None, now=NOW)
    return subs


def holders(store: Store) -> dict[int, set[str]]:
    """Return the workers holding `sending` rows of each subscriber."""
    with store.engine.connect() as c:
        rows = c.execute(
            select(DeliveryRow.subscriber_id, DeliveryRow.claimed_by).where(
                DeliveryRow.state == "sending"
            )
        )
        held: dict[int, set[str]] = {}
        for sub, worker in rows:
            held.setdefault(sub, set()).add(worker)
        return held


def test_a_claim_takes_whole_subscribers_and_skips_those_another_worker_holds(
    store: Store, ledger: Ledger
) -> None:
    """A subscriber's rows go to one worker: a claim cut short by its limit leaves the rest
    to that worker, not to another; once the holder is done the subscriber is free again."""
    [s1, s2, s3, s4] = plan_backlogs(store, 4, 3)
    a = ledger.claim("a", 5, NOW, lease=LEASE)
    assert sorted(c.subscriber_id for c in a) == [s1, s1, s1, s2, s2]
    b = ledger.claim("b", 100, NOW, lease=LEASE)
    assert sorted(c.subscriber_id for c in b) == [s3, s3, s3, s4, s4, s4]
    assert ledger.claim("c", 100, NOW, lease=LEASE) == []  # s2's last row waits for a
    rest = ledger.claim("a", 100, NOW, lease=LEASE)
    assert [c.subscriber_id for c in rest] == [s2]
    assert all(len(workers) == 1 for workers in holders(store).values())

    # A retry put back while b still holds s3 stays b's; once b is done anyone may take it.
    [first, *others] = [c for c in b if c.subscriber_id == s3]
    later = NOW + timedelta(seconds=1)
    ledger.record(Outcomes(retries=[(first.delivery_id, NOW, "429", True)]), NOW, worker="b")
    assert ledger.claim("c", 100, later, lease=LEASE) == []
    ledger.record(Outcomes(sent=[(c.delivery_id, 1) for c in others]), NOW, worker="b")
    assert [c.delivery_id for c in ledger.claim("c", 100, later, lease=LEASE)] == [
        first.delivery_id
    ]


def claim_in_threads(database_url: str, size: int) -> dict[str, list[int]]:
    """Four threads, each with its own engine, claim `size` rows at a time until none is
    pending; return the delivery ids each worker claimed."""
    got: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def claimer(name: str) -> None:
        mine: list[int] = []
        worker_store = Store(create_db_engine(database_url))
        try:
            led = Ledger(worker_store)
            # An empty claim while rows are left: they belong to chats another worker holds
            # (or was locking just then); ask again until none is pending.
            for _ in range(10_000):
                batch = led.claim(name, size, NOW, lease=LEASE)
                mine.extend(c.delivery_id for c in batch)
                if not batch and not led.pending_count():
                    break
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
    return got


def test_concurrent_claimers_never_hold_rows_of_one_subscriber_together(
    database_url: str,
) -> None:
    """Four threads, each with its own engine, claim small batches of 3-article backlogs until
    none is left: every row is claimed once, and each subscriber's rows by one worker only."""
    store = Store(open_database(database_url))
    try:
        plan_backlogs(store, 80, 3)
        got = claim_in_threads(database_url, 4)
        all_ids = [i for ids in got.values() for i in ids]
        assert len(all_ids) == len(set(all_ids)) == 240
        held = holders(store)
        assert len(held) == 80
        assert [sub for sub, workers in held.items() if len(workers) > 1] == []
    finally:
        store.close()


def plan_forums(store: Store, groups: int, topics: int, articles: int) -> None:
    """Plan `articles` pending rows for each of `topics` forum topics of `groups` groups (each
    topic a subscriber of its own) and for `groups` private chats, article by article."""
    arts = add_articles(store, articles)
    rows = [
        {"chat_id": -1000 - g, "chat_type": "supergroup", "thread_id": t}
        for t in range(1, topics + 1)  # a group's topics far apart in id order
        for g in range(groups)
    ]
    add_subscriber_rows(store, rows + [{"chat_id": 1 + g, "thread_id": 0} for g in range(groups)])
    with store.writing() as c:
        subs = list(c.scalars(select(SUBSCRIBERS.c.id).order_by(SUBSCRIBERS.c.id)))
        pending = [(sub, art, NOW.date()) for art in arts for sub in subs]
        deliveries.insert_pending(c, pending, run_id=None, now=NOW)


def chat_holders(store: Store) -> dict[int, set[str]]:
    """Return the workers holding `sending` rows of each chat (any of its topics)."""
    with store.engine.connect() as c:
        rows = c.execute(
            select(SUBSCRIBERS.c.chat_id, DeliveryRow.claimed_by)
            .join(SUBSCRIBERS, SUBSCRIBERS.c.id == DeliveryRow.subscriber_id)
            .where(DeliveryRow.state == "sending")
        )
        held: dict[int, set[str]] = {}
        for chat, worker in rows:
            held.setdefault(chat, set()).add(worker)
        return held


def test_forum_topics_of_one_group_are_claimed_by_one_worker(store: Store, ledger: Ledger) -> None:
    """Two topics of one forum are two subscribers but one chat: a worker holding one topic's
    row keeps the other topic's from every other worker until it is done with the chat."""
    plan_forums(store, 1, 2, 1)
    first = ledger.claim("a", 1, NOW, lease=LEASE)
    assert [(c.chat_id, c.thread_id) for c in first] == [(-1000, 1)]
    assert [c.chat_id for c in ledger.claim("b", 10, NOW, lease=LEASE)] == [1]
    assert ledger.claim("c", 10, NOW, lease=LEASE) == []  # topic 2 waits for a
    second = ledger.claim("a", 10, NOW, lease=LEASE)
    assert [(c.chat_id, c.thread_id) for c in second] == [(-1000, 2)]
    ledger.record(Outcomes(sent=[(c.delivery_id, 1) for c in first + second]), NOW, worker="a")
    assert ledger.pending_count() == 0
    assert chat_holders(store) == {1: {"b"}}


def test_concurrent_claimers_never_hold_rows_of_one_chat_together(database_url: str) -> None:
    """Four threads, each with its own engine, claim small batches until none is left, from 30
    forums of 3 topics and 30 private chats with 2 articles each: every row is claimed once,
    and all the rows of a chat, whichever its topic, by one worker only."""
    store = Store(open_database(database_url))
    try:
        plan_forums(store, 30, 3, 2)
        got = claim_in_threads(database_url, 5)
        all_ids = [i for ids in got.values() for i in ids]
        assert len(all_ids) == len(set(all_ids)) == (30 * 3 + 30) * 2
        held = chat_holders(store)
        assert len(held) == 60
        assert [chat for chat, workers in held.items() if len(workers) > 1] == []
    finally:
        store.close()


def test_stale_sending_rows_are_reclaimed_after_the_lease(store: Store, ledger: Ledger) -> None:
    add_articles(store, 1)
    add_subscribers(store, 3)
    plan(store)
    dead = ledger.claim("dead", 10, NOW, lease=LEASE)
    assert len(dead) == 3
    assert ledger.claim("alive", 10, NOW + timedelta(minutes=1), lease=LEASE) == []
    again = ledger.claim("alive", 10, NOW + timedelta(minutes=3), lease=LEASE)
    assert sorted(c.delivery_id for c in again) == sorted(c.delivery_id for c in dead)


def test_heartbeat_keeps_a_live_workers_claims(store: Store, ledger: Ledger) -> None:
    add_articles(store, 1)
    add_subscribers(store, 2)
    plan(store)
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
    plan(store)
    c1, c2, c3, c4 = ledger.claim("w", 10, NOW, lease=LEASE)
    ledger.record(Outcomes(sent=[(c1.delivery_id, 111)]), NOW, worker="w")
    too_long = "Bad Request: message is too long"
    ledger.record(Outcomes(failed=[(c2.delivery_id, too_long)]), NOW, worker="w")
    later = NOW + timedelta(seconds=30)
    ledger.record(
        Outcomes(retries=[(c3.delivery_id, later, "timed out", True)]), later, worker="w"
    )
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
    with Session(store.engine) as s:
        row = s.get(DeliveryRow, c1.delivery_id)
        assert row is not None
        assert (row.message_id, row.sent_at) == (111, NOW)


def test_claim_fails_rows_of_unsubscribed_chats_and_hidden_articles(
    store: Store, ledger: Ledger
) -> None:
    add_articles(store, 1)
    add_subscribers(store, 3)
    plan(store)
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
    plan(store, run.id)
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
    ledger.record(Outcomes(sent=[(c.delivery_id, 2) for c in rest]), NOW, worker="w")
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
    plan(store, used.id)
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
    plan(store, run.id)
    claims = ledger.claim("w", 10, NOW, lease=LEASE)
    ledger.record(Outcomes(sent=[(c.delivery_id, 1) for c in claims]), NOW, worker="w")
    first = ledger.finish_run(run.id, NOW + timedelta(seconds=3), skipped=1)
    assert first is not None
    assert (first.finished_at, first.skipped) == (NOW + timedelta(seconds=3), 1)
    again = ledger.finish_run(run.id, NOW + timedelta(hours=1), skipped=2)
    assert again is not None
    assert (again.finished_at, again.skipped) == (NOW + timedelta(seconds=3), 2)
    add_subscribers_from(store, 3, 1)
    later = NOW + timedelta(hours=2)
    assert Planner(store).plan(run.id, later, DEFAULTS, force=True).planned == 1
    (claim,) = ledger.claim("w", 10, later, lease=LEASE)
    ledger.record(Outcomes(sent=[(claim.delivery_id, 3)]), later, worker="w")
    extended = ledger.finish_run(run.id, later + timedelta(seconds=1), skipped=2)
    assert extended is not None
    assert extended.finished_at == later + timedelta(seconds=1)
    assert (extended.due, extended.sent, extended.skipped) == (3, 3, 2)


def test_a_worker_never_reclaims_its_own_stale_rows(store: Store, ledger: Ledger) -> None:
    """A worker whose heartbeat lagged past the lease does not re-queue (and resend) its own
    in-flight rows; another worker still takes them over."""
    add_articles(store, 1)
    add_subscribers(store, 3)
    plan(store)
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
    plan(store)
    slow = ledger.claim("slow", 10, NOW, lease=LEASE)
    fast = ledger.claim("fast", 10, NOW + timedelta(minutes=3), lease=LEASE)
    assert [c.delivery_id for c in fast] == [c.delivery_id for c in slow]
    a, b, c = (claim.delivery_id for claim in fast)
    ledger.record(Outcomes(sent=[(a, 100), (b, 101)]), NOW, worker="fast")
    ledger.record(
        Outcomes(
            sent=[(a, 900)],
            failed=[(b, "Bad Request")],
            retries=[(c, NOW + timedelta(minutes=5), "timed out", True)],
        ),
        NOW + timedelta(minutes=4),
        worker="slow",
    )
    with Session(store.engine) as s:
        rows = {r.id: r for r in s.scalars(select(DeliveryRow))}
    assert (rows[a].state, rows[a].message_id) == ("sent", 100)
    assert (rows[b].state, rows[b].message_id, rows[b].error) == ("sent", 101, None)
    assert (rows[c].state, rows[c].claimed_by, rows[c].attempts) == ("sending", "fast", 0)
    assert ledger.pending_count() == 0


def test_run_stats_count_retried_and_fresh_pending_rows_together(
    store: Store, ledger: Ledger
) -> None:
    """A retried row (pending, with an error) and never-tried rows (pending, no error) are
    all counted as pending."""
    add_articles(store, 1)
    add_subscribers(store, 3)
    run = ledger.start_run("r", NOW)
    plan(store, run.id)
    (first, *_) = ledger.claim("w", 1, NOW, lease=LEASE)
    retry = (first.delivery_id, NOW + timedelta(minutes=1), "timed out", True)
    ledger.record(Outcomes(retries=[retry]), NOW, worker="w")
    stats = ledger.run_stats(run.id)
    assert stats is not None
    assert (stats.due, stats.pending) == (3, 3)


def test_claim_pair_plans_and_claims_one_row_once(store: Store, ledger: Ledger) -> None:
    """ "Post the latest now": one row per (subscriber, article), taken over while pending."""
    [old, new] = add_articles(store, 2)
    add_subscribers(store, 1)
    plan(store)  # the push planned the newest article: a pending row
    [(planned, state, _)] = ledger.deliveries(1)
    assert (planned, state) == (new, "pending")
    sub = store.get_subscriber(1)
    assert sub is not None

    taken = ledger.claim_pair(sub.id, new, day=NOW.date(), worker="now", now=NOW)
    assert taken is not None
    assert (taken.chat_id, taken.article_id, taken.parts_sent) == (1, new, 0)
    assert ledger.claim("push", 10, NOW, lease=LEASE) == []  # the push no longer gets it
    # Held, then sent: neither a second press nor the push sends it again.
    assert ledger.claim_pair(sub.id, new, day=NOW.date(), worker="again", now=NOW) is None
    ledger.record(Outcomes(sent=[(taken.delivery_id, 7)]), NOW, worker="now")
    assert ledger.claim_pair(sub.id, new, day=NOW.date(), worker="again", now=NOW) is None

    other = ledger.claim_pair(sub.id, old, day=NOW.date(), worker="now", now=NOW)
    assert other is not None
    assert [(a, s) for a, s, _ in ledger.deliveries(sub.id)] == [
        (new, "sent"),
        (old, "sending"),
    ]
