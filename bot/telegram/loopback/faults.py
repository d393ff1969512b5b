"""Fault injection: planned and random failures of Bot API calls (errors, drops, hangs)."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable

from aiohttp import web

from bot.telegram.loopback.models import Fault
from bot.telegram.loopback.params import ApiError
from bot.telegram.loopback.state import ServerState


class FaultsMixin(ServerState):
    """The user side's fault plans and the bot side's check of them on every call."""

    def fail_next(self, method: str, times: int = 1, *, fault: Fault) -> None:
        """Make the next `times` calls of `method` fail with `fault`."""
        self._faults.setdefault(method.lower(), deque()).extend([fault] * times)

    def fail_randomly(
        self,
        method: str,
        probability: float,
        fault_factory: Callable[[], Fault],
        seed: int = 0,
    ) -> None:
        """Make each call of `method` fail with probability `probability` (0 turns it off)."""
        if probability <= 0:
            self._random_faults.pop(method.lower(), None)
            return
        self._random_faults[method.lower()] = (probability, fault_factory, random.Random(seed))  # noqa: S311 -- test faults, not cryptography

    def clear_faults(self) -> None:
        """Drop every pending injected fault."""
        self._faults.clear()
        self._random_faults.clear()

    def _drop(self, request: web.Request) -> web.StreamResponse:
        """Close the connection without answering (the client sees a dropped connection)."""
        transport = request.transport
        if transport is not None:
            transport.abort()
        # aiohttp does not write to an aborted transport; this response goes nowhere.
        return web.Response(status=502)

    async def _inject(self, name: str) -> bool:
        """Apply the next fault planned for `name`; return True to drop the connection."""
        fault = self._next_fault(name)
        if fault is None:
            return False
        if fault.kind == "drop":
            return True
        if fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
            return False
        raise ApiError(fault.status, fault.description, fault.parameters())

    def _next_fault(self, name: str) -> Fault | None:
        queue = self._faults.get(name)
        if queue:
            fault = queue.popleft()
            if not queue:
                del self._faults[name]
            return fault
        chance = self._random_faults.get(name)
        if chance is not None and chance[2].random() < chance[0]:
            return chance[1]()
        return None
