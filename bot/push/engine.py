"""The push engine: one process's producer, fixed worker pool and heartbeat over the ledger.

A fixed pool of `concurrency` worker coroutines pulls claimed rows from a bounded queue, so
neither tasks nor objects grow with the number of subscribers. The engine knows nothing
about Telegram: a `Sender` (bot.telegram.sender in production, a fake in tests) turns an
`OutgoingMessage`, a digest's next part, into a `SendResult`, pacing and mapping Bot API
errors itself. Its other collaborators are passed in: `DigestRenders` (each digest rendered once a
run) and `OutcomeWriter` (outcomes back to the ledger in batches, and the crash bound).

Guarantee: a row is sent only by the worker holding its claim, one part at a time, and
each part's progress (`parts_sent`) or the row's end is written shortly after (results are
written back in batches, see bot.push.outcomes). Messages in flight plus results not yet written
are at most concurrency + flush_every. If the process dies, its `sending` rows are claimed
again once their lease expires and resume at their first unrecorded part, so nothing is
lost or skipped; only those in-flight or unrecorded messages (at most concurrency +
flush_every) can repeat. A transient failure after k parts hands the row back with
parts_sent = k: the retry sends part k on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta

from bot.errors import DigestError
from bot.ledger import Ledger
from bot.model import Claim
from bot.push.options import PushOptions
from bot.push.outcomes import OutcomeWriter, wait_for_event
from bot.push.renders import DigestRenders
from bot.push.reports import PushProgress
from bot.push.sender import Outcome, OutgoingMessage, Sender, SendResult
from bot.store import Store

log = logging.getLogger(__name__)


class Push:
    """One process's share of a push run: claim rows, send each digest, settle its outcome."""

    def __init__(
        self,
        options: PushOptions,
        *,
        store: Store,
        ledger: Ledger,
        sender: Sender,
        renders: DigestRenders,
        outcomes: OutcomeWriter,
        total: int = 0,
        progress: Callable[[PushProgress], None] | None = None,
    ) -> None:
        self.options = options
        self.store = store
        self.ledger = ledger
        self.sender = sender
        self.renders = renders
        self.outcomes = outcomes
        self.total = total
        self.progress = progress
        self.queue: asyncio.Queue[Claim | None] = asyncio.Queue(maxsize=max(1, options.batch))
        self.room = asyncio.Event()  # the queue drained to half: claim more
        self.settled = asyncio.Event()  # a worker finished a row
        self.busy = 0  # rows being sent right now
        self._unqueued: list[Claim] = []  # claimed, not yet queued: handed back on a stop
        self.sent = self.failed = self.blocked = self.retried = 0

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
        helpers = [
            asyncio.create_task(self.outcomes.run()),
            asyncio.create_task(self._heartbeat()),
        ]
        producer = asyncio.create_task(self._produce())
        stopped = False
        try:
            # A worker only ends early by raising (a fatal sender error): watch it too, or
            # the producer would wait forever for room in a queue nobody drains.
            done, _ = await asyncio.wait({producer, *workers}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            for _ in workers:
                await self.queue.put(None)
            await asyncio.gather(*workers)
        except (DigestError, asyncio.CancelledError):
            # Nothing more goes out: a refused token, a shutdown (sends abandoned), or the
            # push was cancelled.
            stopped = True
            raise
        finally:
            for task in (producer, *workers, *helpers):
                task.cancel()
            await asyncio.gather(producer, *workers, *helpers, return_exceptions=True)
            self._requeue_unsent()
            written = await self.outcomes.final_flush()
            if stopped and written:
                # Give back this worker's claims now rather than after the lease.
                await asyncio.to_thread(self.ledger.release, self.options.worker_id)

    async def deliver_one(self, claim: Claim) -> Outcome:
        """Send one claimed row outside a run, settle it in the ledger, and say how it ended.

        The same part-by-part send and settling as a run's workers (a channel's "post the
        latest now" goes through it): a retry hands the row back to the next push.
        """
        await self.renders.prepare([claim])
        before = (self.sent, self.blocked, self.retried)
        await self.outcomes.reserve()
        await self._deliver(claim)
        await self.outcomes.final_flush()
        if self.sent > before[0]:
            return Outcome.SENT
        if self.blocked > before[1]:
            return Outcome.BLOCKED
        return Outcome.RETRY if self.retried > before[2] else Outcome.FAILED

    async def _claim(self, limit: int) -> list[Claim]:
        """Claim up to `limit` rows; a cancel waits for a claim already running in its thread.

        The thread cannot be stopped: were the cancel to return at once, the rows it then
        claims would stay `sending` (after the release of a fatal stop, too) until the lease.
        """
        opts = self.options
        claiming = asyncio.ensure_future(
            asyncio.to_thread(
                self.ledger.claim, opts.worker_id, limit, opts.clock(), lease=opts.lease
            )
        )
        try:
            return await asyncio.shield(claiming)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                self._unqueued = await claiming
            raise

    def _requeue_unsent(self) -> None:
        # Rows still queued or just claimed (cancelled or failed run) were never sent: give
        # them back now instead of leaving them to the lease.
        retry_at = self.options.clock()
        unsent, self._unqueued = self._unqueued, []
        while not self.queue.empty():
            queued = self.queue.get_nowait()
            if queued is not None:
                unsent.append(queued)
        for claim in unsent:
            self.outcomes.retry(claim.delivery_id, retry_at, "requeued", attempt=False)

    # -- producer --------------------------------------------------------------------

    async def _produce(self) -> None:
        opts = self.options
        while True:
            free = self.queue.maxsize - self.queue.qsize()
            if free < max(1, self.queue.maxsize // 2):
                self.room.clear()
                await self.room.wait()
                continue
            claims = await self._claim(free)
            if claims:
                self._unqueued = claims  # handed back by _requeue_unsent if cancelled here
                await self.renders.prepare(claims)
                for claim in claims:
                    self.queue.put_nowait(claim)
                self._unqueued = []
                continue
            if self.busy or not self.queue.empty():
                # Our own rows are still going out; a retry may come back: look again soon.
                self.settled.clear()
                await wait_for_event(self.settled, opts.poll_interval)
                if self.busy or not self.queue.empty():
                    continue
            if not await self.outcomes.flush():
                # Our results must be in before `outstanding` can say we are done.
                await asyncio.sleep(self.outcomes.backoff())
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

    # -- workers ---------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            claim = await self.queue.get()
            if claim is None:
                return
            if self.queue.qsize() <= self.queue.maxsize // 2:
                self.room.set()
            await self.outcomes.reserve()  # the slot returns once the outcome is written
            self.busy += 1
            try:
                await self._deliver(claim)
            finally:
                self.busy -= 1
                self.settled.set()

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

    # -- one row ---------------------------------------------------------------------

    async def _deliver(self, claim: Claim) -> None:
        """Send the claim's digest from its first undelivered part on, and settle the row.

        The worker holds one crash-bound slot on entry; each further part takes another, and
        each part's outcome (progress, or how the row ended) gives one back once written.
        """
        digest = self.renders.digest(claim)
        if digest is None:
            self._fail(claim, "article hidden or deleted")
            self._report()
            return
        chat_id, part, total = claim.chat_id, claim.parts_sent, len(digest.parts)
        if part >= total:
            # Every part went out before (the row was handed back before its end was written).
            self._sent(claim, None)
            return
        migrated = False
        while True:
            message = OutgoingMessage(
                chat_id,
                claim.chat_type,
                digest.parts,
                digest.buttons,
                paid=self.options.paid_broadcast,
                start=part,
                stop=part + 1,
                thread_id=claim.thread_id,
            )
            result = await self._send(message)
            if result.outcome is Outcome.SENT:
                part += 1
                if part == total:
                    self._sent(claim, result.message_id)
                    return
                self.outcomes.progress(claim.delivery_id, part, result.message_id)
                await self.outcomes.reserve()
                continue
            if result.outcome is Outcome.MIGRATED and result.new_chat_id and not migrated:
                migrated = True
                # The whole digest goes to the supergroup: it is a new chat, and parts that
                # reached the old group (if any) are not in its history.
                if await asyncio.to_thread(self._migrate, claim, result.new_chat_id):
                    chat_id, part = result.new_chat_id, 0
                    self.outcomes.progress(claim.delivery_id, 0, None)
                    await self.outcomes.reserve()
                    continue
                self._block(claim, f"migrated to chat {result.new_chat_id}, already subscribed")
                self._report()
                return
            self._settle(claim, result, part, total)
            return

    async def _send(self, message: OutgoingMessage) -> SendResult:
        try:
            return await self.sender.send(message)
        except (asyncio.CancelledError, DigestError):
            raise  # a DigestError means no message can go out: stop the push
        except Exception as exc:  # a broken sender must not kill the push
            log.exception("sender raised for chat %d", message.chat_id)
            return SendResult(Outcome.RETRY, error=f"{type(exc).__name__}: {exc}")

    def _migrate(self, claim: Claim, new_chat_id: int) -> bool:
        """Move the subscriber to its supergroup; False when that chat is subscribed already."""
        existing = self.store.get_subscriber(new_chat_id)
        if existing is not None and existing.id != claim.subscriber_id:
            return False
        self.store.migrate_chat(claim.chat_id, new_chat_id)
        return True

    def _sent(self, claim: Claim, message_id: int | None) -> None:
        self.outcomes.sent(claim.delivery_id, message_id)
        self.sent += 1
        self._report()

    def _settle(self, claim: Claim, result: SendResult, part: int, total: int) -> None:
        """Settle a send that failed at part `part` of `total` (the parts before it are in)."""
        outcome = result.outcome
        if part:
            log.info(
                "digest of article %d to chat %d stopped after %d of %d parts: %s",
                claim.article_id,
                claim.chat_id,
                part,
                total,
                result.error or outcome.value,
            )
        if outcome is Outcome.BLOCKED:
            self._block(claim, result.error or "chat unavailable")
        elif outcome is Outcome.RETRY:
            self._retry(claim, result)  # the retry resumes at `part`: its progress is buffered
        else:  # FAILED, or a migration without a target
            self._fail(claim, result.error or outcome.value)
        self._report()

    def _retry(self, claim: Claim, result: SendResult) -> None:
        opts = self.options
        reason = result.error or "transient error"
        if result.retry_after is not None:
            # Flood control is not the message's fault: wait it out, never give up on it.
            delay = timedelta(seconds=result.retry_after)
            self.outcomes.retry(claim.delivery_id, opts.clock() + delay, reason, attempt=False)
            self.retried += 1
            return
        attempts = claim.attempts + 1
        if attempts >= opts.max_attempts:
            self._fail(claim, f"gave up after {attempts} attempts: {reason}")
            return
        delay = min(opts.backoff * 2 ** (attempts - 1), opts.max_backoff)
        self.outcomes.retry(claim.delivery_id, opts.clock() + delay, reason, attempt=True)
        self.retried += 1

    def _block(self, claim: Claim, reason: str) -> None:
        text = f"blocked: {reason}"
        self.outcomes.failed(claim.delivery_id, text)
        self.outcomes.deactivate(claim.subscriber_id, text)
        self.blocked += 1

    def _fail(self, claim: Claim, reason: str) -> None:
        self.outcomes.failed(claim.delivery_id, reason)
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
