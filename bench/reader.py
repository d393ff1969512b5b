"""Reader: the web reader serving article pages with 10 000 articles in the database.

Each repeat imports 10 000 articles shaped like the reference seed (their own slug, title
and date) into a fresh SQLite database, serves ``bot.web.app.ReaderSite`` on loopback and
GETs signed article pages one after another from an aiohttp client in the same process, in a
seeded random order. A request's time runs from sending it to its whole body read: the token
check, the article and neighbour reads, counting the open (a write), rendering, HTTP. The
archive page (newest first, then a word search) is timed the same way.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from bench.common import Options, Row, fill_articles, median, percentile
from bot.config import Settings
from bot.readlog import ReadLog
from bot.runtime import Runtime
from bot.web.access import link_key, sign_path
from bot.web.app import ReaderSite, access_for

TOKEN = "123456789:AAE-bench-reader-token_0123456789"
TARGET_P99_MS = 20.0


async def _timed(session: aiohttp.ClientSession, url: str) -> float:
    began = time.perf_counter()
    async with session.get(url) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: HTTP {response.status}")
    return time.perf_counter() - began


async def _serve_and_measure(
    runtime: Runtime, ids: list[int], requests: int
) -> tuple[list[float], list[float]]:
    site = ReaderSite(ReadLog(runtime.store), runtime.renderer, access_for(runtime.settings))
    app = web.Application()
    site.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    key, expiry = link_key(TOKEN), int(time.time()) + 86400
    base = f"http://127.0.0.1:{port}"
    rng = random.Random(13)
    pages, archive = [], []
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(20):  # warm-up: templates compiled, connections pooled
                await _timed(
                    session, f"{base}/a/{ids[0]}?t={sign_path(key, f'/a/{ids[0]}', expiry)}"
                )
            for _ in range(requests):
                ident = rng.choice(ids)
                path = f"/a/{ident}"
                pages.append(
                    await _timed(session, f"{base}{path}?t={sign_path(key, path, expiry)}")
                )
            home = sign_path(key, "/", expiry)
            for i in range(max(requests // 10, 5)):
                query = "&q=%E7%84%A6%E8%99%91" if i % 2 else ""  # 焦虑
                archive.append(await _timed(session, f"{base}/?t={home}{query}"))
    finally:
        await runner.cleanup()
    return pages, archive


def run(opts: Options) -> list[Row]:
    """Measure p50/p99 of article pages and the archive with 10 000 articles stored."""
    count = opts.size(10_000, 30)
    requests = opts.size(1000, 10)
    p50s, p99s, archive_p99s = [], [], []
    for _ in range(opts.repeats):
        with tempfile.TemporaryDirectory(dir=opts.workdir) as tmp:
            settings = Settings(
                telegram_bot_token=SecretStr(TOKEN),
                database_url=f"sqlite:///{Path(tmp) / 'reader.sqlite3'}",
                web_url="https://read.example.org",
                _env_file=None,  # type: ignore[call-arg]
            )
            runtime = Runtime.open(settings)
            try:
                ids = fill_articles(runtime, count, "r")
                pages, archive = asyncio.run(_serve_and_measure(runtime, ids, requests))
            finally:
                runtime.close()
        p50s.append(percentile(pages, 50) * 1000)
        p99s.append(percentile(pages, 99) * 1000)
        archive_p99s.append(percentile(archive, 99) * 1000)
    p99 = median(p99s)
    note = f"{count} articles, {requests} sequential GETs, SQLite"
    return [
        Row("reader", "article page p50", round(median(p50s), 2), "ms", note=note),
        Row(
            "reader",
            "article page p99",
            round(p99, 2),
            "ms",
            target=f"< {TARGET_P99_MS:g} ms",
            met=p99 < TARGET_P99_MS,
            note=note,
            raw={"p99s": p99s},
        ),
        Row("reader", "archive page p99", round(median(archive_p99s), 2), "ms", note=note),
    ]
