"""The handlers' context: where store calls run, NewestArticle (one read shared by
concurrent /latest, expiring and forgettable) and SharedReads (the same, by key: /search)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import cast

import pytest

from bot.model import Article, StoredArticle
from bot.store import Store
from bot.telegram.context import NewestArticle, SharedReads, in_store

ARTICLE = StoredArticle(
    id=1,
    article=Article(
        slug="one",
        title="One",
        date=None,
        author="",
        source="",
        url="",
        one_line="One line.",
        points=(),
        risks=(),
        body="Body.",
        tags=(),
    ),
)


class FakeStore:
    """Counts latest_article reads; a read can be held open with `gate`."""

    def __init__(self, newest: StoredArticle | None = ARTICLE) -> None:
        self.newest = newest
        self.reads = 0
        self.reading = threading.Event()  # set once a read has begun
        self.gate = threading.Event()
        self.gate.set()
        self.fail: Exception | None = None

    def latest_article(self) -> StoredArticle | None:
        self.reads += 1
        newest, fail = self.newest, self.fail  # what the database holds when it is asked
        self.reading.set()
        self.gate.wait(5)
        if fail is not None:
            raise fail
        return newest


class Clock:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def as_store(fake: FakeStore) -> Store:
    return cast(Store, fake)


async def test_concurrent_callers_share_one_read() -> None:
    fake = FakeStore()
    newest = NewestArticle(clock=Clock())
    found = await asyncio.gather(*(newest.get(as_store(fake)) for _ in range(200)))
    assert fake.reads == 1
    assert all(f is ARTICLE for f in found)
    assert await newest.get(as_store(fake)) is ARTICLE
    assert fake.reads == 1


async def test_the_newest_is_read_again_once_the_ttl_has_passed() -> None:
    fake, clock = FakeStore(), Clock()
    newest = NewestArticle(ttl=1.0, clock=clock)
    assert await newest.get(as_store(fake)) is ARTICLE
    fake.newest = replace(ARTICLE, id=2)
    clock.now += 0.5
    assert await newest.get(as_store(fake)) is ARTICLE  # within the TTL
    clock.now += 0.6
    found = await newest.get(as_store(fake))
    assert found is not None
    assert found.id == 2
    assert fake.reads == 2


async def test_no_articles_is_remembered_too_and_forget_reads_again() -> None:
    fake = FakeStore(newest=None)
    newest = NewestArticle(clock=Clock())
    assert await newest.get(as_store(fake)) is None
    assert await newest.get(as_store(fake)) is None
    assert fake.reads == 1
    fake.newest = ARTICLE
    newest.forget()
    assert await newest.get(as_store(fake)) is ARTICLE
    assert fake.reads == 2


async def test_a_read_begun_before_forget_is_not_kept() -> None:
    """A sync that ends while a read runs: later callers never get the pre-sync article."""
    fake = FakeStore()
    newest = NewestArticle(clock=Clock())
    fake.gate.clear()
    early = asyncio.ensure_future(newest.get(as_store(fake)))
    await asyncio.to_thread(fake.reading.wait, 5)
    newest.forget()
    fake.newest = replace(ARTICLE, id=2)
    fake.gate.set()
    assert await early is ARTICLE  # what the store said when it was asked
    found = await newest.get(as_store(fake))
    assert found is not None
    assert found.id == 2
    assert fake.reads == 2


async def test_a_failed_read_reaches_every_waiter_and_the_next_call_retries() -> None:
    fake = FakeStore()
    fake.fail = RuntimeError("database is locked")
    newest = NewestArticle(clock=Clock())
    results = await asyncio.gather(
        newest.get(as_store(fake)), newest.get(as_store(fake)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert fake.reads == 1
    fake.fail = None
    assert await newest.get(as_store(fake)) is ARTICLE


async def test_a_cancelled_caller_does_not_cancel_the_shared_read() -> None:
    fake = FakeStore()
    newest = NewestArticle(clock=Clock())
    fake.gate.clear()
    first = asyncio.ensure_future(newest.get(as_store(fake)))
    second = asyncio.ensure_future(newest.get(as_store(fake)))
    await asyncio.to_thread(fake.reading.wait, 5)
    first.cancel()
    fake.gate.set()
    assert await second is ARTICLE
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_in_store_answers_like_the_store(store: Store) -> None:
    """Inline on SQLite, in a thread on PostgreSQL: the same answer either way."""
    assert await in_store(store, store.get_subscriber, 42) is None
    await in_store(store, store.subscribe, 42, chat_type="private", language="en", title="")
    found = await in_store(store, store.get_subscriber, 42)
    assert found is not None
    assert found.chat_id == 42


async def test_in_store_runs_only_sqlite_point_lookups_inline(sqlite_store: Store) -> None:
    """A point lookup on SQLite stays on the loop's thread; anything else goes to a worker."""
    loop_thread = threading.get_ident()
    threads: list[int] = []

    class Probe(Store):
        def get_article(self, article_id: int) -> StoredArticle | None:
            threads.append(threading.get_ident())
            return None

        def count_articles(self) -> int:
            threads.append(threading.get_ident())
            return 0

    probe = Probe(sqlite_store.engine)  # the fixture's store closes the engine
    await in_store(probe, probe.get_article, 1)
    await in_store(probe, probe.count_articles)
    await in_store(probe, threading.get_ident)
    assert threads[0] == loop_thread
    assert threads[1] != loop_thread


class CountingReads:
    """Counts reads per key; reads wait on `gate` so callers can pile up."""

    def __init__(self) -> None:
        self.reads: dict[str, int] = {}
        self.gate = asyncio.Event()
        self.gate.set()

    def read(self, key: str) -> Callable[[], Awaitable[str]]:
        async def run() -> str:
            self.reads[key] = self.reads.get(key, 0) + 1
            await self.gate.wait()
            return f"{key}:{self.reads[key]}"

        return run


async def test_identical_searches_in_flight_share_one_read_and_others_do_not() -> None:
    reads, clock = CountingReads(), Clock()
    shared: SharedReads[str, str] = SharedReads(ttl=1.0, clock=clock)
    reads.gate.clear()
    waiting = [
        asyncio.ensure_future(shared.get(key, reads.read(key)))
        for key in ("焦虑", "焦虑", "AI", "焦虑")
    ]
    await asyncio.sleep(0)
    reads.gate.set()
    assert await asyncio.gather(*waiting) == ["焦虑:1", "焦虑:1", "AI:1", "焦虑:1"]
    assert reads.reads == {"焦虑": 1, "AI": 1}
    clock.now += 1.1  # past the TTL: read again
    assert await shared.get("焦虑", reads.read("焦虑")) == "焦虑:2"


async def test_forget_drops_every_kept_search_and_size_bounds_them() -> None:
    reads = CountingReads()
    shared: SharedReads[str, str] = SharedReads(clock=Clock(), size=2)
    for key in ("a", "b", "c"):
        await shared.get(key, reads.read(key))
    assert await shared.get("c", reads.read("c")) == "c:1"  # kept
    assert await shared.get("a", reads.read("a")) == "a:2"  # the oldest was dropped
    shared.forget()
    assert await shared.get("c", reads.read("c")) == "c:2"
