"""The chats registry: blocked users, unknown and deleted chats, migrated groups."""

from __future__ import annotations

import pytest
from telegram.error import BadRequest, ChatMigrated, Forbidden

from bot.fakeapi.server import LoopbackBotApi
from tests.fakeapi.conftest import bot_for


async def test_blocked_user_raises_forbidden_until_they_write_again(
    loopback_api: LoopbackBotApi,
) -> None:
    user = loopback_api.user(23)
    chat = loopback_api.private_chat(user)
    loopback_api.block(23)
    async with bot_for(loopback_api) as bot:
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(23, "hello")
        loopback_api.send_message(chat, user, "/start")
        await bot.send_message(23, "welcome back")
        loopback_api.block(23)
        loopback_api.unblock(23)
        await bot.send_message(23, "again")
    assert [m.text for m in loopback_api.messages(23)] == ["welcome back", "again"]


async def test_unknown_chats_raise_chat_not_found() -> None:
    async with LoopbackBotApi(strict_chats=True) as api, bot_for(api) as bot:
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(-500, "group never registered")
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(31, "user never seen")
        api.private_chat(api.user(31))
        await bot.send_message(31, "now known")
        api.forget_chat(31)
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(31, "account deleted")


async def test_migrated_group_raises_chat_migrated_with_the_new_id(
    loopback_api: LoopbackBotApi,
) -> None:
    loopback_api.group(-400, "Readers")
    async with bot_for(loopback_api) as bot:
        await bot.send_message(-400, "before")
        new_id = loopback_api.migrate_group(-400)
        with pytest.raises(ChatMigrated) as caught:
            await bot.send_message(-400, "after")
        assert caught.value.new_chat_id == new_id
        sent = await bot.send_message(new_id, "after")
        updates = await bot.get_updates()
    assert str(new_id).startswith("-100")
    assert sent.chat.type == "supergroup"
    assert sent.chat.title == "Readers"
    service = [u.message for u in updates if u.message]
    assert service[0].migrate_to_chat_id == new_id
    assert service[1].migrate_from_chat_id == -400
