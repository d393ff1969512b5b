"""The bot's periodic jobs in a running Application: the push tick and the seed re-sync.

The real Application long-polls the loopback Bot API; nothing calls the jobs by hand, the
JobQueue fires them. PUSH_TIME an hour ago in TIMEZONE=UTC and a subscription from two days
ago make the subscribers due now.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.fakeapi.server import LoopbackBotApi
from bot.ledger import Ledger
from bot.metrics import Metrics
from bot.store import Store
from bot.telegram import jobs
from tests.conftest import seed_subscribers
from tests.telegram.conftest import article_file, bot_settings, running_bot


def due_now(api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path, **overrides: object) -> Settings:
    """Bot settings whose push time (UTC) was an hour ago, ticking every 0.1 s."""
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    values: dict[str, object] = {"push_tick": 0.1, "push_time": hour_ago, "timezone": "UTC"}
    values.update(overrides)
    return bot_settings(api, tmp_path, seeds_dir, "aiohttp").model_copy(update=values)


def subscribe(store: Store, chat_ids: list[int]) -> None:
    """Subscribe private chats two days ago (a chat subscribed after a slot skips it)."""
    since = datetime.now(UTC) - timedelta(days=2)
    seed_subscribers(
        store,
        [
            {"chat_id": c, "chat_type": "private", "language": "en", "subscribed_at": since}
            for c in chat_ids
        ],
    )


def running_pushes() -> int:
    """Count the push tasks (jobs.start_push names them "push") still running in this loop."""
    return sum(1 for t in asyncio.all_tasks() if t.get_name() == "push" and not t.done())


async def test_the_push_tick_pushes_to_due_subscribers_on_its_own(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> None:
    """With PUSH_TICK 0.1 s and the subscribers due, the JobQueue's tick pushes to each
    exactly once: nobody calls run_push, and later ticks find nobody due."""
    settings = due_now(loopback_api, tmp_path, seeds_dir)
    async with running_bot(loopback_api, settings) as bot:
        [job] = bot.app.job_queue.get_jobs_by_name(jobs.PUSH_JOB)  # type: ignore[union-attr]
        assert job.job.trigger.interval == timedelta(seconds=0.1)
        store = bot.runtime.store
        chats = [601, 602, 603]
        subscribe(store, chats)
        for chat in chats:
            await loopback_api.wait_sent(chat, 1, timeout=20)
        while jobs.push_running(bot.app):  # noqa: ASYNC110 -- waiting for the tick's push
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # several more ticks: nobody is due any more
        assert [len(loopback_api.messages(c)) for c in chats] == [1, 1, 1]
        stats = Ledger(store).last_run_stats()
        assert stats is not None
        assert stats.sent == len(chats)
        assert not stats.key.startswith("now:")  # a scheduled run, not `push --now`
        subscriber = store.get_subscriber(chats[0])
        assert subscriber is not None
        now = datetime.now(UTC)  # the slot's UTC day: today, or yesterday just after midnight
        assert subscriber.last_push_date in {now.date(), (now - timedelta(hours=1)).date()}


async def test_a_tick_while_the_push_runs_is_skipped(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """While the tick's push is still sending (60 chats at RATE_LIMIT 20/s, ~3 s), the ticks
    every 0.1 s start no second push: push_running is true, one push task at a time, the
    skips are logged, and every chat gets exactly one message."""
    caplog.set_level(logging.DEBUG, logger=jobs.__name__)
    settings = due_now(loopback_api, tmp_path, seeds_dir, rate_limit=20.0)
    async with running_bot(loopback_api, settings) as bot:
        chats = list(range(700, 760))
        subscribe(bot.runtime.store, chats)
        await loopback_api.wait_sent(chats[0], 1, timeout=20)
        seen_running = False
        most = 0
        while loopback_api.stats.sent < len(chats):
            seen_running = seen_running or jobs.push_running(bot.app)
            most = max(most, running_pushes())
            await asyncio.sleep(0.02)
        assert seen_running
        assert most == 1
    skipped = [r for r in caplog.records if "push tick skipped" in r.getMessage()]
    assert skipped, "no tick fired while the push was running"
    assert [len(loopback_api.messages(c)) for c in chats] == [1] * len(chats)


def metrics_new_files(metrics: Metrics) -> float:
    """Return how many new article files the bot's syncs have counted so far."""
    value = metrics.registry.get_sample_value("digestbot_sync_files_total", {"result": "new"})
    return value or 0.0


async def test_the_resync_job_picks_up_a_new_file_and_latest_shows_it(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> None:
    """A file dropped into SEEDS_DIR is imported by the SYNC_INTERVAL job (0.2 s) without a
    restart, and /latest answers with it at once (the cached newest article is dropped)."""
    settings = bot_settings(loopback_api, tmp_path, seeds_dir, "aiohttp").model_copy(
        update={"sync_interval": 0.2}
    )
    async with running_bot(loopback_api, settings) as bot:
        store = bot.runtime.store
        user = loopback_api.user(55, language_code="en")
        chat = loopback_api.private_chat(user)
        [before] = await bot.say(chat, user, "/latest")
        assert "Fresh from the folder" not in before.text
        assert store.count_articles() == 1
        fresh = article_file(7, title="Fresh from the folder")
        newer = fresh.replace("date: 2024-01-08", "date: 2099-01-01")
        assert newer != fresh
        metrics = bot.app.bot_data.metrics
        imported = metrics_new_files(metrics)
        (seeds_dir / "fresh.md").write_text(newer, encoding="utf-8")
        # Waited for until the job has counted the sync, not until the row is there: the job
        # drops the cached newest article in the same step as it counts (no await between),
        # and after the row is written. Up to 10 s of 0.2-s sync ticks.
        for _ in range(500):
            if metrics_new_files(metrics) > imported:
                break
            await asyncio.sleep(0.02)
        assert store.count_articles() == 2
        [after] = await bot.say(chat, user, "/latest")
        assert "Fresh from the folder" in after.text


async def test_schedule_push_replaces_the_earlier_tick(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> None:
    """schedule_push called again (a re-initialized application) leaves one tick job, at
    the new interval."""
    settings = bot_settings(loopback_api, tmp_path, seeds_dir, "aiohttp")
    async with running_bot(loopback_api, settings) as bot:
        job_queue = bot.app.job_queue
        assert job_queue is not None
        [job] = job_queue.get_jobs_by_name(jobs.PUSH_JOB)
        assert job.job.trigger.interval == timedelta(seconds=settings.push_tick)
        jobs.schedule_push(bot.app, 45.0)
        [job] = job_queue.get_jobs_by_name(jobs.PUSH_JOB)
        assert job.job.trigger.interval == timedelta(seconds=45)
