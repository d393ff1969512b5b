"""Per-chat outboxes: a handler renders its reply and queues it; one sender per chat sends it.

Telegram holds one chat to about a message a second (``bot.telegram.pacer``). If handlers awaited
that pace, a chat sending 300 commands would fill every concurrent-update slot of the Application
and another chat's /help would wait for minutes. So a handler only renders and queues:
``Outbox.put`` appends one reply (a callable that makes its sends) to its chat's queue and returns
at once. One task per chat with something queued sends that chat's replies in order through the
pacer, and ends when the queue is empty, so an idle chat costs nothing and other chats never wait
behind a busy one.

Bounds: at most ``limit`` replies wait per chat; more are refused and logged (the command
budget, ``bot.flood``, keeps a chat well below it). A request whose reply is still queued or
being sent (same key, another update) is not queued again: repeated identical requests are
answered once. An error while sending goes to ``report`` (the Application's error handlers, so
it is logged once and handled like any handler's error) and the chat's next reply goes on.
``close(grace)`` stops taking replies, lets the queues drain for up to ``grace`` seconds and
abandons what is left, so shutdown is bounded.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

log = logging.getLogger(__name__)

LIMIT: Final = 32  # replies waiting in one chat's queue

Send = Callable[[], Awaitable[object]]
Report = Callable[[object, Exception], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Request:
    """What a reply answers: the update's id, its request key (``bot.flood``), the update."""

    origin: int
    key: str
    update: object = None


@dataclass(frozen=True, slots=True)
class _Reply:
    send: Send
    request: Request | None


class Outbox:
    """A queue of replies per chat, each drained in order by its own sender task."""

    def __init__(self, report: Report, *, limit: int = LIMIT) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._report = report
        self._queues: dict[int, deque[_Reply]] = {}
        self._senders: dict[int, asyncio.Task[None]] = {}
        self._closed = False
        self.refused = 0  # replies refused because a chat's queue was full (or closed)

    @property
    def closed(self) -> bool:
        """Tell whether close() has been called."""
        return self._closed

    def put(self, chat_id: int, send: Send, request: Request | None = None) -> bool:
        """Queue one reply for `chat_id`; False if a duplicate, the queue is full or closed."""
        if self._closed:
            self.refused += 1
            log.info("shutting down: a reply to chat %s is not sent", chat_id)
            return False
        queue = self._queues.setdefault(chat_id, deque())
        if request is not None and self._duplicate(queue, request):
            return False
        if len(queue) >= self.limit:
            self.refused += 1
            log.warning("chat %s has %d replies waiting: one more is dropped", chat_id, len(queue))
            return False
        queue.append(_Reply(send, request))
        if chat_id not in self._senders:
            self._senders[chat_id] = asyncio.create_task(
                self._drain(chat_id, queue), name=f"outbox:{chat_id}"
            )
        return True

    def pending(self, chat_id: int, request: Request) -> bool:
        """Tell whether another update's identical request is still queued or being sent."""
        queue = self._queues.get(chat_id)
        return queue is not None and self._duplicate(queue, request)

    @staticmethod
    def _duplicate(queue: deque[_Reply], request: Request) -> bool:
        return any(
            r.request is not None
            and r.request.key == request.key
            and r.request.origin != request.origin
            for r in queue
        )

    def waiting(self) -> int:
        """Return how many replies are queued or being sent, all chats together."""
        return sum(len(q) for q in self._queues.values())

    async def _drain(self, chat_id: int, queue: deque[_Reply]) -> None:
        """Send the chat's replies in order until its queue is empty, then forget the chat."""
        try:
            while queue:
                reply = queue[0]  # stays in the queue while it is sent: a duplicate sees it
                try:
                    await reply.send()
                except Exception as exc:  # reported, then the chat's next reply goes on
                    await self._report_error(chat_id, reply, exc)
                finally:
                    queue.popleft()
        finally:
            # No await since the loop saw the queue empty: nothing was queued in between.
            self._senders.pop(chat_id, None)
            if not queue:
                self._queues.pop(chat_id, None)

    async def _report_error(self, chat_id: int, reply: _Reply, exc: Exception) -> None:
        update = reply.request.update if reply.request else None
        try:
            await self._report(update, exc)
        except Exception:  # the report itself failed: do not lose the original error
            log.exception("error while sending a reply to chat %s", chat_id, exc_info=exc)

    async def close(self, grace: float) -> int:
        """Stop taking replies, send the queued ones for `grace` s; return how many were left."""
        self._closed = True
        senders = list(self._senders.values())
        if not senders:
            return 0
        _, late = await asyncio.wait(senders, timeout=max(0.0, grace))
        abandoned = sum(len(q) for q in self._queues.values())
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)
            log.warning(
                "shutdown: abandoned %d queued replies to %d chats after %.1f s",
                abandoned,
                len(late),
                grace,
            )
        return abandoned
