"""Flood-limit bookkeeping: O(1) per message, shared by enforcement and the statistics."""

from __future__ import annotations

import math
from collections import deque

from bot.fakeapi.models import Limits, ServerStats


class _ChatMeter:
    """Token bucket plus the send times of the last second for one chat."""

    __slots__ = ("recent", "stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp
        # A list, not a deque: it holds a handful of floats, and 100 000 chats must stay small.
        self.recent: list[float] = []


class RateMeter:
    """Decide whether a message breaks the limits and record the ones that were sent."""

    def __init__(self, limits: Limits | None, stats: ServerStats) -> None:
        # Without enforcement the default limits still define what a violation is.
        self.enforce = limits is not None
        self.limits = limits or Limits()
        self.stats = stats
        self._window: deque[float] = deque()
        self._chats: dict[int, _ChatMeter] = {}
        self._groups: dict[int, deque[float]] = {}

    def admit(self, chat_id: int, now: float, *, paid: bool = False) -> int:
        """Record one message to `chat_id`; return retry_after seconds if it must be refused."""
        limits = self.limits
        window = self._window
        while window and window[0] <= now - 1.0:
            window.popleft()
        meter = self._meter(chat_id, now)
        group = self._group(chat_id, now) if chat_id < 0 else None

        retry = 0.0
        cap = limits.paid_broadcast_per_second if paid else limits.global_per_second
        global_over = len(window) >= cap
        if global_over:
            retry = window[0] + 1.0 - now
        chat_over = meter.tokens < 1.0
        if chat_over:
            retry = max(retry, (1.0 - meter.tokens) / limits.per_chat_per_second)
        if group is not None and len(group) >= limits.per_group_per_minute:
            chat_over = True
            retry = max(retry, group[0] + 60.0 - now)

        stats = self.stats
        if global_over or chat_over:
            if self.enforce:
                # The HTTP layer counts every 429 in too_many_requests.
                stats.rate_limited += 1
                return max(1, math.ceil(retry))
            if global_over:
                stats.global_violations += 1
            if chat_over:
                stats.violations[chat_id] = stats.violations.get(chat_id, 0) + 1

        meter.tokens = max(0.0, meter.tokens - 1.0)
        window.append(now)
        meter.recent.append(now)
        stats.sent += 1
        stats.max_per_second = max(stats.max_per_second, len(window))
        stats.max_per_chat_per_second = max(stats.max_per_chat_per_second, len(meter.recent))
        if group is not None:
            group.append(now)
            stats.max_per_group_per_minute = max(stats.max_per_group_per_minute, len(group))
        return 0

    def _meter(self, chat_id: int, now: float) -> _ChatMeter:
        """Return the chat's meter with its bucket refilled and old send times dropped."""
        limits = self.limits
        meter = self._chats.get(chat_id)
        if meter is None:
            meter = self._chats[chat_id] = _ChatMeter(float(limits.per_chat_burst), now)
            return meter
        meter.tokens = min(
            float(limits.per_chat_burst),
            meter.tokens + (now - meter.stamp) * limits.per_chat_per_second,
        )
        meter.stamp = now
        recent = meter.recent
        if recent and recent[0] <= now - 1.0:
            cut = now - 1.0
            meter.recent = [t for t in recent if t > cut]
        return meter

    def _group(self, chat_id: int, now: float) -> deque[float]:
        """Return the group's send times of the last minute."""
        group = self._groups.get(chat_id)
        if group is None:
            group = self._groups[chat_id] = deque()
        while group and group[0] <= now - 60.0:
            group.popleft()
        return group
