"""run_push: what a run plans, sends and reports (dry runs, nothing due, forced pushes)."""

from __future__ import annotations

from datetime import timedelta

from bot.ledger import Ledger
from bot.push.run import run_push
from bot.rendering import Renderer
from bot.store import Store
from tests.conftest import (
    NOW,
    add_articles,
    add_subscribers,
)
from tests.push.conftest import FakeSender, options


async def test_nothing_due_sends_nothing_and_leaves_no_run(
    store: Store, renderer: Renderer
) -> None:
    add_articles(store, 1)
    add_subscribers(store, 3)
    sender = FakeSender()
    report = await run_push(store, renderer, sender, options(), now=NOW - timedelta(hours=1))
    assert (report.due, report.sent) == (0, 0)
    assert sender.calls == 0
    ledger = Ledger(store)
    assert ledger.last_run_stats() is None


async def test_dry_run_sends_nothing_and_reports_who_gets_what(
    store: Store, renderer: Renderer
) -> None:
    ids = add_articles(store, 1)
    add_subscribers(store, 3)
    sender = FakeSender()
    report = await run_push(store, renderer, sender, options(), now=NOW, dry_run=True)
    assert report.dry_run
    assert sorted(report.planned) == [(1, ids[0]), (2, ids[0]), (3, ids[0])]
    assert sender.calls == 0
    ledger = Ledger(store)
    assert ledger.pending_count() == 0
    assert ledger.last_run_stats() is None


async def test_forced_push_sends_now_and_skips_who_already_had_today(
    store: Store, renderer: Renderer
) -> None:
    """`push --now` at 03:00 local reaches everyone; a second one the same day sends nothing."""
    add_articles(store, 1)
    add_subscribers(store, 4)
    early = NOW - timedelta(hours=5)  # 03:01 in Shanghai
    sender = FakeSender()
    first = await run_push(store, renderer, sender, options(), now=early, force=True)
    assert first.run_key == "now:2026-06-01"
    assert first.sent == 4
    second = await run_push(store, renderer, sender, options(), now=NOW, force=True)
    assert (second.sent, second.skipped) == (0, 4)
    tick = await run_push(store, renderer, sender, options(), now=NOW)
    assert tick.sent == 0
    assert len(sender.delivered) == 4
