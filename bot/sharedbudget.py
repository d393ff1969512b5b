"""One Telegram rate budget for every process sending with a token, leased through the database.

``SharedBudget`` is the pacer's source of bot-wide send slots (``bot.telegram.pacer``). The
budget itself is rows of ``rate_budget`` (``bot.db.rate_budget``, arithmetic in
``bot.ratebudget``):

- **push** slots are leased a slice at a time (``WINDOW`` seconds of sends, e.g. 4 at 20/s) and
  handed out locally one by one; a new slice is leased when the last is used up. A slice is
  only granted while the bucket is booked less than ``WINDOW`` ahead, so the processes
  interleave their slices and none runs ahead of the others.
- **command** replies take one slot each, straight from the bucket, whatever the horizon: they
  queue behind at most the push slices already granted (two windows), never behind a push's
  queue, so /latest is answered during a push.
- **per chat** there is no shared bucket: the ledger hands all of a chat's rows (every forum
  topic of a group) to one worker and none to another while it holds them
  (``bot.db.deliveries.claim``), so a chat's push messages leave from one process, spaced by
  its local pacer. (A database claim per message, needed while two workers could hold two
  articles of one backlog, cost the push more than half its throughput at lifted rates.)
  Command replies are spaced per chat by the local pacer too: a chat's updates reach one
  process, and Telegram tolerates the short burst a reply beside a push makes.

Degrading. A database call that fails or takes longer than ``timeout`` switches the process to a
local bucket at ``FALLBACK_SHARE`` of the rate for ``retry`` seconds (logged once per outage),
then it tries the database again: never the full rate, since other processes may be sending.

Clocks. Slots are wall-clock seconds (``time.time``), the one clock every process on a machine
shares; ``slot`` returns them on the pacer's monotonic clock. Both are injected for tests.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Final, Literal, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from bot.db import rate_budget
from bot.errors import DigestError
from bot.ratebudget import (
    FALLBACK_SHARE,
    GLOBAL_CHAT,
    LATE,
    WINDOW,
    Grant,
    grant,
    lease_size,
    send_step,
)

log = logging.getLogger(__name__)

Lane = Literal["command", "push"]
Writing = Callable[[], AbstractContextManager[Connection]]
T = TypeVar("T")

TIMEOUT: Final = 2.0  # seconds a budget call may take before the process falls back
RETRY: Final = 5.0  # seconds on the fallback share before asking the database again


class _Slice:
    """The slots of one granted lease, handed out in order."""

    __slots__ = ("grant", "used")

    def __init__(self, granted: Grant) -> None:
        self.grant = granted
        self.used = 0

    def next(self, now: float) -> float | None:
        """Return the next unused slot not yet past at `now`, or None once the slice is used up.

        Slots already past are given up (idle time is not saved up): at a high rate a slice
        outlives its window, and handing out its stale slots one by one, each too late to
        send, would stall the push until the slice ran out.
        """
        first = math.ceil((now - LATE / 2 - self.grant.start) / self.grant.step)
        self.used = max(self.used, first)
        if self.used >= self.grant.count:
            return None
        self.used += 1
        return self.grant.slot(self.used - 1)


class SharedBudget:
    """Lease Telegram send slots from the database for one token; fall back to a small share."""

    def __init__(
        self,
        writing: Writing,
        key: str,
        rate: float,
        *,
        paid_rate: float,
        window: float = WINDOW,
        timeout: float = TIMEOUT,
        retry: float = RETRY,
        wall: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._writing = writing
        self.key = key
        self.rate = rate
        self.paid_rate = paid_rate
        self._window = window
        self._timeout = timeout
        self._retry = retry
        self._wall = wall
        self._clock = clock
        self._sleep = sleep
        self._slices: dict[bool, _Slice] = {}
        self._push_lock = asyncio.Lock()
        # Two threads: a push lease and a command's slot need not wait for each other.
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="rate-budget")
        self._fallback_until: float | None = None
        self._fallback_next: float | None = None
        self.leases = 0  # successful grants from the database (push slices, command slots)

    @property
    def degraded(self) -> bool:
        """Tell whether the process is on its fallback share (the database did not answer)."""
        return self._fallback_until is not None

    def close(self) -> None:
        """Let the budget's worker threads go (a call in flight finishes first)."""
        self._executor.shutdown(wait=False)

    # ----------------------------------------------------------------- slots

    async def slot(self, lane: Lane, *, paid: bool = False) -> float:
        """Return the instant (pacer clock) of a bot-wide send slot booked for this process."""
        if lane == "command":
            return await self._command_slot(paid=paid)
        async with self._push_lock:
            while True:
                current = self._slices.get(paid)
                at = current.next(self._wall()) if current is not None else None
                if at is not None:
                    return self._local(at)
                granted = await self._lease(paid=paid)
                if granted.count:
                    self._slices[paid] = _Slice(granted)
                    continue
                # Booked beyond the horizon by the other processes: wait for our turn.
                await self._sleep(max(granted.start - self._window - self._wall(), 0.001))

    async def _command_slot(self, *, paid: bool) -> float:
        step = send_step(self.paid_rate if paid else self.rate)

        def take(c: Connection) -> Grant:
            now = self._wall()
            return rate_budget.take(
                c, self.key, GLOBAL_CHAT, now, step=step, count=1, horizon=math.inf
            )

        granted = await self._call(take)
        if granted is None:
            return self._local(self._fallback(step))
        return self._local(granted.start)

    async def _lease(self, *, paid: bool) -> Grant:
        rate = self.paid_rate if paid else self.rate
        step = send_step(rate)
        count = lease_size(rate, self._window)

        def lease(c: Connection) -> Grant:
            now = self._wall()
            return rate_budget.take(
                c, self.key, GLOBAL_CHAT, now, step=step, count=count, horizon=self._window
            )

        granted = await self._call(lease)
        if granted is None:
            return Grant(self._fallback(step), 1, step, 0.0)
        return granted

    def _fallback(self, step: float) -> float:
        """Book a slot of the process's fallback bucket (a share of the rate); return it."""
        granted = grant(
            self._fallback_next,
            self._wall(),
            step=step / FALLBACK_SHARE,
            count=1,
            horizon=math.inf,
        )
        self._fallback_next = granted.next_at
        return granted.start

    def _local(self, wall_at: float) -> float:
        """Return a wall-clock instant on the pacer's clock."""
        return self._clock() + (wall_at - self._wall())

    # ----------------------------------------------------------------- the database

    async def _call(self, work: Callable[[Connection], T]) -> T | None:
        """Run `work` in one write transaction off the loop; None when the process is degraded."""
        if self._fallback_until is not None and self._clock() < self._fallback_until:
            return None

        def run() -> T:
            with self._writing() as c:
                return work(c)

        loop = asyncio.get_running_loop()
        try:
            result = await asyncio.wait_for(
                loop.run_in_executor(self._executor, run), self._timeout
            )
        except (SQLAlchemyError, DigestError, OSError, TimeoutError, RuntimeError) as exc:
            # RuntimeError: the executor was shut down under a send (closing).
            if self._fallback_until is None:
                log.warning(
                    "rate budget: the database did not answer (%s); sending at %d %% of the "
                    "rate until it does",
                    type(exc).__name__,
                    round(FALLBACK_SHARE * 100),
                )
            self._fallback_until = self._clock() + self._retry
            return None
        if self._fallback_until is not None:
            log.warning("rate budget: the database answers again; sharing the budget")
            self._fallback_until = None
            self._fallback_next = None
        self.leases += 1
        return result
