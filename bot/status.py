"""GET /healthz and GET /metrics of `digestbot run`: liveness beats, bounds, the aiohttp routes.

Healthy means: the database answers a trivial query, the last successful ``getUpdates``
(polling) is younger than a bound, and so is the last push tick. The bounds come from the
settings (``bounds_for``): a long poll returns at least every ``poll_timeout`` seconds, the
push tick fires every ``PUSH_TICK``. Before the first beat the bot's start counts as one, so
a bot that just started is healthy until a bound has passed. A webhook bot is only called
when someone writes to it, so an idle webhook is not stale: there the webhook's last call is
shown but not checked.

The routes are registered by :func:`add_status_routes` on any aiohttp app: the webhook's own
server in webhook mode, or a server of their own on METRICS_PORT (:func:`status_served`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from bot.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger(__name__)

UPDATES: Final = "updates"
PUSH_TICK: Final = "push_tick"
WEBHOOK: Final = "webhook"
PING_TIMEOUT: Final = 5.0  # seconds the database has to answer SELECT 1
# Slack on top of the expected interval: PTB backs off up to 30 s after a failed getUpdates,
# and a push tick can start late while the event loop is busy.
SLACK: Final = 30.0


@dataclass(frozen=True, slots=True)
class Bounds:
    """How old each beat may be, in seconds (None: shown, not checked)."""

    updates: float | None
    push_tick: float


def bounds_for(*, push_tick: float, poll_timeout: float, webhook: bool) -> Bounds:
    """Return how old each beat may be, from the push tick and the long-poll timeout (s)."""
    updates = None if webhook else 2 * poll_timeout + SLACK
    return Bounds(updates=updates, push_tick=2 * push_tick + SLACK)


class Liveness:
    """When each recurring thing last happened (monotonic seconds)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.started = clock()
        self._beats: dict[str, float] = {}

    def beat(self, what: str) -> None:
        """Record that `what` (UPDATES, PUSH_TICK, WEBHOOK) just happened."""
        self._beats[what] = self._clock()

    def age(self, what: str) -> float:
        """Return seconds since `what` last happened (since the start, if never)."""
        return self._clock() - self._beats.get(what, self.started)

    def seen(self, what: str) -> bool:
        """Tell whether `what` has happened at all."""
        return what in self._beats


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The answer of /healthz: ok, what is stale, and the ages behind it."""

    ok: bool
    body: dict[str, object]


def check_health(liveness: Liveness, bounds: Bounds, *, database: str | None) -> HealthReport:
    """Judge the beats against `bounds`; `database` is None when it answered, else why not."""
    stale: list[str] = []
    ages: dict[str, float | None] = {}
    if database is not None:
        stale.append("database")
    checked = {UPDATES: bounds.updates, PUSH_TICK: bounds.push_tick}
    for what, bound in checked.items():
        age = round(liveness.age(what), 1)
        ages[what] = age
        if bound is not None and age > bound:
            stale.append(what)
    if liveness.seen(WEBHOOK):
        ages[WEBHOOK] = round(liveness.age(WEBHOOK), 1)
    body: dict[str, object] = {
        "status": "stale" if stale else "ok",
        "database": database or "ok",
        "age_seconds": ages,
        "bound_seconds": {k: v for k, v in checked.items() if v is not None},
    }
    if stale:
        body["stale"] = stale
    return HealthReport(ok=not stale, body=body)


@dataclass(frozen=True, slots=True)
class Status:
    """What the routes report on: the beats and their bounds, the metrics, a database ping."""

    liveness: Liveness
    bounds: Bounds
    metrics: Metrics
    ping: Callable[[], None]  # raises when the database cannot be reached

    async def health(self) -> HealthReport:
        """Ping the database (in a thread, bounded) and judge the beats."""
        problem: str | None = None
        try:
            async with asyncio.timeout(PING_TIMEOUT):
                await asyncio.to_thread(self.ping)
        except TimeoutError:
            problem = f"no answer within {PING_TIMEOUT:g} s"
        except Exception as exc:  # any driver error means: not reachable
            problem = type(exc).__name__
            log.warning("healthz: the database does not answer", exc_info=True)
        return check_health(self.liveness, self.bounds, database=problem)


def add_status_routes(app: web.Application, status: Status) -> None:
    """Serve GET /healthz (200 or 503 with a small JSON body) and GET /metrics on `app`."""

    async def healthz(_: web.Request) -> web.Response:
        report = await status.health()
        return web.json_response(report.body, status=200 if report.ok else 503)

    async def metrics(_: web.Request) -> web.Response:
        # The scrape may read the database: off the event loop.
        body = await asyncio.to_thread(status.metrics.render)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)


@contextlib.asynccontextmanager
async def status_served(status: Status, listen: str, port: int) -> AsyncIterator[int]:
    """Serve the status routes on `listen`:`port` (0: any free port); yield the port."""
    app = web.Application()
    add_status_routes(app, status)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, listen, port)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        sockets = getattr(server, "sockets", None) or ()
        bound = sockets[0].getsockname()[1] if sockets else port
        log.info("serving /healthz and /metrics on %s:%s", listen, bound)
        yield int(bound)
    finally:
        await runner.cleanup()
