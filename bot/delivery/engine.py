"""The push engine: producer, fixed worker pool, flusher and heartbeat for one process."""

from __future__ import annotations

import asyncio
import logging

from bot.delivery.flushing import FlushingMixin
from bot.delivery.sending import SendingMixin
from bot.errors import DigestError

# The package's logger, as before the split into modules (log lines name "bot.delivery").
log = logging.getLogger(__package__)


class Push(SendingMixin, FlushingMixin):
    """One process's share of sending: producer, fixed worker pool, flusher, heartbeat."""

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
