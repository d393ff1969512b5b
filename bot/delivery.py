"""The push engine: plan a run in the ledger, then claim, render and send it with bounded memory.

A fixed pool of `concurrency` worker coroutines pulls claimed rows from a bounded queue, so
neither tasks nor objects grow with the number of subscribers. Each (article, language) is
rendered once per run. Outcomes go back to the ledger in batches. The engine knows nothing
about Telegram: a `Sender` (bot.telegram.sender in production, a fake in tests) turns an
`OutgoingMessage` into a `SendResult`, pacing and mapping Bot API errors itself.

Guarantee: a row is sent only by the worker holding its claim, and marked sent shortly
after (results are written back in batches of `flush_every`). A semaphore keeps sends in
flight plus results not yet written at most concurrency + flush_every. If the process
dies, its `sending` rows are claimed again once their lease expires, so nothing is lost;
only those in-flight or unrecorded messages (at most concurrency + flush_every) can repeat.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Protocol

from bot.config import Settings
from bot.digest import Button, article_buttons, render_part
from bot.errors import DigestError
from bot.i18n import DEFAULT_LANG, Lang, is_lang
from bot.ledger import Claim, Ledger, Outcomes, RunStats
from bot.rendering import Renderer
from bot.scheduling import PushDefaults, zone
from bot.store import Store, StoredArticle, utcnow

log = logging.getLogger(__name__)


class Outcome(Enum):
    """What became of one send."""

    SENT = "sent"
    RETRY = "retry"  # transient: timeout, 5xx, or 429 the sender chose not to wait out
    BLOCKED = "blocked"  # 403 or chat not found: the subscriber goes inactive
    MIGRATED = "migrated"  # the group became a supergroup: resend to new_chat_id
    FAILED = "failed"  # permanent: the row fails with the reason


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One push message as plain data: HTML text, inline buttons, and where it goes."""

    chat_id: int
    chat_type: str
    html: str
    buttons: tuple[Button, ...] = ()
    paid: bool = False


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of sending one message."""

    outcome: Outcome
    message_id: int | None = None
    retry_after: float | None = None  # set for a 429 the engine should wait out (no attempt)
    new_chat_id: int | None = None
    error: str | None = None


class Sender(Protocol):
    """Sends one message, pacing itself, and maps transport errors to an Outcome."""

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Send `message` and report what happened (never raise for Bot API errors).

        Raise a DigestError (such as ConfigError for a token the Bot API refuses) only when
        no message can go out: the push stops and hands its unsent rows back.
        """
        ...


def default_worker_id() -> str:
    """Return an id naming this process in the ledger's claims (host, pid, random)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


def push_defaults(settings: Settings) -> PushDefaults:
    """Build the scheduling defaults from the settings."""
    return PushDefaults(
        push_time=settings.push_time,
        timezone=settings.timezone,
        grace=settings.push_grace,
        policy=settings.push_policy,
        max_per_day=settings.push_max_per_day,
    )


@dataclass(frozen=True, slots=True)
class PushOptions:
    """How a push runs: scheduling rules, retries, pool size, batch sizes, lease."""

    defaults: PushDefaults
    max_attempts: int = 5
    concurrency: int = 32
    batch: int = 200  # claim size, and the bound on the queue of claimed rows
    lease: timedelta = timedelta(seconds=30)  # heartbeats renew it every lease/4
    worker_id: str = field(default_factory=default_worker_id)
    paid_broadcast: bool = False
    backoff: timedelta = timedelta(seconds=2)  # first retry delay, doubled per attempt
    max_backoff: timedelta = timedelta(minutes=5)
    flush_every: int = 100  # outcomes written back after this many results ...
    flush_interval: float = 0.5  # ... or this many seconds
    poll_interval: float = 0.5  # how often to look again while others hold rows
    clock: Callable[[], datetime] = utcnow  # wall clock for claims, leases and retries

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> PushOptions:
        """Build options from the settings; keyword overrides win."""
        values: dict[str, object] = {
            "defaults": push_defaults(settings),
            "max_attempts": settings.push_max_attempts,
            "paid_broadcast": settings.paid_broadcast,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class PushProgress:
    """Progress of a running push, for a progress bar."""

    total: int
    sent: int
    failed: int
    blocked: int
    retried: int

    @property
    def done(self) -> int:
        """Return how many rows are settled (sent, failed or blocked)."""
        return self.sent + self.failed + self.blocked


@dataclass(frozen=True, slots=True)
class PushReport:
    """What one run_push call did (counts are messages this process handled)."""

    run_key: str
    due: int  # rows planned by this call
    sent: int
    failed: int
    blocked: int
    skipped: int  # subscribers due (or, forced, active) who got nothing this time
    retried: int
    duration: timedelta
    renders: int = 0
    dry_run: bool = False
    planned: tuple[tuple[int, int], ...] = ()  # (chat_id, article_id), dry runs only
    stats: RunStats | None = None


def run_key(now: datetime, defaults: PushDefaults, *, force: bool) -> str:
    """Return the push run's unique key: the tick's minute, or the day for `push --now`."""
    if force:
        tz = zone(defaults.timezone)
        local = now.astimezone(tz) if tz is not None else now.astimezone(UTC)
        return f"now:{local.date().isoformat()}"
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


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
    ledger = Ledger(store)
    if dry_run:
        plan = await asyncio.to_thread(
            ledger.plan, None, now, options.defaults, force=force, dry_run=True
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
    run = await asyncio.to_thread(ledger.start_run, key, options.clock())
    plan = await asyncio.to_thread(ledger.plan, run.id, now, options.defaults, force=force)
    total = await asyncio.to_thread(ledger.pending_count)
    push = _Push(store, renderer, sender, options, ledger, total, progress)
    await push.run()
    stats: RunStats | None = None
    if plan.planned or not run.created or push.handled:
        stats = await asyncio.to_thread(
            ledger.finish_run, run.id, options.clock(), skipped=plan.skipped
        )
    else:
        await asyncio.to_thread(ledger.discard_run, run.id)
    counts = (plan.planned, push.sent, push.failed, push.blocked, plan.skipped)
    log.info("push %s: planned %d, sent %d, failed %d, blocked %d, skipped %d", key, *counts)
    return PushReport(
        run_key=key,
        due=plan.planned,
        sent=push.sent,
        failed=push.failed,
        blocked=push.blocked,
        skipped=plan.skipped,
        retried=push.retried,
        duration=timedelta(seconds=time.monotonic() - started),
        renders=push.renders,
        stats=stats,
    )


_Prepared = tuple[str, tuple[Button, ...]]
_MAX_FLUSH_BACKOFF = 5.0  # seconds between attempts while the ledger refuses writes
_FINAL_FLUSH_TRIES = 3  # when the push ends (or is cancelled): do not hang on a dead database


class _Push:
    """One process's share of sending: producer, fixed worker pool, flusher, heartbeat."""

    def __init__(  # noqa: PLR0917 - private, called once
        self,
        store: Store,
        renderer: Renderer,
        sender: Sender,
        options: PushOptions,
        ledger: Ledger,
        total: int,
        progress: Callable[[PushProgress], None] | None,
    ) -> None:
        self.store = store
        self.renderer = renderer
        self.sender = sender
        self.options = options
        self.ledger = ledger
        self.total = total
        self.progress = progress
        self.queue: asyncio.Queue[Claim | None] = asyncio.Queue(maxsize=max(1, options.batch))
        self.outcomes = Outcomes()
        self.room = asyncio.Event()  # the queue drained to half: claim more
        self.settled = asyncio.Event()  # a worker finished a row
        self.flush_now = asyncio.Event()
        self.flush_lock = asyncio.Lock()
        self.articles: dict[int, StoredArticle | None] = {}
        self.prepared: dict[tuple[int, Lang], _Prepared | None] = {}
        # Sends in flight plus results not yet in the ledger never exceed this: it is what a
        # crash can repeat.
        self.budget = asyncio.Semaphore(options.concurrency + options.flush_every)
        self.busy = 0
        self.flush_failures = 0  # failed ledger writes in a row
        self.sent = self.failed = self.blocked = self.retried = self.renders = 0

    @property
    def handled(self) -> int:
        """Return how many rows this process settled or re-queued."""
        return self.sent + self.failed + self.blocked + self.retried

    async def run(self) -> None:
        """Send until no row is pending anywhere, then write back every outcome.

        A DigestError from the sender stops everything: the outcomes so far are written and
        this worker's unsent claims go back to pending at once.
        """
        workers = [asyncio.create_task(self._worker()) for _ in range(self.options.concurrency)]
        helpers = [asyncio.create_task(self._flusher()), asyncio.create_task(self._heartbeat())]
        producer = asyncio.create_task(self._produce())
        fatal = False
        try:
            # A worker only ends early by raising (a fatal sender error): watch it too, or
            # the producer would wait forever for room in a queue nobody drains.
            done, _ = await asyncio.wait({producer, *workers}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            for _ in workers:
                await self.queue.put(None)
            await asyncio.gather(*workers)
        except DigestError:
            fatal = True
            raise
        finally:
            for task in (producer, *workers, *helpers):
                task.cancel()
            await asyncio.gather(producer, *workers, *helpers, return_exceptions=True)
            self._requeue_unsent()
            written = await self._final_flush()
            if fatal and written:
                # Nothing can be sent with this bot (its sends in flight were refused too):
                # give back the claims now rather than after the lease.
                await asyncio.to_thread(self.ledger.release, self.options.worker_id)

    async def _final_flush(self) -> bool:
        """Write what is left, retrying briefly; False if the ledger still refuses."""
        for attempt in range(_FINAL_FLUSH_TRIES):
            if await self._try_flush():
                return True
            if attempt + 1 < _FINAL_FLUSH_TRIES:
                await asyncio.sleep(self._flush_backoff())
        # Those rows stay `sending`: another run claims them after the lease, and only they
        # may be sent twice (the crash bound).
        unwritten = len(self.outcomes)
        log.error("%d push outcomes not written; their rows return after the lease", unwritten)
        return False

    def _requeue_unsent(self) -> None:
        # Rows still queued (cancelled or failed run) were never sent: give them back now
        # instead of leaving them to the lease.
        retry_at = self.options.clock()
        while not self.queue.empty():
            claim = self.queue.get_nowait()
            if claim is not None:
                self.outcomes.retries.append((claim.delivery_id, retry_at, "requeued", False))

    # -- producer --------------------------------------------------------------------

    async def _produce(self) -> None:
        opts = self.options
        while True:
            free = self.queue.maxsize - self.queue.qsize()
            if free < max(1, self.queue.maxsize // 2):
                self.room.clear()
                await self.room.wait()
                continue
            claims = await asyncio.to_thread(
                self.ledger.claim, opts.worker_id, free, opts.clock(), lease=opts.lease
            )
            if claims:
                await self._prepare(claims)
                for claim in claims:
                    self.queue.put_nowait(claim)
                continue
            if self.busy or not self.queue.empty():
                # Our own rows are still going out; a retry may come back: look again soon.
                self.settled.clear()
                await _wait(self.settled, opts.poll_interval)
                if self.busy or not self.queue.empty():
                    continue
            if not await self._try_flush():
                # Our results must be in before `outstanding` can say we are done.
                await asyncio.sleep(self._flush_backoff())
                continue
            remaining, next_retry = await asyncio.to_thread(
                self.ledger.outstanding, opts.worker_id
            )
            if remaining == 0:
                return
            delay = opts.poll_interval
            if next_retry is not None:
                delay = min(delay, max(0.0, (next_retry - opts.clock()).total_seconds()))
            await asyncio.sleep(max(delay, 0.01))

    async def _prepare(self, claims: list[Claim]) -> None:
        """Load and render every (article, language) of a batch not rendered yet this run."""
        missing = sorted({c.article_id for c in claims} - self.articles.keys())
        if missing:
            found = await asyncio.to_thread(self.store.get_articles, missing)
            for article_id in missing:
                self.articles[article_id] = found.get(article_id)
        for claim in claims:
            key = (claim.article_id, _lang(claim.language))
            if key in self.prepared:
                continue
            stored = self.articles.get(claim.article_id)
            if stored is None or stored.hidden:
                self.prepared[key] = None
                continue
            parts = render_part(self.renderer, stored, "digest", key[1])
            if len(parts) > 1:
                log.warning("digest %d is %d messages; pushing the first", key[0], len(parts))
            self.renders += 1
            self.prepared[key] = (parts[0], article_buttons(self.renderer, stored, key[1]))

    # -- workers ---------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            claim = await self.queue.get()
            if claim is None:
                return
            if self.queue.qsize() <= self.queue.maxsize // 2:
                self.room.set()
            await self.budget.acquire()  # released once the outcome is in the ledger
            self.busy += 1
            try:
                await self._deliver(claim)
            finally:
                self.busy -= 1
                self.settled.set()
            if len(self.outcomes) >= self.options.flush_every:
                self.flush_now.set()

    async def _deliver(self, claim: Claim) -> None:
        prepared = self.prepared.get((claim.article_id, _lang(claim.language)))
        if prepared is None:
            self._fail(claim, "article hidden or deleted")
            self._report()
            return
        html, buttons = prepared
        chat_id = claim.chat_id
        for hop in range(2):  # a second pass only after a group migration
            message = OutgoingMessage(
                chat_id, claim.chat_type, html, buttons, paid=self.options.paid_broadcast
            )
            try:
                result = await self.sender.send(message)
            except (asyncio.CancelledError, DigestError):
                raise  # a DigestError means no message can go out: stop the push
            except Exception as exc:  # a broken sender must not kill the push
                log.exception("sender raised for chat %d", chat_id)
                result = SendResult(Outcome.RETRY, error=f"{type(exc).__name__}: {exc}")
            if result.outcome is Outcome.MIGRATED and result.new_chat_id and hop == 0:
                if await asyncio.to_thread(self._migrate, claim, result.new_chat_id):
                    chat_id = result.new_chat_id
                    continue
                self._block(claim, f"migrated to chat {result.new_chat_id}, already subscribed")
                self._report()
                return
            self._settle(claim, result)
            return

    def _migrate(self, claim: Claim, new_chat_id: int) -> bool:
        """Move the subscriber to its supergroup; False when that chat is subscribed already."""
        existing = self.store.get_subscriber(new_chat_id)
        if existing is not None and existing.id != claim.subscriber_id:
            return False
        self.store.migrate_chat(claim.chat_id, new_chat_id)
        return True

    def _settle(self, claim: Claim, result: SendResult) -> None:
        outcome = result.outcome
        if outcome is Outcome.SENT:
            self.outcomes.sent.append((claim.delivery_id, result.message_id))
            self.sent += 1
        elif outcome is Outcome.RETRY:
            self._retry(claim, result)
        elif outcome is Outcome.BLOCKED:
            self._block(claim, result.error or "chat unavailable")
        else:  # FAILED, or a migration without a target
            self._fail(claim, result.error or outcome.value)
        self._report()

    def _retry(self, claim: Claim, result: SendResult) -> None:
        opts = self.options
        reason = result.error or "transient error"
        if result.retry_after is not None:
            # Flood control is not the message's fault: wait it out, never give up on it.
            delay = timedelta(seconds=result.retry_after)
            self.outcomes.retries.append((claim.delivery_id, opts.clock() + delay, reason, False))
            self.retried += 1
            return
        attempts = claim.attempts + 1
        if attempts >= opts.max_attempts:
            self._fail(claim, f"gave up after {attempts} attempts: {reason}")
            return
        delay = min(opts.backoff * 2 ** (attempts - 1), opts.max_backoff)
        self.outcomes.retries.append((claim.delivery_id, opts.clock() + delay, reason, True))
        self.retried += 1

    def _block(self, claim: Claim, reason: str) -> None:
        text = f"blocked: {reason}"
        self.outcomes.failed.append((claim.delivery_id, text))
        self.outcomes.deactivate.append((claim.subscriber_id, text))
        self.blocked += 1

    def _fail(self, claim: Claim, reason: str) -> None:
        self.outcomes.failed.append((claim.delivery_id, reason))
        self.failed += 1

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(
                PushProgress(
                    total=max(self.total, self.sent + self.failed + self.blocked),
                    sent=self.sent,
                    failed=self.failed,
                    blocked=self.blocked,
                    retried=self.retried,
                )
            )

    # -- background ------------------------------------------------------------------

    async def _flush(self) -> None:
        """Write the waiting outcomes; if the ledger write fails, keep them and raise."""
        async with self.flush_lock:
            batch = self.outcomes.take()
            if not len(batch):
                return
            try:
                await asyncio.to_thread(
                    self.ledger.record, batch, self.options.clock(), worker=self.options.worker_id
                )
            except BaseException:
                # Not written (or not known to be): keep the batch for the next flush; a
                # repeat is harmless, record() only touches rows this worker still holds.
                self.outcomes.restore(batch)
                raise
            for _ in range(len(batch.sent) + len(batch.failed) + len(batch.retries)):
                self.budget.release()  # sends waiting on the crash bound may go on

    async def _try_flush(self) -> bool:
        """Flush; on a failed ledger write log the first of a streak and return False."""
        try:
            await self._flush()
        except Exception:
            self.flush_failures += 1
            if self.flush_failures == 1:
                log.warning("writing push outcomes to the ledger failed; retrying", exc_info=True)
            return False
        if self.flush_failures:
            log.info("push outcomes written after %d failed attempts", self.flush_failures)
            self.flush_failures = 0
        return True

    def _flush_backoff(self) -> float:
        """Return the wait before the next flush attempt after a failure."""
        doubled = self.options.flush_interval * 2.0 ** min(self.flush_failures, 16)
        return min(max(doubled, 0.05), _MAX_FLUSH_BACKOFF)

    async def _flusher(self) -> None:
        while True:
            if self.flush_failures:
                await asyncio.sleep(self._flush_backoff())
            else:
                await _wait(self.flush_now, self.options.flush_interval)
                self.flush_now.clear()
            await self._try_flush()  # never raises: this loop must outlive a bad write

    async def _heartbeat(self) -> None:
        interval = max(self.options.lease.total_seconds() / 4, 0.05)
        failures = 0
        while True:
            await asyncio.sleep(interval)
            worker, now = self.options.worker_id, self.options.clock()
            try:
                await asyncio.to_thread(self.ledger.heartbeat, worker, now)
            except Exception:
                failures += 1
                if failures == 1:
                    log.warning("renewing the push's claims failed; retrying", exc_info=True)
                continue
            if failures:
                log.info("push claims renewed after %d failed attempts", failures)
                failures = 0


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Wait for `event` at most `seconds`.

    asyncio.wait, not wait_for or asyncio.timeout: on Python 3.11 both can swallow a
    cancellation that arrives just as the deadline fires, and the push would then outlive
    its cancel (seen as a hang on shutdown). asyncio.wait never cancels on its own.
    """
    if event.is_set():
        return
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=seconds)
    finally:
        waiter.cancel()


def _lang(value: str) -> Lang:
    return value if is_lang(value) else DEFAULT_LANG
