"""Where the PTB adapter feeds the metrics, the liveness beats and the log context.

- ``BeatingRequest`` wraps the getUpdates transport: each successful long poll is a beat.
- ``timed`` wraps a handler callback: its latency goes to the command histogram, and every
  line logged while it runs carries ``command=`` and ``chat=``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.request import BaseRequest, RequestData

from bot.logging_setup import log_context
from bot.status import UPDATES, Liveness
from bot.telegram.context import DigestContext

Callback = Callable[[Update, DigestContext], Coroutine[Any, Any, Any]]
_OK = 200


class BeatingRequest(BaseRequest):
    """A transport that records a beat after every successful call (getUpdates' transport)."""

    __slots__ = ("_inner", "_liveness", "_what")

    def __init__(self, inner: BaseRequest, liveness: Liveness, what: str = UPDATES) -> None:
        self._inner = inner
        self._liveness = liveness
        self._what = what

    @property
    def read_timeout(self) -> float | None:
        """Return the wrapped transport's read timeout."""
        return self._inner.read_timeout

    async def initialize(self) -> None:
        """Initialize the wrapped transport."""
        await self._inner.initialize()

    async def shutdown(self) -> None:
        """Shut the wrapped transport down."""
        await self._inner.shutdown()

    async def do_request(  # noqa: PLR0917 - PTB's signature
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Make the call through the wrapped transport; beat when it answered 200."""
        code, payload = await self._inner.do_request(
            url,
            method,
            request_data,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
            connect_timeout=connect_timeout,
            pool_timeout=pool_timeout,
        )
        if code == _OK:
            self._liveness.beat(self._what)
        return code, payload


def timed(command: str, callback: Callback) -> Callback:
    """Wrap a handler: time it for the metrics, and bind command and chat to its log lines."""

    async def handle(update: Update, context: DigestContext) -> Any:
        chat = update.effective_chat
        started = time.perf_counter()
        try:
            with log_context(command=command, chat=chat.id if chat else None):
                return await callback(update, context)
        finally:
            context.bot_data.metrics.command_handled(command, time.perf_counter() - started)

    handle.__name__ = handle.__qualname__ = getattr(callback, "__name__", command)
    handle.__doc__ = callback.__doc__
    return handle
