"""Webhook delivery: the secret header, retries, getWebhookInfo, dropping updates."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from telegram.error import Conflict

from bot.fakeapi.server import LoopbackBotApi
from tests.fakeapi.conftest import bot_for


async def test_webhook_delivery_with_secret_and_retry(loopback_api: LoopbackBotApi) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []
    attempts = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            return web.Response(status=500)  # the first delivery fails and is retried
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response()

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    runner = web.AppRunner(receiver)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        user = loopback_api.user(95)
        chat = loopback_api.private_chat(user)
        async with bot_for(loopback_api) as bot:
            assert await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cr_t")  # noqa: S106 -- a test secret
            update_id = loopback_api.send_message(chat, user, "/start")
            with pytest.raises(Conflict, match="webhook is active"):
                await bot.get_updates()
            await loopback_api.settle(quiet=0.05, timeout=10)
            info = await bot.get_webhook_info()
            assert info.url == f"http://127.0.0.1:{port}/hook"
            assert info.pending_update_count == 0
            assert info.last_error_message is not None
            assert await bot.delete_webhook()
            assert await bot.get_updates() == ()
    finally:
        await runner.cleanup()
    assert attempts == 2
    assert received == [("s3cr_t", {"update_id": update_id, "message": received[0][1]["message"]})]
    assert received[0][1]["message"]["text"] == "/start"


async def test_delete_webhook_can_drop_pending_updates(loopback_api: LoopbackBotApi) -> None:
    user = loopback_api.user(96)
    loopback_api.send_message(loopback_api.private_chat(user), user, "old")
    async with bot_for(loopback_api) as bot:
        await bot.delete_webhook(drop_pending_updates=True)
        assert await bot.get_updates() == ()
