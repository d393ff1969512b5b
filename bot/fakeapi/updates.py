"""The update queue: what the user side queues, fetched by getUpdates long polls or a webhook."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any, NamedTuple

from bot.fakeapi.params import ApiError, as_float, as_int, as_json, as_opt_int, dumps

_POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
_WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


class QueuedUpdate(NamedTuple):
    """One update waiting for the bot: its id, its kind ("message", …) and that object."""

    update_id: int
    kind: str
    payload: dict[str, Any]


class UpdateQueue:
    """Queue updates, confirm them by offset, and serve getUpdates long polls.

    ``last_change`` is the monotonic time an update was last queued or handed to the bot.
    """

    def __init__(self) -> None:
        self.last_change = time.monotonic()
        self._updates: deque[QueuedUpdate] = deque()
        self._next_id = 1
        self._event = asyncio.Event()
        self._poll_generation = 0
        self._allowed: frozenset[str] | None = None
        self._webhook = False
        self._closed = False

    def __len__(self) -> int:
        """Return how many updates the bot has not confirmed yet."""
        return len(self._updates)

    @property
    def allowed(self) -> frozenset[str] | None:
        """Return the update kinds the bot asked for (None: all)."""
        return self._allowed

    def put(self, kind: str, payload: dict[str, Any]) -> int:
        """Queue an update; return its update_id."""
        update_id = self._next_id
        self._next_id += 1
        self._updates.append(QueuedUpdate(update_id, kind, payload))
        self.last_change = time.monotonic()
        self._wake()
        return update_id

    def allow(self, params: dict[str, Any]) -> None:
        """Keep the call's allowed_updates, when it has them, for later updates."""
        allowed, _ = as_json(params, "allowed_updates")
        if isinstance(allowed, list):
            self._allowed = frozenset(map(str, allowed)) or None

    def clear(self) -> None:
        """Drop every pending update (drop_pending_updates)."""
        self._updates.clear()

    def use_webhook(self) -> None:
        """Hand the updates to a webhook: getUpdates answers 409 from now on."""
        self._webhook = True
        self._wake()  # a poll still waiting must end with 409

    def use_polling(self) -> None:
        """Serve getUpdates again after :meth:`use_webhook`."""
        self._webhook = False

    def open(self) -> None:
        """Serve polls (again) after :meth:`close`."""
        self._closed = False

    def close(self) -> None:
        """End every waiting poll at once, empty-handed."""
        self._closed = True
        self._wake()

    def head(self, limit: int) -> list[QueuedUpdate]:
        """Return up to `limit` of the oldest updates, without confirming them."""
        allowed = self._allowed
        if allowed is not None and any(u.kind not in allowed for u in self._updates):
            # Telegram never creates updates of types the bot did not ask for.
            self._updates = deque(u for u in self._updates if u.kind in allowed)
        out = []
        for update in self._updates:
            out.append(update)
            if len(out) >= limit:
                break
        return out

    def delivered(self, update_id: int) -> None:
        """Confirm an update a webhook accepted."""
        if self._updates and self._updates[0].update_id == update_id:
            self._updates.popleft()
        self.last_change = time.monotonic()

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109 -- a wake-up, not a deadline
        """Wait until an update is queued or something changes, at most `timeout` s."""
        event = self._event
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event.wait()

    async def get_updates(self, params: dict[str, Any]) -> list[QueuedUpdate]:
        """Confirm by offset, then return the next updates, long-polling up to the timeout."""
        if self._webhook:
            raise ApiError(409, _WEBHOOK_CONFLICT)
        offset = as_opt_int(params, "offset")
        limit = min(100, max(1, as_int(params, "limit", 100)))
        timeout = max(0.0, as_float(params, "timeout", 0.0))
        self.allow(params)
        self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake()  # an older poll still waiting ends with 409, as on Telegram
        batch = self.head(limit)
        if not batch and timeout:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not batch and not self._closed:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                await self.wait(remaining)
                if self._closed:
                    break
                if generation != self._poll_generation:
                    raise ApiError(409, _POLL_CONFLICT)
                if self._webhook:
                    raise ApiError(409, _WEBHOOK_CONFLICT)
                batch = self.head(limit)
        if batch:
            self.last_change = time.monotonic()
        return batch

    def _wake(self) -> None:
        # A fresh event per generation: waiters never race a clear().
        self._event.set()
        self._event = asyncio.Event()

    def _confirm(self, offset: int | None) -> None:
        updates = self._updates
        if not offset:
            return
        if offset > 0:
            while updates and updates[0].update_id < offset:
                updates.popleft()
        else:
            while len(updates) > -offset:
                updates.popleft()


def updates_json(batch: list[QueuedUpdate]) -> str:
    """Return a getUpdates result: the Update objects as JSON."""
    return dumps([{"update_id": uid, kind: payload} for uid, kind, payload in batch])
