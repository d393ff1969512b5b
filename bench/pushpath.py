"""The ways a benchmark can push one message to N chats, from the raw baseline to the real push.

- ``raw``: a bare aiohttp client posting the same sendMessage form to the same server: what
  the machine and the server allow (the baseline every push figure is divided by).
- ``ptb-aiohttp`` / ``ptb-httpx``: python-telegram-bot's ``Bot.send_message`` on our aiohttp
  transport or PTB's default httpx one, from a fixed pool of worker coroutines.
- ``push``: the real push (``bot.push.run.run_push`` with ``bot.telegram.sender.TelegramSender``
  on the aiohttp transport, ledger on SQLite).
- ``paced`` / ``shared``: the real push through the pacer with its limits lifted (``LIFTED``
  messages/s, every chat distinct): the in-process pacer alone, or drawing from the rate budget
  shared through the database (``Pacer.share``), as ``digestbot push`` does.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from telegram import Bot
from telegram.constants import ParseMode
from telegram.ext import ExtBot

from bench.common import push_message, sample_article, seed_subscribers
from bot.db.engine import open_database
from bot.digest import Button
from bot.model import ArticleUpsert
from bot.push.options import PushOptions
from bot.push.run import run_push
from bot.rendering import Renderer
from bot.scheduling import PushDefaults
from bot.store import Store
from bot.telegram.aiohttp_request import bot_requests
from bot.telegram.keyboards import markup
from bot.telegram.pacer import Pacer, RateLimitArgs
from bot.telegram.sender import TelegramSender


@dataclass(frozen=True)
class PushRun:
    """One push: messages the server accepted, wall seconds, bot-process CPU seconds."""

    sent: int
    seconds: float
    cpu: float

    @property
    def rate(self) -> float:
        """Return messages per second."""
        return self.sent / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        """Return CPU milliseconds per message."""
        return 1000 * self.cpu / self.sent if self.sent else 0.0


PUSH_PATH = "run_push + TelegramSender (aiohttp), SQLite ledger"
# A rate no push reaches: the pacer's bookkeeping runs but never makes a send wait.
LIFTED = 1_000_000.0


def _keyboard_json(buttons: tuple[Button, ...]) -> str:
    keyboard = markup([list(buttons)])
    assert keyboard is not None
    return json.dumps(keyboard.to_dict(), ensure_ascii=False)


async def _pool(count: int, concurrency: int, send: Any) -> None:
    """Call ``await send(chat_id)`` for chat ids 1..count from `concurrency` workers."""
    ids = iter(range(1, count + 1))

    async def worker() -> None:
        for chat_id in ids:  # a shared iterator: each id is taken once
            await send(chat_id)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))


async def raw_push(base_url: str, token: str, count: int, concurrency: int) -> int:
    """Post the push message to chats 1..count with a bare aiohttp client; return sent."""
    html, buttons = push_message()
    fields = {"text": html, "parse_mode": "HTML", "reply_markup": _keyboard_json(buttons)}
    url = f"{base_url}{token}/sendMessage"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    sent = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send(chat_id: int) -> None:
            nonlocal sent
            body = urlencode({"chat_id": chat_id, **fields})
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                sent += response.status == 200

        await _pool(count, concurrency, send)
    return sent


async def ptb_push(
    base_url: str, token: str, count: int, concurrency: int, backend: str = "aiohttp"
) -> int:
    """Send the push message to chats 1..count with PTB's Bot on `backend`; return sent."""
    html, buttons = push_message()
    keyboard = markup([list(buttons)])
    requests = bot_requests(backend, pool_size=concurrency)  # type: ignore[arg-type]
    sent = 0
    async with Bot(token, base_url=base_url, **requests) as bot:

        async def send(chat_id: int) -> None:
            nonlocal sent
            await bot.send_message(chat_id, html, parse_mode=ParseMode.HTML, reply_markup=keyboard)
            sent += 1

        await _pool(count, concurrency, send)
    return sent


def seed_database(url: str, count: int) -> None:
    """Create a database with the reference article and `count` private-chat subscribers."""

    store = Store(open_database(url))
    try:
        article = sample_article().article
        store.apply_sync(
            inserts=[ArticleUpsert(article, "bench.txt", 0, 0, "0")],
            updates=[],
            restamps=[],
            hide=[],
        )
        seed_subscribers(
            store,
            [
                {"chat_id": i, "chat_type": "private", "language": "zh"}
                for i in range(1, count + 1)
            ],
        )
    finally:
        store.close()


async def real_push(
    base_url: str,
    token: str,
    database_url: str,
    concurrency: int,
    *,
    rate: float | None = None,
    paid: bool = False,
    shared: bool = False,
) -> int:
    """Run bot.push.run.run_push (force) on a seeded database; return sent.

    ``rate=None`` turns the pacer off (no rate limiter at all, so the ceiling is the bot's own
    cost); otherwise the bot gets ``Pacer(rate)`` as its rate limiter, as in production, and
    ``paid`` opts into allow_paid_broadcast and the pacer's paid rate; ``shared`` makes the
    pacer draw from the rate budget in the database (the ledger's store), as ``digestbot push``.
    """

    store = Store(open_database(database_url))
    defaults = PushDefaults(
        push_time=datetime.now(UTC).time(),
        timezone="UTC",
        grace=timedelta(hours=6),
        policy="newest",
        max_per_day=1,
    )
    options = PushOptions(
        defaults=defaults,
        max_attempts=3,
        concurrency=concurrency,
        worker_id="bench",
        paid_broadcast=paid,
    )
    requests = bot_requests("aiohttp", pool_size=concurrency)
    pacer = None if rate is None else Pacer(rate, paid_broadcast=paid)
    if pacer is not None and shared:
        pacer.share(store.writing, token)
    bot: ExtBot[RateLimitArgs] = ExtBot(token, base_url=base_url, **requests, rate_limiter=pacer)
    try:
        async with bot:
            report = await run_push(
                store, Renderer(), TelegramSender(bot), options, now=datetime.now(UTC), force=True
            )
        return int(report.sent)
    finally:
        store.close()


async def run_path(path: str, base_url: str, token: str, count: int, concurrency: int) -> PushRun:
    """Push to `count` chats along `path` and time it (wall and this process's CPU).

    For the real push the database is seeded before the clocks start: planning the ledger
    is part of the push, creating the subscribers is not.
    """
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
        database_url = ""
        if path in {"push", "paced", "shared"}:
            database_url = f"sqlite:///{Path(tmp) / 'push.sqlite3'}"
            await asyncio.to_thread(seed_database, database_url, count)
        start, cpu = time.perf_counter(), time.process_time()
        if path == "raw":
            sent = await raw_push(base_url, token, count, concurrency)
        elif path == "push":
            sent = await real_push(base_url, token, database_url, concurrency)
        elif database_url:
            shared = path == "shared"
            sent = await real_push(
                base_url, token, database_url, concurrency, rate=LIFTED, shared=shared
            )
        elif path == "ptb-httpx":
            sent = await ptb_push(base_url, token, count, concurrency, "httpx")
        else:
            sent = await ptb_push(base_url, token, count, concurrency, "aiohttp")
        return PushRun(sent, time.perf_counter() - start, time.process_time() - cpu)
