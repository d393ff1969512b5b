"""Helpers for the fake Bot API's tests: a real PTB Bot or Application talking to it."""

from __future__ import annotations

import datetime as dtm
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.ext import Application

from bot.fakeapi.server import LoopbackBotApi
from bot.telegram.aiohttp_request import bot_requests

KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("📖 Full text", callback_data="full:1")]])


@asynccontextmanager
async def bot_for(api: LoopbackBotApi, token: str | None = None) -> AsyncIterator[Bot]:
    """Yield an initialized PTB Bot talking to `api`, shut down after."""
    bot = Bot(token or api.token, base_url=api.base_url, **bot_requests("httpx", pool_size=8))
    async with bot:
        yield bot


@asynccontextmanager
async def running(app: Application[Any, Any, Any, Any, Any, Any]) -> AsyncIterator[None]:
    """Run a PTB Application with polling for the duration of the block."""
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=5))
        try:
            yield
        finally:
            await app.updater.stop()
            await app.stop()
