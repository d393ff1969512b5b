"""Inline: p99 answer time of `@bot words` with 10 000 articles, against a bare handler.

Each repeat imports 10 000 articles shaped like the reference seed into a fresh SQLite
database and runs the real Application (``build_application``) long-polling a loopback Bot
API in the same process. Queries are typed one after another in a seeded mix: empty (newest
first, a random page of the first ten), a word every article has, a word none has (the whole
table is scanned: the worst case), and a share query ``#<id>``. A query's time is the
server's: from the inline_query being queued to the answerInlineQuery arriving (getUpdates,
the handler, PTB, HTTP). The baseline, in the same run, is a bare PTB Application whose
handler answers one fixed result; the domain row times ``select_articles`` +
``inline_results`` alone, called directly.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from pathlib import Path

from telegram import InlineQueryResultArticle, InputTextMessageContent, Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, InlineQueryHandler

from bench.common import (
    Options,
    Row,
    bot_settings,
    fill_articles,
    median,
    percentile,
    sample_article,
)
from bot.arguments import parse_inline_offset, parse_inline_query, share_query
from bot.digest import DigestCache
from bot.fakeapi.server import LoopbackBotApi
from bot.inline import inline_results, select_articles
from bot.runtime import Runtime
from bot.telegram.app import build_application

TARGET_P99_MS = 1000.0  # Telegram drops an answer after ~10 s; a person waits ~1 s at most
RATE = 100_000.0  # answerInlineQuery is not paced; lifted anyway so nothing queues


def _queries(ids: list[int], count: int, common: str) -> list[tuple[str, str]]:
    """Return `count` (query, offset) pairs in a fixed mix."""
    rng = random.Random(17)
    out = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.4:
            out.append(("", str(20 * rng.randrange(10)) if rng.random() < 0.5 else ""))
        elif roll < 0.7:
            out.append((common, ""))
        elif roll < 0.9:
            out.append((f"zq{rng.randrange(10**6)}x", ""))  # matches nothing: a full scan
        else:
            out.append((share_query(rng.choice(ids)), ""))
    return out


async def _answer_times(api: LoopbackBotApi, queries: list[tuple[str, str]]) -> list[float]:
    """Type each query in turn; return the server-side answer times (s)."""
    user = api.user(900, language_code="zh")
    waited = []
    for text, offset in queries:
        query_id = api.inline_query(user, text, offset=offset)
        # The time is the server's (``waited``): how soon this loop notices does not count.
        while query_id not in api.inline_answers:  # noqa: ASYNC110 -- no event to wait on
            await asyncio.sleep(0.0005)
        waited.append(api.inline_answers[query_id].waited)
    return waited


async def _bot_run(
    runtime: Runtime, api: LoopbackBotApi, queries: list[tuple[str, str]]
) -> list[float]:
    settings = runtime.settings
    app = build_application(settings, runtime=runtime)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            await _answer_times(api, queries[:20])  # warm-up: templates, caches, connections
            return await _answer_times(api, queries)
        finally:
            await app.updater.stop()
            await app.stop()


async def _fixed(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.inline_query is not None
    content = InputTextMessageContent("<b>fixed</b>", parse_mode="HTML")
    await update.inline_query.answer([InlineQueryResultArticle("fixed", "Fixed", content)])


async def _baseline_run(api: LoopbackBotApi, queries: list[tuple[str, str]]) -> list[float]:
    app: Application = (  # type: ignore[type-arg]
        ApplicationBuilder().token(api.token).base_url(api.base_url).build()
    )
    app.add_handler(InlineQueryHandler(_fixed))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            await _answer_times(api, queries[:20])
            return await _answer_times(api, queries)
        finally:
            await app.updater.stop()
            await app.stop()


def _domain_times(runtime: Runtime, queries: list[tuple[str, str]]) -> list[float]:
    """Time the selection and the results alone, as the handler calls them."""
    digests = DigestCache(runtime.renderer)
    times = []
    for text, offset in queries:
        began = time.perf_counter()
        page = select_articles(
            runtime.store, parse_inline_query(text), parse_inline_offset(offset)
        )
        inline_results(digests, page.articles, "zh", "digest_test_bot")
        times.append(time.perf_counter() - began)
    return times


async def _repeat(folder: Path, count: int, requests: int) -> dict[str, list[float]]:
    async with LoopbackBotApi() as api:
        settings = bot_settings(api.token, api.base_url, folder, RATE)
        runtime = await asyncio.to_thread(Runtime.open, settings)
        try:
            ids = await asyncio.to_thread(fill_articles, runtime, count, "i")
            common = sample_article().article.title.split()[0]
            queries = _queries(ids, requests, common)
            baseline = await _baseline_run(api, queries)
            handler = await _bot_run(runtime, api, queries)
            domain = await asyncio.to_thread(_domain_times, runtime, queries)
        finally:
            await asyncio.to_thread(runtime.close)
    return {"handler": handler, "baseline": baseline, "domain": domain}


def run(opts: Options) -> list[Row]:
    """Measure p99 inline answer time with 10 000 articles, and the bare handler's."""
    count = opts.size(10_000, 30)
    requests = opts.size(500, 10)
    p99s: dict[str, list[float]] = {"handler": [], "baseline": [], "domain": []}
    p50s: list[float] = []
    ratios: list[float] = []
    for _ in range(opts.repeats):
        with tempfile.TemporaryDirectory(dir=opts.workdir) as tmp:
            times = asyncio.run(_repeat(Path(tmp), count, requests))
        for name, values in times.items():
            p99s[name].append(percentile(values, 99) * 1000)
        p50s.append(percentile(times["handler"], 50) * 1000)
        ratios.append(p99s["handler"][-1] / max(p99s["baseline"][-1], 1e-6))
    p99 = median(p99s["handler"])
    base = median(p99s["baseline"])
    note = f"{count} articles, {requests} queries one at a time (40% empty, 30% common word, "
    note += "20% no match, 10% #id), SQLite"
    return [
        Row(
            "inline",
            "answer p99 (handler end to end)",
            round(p99, 2),
            "ms",
            target=f"< {TARGET_P99_MS:g} ms",
            met=p99 < TARGET_P99_MS,
            baseline=f"bare handler p99 {base:.2f} ms",
            note=note,
            raw={"p99s": p99s, "p50s": p50s},
        ),
        Row("inline", "answer p50 (handler end to end)", round(median(p50s), 2), "ms", note=note),
        Row(
            "inline",
            "answer p99 / bare handler p99",
            round(median(ratios), 1),
            "×",
            baseline="per-repeat ratio, median",
            raw={"ratios": ratios},
        ),
        Row(
            "inline",
            "selection + results p99 (domain alone)",
            round(median(p99s["domain"]), 2),
            "ms",
            note=note,
        ),
    ]
