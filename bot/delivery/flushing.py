"""Writing the push's outcomes back to the ledger in batches, retrying a failed write."""

from __future__ import annotations

import asyncio
import logging

from bot.delivery.state import PushState

# The package's logger, as before the split into modules (log lines name "bot.delivery").
log = logging.getLogger(__package__)

_MAX_FLUSH_BACKOFF = 5.0  # seconds between attempts while the ledger refuses writes
_FINAL_FLUSH_TRIES = 3  # when the push ends (or is cancelled): do not hang on a dead database


class FlushingMixin(PushState):
    """The push engine's ledger writes."""

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
