"""Import: 10 000 generated articles cold, then a re-sync with nothing changed.

The articles are the reference seed's shape with their own title, date and slug, and bodies
from a fifth to three times the reference's length (seeded, so every run imports the same
files). Parsing alone (read + ``bot.articles.parse_article`` over every file) is timed apart
from the full ``bot.sync.sync_articles``; the difference is the database's share (plus
hashing and stat calls). Each repeat imports into a fresh SQLite database, migrated before
the clock starts.
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.common import REFERENCE_ARTICLE, Options, Row, median
from bot.articles import find_article_files, parse_article, slug_for
from bot.db.engine import open_database
from bot.store import Store
from bot.sync import sync_articles

TARGET_COLD = 10.0
TARGET_RESYNC = 1.0
_BODY = "## 正文"


def generate(folder: Path, count: int, seed: int = 5) -> int:
    """Write `count` articles shaped like the reference one into `folder`; return bytes."""
    text = REFERENCE_ARTICLE.read_text(encoding="utf-8")
    head, _, body = text.partition(_BODY)
    front_end = head.index("\n---", 3)
    front, summary = head[:front_end], head[front_end:]
    paragraphs = [p for p in body.split("\n\n") if p.strip()]
    rng = random.Random(seed)
    start = date(2020, 1, 1)
    total = 0
    for i in range(count):
        lines = []
        for line in front.splitlines():
            if line.startswith("title:"):
                lines.append(f'title: "第 {i} 篇：{rng.choice(paragraphs)[:24].strip()}"')
            elif line.startswith("发布日期:"):
                lines.append(f"发布日期: {(start + timedelta(days=i % 2000)).isoformat()}")
            else:
                lines.append(line)
        factor = rng.uniform(0.2, 3.0)
        wanted = max(1, round(len(paragraphs) * factor))
        chosen = [paragraphs[j % len(paragraphs)] for j in range(wanted)]
        article = "\n".join(lines) + summary + _BODY + "\n\n" + "\n\n".join(chosen) + "\n"
        data = article.encode("utf-8")
        (folder / f"{i:05d}_bench.txt").write_bytes(data)
        total += len(data)
    return total


def _parse_all(root: Path) -> float:
    start = time.perf_counter()
    for path in find_article_files(root).files:
        parse_article(path.read_text(encoding="utf-8"), name=str(path), slug=slug_for(path, root))
    return time.perf_counter() - start


def _sync(root: Path, database: Path) -> dict[str, Any]:
    store = Store(open_database(f"sqlite:///{database}"))
    try:
        start = time.perf_counter()
        cold = sync_articles(store, [root])
        cold_s = time.perf_counter() - start
        start = time.perf_counter()
        again = sync_articles(store, [root])
        again_s = time.perf_counter() - start
    finally:
        store.close()
    return {
        "cold_s": cold_s,
        "resync_s": again_s,
        "cold": cold.summary(),
        "resync": again.summary(),
        "imported": cold.new,
        "unchanged": again.unchanged,
    }


def run(opts: Options) -> list[Row]:
    """Import generated articles cold and again unchanged; return the rows."""
    count = opts.size(10_000, 30)
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        root = Path(tmp) / "articles"
        root.mkdir()
        size = generate(root, count)
        runs = []
        for i in range(opts.repeats):
            parse_s = _parse_all(root)
            runs.append({"parse_s": parse_s, **_sync(root, Path(tmp) / f"db{i}.sqlite3")})
    cold = median([r["cold_s"] for r in runs])
    parse = median([r["parse_s"] for r in runs])
    resync = median([r["resync_s"] for r in runs])
    imported = min(r["imported"] for r in runs)
    note = f"{count} files, {size / 1e6:.1f} MB; imported {imported}"
    data = {"files": count, "bytes": size, "runs": runs}
    return [
        Row(
            "import",
            "cold import",
            round(cold, 2),
            "s",
            f"< {TARGET_COLD:g}",
            cold < TARGET_COLD and imported == count,
            f"parsing alone {parse:.2f} s",
            f"{note}; database and the rest ≈ {max(0.0, cold - parse):.2f} s",
            data,
        ),
        Row(
            "import",
            "re-sync, nothing changed",
            round(resync, 3),
            "s",
            f"< {TARGET_RESYNC:g}",
            resync < TARGET_RESYNC,
            note=f"{min(r['unchanged'] for r in runs)} unchanged",
        ),
    ]
