"""The /_control HTTP API: another process acts as the user."""

from __future__ import annotations

import aiohttp
import pytest
from telegram.error import Forbidden, RetryAfter

from bot.fakeapi.server import LoopbackBotApi
from tests.fakeapi.conftest import KEYBOARD, bot_for


async def test_control_api_round_trip(loopback_api: LoopbackBotApi) -> None:
    control = loopback_api.control_url
    async with aiohttp.ClientSession() as session, bot_for(loopback_api) as bot:
        async with session.post(
            f"{control}/message",
            json={"chat_id": 98, "user_id": 98, "text": "/latest", "language_code": "zh"},
        ) as resp:
            assert (await resp.json())["result"]["update_id"] == 1
        [update] = await bot.get_updates()
        assert update.effective_user is not None
        assert update.effective_user.language_code == "zh"
        sent = await bot.send_message(
            98, "<b>digest</b>", parse_mode="HTML", reply_markup=KEYBOARD
        )

        async with session.post(
            f"{control}/press",
            json={"chat_id": 98, "user_id": 98, "message_id": sent.message_id, "data": "full:1"},
        ) as resp:
            query_id = (await resp.json())["result"]["callback_query_id"]
        [update] = await bot.get_updates(offset=update.update_id + 1)
        assert update.callback_query is not None
        assert update.callback_query.id == query_id
        await bot.answer_callback_query(query_id, text="ok")

        async with session.get(f"{control}/messages", params={"chat_id": "98"}) as resp:
            [message] = (await resp.json())["result"]
        assert message["text"] == "digest"
        assert message["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "full:1"

        async with session.post(
            f"{control}/fail",
            json={"method": "sendMessage", "fault": {"kind": "retry_after", "seconds": 3}},
        ) as resp:
            assert resp.status == 200
        with pytest.raises(RetryAfter):
            await bot.send_message(98, "x")

        async with session.post(f"{control}/block", json={"user_id": 98}) as resp:
            assert resp.status == 200
        with pytest.raises(Forbidden):
            await bot.send_message(98, "x")

        async with session.post(f"{control}/group_that_does_not_exist") as resp:
            assert resp.status == 404
        async with session.post(f"{control}/migrate", json={"chat_id": -1}) as resp:
            assert resp.status == 400
        async with session.get(f"{control}/callbacks") as resp:
            assert (await resp.json())["result"][0]["text"] == "ok"
        async with session.get(f"{control}/stats") as resp:
            stats = (await resp.json())["result"]
    assert stats["calls"]["sendMessage"] == 3
    assert stats["too_many_requests"] == 1
    assert stats["sent"] == 1
