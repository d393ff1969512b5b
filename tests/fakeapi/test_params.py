"""Request parameters: the bodies a Bot API call may arrive in."""

from __future__ import annotations

import aiohttp

from bot.fakeapi.server import LoopbackBotApi


async def test_json_bodies_are_accepted(loopback_api: LoopbackBotApi) -> None:
    url = f"{loopback_api.base_url}{loopback_api.token}/sendMessage"
    body = {
        "chat_id": 7,
        "text": "<i>json</i>",
        "parse_mode": "HTML",
        "reply_markup": {"inline_keyboard": [[{"text": "go", "callback_data": "x"}]]},
    }
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
        data = await resp.json()
    assert data["ok"]
    assert data["result"]["text"] == "json"
    assert data["result"]["entities"] == [{"type": "italic", "offset": 0, "length": 4}]
    assert loopback_api.messages(7)[0].buttons() == [[{"text": "go", "callback_data": "x"}]]
