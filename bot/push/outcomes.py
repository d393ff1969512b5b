"""The push's outcome writer: buffer outcomes, write them to the ledger in batches, bound a crash.

Outcomes go back to the ledger in batches (a write starts once half of `flush_every` waits,
or every `flush_interval` seconds), and a failed write is retried with backoff, never lost.
The writer also owns the crash bound: each message sent (each part of a long digest) needs a
slot of a semaphore of concurrency + flush_every, and a slot comes back only once that
message's outcome (the row's progress, or how it ended) is in the ledger. So messages in
flight plus results not yet written, the messages a crash can repeat, never exceed that
number.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from bot.ledger import Ledger
from bot.model import Outcomes
from bot.push.options import PushOptions

log = logging.getLogger(__name__)

_MAX_BACKOFF = 5.0  # seconds between attempts while the ledger refuses writes
_FINAL_TRIES = 3  # when the push ends (or is cancelled): do not hang on a dead database


class OutcomeWriter:
    """Buffers one process's send outcomes and writes them to the ledger in batches."""

    def __init__(self, ledger: Ledger, options: PushOptions) -> None:
        self.ledger = ledger
        self.options = options
        self._pending = Outcomes()
        self._lock = asyncio.Lock()  # one write at a time, so batches stay in order
        self._due = asyncio.Event()  # a full batch is waiting
        self._budget = asyncio.Semaphore(options.concurrency + options.flush_every)
        self.failures = 0  # failed ledger writes in a row

    def __len__(self) -> int:
        """Return how many outcomes wait to be written."""
        return len(self._pending)

    # -- the crash bound ---------------------------------------------------------------

    async def reserve(self) -> None:
        """Wait for room under the crash bound before a send; the slot returns once written."""
        await self._budget.acquire()

    # -- outcomes ----------------------------------------------------------------------

    def sent(self, delivery_id: int, message_id: int | None) -> None:
        """Buffer a delivered row."""
        self._pending.sent.append((delivery_id, message_id))
        self._added()

    def failed(self, delivery_id: int, reason: str) -> None:
        """Buffer a row that failed for good."""
        self._pending.failed.append((delivery_id, reason))
        self._added()

    def retry(self, delivery_id: int, not_before: datetime, reason: str, *, attempt: bool) -> None:
        """Buffer a row to send again from `not_before` (`attempt`: it counts as one)."""
        self._pending.retries.append((delivery_id, not_before, reason, attempt))
        self._added()

    def progress(self, delivery_id: int, parts_sent: int, message_id: int | None) -> None:
        """Buffer a long digest's progress: `parts_sent` of its parts reached the chat.

        0 starts the digest over (its chat moved); it settles the send that found out.
        """
        self._pending.progress.append((delivery_id, parts_sent, message_id))
        self._added()

    def deactivate(self, subscriber_id: int, reason: str) -> None:
        """Buffer a subscriber to mark inactive (its chat blocked the bot or is gone)."""
        self._pending.deactivate.append((subscriber_id, reason))
        self._added()

    def _added(self) -> None:
        # A write starts once half of flush_every waits, not all of it: a write started at a
        # full batch would find the crash bound used up (concurrency + flush_every), and every
        # worker would wait for it. The other half goes on sending while it runs.
        if 2 * len(self._pending) >= self.options.flush_every:
            self._due.set()

    # -- writing -----------------------------------------------------------------------

    async def run(self) -> None:
        """Write batches as they fill or every flush_interval, until cancelled."""
        while True:
            if self.failures:
                await asyncio.sleep(self.backoff())
            else:
                await wait_for_event(self._due, self.options.flush_interval)
                self._due.clear()
            await self.flush()  # never raises: this loop must outlive a bad write

    async def flush(self) -> bool:
        """Write what waits; on a failed ledger write log the first of a streak, return False."""
        try:
            await self._write()
        except Exception:
            self.failures += 1
            if self.failures == 1:
                log.warning("writing push outcomes to the ledger failed; retrying", exc_info=True)
            return False
        if self.failures:
            log.info("push outcomes written after %d failed attempts", self.failures)
            self.failures = 0
        return True

    async def final_flush(self) -> bool:
        """Write what is left, retrying briefly; False if the ledger still refuses."""
        for attempt in range(_FINAL_TRIES):
            if await self.flush():
                return True
            if attempt + 1 < _FINAL_TRIES:
                await asyncio.sleep(self.backoff())
        # Those rows stay `sending`: another run claims them after the lease, and only they
        # may be sent twice (the crash bound).
        log.error("%d push outcomes not written; their rows return after the lease", len(self))
        return False

    def backoff(self) -> float:
        """Return the wait before the next write attempt after a failure."""
        doubled = self.options.flush_interval * 2.0 ** min(self.failures, 16)
        return min(max(doubled, 0.05), _MAX_BACKOFF)

    async def _write(self) -> None:
        """Write the waiting outcomes; if the ledger write fails, keep them and raise."""
        async with self._lock:
            batch = self._pending.take()
            if not len(batch):
                return
            try:
                await asyncio.to_thread(
                    self.ledger.record, batch, self.options.clock(), worker=self.options.worker_id
                )
            except BaseException:
                # Not written (or not known to be): keep the batch for the next write; a
                # repeat is harmless, record() only touches rows this worker still holds.
                self._pending.restore(batch)
                raise
            for _ in range(batch.settled):
                self._budget.release()  # sends waiting on the crash bound may go on


async def wait_for_event(event: asyncio.Event, seconds: float) -> None:
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
