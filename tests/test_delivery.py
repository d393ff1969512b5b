"""The push engine with an in-memory Sender: exactly-once delivery, outcomes, bounds, crashes."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.config import Settings
from bot.db import create_db_engine
from bot.delivery import (
    Outcome,
    OutgoingMessage,
    PushOptions,
    PushProgress,
    SendResult,
    run_key,
    run_push,
)
from bot.errors import ConfigError
from bot.i18n import Lang
from bot.ledger import Ledger
from bot.models import DeliveryRow
from bot.rendering import Renderer
from bot.scheduling import PushDefaults
from bot.store import Store, utcnow
from tests.test_ledger import (
    DEFAULTS,
    LEASE,
    LONG_AGO,
    NOW,
    add_articles,
    add_subscribers,
)


class FakeSender:
    """Our own Sender protocol in memory: scripted results per chat, then success."""

    def __init__(
        self,
        script: dict[int, list[SendResult]] | None = None,
        *,
        on_send: Callable[[OutgoingMessage], None] | None = None,
    ) -> None:
        self.script = {chat: list(results) for chat, results in (script or {}).items()}
        self.on_send = on_send
        self.delivered: list[OutgoingMessage] = []
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0

    async def send(self, message: OutgoingMessage) -> SendResult:
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.001)  # let the other workers overlap
            queued = self.script.get(message.chat_id)
            if queued:
                return queued.pop(0)
            self.delivered.append(message)
            if self.on_send is not None:
                self.on_send(message)
            return SendResult(Outcome.SENT, message_id=len(self.delivered))
        finally:
            self.in_flight -= 1

    def per_chat(self) -> Counter[int]:
        return Counter(m.chat_id for m in self.delivered)


class CountingRenderer(Renderer):
    """The bundled templates, counting renders per (template, language)."""

    def __init__(self) -> None:
        super().__init__()
        self.renders: Counter[tuple[str, str]] = Counter()

    def render(self, name: str, lang: Lang, /, **context: object) -> str:
        self.renders[name, lang] += 1
        return super().render(name, lang, **context)


def options(**overrides: object) -> PushOptions:
    base = PushOptions(
        defaults=DEFAULTS,
        max_attempts=3,
        concurrency=8,
        batch=20,
        backoff=timedelta(milliseconds=5),
        flush_interval=0.02,
        poll_interval=0.02,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


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
    assert f"Article {len(ids)}" in message.html
    # These articles have no risks, so no ⚠️ button: 📖 full text, then 🔗 the original.
    assert [(b.callback_data, b.url) for b in message.buttons] == [
        (f"full:{ids[-1]}", None),
        (None, f"https://example.com/{len(ids)}"),
    ]
    again = await run_push(store, renderer, sender, options(), now=NOW + timedelta(minutes=1))
    assert again.sent == 0
    assert len(sender.delivered) == 150


async def test_messages_use_each_subscribers_language(store: Store, renderer: Renderer) -> None:
    add_articles(store, 1)
    add_subscribers(store, 2)  # chat 1 zh, chat 2 en
    sender = FakeSender()
    await run_push(store, renderer, sender, options(), now=NOW)
    by_chat = {m.chat_id: m for m in sender.delivered}
    assert by_chat[1].buttons[0].label == renderer.text("button_full", "zh")
    assert by_chat[2].buttons[0].label == renderer.text("button_full", "en")


async def test_nothing_due_sends_nothing_and_leaves_no_run(
    store: Store, renderer: Renderer
) -> None:
    add_articles(store, 1)
    add_subscribers(store, 3)
    sender = FakeSender()
    report = await run_push(store, renderer, sender, options(), now=NOW - timedelta(hours=1))
    assert (report.due, report.sent) == (0, 0)
    assert sender.calls == 0
    ledger = Ledger(store)
    assert ledger.last_run_stats() is None


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
    store.add_subscribers(
        [{"chat_id": -42, "chat_type": "group", "language": "en", "subscribed_at": LONG_AGO}]
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


async def test_dry_run_sends_nothing_and_reports_who_gets_what(
    store: Store, renderer: Renderer
) -> None:
    ids = add_articles(store, 1)
    add_subscribers(store, 3)
    sender = FakeSender()
    report = await run_push(store, renderer, sender, options(), now=NOW, dry_run=True)
    assert report.dry_run
    assert sorted(report.planned) == [(1, ids[0]), (2, ids[0]), (3, ids[0])]
    assert sender.calls == 0
    ledger = Ledger(store)
    assert ledger.pending_count() == 0
    assert ledger.last_run_stats() is None


async def test_each_article_and_language_is_rendered_once_per_run(store: Store) -> None:
    add_articles(store, 2)
    add_subscribers(store, 60)  # both languages
    counting = CountingRenderer()
    sender = FakeSender()
    two = replace(DEFAULTS, max_per_day=2)
    report = await run_push(store, counting, sender, options(defaults=two), now=NOW)
    assert len(sender.delivered) == 120
    assert counting.renders == Counter({("digest", "zh"): 2, ("digest", "en"): 2})
    assert report.renders == 4


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


async def test_forced_push_sends_now_and_skips_who_already_had_today(
    store: Store, renderer: Renderer
) -> None:
    """`push --now` at 03:00 local reaches everyone; a second one the same day sends nothing."""
    add_articles(store, 1)
    add_subscribers(store, 4)
    early = NOW - timedelta(hours=5)  # 03:01 in Shanghai
    sender = FakeSender()
    first = await run_push(store, renderer, sender, options(), now=early, force=True)
    assert first.run_key == "now:2026-06-01"
    assert first.sent == 4
    second = await run_push(store, renderer, sender, options(), now=NOW, force=True)
    assert (second.sent, second.skipped) == (0, 4)
    tick = await run_push(store, renderer, sender, options(), now=NOW)
    assert tick.sent == 0
    assert len(sender.delivered) == 4


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
    ledger.plan(run.id, NOW, DEFAULTS)
    long_ago = utcnow() - timedelta(minutes=10)
    abandoned = ledger.claim("dead", 8, long_ago, lease=LEASE)
    # The dead worker had delivered half of its in-flight messages before dying.
    for claim in abandoned[:4]:
        await sender.send(OutgoingMessage(claim.chat_id, claim.chat_type, "x"))
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


def failing_first(monkeypatch: pytest.MonkeyPatch, name: str, times: int) -> Callable[[], int]:
    """Make Ledger.`name` raise "database is locked" its first `times` calls; return a counter."""
    original = getattr(Ledger, name)
    calls = 0

    def flaky(self: Ledger, *args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls <= times:
            raise OperationalError("UPDATE deliveries", {}, Exception("database is locked"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Ledger, name, flaky)
    return lambda: calls


async def finished(push: asyncio.Task[object]) -> bool:
    """Wait for `push`; False if it hangs (a guard against a deadlock, not a timing check)."""
    done, _ = await asyncio.wait({push}, timeout=30)
    if not done:
        push.cancel()
        with contextlib.suppress(BaseException):
            await push
    return bool(done)


async def test_failed_ledger_writes_are_retried_and_the_push_completes(
    store: Store,
    renderer: Renderer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Ledger.record raising (SQLite "database is locked", a dropped PostgreSQL connection)
    loses no batch and stalls nothing: the push ends, everyone has exactly one message, every
    row is sent, and the failure is logged once with its traceback."""
    add_articles(store, 1)
    add_subscribers(store, 120)
    calls = failing_first(monkeypatch, "record", 3)
    sender = FakeSender()
    opts = options(concurrency=4, batch=10, flush_every=5)
    push = asyncio.create_task(run_push(store, renderer, sender, opts, now=NOW))
    assert await finished(push), "run_push hung after a failed ledger write"
    report = push.result()
    assert sender.per_chat() == Counter(range(1, 121))
    assert report.sent == 120
    assert calls() > 3
    with store.session() as s:
        states = Counter(s.scalars(select(DeliveryRow.state)))
    assert states == Counter({"sent": 120})
    logged = [r for r in caplog.records if "ledger failed" in r.getMessage()]
    assert len(logged) == 1
    assert logged[0].exc_info is not None


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
    with store.session() as s:
        rows = s.execute(select(DeliveryRow.state, DeliveryRow.claimed_by)).all()
    states = Counter(state for state, _ in rows)
    assert states == Counter({"sent": 10, "pending": 50})
    assert {by for state, by in rows if state == "pending"} == {None}
    fixed = FakeSender()
    report = await run_push(store, renderer, fixed, options(), now=NOW + timedelta(minutes=1))
    assert report.sent == 50
    assert set(fixed.per_chat()) | set(sender.per_chat()) == set(range(1, 61))
    assert not set(fixed.per_chat()) & set(sender.per_chat())


def test_options_follow_the_settings() -> None:
    settings = Settings(
        push_time=time(7, 30),
        timezone="Europe/London",
        push_policy="backlog",
        push_max_per_day=2,
        push_max_attempts=4,
        paid_broadcast=True,
        _env_file=None,  # type: ignore[call-arg]
    )
    opts = PushOptions.from_settings(settings, concurrency=3)
    assert opts.defaults == PushDefaults(
        push_time=time(7, 30),
        timezone="Europe/London",
        grace=settings.push_grace,
        policy="backlog",
        max_per_day=2,
    )
    assert (opts.max_attempts, opts.paid_broadcast, opts.concurrency) == (4, True, 3)


def test_run_keys_name_the_tick_minute_or_the_forced_day() -> None:
    at = datetime.fromisoformat("2026-06-01T17:45:10+00:00")
    assert run_key(at, DEFAULTS, force=False) == "2026-06-01T17:45"
    assert run_key(at, DEFAULTS, force=True) == "now:2026-06-02"  # already June 2 in Shanghai


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING")
