"""The loopback server itself: routing, tokens, unknown methods, waiting helpers, serve()."""

from __future__ import annotations

import asyncio
import os
import signal

import aiohttp
import pytest
from telegram.error import EndPointNotFound, InvalidToken

from bot.fakeapi.server import LoopbackBotApi, serve
from tests.fakeapi.conftest import bot_for


async def test_get_me_returns_the_bot_user(loopback_api: LoopbackBotApi) -> None:
    async with bot_for(loopback_api) as bot:
        me = await bot.get_me()
    assert me.id == 123456789
    assert me.is_bot
    assert me.username == "digest_test_bot"
    assert loopback_api.stats.calls["getMe"] >= 1


async def test_wrong_token_raises_invalid_token(loopback_api: LoopbackBotApi) -> None:
    with pytest.raises(InvalidToken):
        async with bot_for(loopback_api, "987654321:WRONG"):
            pass


async def test_unknown_method_answers_404_like_telegram(loopback_api: LoopbackBotApi) -> None:
    url = f"{loopback_api.base_url}{loopback_api.token}/noSuchMethod"
    async with aiohttp.ClientSession() as session, session.post(url) as resp:
        assert resp.status == 404
        assert await resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    async with bot_for(loopback_api) as bot:
        with pytest.raises(EndPointNotFound):
            await bot.do_api_request("noSuchMethod")


async def test_settle_times_out_while_nobody_fetches_updates(
    loopback_api: LoopbackBotApi,
) -> None:
    user = loopback_api.user(97)
    loopback_api.send_message(loopback_api.private_chat(user), user, "hello?")
    with pytest.raises(TimeoutError, match="1 updates pending"):
        await loopback_api.settle(quiet=0.01, timeout=0.1)
    with pytest.raises(TimeoutError, match="0 of 1 messages"):
        await loopback_api.wait_sent(97, 1, timeout=0.1)


async def test_serve_announces_its_urls_and_stops_cleanly_on_sigterm() -> None:
    """`digestbot fake-api` in process: serve() says where it listens, SIGTERM ends it."""
    ready = asyncio.Event()
    announced: list[str] = []

    def announce(api: LoopbackBotApi) -> None:
        announced.append(api.base_url)
        ready.set()

    api = LoopbackBotApi()
    served = asyncio.create_task(serve(api, port=0, ready=announce))
    async with asyncio.timeout(30):
        await ready.wait()
    assert announced[0].startswith("http://127.0.0.1:")
    async with bot_for(api) as bot:
        assert bot.username == "digest_test_bot"
    os.kill(os.getpid(), signal.SIGTERM)
    async with asyncio.timeout(30):
        await served
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"{announced[0]}{api.token}/getMe")
