"""The Application as built from Settings: token, base_url, start-up, jobs, shut-down, logs."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from telegram.constants import ParseMode
from telegram.ext import CommandHandler

from bot.config import Settings
from bot.errors import ConfigError
from bot.fakeapi.models import Fault
from bot.fakeapi.server import LoopbackBotApi
from bot.runtime import Runtime
from bot.telegram.app import build_application
from bot.telegram.commands import COMMANDS
from tests.telegram.conftest import BotHarness, article_file, bot_settings, running_bot


def test_a_missing_token_is_a_config_error_naming_the_variable(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.sqlite3'}", _env_file=None)
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN"):
        build_application(settings)


async def test_the_bot_uses_base_url_html_and_concurrent_updates(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> None:
    settings = bot_settings(loopback_api, tmp_path, seeds_dir, "aiohttp")
    async with running_bot(loopback_api, settings) as bot:
        assert bot.app.bot.base_url == loopback_api.base_url + loopback_api.token
        assert bot.app.bot.defaults is not None
        assert bot.app.bot.defaults.parse_mode == ParseMode.HTML
        assert bot.app.update_processor.max_concurrent_updates > 1
        assert bot.app.bot.username == loopback_api.bot_username


async def test_proxy_url_carries_every_bot_api_call(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path, backend: str
) -> None:
    """With PROXY_URL set, the bot reaches an otherwise unreachable Bot API host through the
    proxy (here the loopback server, which also answers absolute-form proxy requests)."""
    settings = bot_settings(loopback_api, tmp_path, seeds_dir, backend).model_copy(
        update={
            "telegram_base_url": "http://api.telegram.invalid/bot",
            "proxy_url": loopback_api.base_url.removesuffix("/bot"),
        }
    )
    async with running_bot(loopback_api, settings) as bot:
        assert bot.app.bot.username == loopback_api.bot_username
        user = loopback_api.user(31, language_code="zh")
        [reply] = await bot.say(loopback_api.private_chat(user), user, "/latest")
        assert "聊聊如何缓解越来越严重的AI焦虑。" in reply.text


async def test_every_registered_command_is_in_the_command_table(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> None:
    app = build_application(bot_settings(loopback_api, tmp_path, seeds_dir, "aiohttp"))
    registered = {
        name
        for handlers in app.handlers.values()
        for handler in handlers
        if isinstance(handler, CommandHandler)
        for name in handler.commands
    }
    assert registered == {c.name for c in COMMANDS}


async def test_start_up_syncs_the_seeds_and_shut_down_closes_what_it_opened(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> None:
    app = build_application(bot_settings(loopback_api, tmp_path, seeds_dir, "httpx"))
    async with app:
        runtime = app.bot_data.require_runtime()
        assert runtime.store.count_articles() == 1
    assert app.bot_data.runtime is None


async def test_a_runtime_passed_in_is_used_and_left_open(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> None:
    settings = bot_settings(loopback_api, tmp_path, seeds_dir, "aiohttp")
    runtime = Runtime.open(settings)
    try:
        app = build_application(settings, runtime=runtime)
        async with app:
            assert app.bot_data.runtime is runtime
        assert app.bot_data.runtime is runtime
        assert runtime.store.count_articles() == 1
    finally:
        runtime.close()


async def test_the_seeds_are_resynced_every_sync_interval(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> None:
    settings = bot_settings(loopback_api, tmp_path, seeds_dir, "aiohttp").model_copy(
        update={"sync_interval": 0.2}
    )
    async with running_bot(loopback_api, settings) as bot:
        store = bot.runtime.store
        assert store.count_articles() == 1
        (seeds_dir / "later.md").write_text(article_file(5), encoding="utf-8")
        for _ in range(500):
            if store.count_articles() == 2:
                break
            await asyncio.sleep(0.02)
        assert store.count_articles() == 2


@pytest.mark.parametrize("backend", ["aiohttp", "httpx"])
async def test_the_token_never_reaches_the_log_even_at_debug(
    loopback_api: LoopbackBotApi,
    tmp_path: Path,
    seeds_dir: Path,
    backend: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = bot_settings(loopback_api, tmp_path, seeds_dir, backend)
    async with running_bot(loopback_api, settings) as bot:
        user = bot.api.user(1)
        chat = bot.api.private_chat(user)
        await bot.say(chat, user, "/start")
        [digest] = await bot.say(chat, user, "/latest")
        await bot.press(chat, user, digest, "full:1", expect=1)
        bot.api.fail_next("sendMessage", fault=Fault.bad_request())
        await bot.say(chat, user, "/help")  # the error handler's apology
    token = loopback_api.token
    secret = token.split(":", 1)[1]
    assert len(caplog.records) > 20  # DEBUG really was captured
    for record in caplog.records:
        text = record.getMessage() + (caplog.text if record.exc_info else "")
        assert secret not in text, record.name
    assert secret not in caplog.text


async def test_the_command_menu_is_set_for_chinese_english_and_the_default(
    bot: BotHarness,
) -> None:
    menu = [c.name for c in COMMANDS if c.menu]
    zh = bot.api.my_commands(language_code="zh")
    en = bot.api.my_commands(language_code="en")
    default = bot.api.my_commands()
    assert [c["command"] for c in zh] == menu
    assert [c["command"] for c in en] == menu
    assert default == en
    assert zh[0]["description"] == "订阅每日文章摘要"
    assert en[0]["description"] == "Subscribe to the daily digest"
