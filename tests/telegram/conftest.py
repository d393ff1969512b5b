"""Fixtures for end-to-end bot tests: the real Application polling the loopback Bot API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import Settings
from bot.fakeapi.models import AnsweredCallback, FakeChat, FakeUser, SentMessage
from bot.fakeapi.server import LoopbackBotApi
from bot.runtime import Runtime
from bot.telegram.app import build_application
from bot.telegram.context import DigestApplication
from bot.telegram.pacer import Pacer
from tests.migrated import migrated_sqlite

ADMIN_ID = 4242
BACKENDS = ["aiohttp", "httpx"]
DEFAULT_BACKEND = "aiohttp"  # Settings.http_backend's default
QUICK_RATE = 1000.0  # messages/s for all chats: far above what a test sends
QUICK_GROUP_PER_MINUTE = 10_000
# A call right after the last one (the next getUpdates confirming an update) is this close.
SETTLE_QUIET = 0.02


def article_file(index: int, *, title: str | None = None, body: str = "Body text.") -> str:
    """Return a small valid English article file."""
    return f"""---
title: {title or f"Article number {index}"}
date: 2024-01-{index % 28 + 1:02d}
author: Tester
source: Test
url: https://example.com/{index}
---

## Summary

### One-line summary
Summary of article {index}.

### Key points
- **Point**: a point of article {index}.

### Risks
- **Risk**: a risk of article {index}.

## Full text

{body}
"""


@dataclass
class BotHarness:
    """A running bot and the fake Telegram it talks to, with user-side shortcuts."""

    api: LoopbackBotApi
    app: DigestApplication
    settings: Settings

    @property
    def runtime(self) -> Runtime:
        return self.app.bot_data.require_runtime()

    async def say(
        self, chat: FakeChat, user: FakeUser, text: str, *, expect: int = 1
    ) -> list[SentMessage]:
        """Send `text` as `user` in `chat`; return the `expect` new messages the bot sent."""
        before = len(self.api.messages(chat.id))
        self.api.send_message(chat, user, text)
        if expect:
            sent = await self.api.wait_sent(chat.id, before + expect)
        else:
            await self.settle()
            sent = self.api.messages(chat.id)
        return sent[before:]

    async def settle(self) -> None:
        """Wait until the bot is done: every update fetched and handled, every reply sent.

        Each step waits on what the bot itself tracks, not on a long quiet spell (which a busy
        machine can outlast, and which an idle one sits through for nothing): the API has no
        update unconfirmed and no call in flight; PTB marks an update done once its handlers
        (and error handlers) have returned; a reply stays in its chat's outbox until it is
        sent, and a failed send's error handling (a chat that blocked the bot unsubscribed)
        ends before the reply leaves it.
        """
        outbox = self.app.bot_data.require_outbox()
        async with asyncio.timeout(30):
            while True:
                await self.api.settle(quiet=SETTLE_QUIET)
                await self.app.update_queue.join()
                if not outbox.waiting():
                    return
                await asyncio.sleep(0.01)

    async def press(
        self, chat: FakeChat, user: FakeUser, message: SentMessage, data: str, *, expect: int = 0
    ) -> tuple[AnsweredCallback, list[SentMessage]]:
        """Press a button on `message`; return the callback answer and new messages."""
        before = len(self.api.messages(chat.id))
        query_id = self.api.press_button(chat, user, message.message_id, data)
        await self.api.wait_sent(chat.id, before + expect)
        answer = await self.answer(query_id)
        return answer, self.api.messages(chat.id)[before:]

    async def answer(self, query_id: str) -> AnsweredCallback:
        """Wait for the bot to answer a callback query."""
        for _ in range(1000):
            if query_id in self.api.answered_callbacks:
                return self.api.answered_callbacks[query_id]
            await asyncio.sleep(0.01)
        raise TimeoutError(f"callback query {query_id} was not answered")


def bot_settings(api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path, backend: str) -> Settings:
    """Settings for a bot against `api`, SQLite in tmp_path (at head), admin ADMIN_ID."""
    database = tmp_path / "bot.sqlite3"
    return Settings(
        telegram_bot_token=api.token,
        telegram_base_url=api.base_url,
        database_url=f"sqlite:///{database}" if database.exists() else migrated_sqlite(database),
        seeds_dir=seeds_dir,
        sync_interval=0,
        admin_ids=frozenset({ADMIN_ID}),
        http_backend=backend,
        _env_file=None,
    )


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each HTTP transport in turn, for the tests about the transport."""
    return str(request.param)


def quick_pacer() -> Pacer:
    """The app's pacer without Telegram's spacing: no second between one chat's messages.

    Tests that are not about pacing use it, so a reply in three parts takes no three seconds;
    the pacer's own tests, and the few end-to-end tests marked ``slow`` that check real pacing,
    keep Telegram's limits.
    """
    return Pacer(QUICK_RATE, chat_interval=0.0, group_per_minute=QUICK_GROUP_PER_MINUTE)


@asynccontextmanager
async def running_bot(
    api: LoopbackBotApi, settings: Settings, *, paced: bool = False, pacer: Pacer | None = None
) -> AsyncIterator[BotHarness]:
    """Run the real Application long-polling `api`; stop it cleanly on exit.

    With `paced` the bot keeps Telegram's real limits (1 message/s per chat); otherwise it
    sends as fast as the loopback answers (``quick_pacer``), or through `pacer` if given.
    """
    if pacer is None and not paced:
        pacer = quick_pacer()
    app = build_application(settings, pacer=pacer)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield BotHarness(api, app, settings)
        finally:
            await app.updater.stop()
            await app.stop()


@pytest.fixture
async def bot(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> AsyncIterator[BotHarness]:
    """The real Application long-polling the loopback API, stopped cleanly afterwards.

    On the default HTTP transport (aiohttp): what a handler does is the same on either;
    the tests about the transport take the ``backend`` fixture.
    """
    settings = bot_settings(loopback_api, tmp_path, seeds_dir, DEFAULT_BACKEND)
    async with running_bot(loopback_api, settings) as harness:
        yield harness
