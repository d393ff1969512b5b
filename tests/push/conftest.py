"""Helpers for the push tests: an in-memory Sender and fast PushOptions."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy.exc import OperationalError

from bot.ledger import Ledger
from bot.model import Article, ArticleUpsert, Point, StoredArticle
from bot.push.options import PushOptions
from bot.push.sender import Outcome, OutgoingMessage, SendResult
from bot.store import Store
from tests.conftest import DEFAULTS


class FakeSender:
    """Our own Sender protocol in memory: scripted results per chat and call, then success.

    A scripted None delivers that call normally (to fail a digest's later part).
    """

    def __init__(
        self,
        script: dict[int, list[SendResult | None]] | None = None,
        *,
        on_send: Callable[[OutgoingMessage], None] | None = None,
    ) -> None:
        self.script = {chat: list(results) for chat, results in (script or {}).items()}
        self.on_send = on_send
        self.delivered: list[OutgoingMessage] = []
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0

    async def send(self, message: OutgoingMessage) -> SendResult:
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.001)  # let the other workers overlap
            queued = self.script.get(message.chat_id)
            if queued:
                scripted = queued.pop(0)
                if scripted is not None:
                    return scripted
            self.delivered.append(message)
            if self.on_send is not None:
                self.on_send(message)
            first = len(self.delivered) * 10
            ids = tuple(range(first, first + len(message.window)))
            return SendResult(Outcome.SENT, delivered=len(message.window), message_ids=ids)
        finally:
            self.in_flight -= 1

    def per_chat(self) -> Counter[int]:
        """Count the digests each chat received (a digest's first part counts it)."""
        return Counter(m.chat_id for m in self.delivered if m.start == 0)

    def texts(self, chat_id: int) -> list[str]:
        """Return the messages a chat received, in order (every part of every digest)."""
        return [m.parts[i] for m in self.delivered if m.chat_id == chat_id for i in m.window]


def add_long_article(store: Store, points: int = 70) -> StoredArticle:
    """Add the newest article, whose digest is too long for one message (3 parts at 70 points)."""
    article = Article(
        slug="long",
        title="A long digest",
        date=date(2027, 1, 1),  # newer than add_articles' ones: the push picks it
        author="",
        source="",
        url="https://example.com/long",
        one_line="A digest too long for one message.",
        points=tuple(
            Point(f"Point {i}", "a point that takes some room in the digest, " * 2)
            for i in range(1, points + 1)
        ),
        risks=(),
        body="",
        tags=(),
    )
    store.apply_sync(
        inserts=[ArticleUpsert(article, "/seeds/long.md", 1, 1, article.slug)],
        updates=[],
        restamps=[],
        hide=[],
    )
    [stored] = [s for s in store.list_articles() if s.article.slug == "long"]
    return stored


def options(**overrides: object) -> PushOptions:
    """Fast options for tests: small pool and batches, millisecond backoffs and polls."""
    base = PushOptions(
        defaults=DEFAULTS,
        max_attempts=3,
        concurrency=8,
        batch=20,
        backoff=timedelta(milliseconds=5),
        flush_interval=0.02,
        poll_interval=0.02,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def failing_first(monkeypatch: pytest.MonkeyPatch, name: str, times: int) -> Callable[[], int]:
    """Make Ledger.`name` raise "database is locked" its first `times` calls; return a counter."""
    original = getattr(Ledger, name)
    calls = 0

    def flaky(self: Ledger, *args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls <= times:
            raise OperationalError("UPDATE deliveries", {}, Exception("database is locked"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Ledger, name, flaky)
    return lambda: calls


async def finished(push: asyncio.Task[object]) -> bool:
    """Wait for `push`; False if it hangs (a guard against a deadlock, not a timing check)."""
    done, _ = await asyncio.wait({push}, timeout=30)
    if not done:
        push.cancel()
        with contextlib.suppress(BaseException):
            await push
    return bool(done)


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING")
