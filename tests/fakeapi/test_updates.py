"""The update queue: getUpdates offsets, long polls, allowed_updates, conflicts."""

from __future__ import annotations

import asyncio

import pytest
from telegram.error import Conflict

from bot.fakeapi.server import LoopbackBotApi
from tests.fakeapi.conftest import bot_for


async def test_get_updates_offset_confirms_earlier_updates(loopback_api: LoopbackBotApi) -> None:
    user = loopback_api.user(11, language_code="zh-hans")
    chat = loopback_api.private_chat(user)
    ids = [loopback_api.send_message(chat, user, f"/start {n}") for n in range(3)]
    async with bot_for(loopback_api) as bot:
        first = await bot.get_updates(limit=2)
        assert [u.update_id for u in first] == ids[:2]
        again = await bot.get_updates()
        assert [u.update_id for u in again] == ids  # nothing confirmed yet
        rest = await bot.get_updates(offset=ids[1] + 1)
        assert [u.update_id for u in rest] == ids[2:]
        assert await bot.get_updates(offset=ids[2] + 1) == ()
    assert loopback_api.pending_updates == 0
    message = rest[0].message
    assert message is not None
    assert message.from_user is not None
    assert message.from_user.language_code == "zh-hans"
    assert message.text == "/start 2"
    assert message.entities[0].type == "bot_command"
    assert message.entities[0].length == len("/start")


async def test_negative_offset_keeps_only_the_last_updates(loopback_api: LoopbackBotApi) -> None:
    user = loopback_api.user(12)
    chat = loopback_api.private_chat(user)
    ids = [loopback_api.send_message(chat, user, "hi") for _ in range(4)]
    async with bot_for(loopback_api) as bot:
        last = await bot.get_updates(offset=-1)
    assert [u.update_id for u in last] == ids[-1:]


async def test_long_poll_wakes_as_soon_as_an_update_is_queued(
    loopback_api: LoopbackBotApi,
) -> None:
    user = loopback_api.user(13)
    chat = loopback_api.private_chat(user)
    async with bot_for(loopback_api) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=30, read_timeout=40))
        await asyncio.sleep(0.1)
        assert not poll.done()
        update_id = loopback_api.send_message(chat, user, "wake up")
        # Far below the 30 s poll timeout: the poll returned because of the update.
        async with asyncio.timeout(10):
            updates = await poll
    assert [u.update_id for u in updates] == [update_id]


async def test_allowed_updates_drops_other_update_types(loopback_api: LoopbackBotApi) -> None:
    user = loopback_api.user(14)
    chat = loopback_api.private_chat(user)
    loopback_api.send_message(chat, user, "text")
    pressed = loopback_api.press_button(chat, user, 1, "data")
    async with bot_for(loopback_api) as bot:
        updates = await bot.get_updates(allowed_updates=["callback_query"])
    assert len(updates) == 1
    assert updates[0].callback_query is not None
    assert updates[0].callback_query.id == pressed


async def test_a_newer_poll_ends_the_older_with_conflict(loopback_api: LoopbackBotApi) -> None:
    async with bot_for(loopback_api) as first, bot_for(loopback_api) as second:
        old = asyncio.create_task(first.get_updates(timeout=20, read_timeout=30))
        await asyncio.sleep(0.1)
        assert await second.get_updates(timeout=0) == ()
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await old
