"""Command lists: setMyCommands per scope and language, validated like Telegram."""

from __future__ import annotations

import pytest
from telegram import BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats
from telegram.error import BadRequest

from bot.fakeapi.server import LoopbackBotApi
from tests.fakeapi.conftest import bot_for


async def test_set_my_commands_keeps_scope_and_language(loopback_api: LoopbackBotApi) -> None:
    en = [BotCommand("latest", "Newest article"), BotCommand("help", "Help")]
    zh = [BotCommand("latest", "最新文章")]
    async with bot_for(loopback_api) as bot:
        assert await bot.set_my_commands(en)
        assert await bot.set_my_commands(zh, language_code="zh")
        assert await bot.set_my_commands(en[:1], scope=BotCommandScopeAllGroupChats())
        assert await bot.get_my_commands(language_code="zh") == tuple(zh)
        assert await bot.get_my_commands() == tuple(en)
        assert await bot.get_my_commands(scope=BotCommandScopeAllPrivateChats()) == ()
        with pytest.raises(BadRequest, match="Bot_command_invalid"):
            await bot.set_my_commands([BotCommand("Bad-Name", "x")])
        assert await bot.delete_my_commands(language_code="zh")
        assert await bot.get_my_commands(language_code="zh") == ()
    assert loopback_api.my_commands()[0] == {"command": "latest", "description": "Newest article"}
    assert loopback_api.my_commands({"type": "all_group_chats"}) == [
        {"command": "latest", "description": "Newest article"}
    ]
