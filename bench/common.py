"""What every benchmark shares: the run's options, result rows, medians, the sample article."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bot.articles import parse_article
from bot.config import Settings
from bot.db.tables import SUBSCRIBERS
from bot.digest import Button, article_buttons, render_part
from bot.model import ArticleUpsert, StoredArticle
from bot.rendering import Renderer
from bot.runtime import Runtime
from bot.store import Store, utcnow

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_ARTICLE = ROOT / "seeds" / "000_d1b123459f6495d4.txt"


@dataclass(frozen=True)
class Options:
    """How this run was asked to go."""

    quick: bool = False
    repeats: int = 3
    workdir: Path = Path()

    def size(self, full: int, quick: int) -> int:
        """Return `full` for a real run, `quick` for the smoke test."""
        return quick if self.quick else full


@dataclass
class Row:
    """One line of the results table: a figure, its target and the baseline beside it."""

    benchmark: str
    metric: str
    value: float | None
    unit: str
    target: str = ""
    met: bool | None = None
    baseline: str = ""
    note: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the row as JSON-ready data."""
        return asdict(self)


def median(values: Sequence[float]) -> float:
    """Return the median (0.0 for no values)."""
    return float(statistics.median(values)) if values else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Return the q-th percentile (0–100) by nearest rank (0.0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return float(ordered[rank])


def sample_article() -> StoredArticle:
    """Return the reference seed article as if stored under id 1."""
    text = REFERENCE_ARTICLE.read_text(encoding="utf-8")
    article = parse_article(text, name=REFERENCE_ARTICLE.name, slug=REFERENCE_ARTICLE.stem)
    return StoredArticle(1, article, False)


def fill_articles(runtime: Runtime, count: int, prefix: str) -> list[int]:
    """Import `count` copies of the sample article, a day apart, in batches; return the ids."""
    base = sample_article().article
    start = date(2000, 1, 1)
    items = [
        ArticleUpsert(
            dataclasses.replace(
                base,
                slug=f"{prefix}{i}",
                title=f"{base.title} #{i}",
                date=start + timedelta(days=i),
            ),
            f"/seeds/{prefix}{i}.md",
            1,
            1,
            f"h{i}",
        )
        for i in range(count)
    ]
    for first in range(0, count, 2000):
        runtime.store.apply_sync(
            inserts=items[first : first + 2000], updates=[], restamps=[], hide=[]
        )
    return runtime.store.visible_article_ids()


def push_message() -> tuple[str, tuple[Button, ...]]:
    """Return the digest HTML and buttons a push sends (reference article, Chinese)."""
    renderer = Renderer()
    stored = sample_article()
    return render_part(renderer, stored, "digest", "zh")[0], article_buttons(
        renderer, stored, "zh"
    )


def seed_subscribers(store: Store, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many active subscribers at once, straight into the table (5000 per statement)."""
    defaults = {"title": "", "language_locked": False, "active": True, "subscribed_at": utcnow()}
    # An executemany INSERT takes its columns from the first row: give every row every key.
    unset = dict.fromkeys(set().union(*rows) - defaults.keys())
    full = [{**unset, **defaults, **r} for r in rows]
    with store.write_engine.begin() as c:
        for start in range(0, len(full), 5000):
            c.execute(insert(SUBSCRIBERS), full[start : start + 5000])


def bot_settings(token: str, base_url: str, folder: Path, rate_limit: float) -> Settings:
    """Return the settings a benchmarked bot runs with: a SQLite file in `folder`, no pushes."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_bot_token=token,  # type: ignore[arg-type]
        telegram_base_url=base_url,
        database_url=f"sqlite:///{folder / 'bot.sqlite3'}",
        seeds_dir=ROOT / "seeds",
        timezone="UTC",
        # Twelve hours away: no scheduled push tick finds anyone due during the run.
        push_time=(datetime.now(UTC) + timedelta(hours=12)).time().replace(microsecond=0),
        sync_interval=0,
        log_level="WARNING",
        rate_limit=rate_limit,
    )
