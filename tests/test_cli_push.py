"""`digestbot push` as a user runs it: a real subprocess against the loopback Bot API.

Each test runs ``python -m bot push ...`` with the environment a user would set and reads
what it prints and what the fake Telegram server received. The subprocesses use the default
HTTP backend (the e2e push tests cover both backends).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.db.engine import open_database
from bot.fakeapi.models import Limits
from bot.fakeapi.server import LoopbackBotApi
from bot.store import Store
from bot.sync import sync_articles
from tests.conftest import seed_subscribers
from tests.warm_cli import run_forked, start_forked

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = "sent {}, failed {}, blocked {}, skipped {}"


@pytest.fixture
def cli_store(cli_env: dict[str, str], seeds_dir: Path) -> Iterator[Store]:
    """The store of cli_env's SQLite database, migrated, with the seeds imported."""
    store = Store(open_database(cli_env["DATABASE_URL"]))
    sync_articles(store, [seeds_dir])
    yield store
    store.close()


def subscribe(store: Store, chat_ids: list[int]) -> None:
    """Subscribe private chats (en for odd ids, zh for even) two days ago.

    A chat that subscribed after today's slot waits for the next one, so a subscription
    from before yesterday makes the chats due whenever a slot is within the grace window.
    """
    since = datetime.now(UTC) - timedelta(days=2)
    seed_subscribers(
        store,
        [
            {
                "chat_id": c,
                "chat_type": "private",
                "language": "en" if c % 2 else "zh",
                "subscribed_at": since,
            }
            for c in chat_ids
        ],
    )


def env_for(cli_env: dict[str, str], api: LoopbackBotApi, **extra: str) -> dict[str, str]:
    """cli_env pointed at `api`, quiet logs, plus `extra` settings (e.g. PUSH_TIME)."""
    return {
        **cli_env,
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_BASE_URL": api.base_url,
        "LOG_LEVEL": "WARNING",
        **extra,
    }


async def digestbot(env: dict[str, str], *args: str) -> tuple[int, list[str]]:
    """Run `digestbot <args>` without blocking the loop (the fake server runs in it)."""
    result = await asyncio.to_thread(run_forked, ROOT, env, args, None, 120)
    assert result.returncode == 0, result.stderr
    return result.returncode, result.stdout.splitlines()


async def test_dry_run_lists_who_would_get_what_and_sends_nothing(
    cli_env: dict[str, str], cli_store: Store, loopback_api: LoopbackBotApi
) -> None:
    """`push --dry-run --now` prints one "chat<TAB>article" line per subscriber and a total,
    exits 0, sends nothing and writes nothing: a real push afterwards still reaches all."""
    chats = [101, 102, 103]
    subscribe(cli_store, chats)
    [newest, *_] = cli_store.visible_article_ids()
    env = env_for(cli_env, loopback_api)

    code, lines = await digestbot(env, "push", "--dry-run", "--now")

    assert code == 0
    assert sorted(lines[:-1]) == [f"{c}\t{newest}" for c in chats]
    assert lines[-1] == "would send 3, skipped 0"
    assert loopback_api.stats.calls["sendMessage"] == 0
    assert loopback_api.stats.sent == 0
    for chat in chats:
        subscriber = cli_store.get_subscriber(chat)
        assert subscriber is not None
        assert subscriber.last_push_date is None

    _, lines = await digestbot(env, "push", "--now")
    assert lines == [SUMMARY.format(3, 0, 0, 0)]
    assert all(len(loopback_api.messages(c)) == 1 for c in chats)


async def test_push_now_summary_counts_a_blocked_and_a_skipped_subscriber(
    cli_env: dict[str, str], database_url: str, seeds_dir: Path, loopback_api: LoopbackBotApi
) -> None:
    """`push --now` prints exactly "sent N, failed N, blocked N, skipped N": one subscriber
    already pushed today is skipped, one who blocked the bot is blocked (and goes inactive),
    the other two are sent. SQLite and PostgreSQL."""
    store = Store(open_database(database_url))
    try:
        sync_articles(store, [seeds_dir])
        env = env_for(cli_env, loopback_api, DATABASE_URL=database_url)
        subscribe(store, [201])
        _, lines = await digestbot(env, "push", "--now")
        assert lines == [SUMMARY.format(1, 0, 0, 0)]

        subscribe(store, [202, 203, 204])
        loopback_api.block(204)
        _, lines = await digestbot(env, "push", "--now")

        assert lines == [SUMMARY.format(2, 0, 1, 1)]
        assert [len(loopback_api.messages(c)) for c in (201, 202, 203, 204)] == [1, 1, 1, 0]
        blocked = store.get_subscriber(204)
        assert blocked is not None
        assert not blocked.active
    finally:
        store.close()


async def test_a_second_push_now_the_same_day_skips_everyone(
    cli_env: dict[str, str], cli_store: Store, loopback_api: LoopbackBotApi
) -> None:
    """Run twice the same day, `push --now` sends once: the second run skips everyone."""
    chats = [301, 302, 303]
    subscribe(cli_store, chats)
    env = env_for(cli_env, loopback_api)

    _, first = await digestbot(env, "push", "--now")
    _, second = await digestbot(env, "push", "--now")

    assert first == [SUMMARY.format(3, 0, 0, 0)]
    assert second == [SUMMARY.format(0, 0, 0, 3)]
    assert [len(loopback_api.messages(c)) for c in chats] == [1, 1, 1]
    # Without PAID_BROADCAST no message asks Telegram for paid broadcast.
    assert not any(m.allow_paid_broadcast for m in loopback_api.all_sent())


async def test_push_without_now_sends_only_when_the_push_time_has_come(
    cli_env: dict[str, str], cli_store: Store, loopback_api: LoopbackBotApi
) -> None:
    """`push` (no --now) sends nothing when PUSH_TIME is 12 h away in TIMEZONE (neither
    today's slot nor yesterday's within the 6-h grace); with PUSH_TIME an hour ago it sends."""
    chats = [401, 402]
    subscribe(cli_store, chats)
    now = datetime.now(UTC)
    far = (now + timedelta(hours=12)).strftime("%H:%M")
    env = env_for(cli_env, loopback_api, TIMEZONE="UTC", PUSH_TIME=far)

    code, lines = await digestbot(env, "push")

    assert code == 0
    assert lines == [SUMMARY.format(0, 0, 0, 0)]
    assert loopback_api.stats.sent == 0

    passed = (now - timedelta(hours=1)).strftime("%H:%M")
    _, lines = await digestbot({**env, "PUSH_TIME": passed}, "push")
    assert lines == [SUMMARY.format(2, 0, 0, 0)]
    assert [len(loopback_api.messages(c)) for c in chats] == [1, 1]


async def test_paid_broadcast_reaches_the_server_as_allow_paid_broadcast(
    cli_env: dict[str, str], cli_store: Store
) -> None:
    """PAID_BROADCAST=true sends every push message with allow_paid_broadcast=true.

    The server enforces the default strict limits (30/s unpaid, 1000/s paid): 60 messages
    paced at the paid rate get no 429, which they would if the flag were missing."""
    chats = list(range(500, 560))
    subscribe(cli_store, chats)
    async with LoopbackBotApi(limits=Limits()) as api:
        env = env_for(cli_env, api, PAID_BROADCAST="true")

        _, lines = await digestbot(env, "push", "--now")

        assert lines == [SUMMARY.format(60, 0, 0, 0)]
        sent = api.all_sent()
        assert len(sent) == len(chats)
        assert all(m.allow_paid_broadcast for m in sent)
        assert api.stats.too_many_requests == 0


@pytest.mark.realtime(seconds=2)
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_stops_the_push_at_once_with_one_line_and_gives_the_rows_back(
    sig: signal.Signals,
    cli_env: dict[str, str],
    cli_store: Store,
    loopback_api: LoopbackBotApi,
) -> None:
    """SIGTERM or Ctrl-C during a long push (RATE_LIMIT=2, 300 chats): exit non-zero within
    a few seconds, one line on stderr, and no row left `sending` (all pending again)."""
    subscribe(cli_store, list(range(1000, 1300)))
    env = env_for(cli_env, loopback_api, RATE_LIMIT="2", SHUTDOWN_GRACE="2s")
    process = await start_forked(ROOT, env, ("push", "--now"))
    try:
        await loopback_api.wait_accepted(3)
        loop = asyncio.get_running_loop()
        started = loop.time()
        process.send_signal(sig)
        _, err = await asyncio.wait_for(process.communicate(), timeout=60)
        seconds = loop.time() - started
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
    lines = err.decode().strip().splitlines()
    assert process.returncode != 0
    assert seconds < 6, lines
    assert len(lines) == 1, lines
    assert "interrupted" in lines[0]
    with cli_store.engine.connect() as c:
        states = dict(
            c.execute(text("SELECT state, count(*) FROM deliveries GROUP BY state")).all()
        )
    assert "sending" not in states, states
    assert states.get("pending", 0) + states.get("sent", 0) == 300
