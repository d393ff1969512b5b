"""The outcome writer: batches to the ledger, retried writes, the crash bound."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.tables import DeliveryRow
from bot.ledger import Ledger
from bot.model import Claim
from bot.push.options import run_key
from bot.push.outcomes import OutcomeWriter
from bot.push.planner import Planner
from bot.push.run import run_push
from bot.rendering import Renderer
from bot.store import Store, utcnow
from tests.conftest import (
    DEFAULTS,
    LEASE,
    NOW,
    add_articles,
    add_subscribers,
)
from tests.push.conftest import FakeSender, failing_first, finished, options


async def test_failed_ledger_writes_are_retried_and_the_push_completes(
    store: Store,
    renderer: Renderer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Ledger.record raising (SQLite "database is locked", a dropped PostgreSQL connection)
    loses no batch and stalls nothing: the push ends, everyone has exactly one message, every
    row is sent, and the failure is logged once with its traceback."""
    add_articles(store, 1)
    add_subscribers(store, 120)
    calls = failing_first(monkeypatch, "record", 3)
    sender = FakeSender()
    opts = options(concurrency=4, batch=10, flush_every=5)
    push = asyncio.create_task(run_push(store, renderer, sender, opts, now=NOW))
    assert await finished(push), "run_push hung after a failed ledger write"
    report = push.result()
    assert sender.per_chat() == Counter(range(1, 121))
    assert report.sent == 120
    assert calls() > 3
    with Session(store.engine) as s:
        states = Counter(s.scalars(select(DeliveryRow.state)))
    assert states == Counter({"sent": 120})
    logged = [r for r in caplog.records if "ledger failed" in r.getMessage()]
    assert len(logged) == 1
    assert logged[0].exc_info is not None


def claimed(store: Store, count: int) -> tuple[Ledger, list[Claim]]:
    """Plan `count` subscribers' rows and claim them all as worker "w"."""
    add_articles(store, 1)
    add_subscribers(store, count)
    ledger = Ledger(store)
    run = ledger.start_run(run_key(NOW, DEFAULTS, force=False), utcnow())
    Planner(store).plan(run.id, NOW, DEFAULTS)
    return ledger, ledger.claim("w", count, utcnow(), lease=LEASE)


def states(store: Store) -> Counter[str]:
    with Session(store.engine) as s:
        return Counter(s.scalars(select(DeliveryRow.state)))


async def test_a_slot_under_the_crash_bound_returns_only_once_its_outcome_is_written(
    store: Store,
) -> None:
    """concurrency + flush_every sends may be unrecorded at once; the next waits for a write."""
    ledger, claims = claimed(store, 3)
    writer = OutcomeWriter(ledger, options(worker_id="w", concurrency=1, flush_every=1))
    await writer.reserve()
    await writer.reserve()
    third = asyncio.create_task(writer.reserve())
    await asyncio.sleep(0.05)
    assert not third.done()
    writer.sent(claims[0].delivery_id, 11)
    writer.failed(claims[1].delivery_id, "Bad Request: message is odd")
    assert len(writer) == 2
    assert await writer.flush()
    await asyncio.wait_for(third, 5)
    assert len(writer) == 0
    assert states(store) == Counter({"sent": 1, "failed": 1, "sending": 1})


async def test_a_refused_write_keeps_the_batch_for_the_next(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger, claims = claimed(store, 2)
    writer = OutcomeWriter(ledger, options(worker_id="w"))
    for claim in claims:
        writer.sent(claim.delivery_id, None)
    failing_first(monkeypatch, "record", 1)
    assert not await writer.flush()
    assert len(writer) == 2
    assert writer.backoff() > 0
    assert await writer.flush()
    assert len(writer) == 0
    assert states(store) == Counter({"sent": 2})


async def test_a_full_batch_is_written_without_waiting_for_the_interval(store: Store) -> None:
    ledger, claims = claimed(store, 4)
    writer = OutcomeWriter(ledger, options(worker_id="w", flush_every=2, flush_interval=30.0))
    running = asyncio.create_task(writer.run())
    try:
        later = utcnow() + timedelta(minutes=1)
        writer.retry(claims[0].delivery_id, later, "Timed out", attempt=True)
        writer.deactivate(claims[0].subscriber_id, "blocked: Forbidden")
        expected = Counter({"pending": 1, "sending": 3})
        for _ in range(500):  # a guard against a hang, not a timing check
            # The buffer empties when the batch is taken, before its write commits: wait for
            # the ledger itself.
            if not len(writer) and states(store) == expected:
                break
            await asyncio.sleep(0.02)
        assert len(writer) == 0
        assert states(store) == expected
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
