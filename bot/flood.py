"""Flood control: a per-chat command budget, and what makes two requests the same.

``CommandBudget`` is a token bucket per chat: a chat may send ``burst`` commands at once and
``rate`` a second after that. The first command over budget is answered with one "slow down"
notice (``Verdict.WARN``); the chat is then ignored (``Verdict.IGNORE``) until it calms down.
Ignored commands still draw on the bucket, so a chat that keeps flooding stays ignored, and one
that pauses is heard again once its bucket has refilled (``burst / rate`` seconds of quiet from
empty). The clock is injectable, so tests step time instead of sleeping.

Admins (ADMIN_IDS) are not exempt, by decision: the budget protects the bot and Telegram's
per-chat pace, which binds an admin's chat as much as anyone's; the burst is well above what
a person types or taps, and a scripted or compromised admin account must not stall the bot
either.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

BURST: Final = 10  # commands a chat may send at once
RATE: Final = 0.5  # commands a second a chat may keep sending (30 a minute)
MAX_CHATS: Final = 4096  # buckets kept before full ones (which carry no state) are forgotten


class Verdict(enum.Enum):
    """What to do with a chat's command."""

    ALLOW = "allow"  # within budget: handle it
    WARN = "warn"  # the first one over budget: say "slow down" once, do not handle it
    IGNORE = "ignore"  # over budget and already warned: drop it silently


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
    muted: bool = False


class CommandBudget:
    """A token bucket per chat; see the module docstring for the policy."""

    def __init__(
        self,
        burst: int = BURST,
        rate: float = RATE,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_chats: int = MAX_CHATS,
    ) -> None:
        if burst < 1 or rate <= 0:
            raise ValueError("burst must be at least 1 and rate positive")
        self.burst = burst
        self.rate = rate
        self._clock = clock
        self._max_chats = max_chats
        self._buckets: dict[int, _Bucket] = {}

    def check(self, chat_id: int) -> Verdict:
        """Spend one command of `chat_id`'s budget; return whether to handle it."""
        now = self._clock()
        bucket = self._buckets.get(chat_id)
        if bucket is None:
            if len(self._buckets) >= self._max_chats:
                self._prune(now)
            bucket = self._buckets[chat_id] = _Bucket(float(self.burst), now)
        else:
            elapsed = max(0.0, now - bucket.at)
            bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
            bucket.at = now
        if bucket.muted and bucket.tokens >= self.burst:
            bucket.muted = False  # quiet long enough: calmed down
        if bucket.muted:
            # An ignored command still counts: flooding on keeps the chat ignored.
            bucket.tokens = max(0.0, bucket.tokens - 1)
            return Verdict.IGNORE
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return Verdict.ALLOW
        bucket.muted = True
        return Verdict.WARN

    def _prune(self, now: float) -> None:
        """Forget chats whose bucket has refilled: a fresh bucket is the same."""
        self._buckets = {
            chat: b
            for chat, b in self._buckets.items()
            if b.muted or b.tokens + (now - b.at) * self.rate < self.burst
        }


def request_key(text: str) -> str:
    """Return what makes two commands the same request: `/Latest@Bot  2` → `/latest 2`."""
    words = text.split()
    if not words:
        return ""
    command = words[0].partition("@")[0].casefold() if words[0].startswith("/") else words[0]
    return " ".join([command, *words[1:]])
