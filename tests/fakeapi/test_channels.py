"""Channels on the loopback Bot API: registered over the control API, the bot's role changes
arrive as my_chat_member updates shaped like Telegram's, and posts as channel_post."""

from __future__ import annotations

import aiohttp
from telegram import ChatMemberAdministrator, ChatMemberLeft

from bot.fakeapi.server import LoopbackBotApi
from tests.fakeapi.conftest import bot_for

CHANNEL = -1009876543210


async def test_control_api_adds_the_bot_to_a_channel_and_posts_there(
    loopback_api: LoopbackBotApi,
) -> None:
    control = loopback_api.control_url
    async with aiohttp.ClientSession() as session, bot_for(loopback_api) as bot:
        async with session.post(
            f"{control}/channel", json={"chat_id": CHANNEL, "title": "Daily", "username": "daily"}
        ) as resp:
            assert (await resp.json())["result"]["type"] == "channel"
        async with session.post(
            f"{control}/change_member",
            json={"chat_id": CHANNEL, "by_user_id": 77, "status": "administrator"},
        ) as resp:
            assert (await resp.json())["ok"]
        [update] = await bot.get_updates()
        change = update.my_chat_member
        assert change is not None
        assert change.chat.type == "channel"
        assert change.from_user.id == 77
        assert isinstance(change.old_chat_member, ChatMemberLeft)
        new = change.new_chat_member
        assert isinstance(new, ChatMemberAdministrator)
        assert new.user.id == bot.id
        assert new.can_post_messages is True

        async with session.post(
            f"{control}/channel_post", json={"chat_id": CHANNEL, "text": "/start"}
        ) as resp:
            assert (await resp.json())["ok"]
        [update] = await bot.get_updates(offset=update.update_id + 1)
        post = update.channel_post
        assert post is not None
        assert post.from_user is None
        assert post.sender_chat is not None
        assert post.sender_chat.id == CHANNEL
        assert update.message is None

        full = await bot.get_chat("@daily")
        assert (full.id, full.type, full.title) == (CHANNEL, "channel", "Daily")
        member = await bot.get_chat_member("@daily", bot.id)
        assert member.status == "administrator"


async def test_removing_the_bot_sends_administrator_to_left(
    loopback_api: LoopbackBotApi,
) -> None:
    channel = loopback_api.channel(CHANNEL, "Daily")
    owner = loopback_api.user(5)
    loopback_api.set_role(channel, None, "administrator")
    loopback_api.change_member(channel, None, owner, "left")
    async with bot_for(loopback_api) as bot:
        [update] = await bot.get_updates()
    change = update.my_chat_member
    assert change is not None
    assert isinstance(change.old_chat_member, ChatMemberAdministrator)
    assert isinstance(change.new_chat_member, ChatMemberLeft)
