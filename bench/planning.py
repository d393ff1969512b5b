"""Planning: a tick with nobody due at 1 000 000 subscribers, and 100 000 due subscribers.

A tick reads only the subscribers whose `next_push_at` has come (ix_subscribers_next_push),
so with nobody due it should cost one index probe whatever the population. The population is
generated in SQL (a recursive CTE on SQLite, generate_series on PostgreSQL), each row's next
push instant a day ahead. The baseline beside the tick is the plan that reads and decides
every active subscriber (`push --now --dry-run`'s path, with everyone already pushed today):
what every tick cost before next_push_at.

Planning 100 000 due subscribers: all at the default 08:00 Asia/Shanghai slot, one article,
timed from the tick one minute after the slot to the committed pending rows, their
last_push_date and their next instants; and the forced plan (`push --now`) of the same
population, which writes the rows and last_push_date only. Beside each, the same rows
written by two bare statements that decide nothing (an INSERT … SELECT and an UPDATE): the
database's own floor. PostgreSQL runs only when BENCH_PG names a scratch database (it is
wiped: every table dropped), for example
``BENCH_PG=postgresql+psycopg://postgres@127.0.0.1:54330/bench``.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import bindparam, create_engine, text

from bench.common import Options, Row, median
from bot.db import meta
from bot.db.engine import open_database
from bot.db.tables import UTCDateTime
from bot.model import Article, ArticleUpsert
from bot.push.planner import Planner, defaults_fingerprint
from bot.scheduling import PushDefaults
from bot.store import Store

TARGET_IDLE_MS = 20.0
TARGET_DUE_S = 3.0
DEFAULTS = PushDefaults()
SLOT = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)  # 08:00 Asia/Shanghai
NOW = SLOT + timedelta(minutes=1)

_SERIES = {
    "sqlite": "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < :n)"
    " SELECT n FROM seq",
    "postgresql": "SELECT n FROM generate_series(1, :n) AS n",
}


def populate(store: Store, count: int, *, next_push_at: datetime, pushed: date | None) -> None:
    """Insert `count` active private subscribers in one statement (ids 1..count)."""
    dialect = store.engine.dialect.name
    insert = text(
        "INSERT INTO subscribers (chat_id, chat_type, title, language, language_locked,"
        " active, subscribed_at, last_push_date, next_push_at)"
        " SELECT n, 'private', '', 'zh', false, true, :since, :pushed, :next"
        f" FROM ({_SERIES[dialect]}) AS s"
    ).bindparams(bindparam("since", type_=UTCDateTime()), bindparam("next", type_=UTCDateTime()))
    with store.write_engine.begin() as c:
        c.execute(
            insert,
            {
                "n": count,
                "since": SLOT - timedelta(days=30),
                "pushed": pushed,
                "next": next_push_at,
            },
        )
        # The instants above are those of DEFAULTS: say so, as a tick under them would have.
        meta.put(c, "push_defaults", defaults_fingerprint(DEFAULTS))
        if dialect == "postgresql":
            c.execute(text("ANALYZE subscribers"))


def add_article(store: Store) -> None:
    """Add one visible article for the due subscribers to get."""
    article = Article(
        slug="bench", title="Bench", date=date(2026, 5, 31), author="", source="", url="",
        one_line="One line.", points=(), risks=(), body="", tags=(),
    )  # fmt: skip
    store.apply_sync(
        inserts=[ArticleUpsert(article, "/bench.md", 1, 1, "bench")],
        updates=[],
        restamps=[],
        hide=[],
    )


def _fresh(url: str) -> Store:
    """Return a store on an empty, migrated database at `url` (wiping what was there)."""
    if url.startswith("postgresql"):
        engine = create_engine(url)
        with engine.begin() as c:
            c.execute(text("DROP SCHEMA public CASCADE"))
            c.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    else:
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return Store(open_database(url))


def idle_tick(opts: Options, url: str, label: str) -> list[Row]:
    """Time a tick with nobody due, and the read-everyone plan beside it."""
    count = opts.size(1_000_000, 1_000)
    store = _fresh(url)
    try:
        populate(store, count, next_push_at=SLOT + timedelta(days=1), pushed=SLOT.date())
        add_article(store)
        planner = Planner(store)
        planner.plan(None, NOW, DEFAULTS)  # warm the compile cache and the page cache
        ticks = []
        for _ in range(max(opts.repeats, 5)):
            start = time.perf_counter()
            result = planner.plan(None, NOW, DEFAULTS)
            ticks.append(time.perf_counter() - start)
            assert result.due == 0
        start = time.perf_counter()
        planner.plan(None, NOW, DEFAULTS, force=True, dry_run=True)
        everyone = time.perf_counter() - start
    finally:
        store.close()
    ms = median(ticks) * 1000
    return [
        Row(
            "planning",
            f"tick, nobody due, {count:,} subscribers, {label}",
            round(ms, 2),
            "ms",
            target=f"< {TARGET_IDLE_MS:g} ms",
            met=ms < TARGET_IDLE_MS,
            baseline=f"reading every subscriber: {everyone * 1000:,.0f} ms",
            raw={"ticks_s": ticks, "everyone_s": everyone},
        )
    ]


# The floor under planning: the same pending rows and the same dates and instants, written
# by two bare statements that decide nothing.
_FLOOR = (
    "INSERT INTO deliveries (subscriber_id, article_id, run_id, push_date, state, attempts,"
    " created_at) SELECT id, :article, NULL, :day, 'pending', 0, :now FROM subscribers"
    " WHERE active = true AND next_push_at <= :now",
    "UPDATE subscribers SET last_push_date = :day, next_push_at = :next"
    " WHERE active = true AND next_push_at <= :now",
)


def _floor(store: Store) -> float:
    """Time writing what the plan writes with two bare statements; return the seconds."""
    params = {"article": 1, "day": SLOT.date(), "now": NOW, "next": SLOT + timedelta(days=1)}
    types = [bindparam("now", type_=UTCDateTime()), bindparam("next", type_=UTCDateTime())]
    start = time.perf_counter()
    with store.write_engine.begin() as c:
        for statement in _FLOOR:
            c.execute(
                text(statement).bindparams(*(t for t in types if f":{t.key}" in statement)),
                params,
            )
    return time.perf_counter() - start


def due_plan(opts: Options, url: str, label: str, *, force: bool = False) -> list[Row]:
    """Time planning a push for `count` due subscribers, and the bare writes beside it.

    Each repeat plans a fresh population, then writes the same rows into another fresh one
    with two bare statements (_FLOOR): what the database alone costs. `force` plans as
    `push --now` does (every active subscriber not pushed today; their instants stay).
    """
    count = opts.size(100_000, 300)
    runs, floors = [], []
    for _ in range(opts.repeats):
        for timed in ("plan", "floor"):
            store = _fresh(url)
            try:
                populate(store, count, next_push_at=SLOT, pushed=None)
                add_article(store)
                if timed == "floor":
                    floors.append(_floor(store))
                    continue
                start = time.perf_counter()
                result = Planner(store).plan(None, NOW, DEFAULTS, force=force)
                runs.append(time.perf_counter() - start)
                assert result.planned == count
            finally:
                store.close()
    seconds, floor = median(runs), median(floors)
    pg = label == "PostgreSQL"
    return [
        Row(
            "planning",
            f"{'forced plan' if force else 'plan'} {count:,} due subscribers, {label}",
            round(seconds, 3),
            "s",
            target=f"< {TARGET_DUE_S:g} s" if pg and not force else "",
            met=seconds < TARGET_DUE_S if pg and not force else None,
            baseline=f"bare INSERT … SELECT + UPDATE of the same rows: {floor:.3f} s",
            note=f"{seconds / floor:.2f} × the bare writes; {count / seconds:,.0f} subscribers/s",
            raw={"runs_s": runs, "floor_s": floors},
        )
    ]


def run(opts: Options) -> list[Row]:
    """Run the planning benchmarks on SQLite, and on PostgreSQL when BENCH_PG is set."""
    sqlite_url = f"sqlite:///{opts.workdir / 'planning.sqlite3'}"
    rows = idle_tick(opts, sqlite_url, "SQLite")
    rows += due_plan(opts, sqlite_url, "SQLite")
    rows += due_plan(opts, sqlite_url, "SQLite", force=True)
    pg = os.environ.get("BENCH_PG")
    if pg:
        rows += idle_tick(opts, pg, "PostgreSQL")
        rows += due_plan(opts, pg, "PostgreSQL")
        rows += due_plan(opts, pg, "PostgreSQL", force=True)
    else:
        rows.append(Row("planning", "PostgreSQL", None, "", note="skipped: set BENCH_PG"))
    return rows
