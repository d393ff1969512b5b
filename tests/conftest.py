"""Shared fixtures: real SQLite files, real PostgreSQL (when CI provides it), templates."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time as clock
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Connection, insert
from sqlalchemy.engine import make_url

from bot import runtime
from bot.db.engine import open_database
from bot.db.tables import SUBSCRIBERS
from bot.fakeapi.server import LoopbackBotApi
from bot.model import Article, ArticleUpsert
from bot.rendering import Renderer
from bot.scheduling import PushDefaults
from bot.store import Store, utcnow
from tests.migrated import create_pg_database, drop_pg_database, migrated_sqlite
from tests.realtime_gate import ENV as GATE_ENV
from tests.realtime_gate import Gate, core_slots
from tests.warm_cli import run_forked

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
REFERENCE = SEEDS / "000_d1b123459f6495d4.txt"
PG_URL = os.environ.get("DIGESTBOT_TEST_PG")
# 08:00 in Shanghai on 2026-06-01 is 00:00 UTC: the push slot most data tests plan at.
SLOT = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
NOW = SLOT + timedelta(minutes=1)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
DEFAULTS = PushDefaults(push_time=time(8, 0), timezone="Asia/Shanghai")
LEASE = timedelta(minutes=2)
# PTB 22 warns on every RetryAfter unless retry_after is a timedelta; we opt in, as PTB asks.
os.environ["PTB_TIMEDELTA"] = "1"


def run_digestbot(
    cwd: Path, env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot ARGS` as a person would, in `cwd` with `env`; never raise on failure.

    The run is a fork of a process that has imported digestbot already (tests/warm_cli.py).
    """
    return run_forked(cwd, env, args, stdin, timeout)


T = TypeVar("T")


def while_another_writer(
    database_url: str, write: Callable[[Connection], object], call: Callable[[], T]
) -> T:
    """Return `call()`, run while another instance's transaction has done `write` uncommitted.

    `call` meets that writer's uncommitted row (PostgreSQL) or its write lock (SQLite) and
    waits for the commit, as a second instance of the bot would; its exception is re-raised.
    """
    other = Store(open_database(database_url))
    try:
        with ThreadPoolExecutor(1) as pool:
            with other.writing() as c:
                write(c)
                result = pool.submit(call)
                clock.sleep(0.3)  # time for `call` to reach its conflicting write
            return result.result(timeout=30)
    finally:
        other.close()


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group markers added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the slow tests first, so none starts last on an idle worker; the realtime ones last.

    A group of tests (xdist_group: the browser's, the wheel's) runs on one worker as one long
    unit, so it goes first too. A realtime test checks a rate or a deadline in wall time: run
    beside the slow, CPU-hungry ones on two cores, a stall of its processes reads as the bot's
    slowness. The realtime ones go longest first (their marker's `seconds`), shared out so
    that the slots they share (tests/realtime_gate.py) end about together.
    """

    def rank(item: pytest.Item) -> tuple[int, float]:
        realtime = item.get_closest_marker("realtime")
        if realtime:
            return 2, -realtime_seconds(item)
        long = item.get_closest_marker("slow") or item.get_closest_marker("xdist_group")
        return (0 if long else 1), 0.0

    items.sort(key=rank)
    # On an xdist worker (where the items are shared out) --dist=loadgroup reads as this.
    if config.getoption("loadgroup", default=False):
        share_realtime_slots(items)


def realtime_seconds(item: pytest.Item) -> float:
    """Return how long a realtime test runs (its marker's `seconds`; 0 if it will skip)."""
    marker = item.get_closest_marker("realtime")
    if marker is None or (item.get_closest_marker("postgres") and PG_URL is None):
        return 0.0  # a PostgreSQL test without a server skips at once
    return float(marker.kwargs.get("seconds", 0))


def share_realtime_slots(items: list[pytest.Item]) -> None:
    """Put the realtime tests in one xdist group per slot, each to the least loaded group.

    xdist hands a worker up to three tests ahead, so near the end one worker could hold two
    realtime tests and run them one after the other while the other slot stands empty. A
    group runs on one worker, in order: the slots end about together.
    """
    loads = [0.0] * core_slots()
    for item in items:  # longest first
        if not item.get_closest_marker("realtime") or item.get_closest_marker("xdist_group"):
            continue
        slot = loads.index(min(loads))
        loads[slot] += realtime_seconds(item)
        item.add_marker(pytest.mark.xdist_group(f"realtime-{slot}"))


def pytest_configure(config: pytest.Config) -> None:
    """Give the session's processes one gate folder (the controller, before workers start)."""
    if not os.environ.get("PYTEST_XDIST_WORKER") and GATE_ENV not in os.environ:
        os.environ[GATE_ENV] = tempfile.mkdtemp(prefix="digestbot-gate-")
        config.add_cleanup(lambda: shutil.rmtree(os.environ.pop(GATE_ENV), ignore_errors=True))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    """Run a realtime test alone, every other one beside the others (tests/realtime_gate.py)."""
    gate = Gate(Path(os.environ[GATE_ENV]))
    with gate.alone() if item.get_closest_marker("realtime") else gate.beside_others():
        return (yield)


# -- seeding data -------------------------------------------------------------------------


def seed_subscribers(store: Store, rows: Sequence[dict[str, Any]]) -> None:
    """Insert subscriber rows straight into the table (active, subscribed now, unless given)."""
    defaults = {"title": "", "language_locked": False, "active": True, "subscribed_at": utcnow()}
    # An executemany INSERT takes its columns from the first row: give every row every key.
    unset = dict.fromkeys(set().union(*rows) - defaults.keys())
    full = [{**unset, **defaults, **r} for r in rows]
    with store.write_engine.begin() as c:
        for start in range(0, len(full), 5000):
            c.execute(insert(SUBSCRIBERS), full[start : start + 5000])


def add_subscribers(store: Store, count: int, **values: Any) -> None:
    """Add `count` active private subscribers with chat ids 1..count (odd zh, even en)."""
    seed_subscribers(
        store,
        [
            {
                "chat_id": i,
                "chat_type": "private",
                "language": "zh" if i % 2 else "en",
                "subscribed_at": LONG_AGO,
                **values,
            }
            for i in range(1, count + 1)
        ],
    )


def add_subscriber_rows(store: Store, rows: list[dict[str, Any]]) -> None:
    """Add private English subscribers that subscribed long before NOW, with `rows`' values."""
    base = {"chat_type": "private", "language": "en", "subscribed_at": LONG_AGO}
    seed_subscribers(store, [{**base, **row} for row in rows])


def add_subscribers_from(store: Store, first: int, count: int) -> None:
    """Add `count` active private English subscribers with chat ids from `first`."""
    add_subscriber_rows(store, [{"chat_id": i} for i in range(first, first + count)])


def add_articles(store: Store, count: int) -> list[int]:
    """Add `count` dated articles (a1 oldest); return their ids, oldest first."""
    articles = [
        Article(
            slug=f"a{i}",
            title=f"Article {i}",
            date=date(2026, 1, 1) + timedelta(days=i),
            author="",
            source="",
            url=f"https://example.com/{i}",
            one_line=f"Summary {i}",
            points=(),
            risks=(),
            body="",
            tags=(),
        )
        for i in range(1, count + 1)
    ]
    store.apply_sync(
        inserts=[ArticleUpsert(a, f"/seeds/{a.slug}.md", 1, 1, a.slug) for a in articles],
        updates=[],
        restamps=[],
        hide=[],
    )
    by_slug = {s.article.slug: s.id for s in store.list_articles()}
    return [by_slug[a.slug] for a in articles]


def add_article_named(store: Store, slug: str, day: date | None = date(2027, 1, 1)) -> int:
    """Add one article called `slug` dated `day` (newer than add_articles'); return its id."""
    article = Article(slug, slug, day, "", "", "", "x", (), (), "", ())
    store.apply_sync(
        inserts=[ArticleUpsert(article, f"/{slug}.md", 1, 1, slug)],
        updates=[],
        restamps=[],
        hide=[],
    )
    found = store.get_article_by_slug(slug)
    assert found is not None
    return found.id


# -- databases ----------------------------------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A database URL for a fresh, empty SQLite file."""
    return f"sqlite:///{tmp_path / 'digestbot.sqlite3'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A database URL for an empty database of its own on the CI PostgreSQL server."""
    yield from _pg_database(migrated=False)


def _pg_database(*, migrated: bool) -> Iterator[str]:
    if not PG_URL:
        pytest.skip("DIGESTBOT_TEST_PG is not set (CI starts PostgreSQL and sets it)")
    url = create_pg_database(PG_URL, migrated=migrated)
    try:
        yield url
    finally:
        drop_pg_database(PG_URL, make_url(url).database or "")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest) -> str:
    """An empty database's URL, once on SQLite and once on PostgreSQL (for migration tests)."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the newest schema, once on SQLite and once on PostgreSQL.

    A copy of one migrated per test process (tests/migrated.py): the bot opens it as it
    opens any database already at head.
    """
    if request.param == "sqlite":
        yield migrated_sqlite(tmp_path / "digestbot.sqlite3")
    else:
        yield from _pg_database(migrated=True)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A store on a fresh database at head (SQLite and PostgreSQL)."""
    s = Store(open_database(database_url))
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A store on a fresh SQLite file at head only."""
    s = Store(open_database(migrated_sqlite(tmp_path / "digestbot.sqlite3")))
    yield s
    s.close()


@pytest.fixture(scope="session")
def renderer() -> Renderer:
    """The bundled templates."""
    return Renderer()


@pytest.fixture(scope="session", autouse=True)
def _one_renderer_per_templates_folder() -> Iterator[None]:
    """Every bot a test starts (Runtime.open) shares one Renderer per templates folder.

    A Renderer holds nothing that rendering changes, and loading one (the string catalogue's
    TOML, then each template compiled at first use) took about 25 ms of CPU in each of several
    hundred tests.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime, "Renderer", cache(Renderer))
        yield


@pytest.fixture
def seeds_dir(tmp_path: Path) -> Path:
    """A copy of the bundled seeds folder that a test may change."""
    target = tmp_path / "seeds"
    shutil.copytree(SEEDS, target)
    return target


@pytest.fixture
async def loopback_api() -> AsyncIterator[LoopbackBotApi]:
    """A started loopback Bot API server on 127.0.0.1 (no rate enforcement), stopped after."""
    api = LoopbackBotApi()
    await api.start()
    try:
        yield api
    finally:
        await api.stop()


@pytest.fixture
def cli_env(tmp_path: Path, seeds_dir: Path) -> dict[str, str]:
    """Environment for `python -m bot` in tmp_path: SQLite there (at head), the seeds copy."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "WEBHOOK_", "DIGESTBOT_"))
        and key
        not in {
            "DATABASE_URL",
            "SEEDS_DIR",
            "PORT",
            "LOG_LEVEL",
            "LOG_FORMAT",
            "ADMIN_IDS",
            "METRICS_PORT",
            "ERROR_CHAT_ID",
        }
    }
    return {
        **inherited,
        "DATABASE_URL": migrated_sqlite(tmp_path / "digestbot.sqlite3"),
        "SEEDS_DIR": str(seeds_dir),
        "PYTHONIOENCODING": "utf-8",
    }
