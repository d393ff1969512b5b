"""run_push: plan a run in the ledger, send it with the engine, and report; deliver_now."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.ledger import Ledger
from bot.logging_setup import log_context
from bot.model import RunStats, Subscriber
from bot.push.engine import Push
from bot.push.options import PushOptions, run_key
from bot.push.outcomes import OutcomeWriter
from bot.push.planner import Planner
from bot.push.renders import DigestRenders
from bot.push.reports import PushProgress, PushReport
from bot.push.sender import Outcome, Sender
from bot.rendering import Renderer
from bot.scheduling import subscriber_zone
from bot.store import Store

log = logging.getLogger(__name__)


async def run_push(
    store: Store,
    renderer: Renderer,
    sender: Sender,
    options: PushOptions,
    *,
    now: datetime | None = None,
    force: bool = False,
    dry_run: bool = False,
    progress: Callable[[PushProgress], None] | None = None,
) -> PushReport:
    """Plan whoever is due at `now` (everyone not yet pushed today with `force`) and send.

    Also resumes rows left by earlier runs (interrupted, retried, or another instance's
    expired claims), and returns when nothing is left pending. `dry_run` plans in memory
    only and sends nothing. A DigestError from the sender (a refused token) stops the push
    and propagates; the rows it had claimed but not sent are pending again.
    """
    now = now or options.clock()
    started = time.monotonic()
    key = run_key(now, options.defaults, force=force)
    if dry_run:
        plan = await asyncio.to_thread(
            Planner(store).plan, None, now, options.defaults, force=force, dry_run=True
        )
        return PushReport(
            run_key=key,
            due=plan.planned,
            sent=0,
            failed=0,
            blocked=0,
            skipped=plan.skipped,
            retried=0,
            duration=timedelta(seconds=time.monotonic() - started),
            dry_run=True,
            planned=plan.pairs,
        )
    # Every line logged by this push (its workers are tasks started inside) names the run.
    with log_context(push=key):
        return await _send(
            store, renderer, sender, options, key=key, now=now, force=force, progress=progress
        )


async def _send(
    store: Store,
    renderer: Renderer,
    sender: Sender,
    options: PushOptions,
    *,
    key: str,
    now: datetime,
    force: bool,
    progress: Callable[[PushProgress], None] | None,
) -> PushReport:
    started = time.monotonic()
    ledger = Ledger(store)
    run = await asyncio.to_thread(ledger.start_run, key, options.clock())
    plan = await asyncio.to_thread(Planner(store).plan, run.id, now, options.defaults, force=force)
    total = await asyncio.to_thread(ledger.pending_count)
    renders = DigestRenders(
        store, renderer, reader=options.reader, bot_username=options.bot_username
    )
    push = Push(
        options,
        store=store,
        ledger=ledger,
        sender=sender,
        renders=renders,
        outcomes=OutcomeWriter(ledger, options),
        total=total,
        progress=progress,
    )
    await push.run()
    stats: RunStats | None = None
    if plan.planned or not run.created or push.handled:
        stats = await asyncio.to_thread(
            ledger.finish_run, run.id, options.clock(), skipped=plan.skipped
        )
    else:
        await asyncio.to_thread(ledger.discard_run, run.id)
    counts = (plan.planned, push.sent, push.failed, push.blocked, plan.skipped)
    # One INFO line per push that did something; an idle tick says nothing at INFO.
    level = logging.INFO if plan.planned or push.handled else logging.DEBUG
    log.log(level, "push %s: planned %d, sent %d, failed %d, blocked %d, skipped %d", key, *counts)
    return PushReport(
        run_key=key,
        due=plan.planned,
        sent=push.sent,
        failed=push.failed,
        blocked=push.blocked,
        skipped=plan.skipped,
        retried=push.retried,
        duration=timedelta(seconds=time.monotonic() - started),
        renders=renders.count,
        stats=stats,
    )


async def deliver_now(
    store: Store,
    renderer: Renderer,
    sender: Sender,
    options: PushOptions,
    *,
    subscriber: Subscriber,
    article_id: int,
) -> Outcome | None:
    """Send one article to one subscriber now, through the ledger's row for that pair.

    The row is the one a daily push would plan (dated the subscriber's local today), so the
    push never sends that article there again, and a second call sends nothing. None when
    the pair already has a row that is not pending (sent, failed, or being sent).
    """
    now = options.clock()
    day = now.astimezone(subscriber_zone(subscriber, options.defaults)).date()
    ledger = Ledger(store)
    claim = await asyncio.to_thread(
        ledger.claim_pair, subscriber.id, article_id, day=day, worker=options.worker_id, now=now
    )
    if claim is None:
        return None
    renders = DigestRenders(
        store, renderer, reader=options.reader, bot_username=options.bot_username
    )
    push = Push(
        options,
        store=store,
        ledger=ledger,
        sender=sender,
        renders=renders,
        outcomes=OutcomeWriter(ledger, options),
    )
    return await push.deliver_one(claim)
