"""Telegram's rate budget as bucket arithmetic: pure functions of a bucket's next free instant.

Telegram limits the *bot* (its token), not the process, so every process sending with one token
against one database draws from one budget kept in the database (``bot.db.rate_budget``, used by
``bot.sharedbudget.SharedBudget``). Each bucket is one number, ``next_at``: the instant (wall
clock seconds, common to every process on the machine) of its next free send slot, a GCRA. A
grant hands out ``count`` slots ``step`` seconds apart from ``max(next_at, now)`` and moves
``next_at`` past them:

- the **bot-wide** bucket is leased in slices of about ``WINDOW`` seconds of sends; a push lease
  is refused while ``next_at`` is more than ``WINDOW`` ahead of now (``horizon``), so push
  leases never reach more than two windows into the future: a command reply, granted whatever
  the horizon, waits behind at most those, and a process killed -9 strands at most two windows
  of slots, which are simply in the past a moment later (no lease to take back).

Chats have no bucket here: the ledger hands a chat's rows to one worker at a time, whose local
pacer spaces them (1 s, 61/20 s in groups).

A send that wakes up more than ``LATE`` after its slot takes a new one instead of going late.
Slots are ``HEADROOM`` wider apart than ``1/RATE_LIMIT``: requests leave evenly spaced but
arrive with jitter, and a send delayed by 20 ms followed by one on time would otherwise put
``RATE_LIMIT + 1`` messages into one sliding second.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Final

WINDOW: Final = 0.2  # seconds of sends in one push lease
HEADROOM: Final = 0.05  # share of RATE_LIMIT left unused to absorb network jitter
# Without the database a process cannot know who else sends: it takes this share of the rate,
# enough for the four processes a deployment typically runs (a bot and a few push workers).
FALLBACK_SHARE: Final = 0.25
# A send that wakes up this long after its slot gave the slot up: going late would bunch it with
# the slots after it (a process stalled for 200 ms would send 200 ms of slots at once).
LATE: Final = 0.04
GLOBAL_CHAT: Final = 0  # the bot-wide bucket's chat_id: no Telegram chat has id 0


@dataclass(frozen=True, slots=True)
class Grant:
    """Slots granted from a bucket: ``count`` sends ``step`` apart from ``start``.

    ``count == 0`` is a refusal: the bucket is booked until ``start``; ``next_at`` is the
    bucket's next free instant after the grant (unchanged by a refusal).
    """

    start: float
    count: int
    step: float
    next_at: float

    def slot(self, index: int) -> float:
        """Return the instant of the grant's slot number ``index`` (from 0)."""
        return self.start + index * self.step


def grant(next_at: float | None, now: float, *, step: float, count: int, horizon: float) -> Grant:
    """Grant ``count`` slots ``step`` apart from a bucket whose next free slot is ``next_at``.

    Refuse (count 0) when that slot is more than ``horizon`` seconds after ``now``; an unused
    bucket (``None``) or one whose slot is past starts at ``now``: idle time is not saved up.
    """
    start = now if next_at is None else max(next_at, now)
    if start > now + horizon:
        return Grant(start, 0, step, start)
    return Grant(start, count, step, start + count * step)


def budget_key(token: str) -> str:
    """Return the budget's key for a bot token: a hash, so the token never reaches the database."""
    return hashlib.sha256(f"digestbot rate budget:{token}".encode()).hexdigest()[:32]


def send_step(rate: float) -> float:
    """Return the seconds between two bot-wide slots at ``rate`` messages/s, headroom included."""
    return 1.0 / (rate * (1.0 - HEADROOM))


def lease_size(rate: float, window: float = WINDOW) -> int:
    """Return how many slots one push lease takes: ``window`` seconds of sends, at least one."""
    return max(1, math.floor(rate * (1.0 - HEADROOM) * window))
