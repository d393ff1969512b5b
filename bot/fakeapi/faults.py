"""Fault injection: planned and random failures of Bot API calls (errors, drops, hangs)."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable

from aiohttp import web

from bot.fakeapi.models import Fault
from bot.fakeapi.params import ApiError


class FaultPlan:
    """The user side's fault plans, checked by the bot side on every call."""

    def __init__(self) -> None:
        self._planned: dict[str, deque[Fault]] = {}
        self._random: dict[str, tuple[float, Callable[[], Fault], random.Random]] = {}

    @property
    def armed(self) -> bool:
        """Tell whether any fault is planned (the hot path skips the plan otherwise)."""
        return bool(self._planned or self._random)

    def fail_next(self, method: str, times: int = 1, *, fault: Fault) -> None:
        """Make the next `times` calls of `method` fail with `fault`."""
        self._planned.setdefault(method.lower(), deque()).extend([fault] * times)

    def fail_randomly(
        self,
        method: str,
        probability: float,
        fault_factory: Callable[[], Fault],
        seed: int = 0,
    ) -> None:
        """Make each call of `method` fail with probability `probability` (0 turns it off)."""
        if probability <= 0:
            self._random.pop(method.lower(), None)
            return
        self._random[method.lower()] = (probability, fault_factory, random.Random(seed))  # noqa: S311 -- test faults, not cryptography

    def clear(self) -> None:
        """Drop every pending injected fault."""
        self._planned.clear()
        self._random.clear()

    async def inject(self, method: str) -> bool:
        """Apply the next fault planned for `method` (lower case); return True to drop it."""
        fault = self._next(method)
        if fault is None:
            return False
        if fault.kind == "drop":
            return True
        if fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
            return False
        raise ApiError(fault.status, fault.description, fault.parameters())

    def _next(self, method: str) -> Fault | None:
        queue = self._planned.get(method)
        if queue:
            fault = queue.popleft()
            if not queue:
                del self._planned[method]
            return fault
        chance = self._random.get(method)
        if chance is not None and chance[2].random() < chance[0]:
            return chance[1]()
        return None


def drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without answering (the client sees a dropped connection)."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    # aiohttp does not write to an aborted transport; this response goes nowhere.
    return web.Response(status=502)
