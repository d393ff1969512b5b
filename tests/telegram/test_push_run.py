"""`digestbot push` and the push's Telegram side when the Bot API refuses the token."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from telegram.ext import ExtBot

from bot.db.tables import DeliveryRow
from bot.errors import ConfigError
from bot.fakeapi.server import LoopbackBotApi
from bot.push.options import PushOptions
from bot.push.run import run_push
from bot.rendering import Renderer
from bot.store import Store
from bot.telegram.aiohttp_request import bot_requests
from bot.telegram.sender import TelegramSender
from tests.conftest import DEFAULTS, NOW, add_articles, add_subscribers
from tests.telegram.test_push_e2e import start_push_process

WRONG_TOKEN = "555000111:WRONG-token-the-loopback-does-not-know"  # noqa: S105 - a fake token


async def test_push_with_a_refused_token_prints_one_line_and_exits_2(
    loopback_api: LoopbackBotApi, cli_env: dict[str, str]
) -> None:
    """The Bot API answers 401 to getMe: `digestbot push` prints one line naming the
    setting and exits 2, and the token appears nowhere in its output (no traceback)."""
    env = {
        **cli_env,
        "TELEGRAM_BOT_TOKEN": WRONG_TOKEN,
        "TELEGRAM_BASE_URL": loopback_api.base_url,
        "PTB_TIMEDELTA": "1",
        "LOG_LEVEL": "WARNING",  # the import's INFO lines are not the point here
    }
    process = await start_push_process(env)
    out, err = await process.communicate()
    stdout, stderr = out.decode(), err.decode()
    assert process.returncode == 2, stderr
    assert stderr.strip().count("\n") == 0, stderr
    assert "TELEGRAM_BOT_TOKEN" in stderr
    for secret in (WRONG_TOKEN, WRONG_TOKEN.split(":", 1)[1]):
        assert secret not in stdout
        assert secret not in stderr


async def test_a_token_revoked_after_start_up_stops_the_push_and_keeps_the_rows(
    loopback_api: LoopbackBotApi, sqlite_store: Store, renderer: Renderer
) -> None:
    """Every send answered 401 → run_push raises ConfigError; no row is failed and every
    claimed row is pending again, so the push resumes once the token is fixed."""
    add_articles(sqlite_store, 1)
    add_subscribers(sqlite_store, 40)
    options = PushOptions(defaults=DEFAULTS, concurrency=4, batch=10, poll_interval=0.05)
    bot: ExtBot[None] = ExtBot(
        loopback_api.token,
        base_url=loopback_api.base_url,
        **bot_requests("aiohttp", pool_size=8),
    )
    token = loopback_api.token
    async with bot:
        loopback_api.token = WRONG_TOKEN  # revoked while the bot runs
        try:
            with pytest.raises(ConfigError):
                await run_push(sqlite_store, renderer, TelegramSender(bot), options, now=NOW)
        finally:
            loopback_api.token = token
        with Session(sqlite_store.engine) as s:
            rows = s.execute(select(DeliveryRow.state, DeliveryRow.claimed_by)).all()
        assert Counter(state for state, _ in rows) == Counter({"pending": 40})
        assert {by for _, by in rows} == {None}
        report = await run_push(sqlite_store, renderer, TelegramSender(bot), options, now=NOW)
    assert report.sent == 40
    assert all(len(loopback_api.messages(chat)) == 1 for chat in range(1, 41))
