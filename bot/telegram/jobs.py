"""Periodic jobs of the bot's JobQueue: the seed re-sync and the push tick.

The push tick (every PUSH_TICK s) starts ``bot.push.run.run_push`` in the background unless
this application's push is still running, so a push longer than a tick is never doubled and
the JobQueue is never held up. A push stops when the application stops: its sends go on for
SHUTDOWN_GRACE (then the pacer abandons them) and its unsent rows go back to the ledger, which
resumes them on the next start (or in another instance)."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Final, cast

from bot.errors import DigestError, SendAbandoned
from bot.metrics import Metrics
from bot.push.options import PushOptions
from bot.push.reports import PushReport
from bot.push.run import run_push
from bot.status import PUSH_TICK as PUSH_TICK_BEAT
from bot.telegram import channel_loss
from bot.telegram.context import DigestApplication, DigestContext

log = logging.getLogger(__name__)

PUSH_JOB: Final = "push_tick"
_STOP_POLL: Final = 0.5  # how often a running push checks whether the application stops
# The pushes each application is running (tick or /pushnow); gone with the application.
_pushes: weakref.WeakKeyDictionary[DigestApplication, set[asyncio.Task[PushReport | None]]] = (
    weakref.WeakKeyDictionary()
)
# The last fatal push error per application: a refused token fails every tick the same way.
_last_fatal: weakref.WeakKeyDictionary[DigestApplication, str] = weakref.WeakKeyDictionary()


async def sync_seeds(context: DigestContext) -> None:
    """Re-sync SEEDS_DIR into the store (in a worker thread: it reads and hashes files)."""
    report = await context.db(context.runtime.sync)
    context.bot_data.metrics.synced(report)
    if report.new or report.updated or report.hidden:
        context.bot_data.forget_reads()  # /latest, /search answer from the new articles at once
        log.info("seeds re-synced: %s", report.summary())
    else:
        log.debug("seeds re-synced: %s", report.summary())


def push_running(application: DigestApplication) -> bool:
    """Tell whether a push started by this application is still going."""
    return any(not task.done() for task in _pushes.get(application, ()))


def start_push(
    application: DigestApplication, *, force: bool = False
) -> asyncio.Task[PushReport | None]:
    """Start a push in the background; its task returns the report (None if stopped early)."""
    task = application.create_task(_push_until_stopped(application, force=force), name="push")
    tasks = _pushes.setdefault(application, set())
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return task


async def _push_until_stopped(application: DigestApplication, *, force: bool) -> PushReport | None:
    """Run one push; cancel it as soon as the application begins to stop."""
    runtime = application.bot_data.require_runtime()
    metrics = application.bot_data.metrics
    started = time.monotonic()
    options = PushOptions.from_settings(runtime.settings, bot_username=application.bot.username)
    sender = channel_loss.push_sender(application.bot, runtime)
    push = asyncio.create_task(
        run_push(runtime.store, runtime.renderer, sender, options, force=force)
    )
    try:
        while True:
            done, _ = await asyncio.wait({push}, timeout=_STOP_POLL)
            if done:
                report = push.result()
                _last_fatal.pop(application, None)
                count_push(metrics, report)
                return report
            if not application.running:
                # Application.stop() waits for this task: the pacer abandons the sends that
                # miss SHUTDOWN_GRACE, and the push gives their rows back to the ledger.
                log.info("push interrupted by shutdown; the ledger resumes it later")
                await asyncio.wait({push}, timeout=runtime.settings.shutdown_grace)
                metrics.push_finished("interrupted", time.monotonic() - started)
                return None
    except SendAbandoned:
        log.info("push interrupted by shutdown; the ledger resumes it later")
        metrics.push_finished("interrupted", time.monotonic() - started)
        return None
    except DigestError as exc:
        metrics.push_finished("error", time.monotonic() - started)
        # A refused token and the like: one line, no traceback, and not again every tick
        # while nothing changed (the next tick still tries).
        if _last_fatal.get(application) != str(exc):
            _last_fatal[application] = str(exc)
            log.error("push stopped: %s", exc)  # noqa: TRY400 - the message says it all
        else:
            log.debug("push stopped again: %s", exc)
        return None
    except Exception:
        metrics.push_finished("error", time.monotonic() - started)
        log.exception("push failed")
        return None
    finally:
        push.cancel()  # when still sending after the grace; a no-op once it ended
        await asyncio.wait({push})
        if not push.cancelled():
            push.exception()  # retrieved: a shutdown's SendAbandoned is no news


def count_push(metrics: Metrics, report: PushReport) -> None:
    """Count a finished push in the metrics (a tick that found nothing to do as idle)."""
    if not (report.due or report.sent or report.failed or report.blocked or report.retried):
        metrics.push_runs.labels("idle").inc()
        return
    outcomes = {
        "sent": report.sent,
        "failed": report.failed,
        "blocked": report.blocked,
        "retried": report.retried,
    }
    metrics.push_finished("ok", report.duration.total_seconds(), outcomes)


async def push_tick(context: DigestContext) -> None:
    """Push to whoever is due now, unless this application's last push is still running."""
    # PTB types context.application loosely (its context type is a TypeVar there).
    application = cast("DigestApplication", context.application)
    application.bot_data.liveness.beat(PUSH_TICK_BEAT)  # /healthz: the scheduler is alive
    if push_running(application):
        log.debug("push tick skipped: a push is still running")
        return
    start_push(application)


def schedule_push(application: DigestApplication, interval: float) -> None:
    """Schedule the repeating push tick (replacing one of an earlier initialize)."""
    job_queue = application.job_queue
    if job_queue is None:
        return
    for job in job_queue.get_jobs_by_name(PUSH_JOB):
        job.schedule_removal()
    job_queue.run_repeating(push_tick, interval=interval, first=interval, name=PUSH_JOB)
