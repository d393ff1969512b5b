"""The push engine with an in-memory Sender: exactly-once delivery, outcomes, bounds, crashes."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.engine import create_db_engine
from bot.db.tables import DeliveryRow
from bot.digest import article_buttons, render_part
from bot.errors import ConfigError
from bot.ledger import Ledger
from bot.push.options import run_key
from bot.push.planner import Planner
from bot.push.reports import PushProgress
from bot.push.run import run_push
from bot.push.sender import Outcome, OutgoingMessage, SendResult
from bot.rendering import Renderer
from bot.store import Store, utcnow
from tests.conftest import (
    DEFAULTS,
    LEASE,
    LONG_AGO,
    NOW,
    add_articles,
    add_subscribers,
    seed_subscribers,
)
from tests.push.conftest import FakeSender, add_long_article, failing_first, finished, options


async def test_every_due_subscriber_gets_exactly_one_message(
    store: Store, renderer: Renderer
) -> None:
    ids = add_articles(store, 2)
    add_subscribers(store, 150)
    sender = FakeSender()
    report = await run_push(store, renderer, sender, options(), now=NOW)
    assert sender.per_chat() == Counter(range(1, 151))
    assert (report.due, report.sent, report.failed, report.blocked) == (150, 150, 0, 0)
    assert report.stats is not None
    assert (report.stats.sent, report.stats.pending, report.stats.sending) == (150, 0, 0)
    message = sender.delivered[0]
    assert f"Article {len(ids)}" in message.parts[0]
    # These articles have no risks, so no ⚠️ button: 📖 full text, then 🔗 the original.
    assert [(b.callback_data, b.url, b.switch_inline_query) for b in message.buttons] == [
        (f"full:{ids[-1]}", None, None),
        (None, f"https://example.com/{len(ids)}", None),
        (None, None, f"#{ids[-1]}"),  # ↗️ Share
    ]
    again = await run_push(store, renderer, sender, options(), now=NOW + timedelta(minutes=1))
    assert again.sent == 0
    assert len(sender.delivered) == 150


async def test_every_part_of_a_long_digest_goes_out_as_latest_shows_it(
    store: Store, renderer: Renderer
) -> None:
    """A digest too long for one message is pushed whole: every part, in order, one send
    each, with the article's buttons under the last part (the sender puts them there)."""
    stored = add_long_article(store)
    add_subscribers(store, 2)  # chat 1 zh, chat 2 en
    sender = FakeSender()
    report = await run_push(store, renderer, sender, options(), now=NOW)
    assert report.sent == 2
    for chat, lang in ((1, "zh"), (2, "en")):
        expected = tuple(render_part(renderer, stored, "digest", lang))
        assert len(expected) == 3
        assert sender.texts(chat) == list(expected)
        last = [m for m in sender.delivered if m.chat_id == chat][-1]
        assert last.buttons == article_buttons(renderer, stored, lang)
        assert list(last.window) == [2]


def _row(store: Store, chat_id: int) -> DeliveryRow:
    sub = store.get_subscriber(chat_id)
    assert sub is not None
    with Session(store.engine) as session:
        return session.scalars(
            select(DeliveryRow).where(DeliveryRow.subscriber_id == sub.id)
        ).one()


async def test_a_digest_cut_short_resumes_at_its_next_part(
    store: Store, renderer: Renderer
) -> None:
    """A transient failure after one part hands the row back with parts_sent = 1: the retry
    sends the second and third parts only, so the chat has each part exactly once."""
    stored = add_long_article(store)
    add_subscribers(store, 2)
    cut = SendResult(Outcome.RETRY, error="Timed out")
    sender = FakeSender({1: [None, cut]})  # part 1 goes out, part 2 times out
    report = await run_push(store, renderer, sender, options(), now=NOW)
    assert (report.sent, report.retried, report.failed) == (2, 1, 0)
    expected = list(render_part(renderer, stored, "digest", "zh"))
    assert sender.texts(1) == expected
    resumed = [m for m in sender.delivered if m.chat_id == 1]
    assert [m.start for m in resumed] == [0, 1, 2]
    row = _row(store, 1)
    assert (row.state, row.parts_sent, row.attempts) == ("sent", 2, 1)
    assert row.message_id == resumed[0].start + 10  # the id of the digest's first message


async def test_a_failure_between_parts_is_recorded_as_progress(
    store: Store, renderer: Renderer
) -> None:
    """A row handed back after two parts keeps parts_sent = 2 in the ledger, pending."""
    add_long_article(store)
    add_subscribers(store, 1)
    cut = SendResult(Outcome.RETRY, error="Timed out")
    sender = FakeSender({1: [None, None, cut]})
    report = await run_push(
        store, renderer, sender, options(max_attempts=1), now=NOW
    )  # one attempt: the failure is final, and the row shows where it stopped
    assert (report.sent, report.failed) == (0, 1)
    row = _row(store, 1)
    assert (row.state, row.parts_sent) == ("failed", 2)
    assert len(sender.texts(1)) == 2


async def test_a_chat_blocking_the_bot_mid_digest_goes_inactive(
    store: Store, renderer: Renderer
) -> None:
    add_long_article(store)
    add_subscribers(store, 1)
    gone = SendResult(Outcome.BLOCKED, error="Forbidden")
    sender = FakeSender({1: [None, None, gone]})
    report = await run_push(store, renderer, sender, options(), now=NOW)
    assert (report.sent, report.blocked) == (0, 1)
    sub = store.get_subscriber(1)
    assert sub is not None
    assert not sub.active


async def test_messages_use_each_subscribers_language(store: Store, renderer: Renderer) -> None:
    add_articles(store, 1)
    add_subscribers(store, 2)  # chat 1 zh, chat 2 en
    sender = FakeSender()
    await run_push(store, renderer, sender, options(), now=NOW)
    by_chat = {m.chat_id: m for m in sender.delivered}
    assert by_chat[1].buttons[0].label == renderer.text("button_full", "zh")
    assert by_chat[2].buttons[0].label == renderer.text("button_full", "en")


async def test_retry_then_success_sends_once(store: Store, renderer: Renderer) -> None:
    add_articles(store, 1)
    add_subscribers(store, 3)
    flaky = [SendResult(Outcome.RETRY, error="timed out")] * 2
    sender = FakeSender({2: flaky})
    report = await run_push(store, renderer, sender, options(), now=NOW)
    assert sender.per_chat() == Counter({1: 1, 2: 1, 3: 1})
    assert (report.sent, report.retried, report.failed) == (3, 2, 0)


async def test_flood_control_retries_never_give_up(store: Store, renderer: Renderer) -> None:
    """RETRY with retry_after (a 429) does not count as an attempt."""
    add_articles(store, 1)
    add_subscribers(store, 1)
    flood = [SendResult(Outcome.RETRY, retry_after=0.01, error="Flood control")] * 5
    sender = FakeSender({1: flood})
    report = await run_push(store, renderer, sender, options(max_attempts=2), now=NOW)
    assert sender.per_chat() == Counter({1: 1})
    assert report.retried == 5


async def test_failed_after_max_attempts_with_the_reason(store: Store, renderer: Renderer) -> None:
    add_articles(store, 1)
    add_subscribers(store, 2)
    sender = FakeSender({1: [SendResult(Outcome.RETRY, error="Bad Gateway")] * 10})
    report = await run_push(store, renderer, sender, options(max_attempts=3), now=NOW)
    assert (report.sent, report.failed, report.retried) == (1, 1, 2)
    sub = store.get_subscriber(1)
    assert sub is not None
    ledger = Ledger(store)
    ((_, state, error),) = ledger.deliveries(sub.id)
    assert state == "failed"
    assert error == "gave up after 3 attempts: Bad Gateway"
    assert sub.active


async def test_permanent_failure_fails_the_row_only(store: Store, renderer: Renderer) -> None:
    add_articles(store, 1)
    add_subscribers(store, 1)
    sender = FakeSender({1: [SendResult(Outcome.FAILED, error="Bad Request: can't parse")]})
    report = await run_push(store, renderer, sender, options(), now=NOW)
    assert (report.sent, report.failed, report.blocked) == (0, 1, 0)
    assert sender.calls == 1


async def test_blocked_chat_deactivates_the_subscriber(store: Store, renderer: Renderer) -> None:
    add_articles(store, 1)
    add_subscribers(store, 3)
    sender = FakeSender({2: [SendResult(Outcome.BLOCKED, error="Forbidden: bot was blocked")]})
    report = await run_push(store, renderer, sender, options(), now=NOW)
    assert (report.sent, report.blocked) == (2, 1)
    blocked = store.get_subscriber(2)
    assert blocked is not None
    assert not blocked.active
    assert report.stats is not None
    assert report.stats.blocked == 1
    # A later /start reactivates them.
    assert store.subscribe(2, chat_type="private", language="en").reactivated


async def test_migrated_group_moves_the_chat_and_resends(store: Store, renderer: Renderer) -> None:
    add_articles(store, 1)
    seed_subscribers(
        store,
        [{"chat_id": -42, "chat_type": "group", "language": "en", "subscribed_at": LONG_AGO}],
    )
    moved = [SendResult(Outcome.MIGRATED, new_chat_id=-100042, error="migrated")]
    sender = FakeSender({-42: moved})
    report = await run_push(store, renderer, sender, options(), now=NOW)
    assert sender.per_chat() == Counter({-100042: 1})
    assert report.sent == 1
    assert store.get_subscriber(-42) is None
    sub = store.get_subscriber(-100042)
    assert sub is not None
    assert sub.active


async def test_in_flight_sends_never_exceed_the_concurrency(
    store: Store, renderer: Renderer
) -> None:
    add_articles(store, 1)
    add_subscribers(store, 200)
    sender = FakeSender()
    await run_push(store, renderer, sender, options(concurrency=5, batch=10), now=NOW)
    assert len(sender.delivered) == 200
    assert 1 < sender.max_in_flight <= 5


async def test_progress_reports_reach_the_total(store: Store, renderer: Renderer) -> None:
    add_articles(store, 1)
    add_subscribers(store, 30)
    seen: list[PushProgress] = []
    await run_push(store, renderer, FakeSender(), options(), now=NOW, progress=seen.append)
    assert seen[-1].total == 30
    assert seen[-1].done == 30


async def test_two_concurrent_pushes_on_one_database_never_duplicate(
    database_url: str, store: Store, renderer: Renderer
) -> None:
    add_articles(store, 1)
    add_subscribers(store, 300)
    other = Store(create_db_engine(database_url))
    try:
        sender = FakeSender()
        a, b = await asyncio.gather(
            run_push(store, renderer, sender, options(worker_id="a"), now=NOW),
            run_push(other, renderer, sender, options(worker_id="b"), now=NOW),
        )
    finally:
        other.close()
    assert sender.per_chat() == Counter(range(1, 301))
    assert a.sent + b.sent == 300
    assert a.run_key == b.run_key


async def test_abandoned_claims_are_resent_after_the_lease_and_nothing_is_lost(
    store: Store, renderer: Renderer
) -> None:
    """A crashed worker's `sending` rows come back after the lease; only they may repeat."""
    add_articles(store, 1)
    add_subscribers(store, 50)
    sender = FakeSender()
    ledger = Ledger(store)
    run = ledger.start_run(run_key(NOW, DEFAULTS, force=False), utcnow())
    Planner(store).plan(run.id, NOW, DEFAULTS)
    long_ago = utcnow() - timedelta(minutes=10)
    abandoned = ledger.claim("dead", 8, long_ago, lease=LEASE)
    # The dead worker had delivered half of its in-flight messages before dying.
    for claim in abandoned[:4]:
        await sender.send(OutgoingMessage(claim.chat_id, claim.chat_type, ("x",)))
    report = await run_push(store, renderer, sender, options(), now=NOW)
    counts = sender.per_chat()
    assert set(counts) == set(range(1, 51))  # nobody missing
    repeated = {chat for chat, n in counts.items() if n > 1}
    assert repeated == {c.chat_id for c in abandoned[:4]}
    assert report.sent == 50


async def test_a_push_killed_mid_way_loses_nothing_and_repeats_only_in_flight(
    store: Store, renderer: Renderer
) -> None:
    add_articles(store, 1)
    add_subscribers(store, 200)
    killed = asyncio.Event()

    def kill_after_60(_: OutgoingMessage) -> None:
        if len(sender.delivered) >= 60:
            killed.set()

    sender = FakeSender(on_send=kill_after_60)
    opts = options(concurrency=6, batch=20, flush_every=10, flush_interval=10.0)
    push = asyncio.create_task(run_push(store, renderer, sender, opts, now=NOW))
    await killed.wait()
    push.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await push
    sent_before = len(sender.delivered)
    # A new process, after the dead one's lease has run out.
    later = options(clock=lambda: utcnow() + timedelta(minutes=5))
    await run_push(store, renderer, sender, later, now=NOW)
    counts = sender.per_chat()
    assert set(counts) == set(range(1, 201))
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates <= opts.concurrency + opts.flush_every
    assert len(sender.delivered) == 200 + duplicates
    assert sent_before >= 60


async def test_a_cancelled_push_always_stops_whenever_the_cancel_lands(
    sqlite_store: Store, renderer: Renderer
) -> None:
    """Cancelling run_push at any moment ends it (no helper loop swallows the cancel and
    keeps the push alive), and a rerun still delivers to everyone exactly once or in-flight."""
    add_articles(sqlite_store, 1)
    add_subscribers(sqlite_store, 120)
    sender = FakeSender()
    # Tiny intervals make the waits' deadlines race the cancels as often as possible.
    opts = options(
        concurrency=4, batch=8, flush_every=4, flush_interval=0.001, poll_interval=0.001
    )
    rng = random.Random(7)  # noqa: S311 - reproducible cancel points, not crypto
    for _ in range(25):
        push = asyncio.create_task(run_push(sqlite_store, renderer, sender, opts, now=NOW))
        await asyncio.sleep(rng.uniform(0, 0.03))
        push.cancel()
        # A guard, not a timing assertion: a push that ignores its cancel never finishes.
        done, _ = await asyncio.wait({push}, timeout=30)
        assert done, "run_push outlived its cancellation"
    later = options(clock=lambda: utcnow() + timedelta(minutes=5))
    await run_push(sqlite_store, renderer, sender, later, now=NOW)
    assert set(sender.per_chat()) == set(range(1, 121))


async def test_a_failed_heartbeat_does_not_stop_the_heartbeats(
    store: Store, renderer: Renderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A heartbeat that raises once is logged and the next ones still renew the claims."""
    add_articles(store, 1)
    add_subscribers(store, 5)
    calls = failing_first(monkeypatch, "heartbeat", 1)
    flaky = Ledger.heartbeat
    loop = asyncio.get_running_loop()
    renewed = asyncio.Event()

    def counted(self: Ledger, worker: str, now: datetime) -> int:
        try:
            return flaky(self, worker, now)
        finally:
            if calls() >= 3:  # two heartbeats after the failed one
                loop.call_soon_threadsafe(renewed.set)

    monkeypatch.setattr(Ledger, "heartbeat", counted)

    class WaitForHeartbeats(FakeSender):
        async def send(self, message: OutgoingMessage) -> SendResult:
            await renewed.wait()  # hold the push until heartbeats went on after the failure
            return await super().send(message)

    sender = WaitForHeartbeats()
    opts = options(lease=timedelta(milliseconds=200))  # a heartbeat every 50 ms
    push = asyncio.create_task(run_push(store, renderer, sender, opts, now=NOW))
    assert await finished(push), "the heartbeat died and the push waited for it"
    assert sender.per_chat() == Counter(range(1, 6))


class RefusedSender(FakeSender):
    """Sends `allowed` messages, then every send raises the fatal refused-token error."""

    def __init__(self, allowed: int) -> None:
        super().__init__()
        self.allowed = allowed
        self.started = 0

    async def send(self, message: OutgoingMessage) -> SendResult:
        self.started += 1
        if self.started > self.allowed:
            await asyncio.sleep(0.001)
            raise ConfigError("the Bot API refused TELEGRAM_BOT_TOKEN")
        return await super().send(message)


async def test_a_fatal_sender_error_stops_the_push_and_hands_its_rows_back(
    store: Store, renderer: Renderer
) -> None:
    """A DigestError from the sender (a revoked token) propagates out of run_push; no row is
    failed, the rows it did not send are pending again (not left to the lease), and a later
    push with a working sender delivers each of them once."""
    add_articles(store, 1)
    add_subscribers(store, 60)
    sender = RefusedSender(allowed=10)
    with pytest.raises(ConfigError, match="refused"):
        await run_push(store, renderer, sender, options(concurrency=4, batch=10), now=NOW)
    with Session(store.engine) as s:
        rows = s.execute(select(DeliveryRow.state, DeliveryRow.claimed_by)).all()
    states = Counter(state for state, _ in rows)
    assert states == Counter({"sent": 10, "pending": 50})
    assert {by for state, by in rows if state == "pending"} == {None}
    fixed = FakeSender()
    report = await run_push(store, renderer, fixed, options(), now=NOW + timedelta(minutes=1))
    assert report.sent == 50
    assert set(fixed.per_chat()) | set(sender.per_chat()) == set(range(1, 61))
    assert not set(fixed.per_chat()) & set(sender.per_chat())


class HangingSender(FakeSender):
    """Every send hangs until cancelled (a shutdown lands while the sends are in flight)."""

    def __init__(self) -> None:
        super().__init__()
        self.stuck = asyncio.Event()

    async def send(self, message: OutgoingMessage) -> SendResult:
        self.stuck.set()
        await asyncio.Event().wait()
        return await super().send(message)


async def test_a_cancelled_push_hands_its_claimed_rows_back_at_once(
    store: Store, renderer: Renderer
) -> None:
    """A push stopped by a shutdown (cancelled) leaves no row `sending`: its claims are
    pending again now, not after the lease."""
    add_articles(store, 1)
    add_subscribers(store, 60)
    sender = HangingSender()
    push = asyncio.create_task(
        run_push(store, renderer, sender, options(concurrency=4, batch=10), now=NOW)
    )
    await sender.stuck.wait()
    push.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await push
    with Session(store.engine) as s:
        states = Counter(s.scalars(select(DeliveryRow.state)).all())
    assert states["sending"] == 0
    assert states["pending"] == 60
