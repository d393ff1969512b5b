"""Search: /search's database read and snippets at 100 000 articles, against the old LIKE scan.

Each backend gets a fresh database of 100 000 generated articles, written in batches through
``bot.db.articles.insert_new`` (the sync's own insert, so the search index is filled the way
the import fills it). An article is about 600 characters of Chinese and English words drawn
from a fixed vocabulary with Zipf frequencies (seeded), so a query can be common, rare or
absent. The queries mix those, one and two words of 3+ characters; queries of only 1–2
characters (common in Chinese) are timed apart, as they are served by a bounded scan rather
than the index. A query's time is ``Store.search_articles``: the read, the ranking and the
snippets. The baseline is the LIKE '%…%' scan /search used before (newest first, no rank),
run on the same database with the same queries.

PostgreSQL runs only when BENCH_PG names a scratch database (it is wiped: every table
dropped), for example ``BENCH_PG=postgresql+psycopg://postgres@127.0.0.1:54330/bench``.
BENCH_SEARCH_SQLITE names a SQLite file to keep between runs instead of a temporary one.
A database that already holds exactly these generated articles (migrated to head) is reused:
filling 100 000 takes minutes.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from bench.common import Options, Row, median, percentile
from bench.planning import _fresh
from bot.db import articles
from bot.db.engine import open_database
from bot.db.tables import ARTICLES
from bot.model import Article, ArticleUpsert
from bot.store import Store

log = logging.getLogger(__name__)
TARGET_P99_MS = 20.0
BATCH = 2000
_CHARS = "人工智能焦虑模型数据学习时代工作技术公司产品用户市场未来问题发展社会生活世界中国美国" + (
    "开源训练推理芯片算力团队创业投资增长内容平台视频音乐教育医疗科学研究实验网络安全隐私法律"
)
_LATIN = "abcdefghijklmnopqrstuvwxyz"


def _vocabulary(rng: random.Random) -> list[str]:
    """Return 4000 distinct words: Chinese of 2–4 characters and English of 4–9 letters."""
    words: dict[str, None] = {}
    while len(words) < 4000:
        if rng.random() < 0.6:
            word = "".join(rng.choices(_CHARS, k=rng.randint(2, 4)))
        else:
            word = "".join(rng.choices(_LATIN, k=rng.randint(4, 9)))
        words[word] = None
    return list(words)


def _articles(
    first: int, count: int, vocabulary: list[str], rng: random.Random
) -> list[ArticleUpsert]:
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]  # Zipf
    start = date(2000, 1, 1)
    items = []
    for i in range(first, first + count):
        title, one_line, body = (
            " ".join(rng.choices(vocabulary, weights, k=n)) for n in (4, 12, 110)
        )
        article = Article(
            slug=f"s{i}", title=title, date=start + timedelta(days=i // 20), author="",
            source="", url="", one_line=one_line, points=(), risks=(), body=body, tags=(),
        )  # fmt: skip
        items.append(ArticleUpsert(article, f"/s{i}.md", 1, 1, f"h{i}"))
    return items


def fill(store: Store, count: int, vocabulary: list[str], seed: int = 7) -> None:
    """Insert `count` generated articles in batches, as the import does."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    for first in range(0, count, BATCH):
        items = _articles(first, min(BATCH, count - first), vocabulary, rng)
        with store.write_engine.begin() as c:
            articles.insert_new(c, items, now)
    if store.engine.dialect.name == "postgresql":
        with store.write_engine.begin() as c:
            c.exec_driver_sql("ANALYZE articles")


def queries(
    vocabulary: list[str], rng: random.Random, n: int
) -> tuple[list[list[str]], list[str]]:
    """Return `n` queries of 3+ character words (common, rare, absent, pairs) and short ones."""
    long_words = [w for w in vocabulary if len(w) >= 3]
    mixed: list[list[str]] = []
    for i in range(n):
        kind = i % 4
        if kind == 0:  # common
            mixed.append([rng.choice(long_words[:50])])
        elif kind == 1:  # rare
            mixed.append([rng.choice(long_words[-1000:])])
        elif kind == 2:  # absent
            mixed.append(["zq" + "".join(rng.choices(_LATIN, k=5))])
        else:  # two words
            mixed.append([rng.choice(long_words[:500]), rng.choice(long_words[:2000])])
    short = ["".join(rng.choices(_CHARS, k=1 + i % 2)) for i in range(n)]
    return mixed, short


def like_scan(c: Connection, words: Sequence[str], limit: int = 10) -> list[int]:
    """Run the search /search used before the index: LIKE '%word%' per word, newest first."""
    query = select(ARTICLES.c.id).where(ARTICLES.c.hidden.is_(False))
    for word in words:
        escaped = word.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(ARTICLES.c.search_text.like(f"%{escaped}%", escape="\\"))
    return list(c.scalars(query.order_by(*articles.NEWEST_FIRST).limit(limit)))


def _time(call: Callable[[Any], object], runs: Sequence[Any]) -> list[float]:
    samples = []
    for arg in runs:
        began = time.perf_counter()
        call(arg)
        samples.append(time.perf_counter() - began)
    return samples


def _filled(url: str, count: int, vocabulary: list[str]) -> tuple[Store, float | None]:
    """Return a store of the `count` generated articles, and the fill's seconds (None: reused)."""
    try:
        store = Store(open_database(url))
        with store.engine.connect() as c:
            newest = articles.newest(c)
        if store.count_articles() == count and newest and newest.article.slug == f"s{count - 1}":
            return store, None
        store.close()
    except Exception:  # a database Alembic cannot migrate (another branch's) is refilled
        log.info("search bench: %s is not reusable; filling it afresh", url, exc_info=True)
    store = _fresh(url)
    began = time.perf_counter()
    fill(store, count, vocabulary)
    return store, time.perf_counter() - began


def measure(opts: Options, url: str, label: str) -> list[Row]:
    """Fill a fresh database at `url`; time the indexed search and the LIKE scan on it."""
    count = opts.size(100_000, 150)
    n = opts.size(200, 5)
    rng = random.Random(11)
    vocabulary = _vocabulary(rng)
    store, fill_s = _filled(url, count, vocabulary)
    try:
        mixed, short = queries(vocabulary, rng, n)
        for words in mixed[:10]:  # warm the statement cache and the page cache
            store.search_articles(words)
        indexed, short_ms, like = [], [], []
        for _ in range(opts.repeats):
            indexed.append(_time(store.search_articles, mixed))
            short_ms.append(_time(store.search_articles, [[w] for w in short]))
            with store.engine.connect() as c:
                like.append(_time(lambda w: like_scan(c, w), mixed[: max(n // 10, 4)]))
    finally:
        store.close()
    p99 = median([percentile(s, 99) * 1000 for s in indexed])
    p50 = median([percentile(s, 50) * 1000 for s in indexed])
    like_p99 = median([percentile(s, 99) * 1000 for s in like])
    like_p50 = median([percentile(s, 50) * 1000 for s in like])
    short_p99 = median([percentile(s, 99) * 1000 for s in short_ms])
    short_p50 = median([percentile(s, 50) * 1000 for s in short_ms])
    note = (
        f"{count:,} articles ({f'filled in {fill_s:.0f} s' if fill_s else 'reused'}), "
        f"{n} queries: common, rare, absent, pairs"
    )
    return [
        Row(
            "search",
            f"/search p99, {label}",
            round(p99, 2),
            "ms",
            target=f"< {TARGET_P99_MS:g} ms",
            met=p99 < TARGET_P99_MS,
            baseline=f"LIKE scan p99 {like_p99:.0f} ms (p50 {like_p50:.0f} ms)",
            note=f"p50 {p50:.2f} ms; {note}",
            raw={"indexed_s": indexed, "like_s": like},
        ),
        Row(
            "search",
            f"/search of 1–2 characters p99, {label}",
            round(short_p99, 2),
            "ms",
            note=(
                f"p50 {short_p50:.2f} ms; the {articles.CANDIDATES} last imported matches among "
                f"the newest {articles.SHORT_REACH:,} articles ranked"
            ),
            raw={"short_s": short_ms},
        ),
    ]


def run(opts: Options) -> list[Row]:
    """Run the search benchmark on SQLite, and on PostgreSQL when BENCH_PG is set."""
    path = os.environ.get("BENCH_SEARCH_SQLITE") or opts.workdir / "search.sqlite3"
    rows = measure(opts, f"sqlite:///{path}", "SQLite")
    pg = os.environ.get("BENCH_PG")
    if pg:
        rows += measure(opts, pg, "PostgreSQL")
    else:
        rows.append(Row("search", "PostgreSQL", None, "", note="skipped: set BENCH_PG"))
    return rows
