"""The update queue: updates the user side queues and the bot fetches with getUpdates."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

from bot.telegram.loopback.params import ApiError, as_float, as_int, as_json, as_opt_int, dumps
from bot.telegram.loopback.state import ServerState

_POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
_WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


class UpdatesMixin(ServerState):
    """Queue updates, confirm them by offset, and serve getUpdates long polls."""

    def _queue_update(self, kind: str, payload: dict[str, Any]) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append((update_id, kind, payload))
        self._last_activity = time.monotonic()
        self._wake_updates()
        return update_id

    def _wake_updates(self) -> None:
        # A fresh event per generation: waiters never race a clear().
        self._update_event.set()
        self._update_event = asyncio.Event()

    def _confirm(self, offset: int | None) -> None:
        updates = self._updates
        if not offset:
            return
        if offset > 0:
            while updates and updates[0][0] < offset:
                updates.popleft()
        else:
            while len(updates) > -offset:
                updates.popleft()

    def _batch(self, limit: int) -> list[tuple[int, str, dict[str, Any]]]:
        allowed = self._allowed_updates
        if allowed is not None and any(u[1] not in allowed for u in self._updates):
            # Telegram never creates updates of types the bot did not ask for.
            self._updates = deque(u for u in self._updates if u[1] in allowed)
        out = []
        for update in self._updates:
            out.append(update)
            if len(out) >= limit:
                break
        return out

    @staticmethod
    def _updates_json(batch: list[tuple[int, str, dict[str, Any]]]) -> str:
        return dumps([{"update_id": uid, kind: payload} for uid, kind, payload in batch])

    async def _get_updates(self, params: dict[str, Any]) -> str:
        if self._webhook is not None:
            raise ApiError(409, _WEBHOOK_CONFLICT)
        offset = as_opt_int(params, "offset")
        limit = min(100, max(1, as_int(params, "limit", 100)))
        timeout = max(0.0, as_float(params, "timeout", 0.0))
        allowed, _ = as_json(params, "allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(map(str, allowed)) or None
        self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_updates()  # an older poll still waiting ends with 409, as on Telegram
        batch = self._batch(limit)
        if not batch and timeout:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not batch and not self._closing:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                event = self._update_event
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await event.wait()
                if self._closing:
                    break
                if generation != self._poll_generation:
                    raise ApiError(409, _POLL_CONFLICT)
                if self._webhook is not None:
                    raise ApiError(409, _WEBHOOK_CONFLICT)
                batch = self._batch(limit)
        if batch:
            self._last_activity = time.monotonic()
        return self._updates_json(batch)
