"""The push end to end: real HTTP through the loopback Bot API, real PTB bot, real ledger.

Strict limits (``Limits``) make the fake server refuse, with a 429, any message that breaks
Telegram's global, per-chat or per-group flood limits, and count it; ``api.stats.clean()``
says no limit was broken. The long runs go faster than Telegram by raising RATE_LIMIT and
the server's global limit together: the pacer is the same code at any rate.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from telegram.ext import ExtBot

from bot.config import Settings
from bot.db import open_database
from bot.delivery import PushOptions, PushReport, push_defaults, run_push
from bot.ledger import Ledger
from bot.rendering import Renderer
from bot.store import Store
from bot.sync import sync_articles
from bot.telegram import jobs
from bot.telegram.aiohttp_request import build_request
from bot.telegram.app import build_application
from bot.telegram.loopback_api import Fault, Limits, LoopbackBotApi
from bot.telegram.pacer import Pacer
from bot.telegram.sender import TelegramSender
from tests.telegram.conftest import ADMIN_ID, BotHarness

ROOT = Path(__file__).resolve().parents[2]
CONCURRENCY = 32
FLUSH_EVERY = 100  # PushOptions.flush_every: sent-but-unrecorded rows that may repeat
IN_FLIGHT = CONCURRENCY + FLUSH_EVERY


@pytest.fixture(autouse=True)
def _timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns on RetryAfter unless it may use timedelta; warnings are errors here.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture
def push_store(database_url: str, seeds_dir: Path) -> Iterator[Store]:
    """A migrated store with the bundled seeds imported (SQLite and PostgreSQL)."""
    store = Store(open_database(database_url))
    sync_articles(store, [seeds_dir])
    yield store
    store.close()


def add_private(store: Store, count: int, first: int = 10_000) -> list[int]:
    """Subscribe `count` private chats (ids from `first`), half zh, half en."""
    ids = list(range(first, first + count))
    rows = [
        {"chat_id": c, "chat_type": "private", "language": "en" if c % 2 else "zh"} for c in ids
    ]
    store.add_subscribers(rows)
    return ids


def options(**overrides: object) -> PushOptions:
    settings = Settings(_env_file=None)
    values: dict[str, object] = {
        "defaults": push_defaults(settings),
        "concurrency": CONCURRENCY,
        "backoff": timedelta(seconds=0.2),
        "poll_interval": 0.1,
    }
    values.update(overrides)
    return PushOptions(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def push_bot(
    api: LoopbackBotApi, rate: float, *, read_timeout: float = 5.0
) -> AsyncIterator[ExtBot[object]]:
    """A PTB bot on the loopback API with the Pacer as its rate limiter."""
    bot: ExtBot[object] = ExtBot(
        api.token,
        base_url=api.base_url,
        request=build_request("aiohttp", pool_size=CONCURRENCY + 4, read_timeout=read_timeout),
        rate_limiter=Pacer(rate),
    )
    async with bot:
        yield bot


async def paced_push(
    store: Store, renderer: Renderer, api: LoopbackBotApi, rate: float, **kwargs: object
) -> PushReport:
    read_timeout = float(kwargs.pop("read_timeout", 5.0))  # type: ignore[arg-type]
    async with push_bot(api, rate, read_timeout=read_timeout) as bot:
        return await run_push(store, renderer, TelegramSender(bot), options(**kwargs), force=True)


def counts_per_chat(api: LoopbackBotApi, chat_ids: list[int]) -> dict[int, int]:
    return {c: len(api.messages(c)) for c in chat_ids}


# -- volume under strict limits --------------------------------------------------------


async def test_3000_subscribers_each_get_one_message_within_every_limit(
    sqlite_url: str, seeds_dir: Path, renderer: Renderer
) -> None:
    """3000 subscribers (2970 private chats, 30 groups) each get exactly one message.

    RATE_LIMIT is 200/s against a server allowing 250/s (at the default 25/s this is a 2-min
    run): the server saw no 429 and no global, per-chat or per-group violation.
    """
    store = Store(open_database(sqlite_url))
    sync_articles(store, [seeds_dir])
    async with LoopbackBotApi(limits=Limits(global_per_second=250)) as api:
        private = add_private(store, 2970)
        groups = [-(5000 + i) for i in range(30)]
        for g in groups:
            api.group(g, f"Group {g}")
        store.add_subscribers(
            [{"chat_id": g, "chat_type": "group", "language": "zh"} for g in groups]
        )
        report = await paced_push(store, renderer, api, 200.0)
        chats = private + groups
        assert report.sent == 3000
        assert set(counts_per_chat(api, chats).values()) == {1}
        assert api.stats.too_many_requests == 0
        assert api.stats.clean(), api.stats.to_dict()
        assert api.stats.max_per_chat_per_second == 1
    store.close()


async def test_push_is_idempotent_on_rerun(
    push_store: Store, renderer: Renderer, loopback_api: LoopbackBotApi
) -> None:
    """A second push the same day sends nothing: the ledger remembers today's push."""
    chats = add_private(push_store, 50)
    first = await paced_push(push_store, renderer, loopback_api, 500.0)
    second = await paced_push(push_store, renderer, loopback_api, 500.0)
    assert first.sent == 50
    assert second.sent == 0
    assert set(counts_per_chat(loopback_api, chats).values()) == {1}


# -- faults --------------------------------------------------------------------------


async def test_429_storm_loses_nothing(
    push_store: Store, renderer: Renderer, loopback_api: LoopbackBotApi
) -> None:
    """20 % of sendMessage calls get 429 with retry_after 1–3 s: every chat still gets one."""
    chats = add_private(push_store, 30)
    rng = random.Random(7)  # noqa: S311 -- test faults, not cryptography
    loopback_api.fail_randomly(
        "sendMessage", 0.2, lambda: Fault.retry_after(rng.randint(1, 3)), seed=3
    )
    report = await paced_push(push_store, renderer, loopback_api, 100.0)
    assert loopback_api.stats.too_many_requests > 0
    assert report.sent == 30
    assert set(counts_per_chat(loopback_api, chats).values()) == {1}


async def test_blocked_gone_migrated_and_flaky_chats(
    push_store: Store, renderer: Renderer, loopback_api: LoopbackBotApi
) -> None:
    """Blocked and vanished chats go inactive; a migrated group gets it at its new id;
    5xx, dropped connections and timeouts are retried until the message arrives."""
    api = loopback_api
    chats = add_private(push_store, 20)
    api.group(-700, "Readers")
    push_store.add_subscribers([{"chat_id": -700, "chat_type": "group", "language": "en"}])
    new_group = api.migrate_group(-700, notify=False)
    api.block(chats[0])
    api.forget_chat(chats[1])
    api.fail_next("sendMessage", 2, fault=Fault.server_error())
    api.fail_next("sendMessage", 1, fault=Fault.drop())
    api.fail_next("sendMessage", 1, fault=Fault.hang(1.0))

    report = await paced_push(push_store, renderer, api, 100.0, read_timeout=0.5)

    assert report.blocked == 2
    assert report.retried >= 4
    for gone in chats[:2]:
        subscriber = push_store.get_subscriber(gone)
        assert subscriber is not None
        assert not subscriber.active
    assert len(api.messages(new_group)) == 1
    moved = push_store.get_subscriber(new_group)
    assert moved is not None
    assert moved.active
    # The hung call may have been answered after the client gave up: at most that one repeats.
    delivered = counts_per_chat(api, chats[2:])
    assert min(delivered.values()) == 1
    assert sum(delivered.values()) <= len(delivered) + 1


# -- commands stay fast ------------------------------------------------------------------


async def test_latest_is_answered_while_a_3000_subscriber_push_runs(
    tmp_path: Path, seeds_dir: Path
) -> None:
    """A /latest sent during a paced 3000-subscriber push is answered before the push ends.

    The push runs in the bot's own event loop at the default 25/s under strict limits; the
    reply exists while the push task is still running and the ledger still has rows pending.
    """
    async with LoopbackBotApi(limits=Limits()) as api:
        settings = Settings(
            telegram_bot_token=api.token,
            telegram_base_url=api.base_url,
            database_url=f"sqlite:///{tmp_path / 'bot.sqlite3'}",
            seeds_dir=seeds_dir,
            sync_interval=0,
            _env_file=None,
        )
        app = build_application(settings)
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=1)
            try:
                store = app.bot_data.require_runtime().store
                add_private(store, 3000)
                push = jobs.start_push(app, force=True)
                while api.stats.sent < 30:  # noqa: ASYNC110 -- polling the fake's counter
                    await asyncio.sleep(0.05)
                user = api.user(77, language_code="en")
                chat = api.private_chat(user)
                api.send_message(chat, user, "/latest")
                [reply] = await api.wait_sent(chat.id, 1)
                assert "Key points" in reply.text
                assert not push.done()
                assert Ledger(store).pending_count() > 0
            finally:
                await app.updater.stop()
                await app.stop()  # interrupts the push; the ledger keeps the rest
        assert push.done()
        assert await push is None
        assert api.stats.too_many_requests == 0


async def test_admin_pushnow_preview_and_stats(bot: BotHarness) -> None:
    """/preview shows the next digest, /pushnow pushes and reports, /stats shows the run."""
    admin = bot.api.user(ADMIN_ID, language_code="en")
    chat = bot.api.private_chat(admin)
    [stats] = await bot.say(chat, admin, "/stats")
    assert "No push has run yet." in stats.text
    await bot.say(chat, admin, "/start")
    [intro, digest] = await bot.say(chat, admin, "/preview", expect=2)
    assert "next push" in intro.text
    assert digest.reply_markup_json is not None
    assert "full:" in digest.reply_markup_json
    before = len(bot.api.messages(chat.id))
    bot.api.send_message(chat, admin, "/pushnow")
    sent = await bot.api.wait_sent(chat.id, before + 3)
    texts = [m.text for m in sent[before:]]
    assert any(t.startswith("Push started") for t in texts)
    assert any("Push done: sent 1, failed 0, blocked 0" in t for t in texts)
    [stats] = await bot.say(chat, admin, "/stats")
    assert "Last push" in stats.text
    assert "sent 1" in stats.text
    [nothing] = await bot.say(chat, admin, "/preview")
    assert "Nothing new to push" in nothing.text


# -- crashes: kill -9 and a rerun --------------------------------------------------------


def push_env(cli_env: dict[str, str], api: LoopbackBotApi, database_url: str) -> dict[str, str]:
    return {
        **cli_env,
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_BASE_URL": api.base_url,
        "DATABASE_URL": database_url,
        "RATE_LIMIT": "200",
        "PTB_TIMEDELTA": "1",
        "LOG_LEVEL": "WARNING",
    }


async def start_push_process(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "push",
        "--now",
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def kill_when_sent(
    api: LoopbackBotApi, process: asyncio.subprocess.Process, count: int
) -> None:
    """SIGKILL the process (by its pid) once the server has accepted `count` messages."""
    while api.stats.sent < count:
        assert process.returncode is None, "the push finished before it could be killed"
        await asyncio.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    await process.communicate()


def expire_leases(store: Store, pid: int) -> None:
    """Age the dead worker's claims past their lease (instead of waiting two minutes)."""
    with store.engine.begin() as c:
        c.execute(
            text(
                "UPDATE deliveries SET claimed_at = :old"
                " WHERE state = 'sending' AND claimed_by LIKE :worker"
            ),
            {"old": datetime.now(UTC) - timedelta(hours=1), "worker": f"%:{pid}:%"},
        )


def assert_everyone_once_at_most_in_flight_twice(api: LoopbackBotApi, chats: list[int]) -> None:
    delivered = counts_per_chat(api, chats)
    assert min(delivered.values()) == 1, "a subscriber got nothing"
    duplicates = sum(n - 1 for n in delivered.values())
    assert duplicates <= IN_FLIGHT


async def test_kill_9_mid_push_then_rerun_loses_nothing(
    push_store: Store, database_url: str, cli_env: dict[str, str]
) -> None:
    """`digestbot push --now` killed with SIGKILL at ~30 %, then run again: every subscriber
    ends with one message; repeats are at most the in-flight rows (concurrency + unflushed)."""
    chats = add_private(push_store, 1500)
    async with LoopbackBotApi(limits=Limits(global_per_second=250)) as api:
        env = push_env(cli_env, api, database_url)
        first = await start_push_process(env)
        await kill_when_sent(api, first, 450)
        assert first.returncode == -signal.SIGKILL
        expire_leases(push_store, first.pid)
        second = await start_push_process(env)
        out, err = await second.communicate()
        assert second.returncode == 0, err.decode()
        assert out.decode().startswith("sent ")
        assert_everyone_once_at_most_in_flight_twice(api, chats)
        assert api.stats.clean(), api.stats.to_dict()
    assert Ledger(push_store).pending_count() == 0


@pytest.mark.postgres
async def test_two_processes_share_a_push_and_one_is_killed(
    pg_url: str, seeds_dir: Path, cli_env: dict[str, str]
) -> None:
    """Two `push --now` processes on one PostgreSQL database share the push; one is killed
    mid-way and the other finishes its rows: no loss, repeats at most the killed in-flight."""
    store = Store(open_database(pg_url))
    sync_articles(store, [seeds_dir])
    chats = add_private(store, 1500)
    try:
        async with LoopbackBotApi(limits=Limits(global_per_second=500)) as api:
            env = push_env(cli_env, api, pg_url)
            survivor = await start_push_process(env)
            victim = await start_push_process(env)
            await kill_when_sent(api, victim, 450)
            expire_leases(store, victim.pid)
            _, err = await survivor.communicate()
            assert survivor.returncode == 0, err.decode()
            assert_everyone_once_at_most_in_flight_twice(api, chats)
        assert Ledger(store).pending_count() == 0
    finally:
        store.close()


def test_push_without_a_token_names_the_setting(cli_env: dict[str, str]) -> None:
    """`digestbot push` with no TELEGRAM_BOT_TOKEN exits 2 naming the variable."""
    import subprocess  # noqa: PLC0415

    result = subprocess.run(
        [sys.executable, "-m", "bot", "push", "--now"],
        env=cli_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in result.stderr
