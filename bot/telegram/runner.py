"""Run the Application: long polling or a webhook, until SIGINT/SIGTERM, then shut down cleanly.

PTB's ``run_webhook`` needs tornado (the ``webhooks`` extra); digestbot already depends on
aiohttp, so the webhook is served by a small aiohttp app that feeds PTB's update queue, as in
PTB's ``customwebhookbot`` examples. Polling and webhook share one lifecycle (:func:`started`),
which mirrors ``Application.run_polling``: initialize (with post_init), start; then stop,
shutdown (with post_shutdown) — so the console, the tests and ``digestbot run`` all run the same
sequence.

``digestbot run`` also serves GET /healthz and GET /metrics (``bot.status``): on the webhook's
own server (PORT) in webhook mode, and on METRICS_PORT when that is set (polling: off unless
set).

Stopping (SIGTERM, Ctrl-C) must not wait for every queued reply at 1 message/s per chat, nor for
a long full text: platforms kill a process some seconds after SIGTERM (Heroku: 30 s). So
:func:`wind_down` stops fetching updates at once, drops those not yet handled, gives the sends
SHUTDOWN_GRACE (the pacer abandons any send whose slot comes later, and a push gives its rows
back to the ledger), and stops the application by then whatever is still running.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update

from bot.config import MAX_PUSH_TICK, Settings
from bot.errors import ConfigError
from bot.status import WEBHOOK, Status, add_status_routes, bounds_for, status_served
from bot.telegram.app import build_application
from bot.telegram.context import DigestApplication
from bot.telegram.credentials import bot_token, reaching_bot_api
from bot.telegram.pacer import Pacer
from bot.web.app import mount_reader

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 -- a header name
POLL_TIMEOUT = 10  # seconds a getUpdates long poll waits (PTB's default); /healthz's bound
DEFAULT_GRACE = 10.0
# Beyond SHUTDOWN_GRACE: time for the abandoned sends' handlers and the push to unwind.
UNWIND = 0.5


@contextlib.asynccontextmanager
async def started(application: DigestApplication, *, poll: bool) -> AsyncIterator[None]:
    """Start the application (and long polling when `poll`); stop it all on exit."""
    try:
        # Inside the try: a failing post_init still gets the HTTP sessions closed.
        await application.initialize()  # runs bot.telegram.app.post_init
        if poll:
            if application.updater is None:
                raise ConfigError("the application was built without an updater")
            await application.updater.start_polling(
                timeout=POLL_TIMEOUT, allowed_updates=Update.ALL_TYPES
            )
        await application.start()
        yield
    finally:
        await wind_down(application)
        await application.shutdown()  # runs bot.telegram.app.post_shutdown
        # When initialize() failed (Bot API unreachable, token refused) PTB's shutdown()
        # returns early and leaves the HTTP sessions open; closing twice is a no-op.
        await application.bot.shutdown()


async def wind_down(application: DigestApplication) -> None:
    """Stop taking updates now, let sends go on for SHUTDOWN_GRACE, then stop the application."""
    # Same order as Application.run_polling's shutdown: the updater, then the application.
    settings = application.bot_data.settings
    grace = settings.shutdown_grace if settings is not None else DEFAULT_GRACE
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    if application.updater is not None and application.updater.running:
        await application.updater.stop()
    dropped = _drop_pending_updates(application)
    if dropped:
        log.info("shutting down: dropped %d updates not yet handled", dropped)
    pacer = application.bot.rate_limiter
    if isinstance(pacer, Pacer):
        pacer.close(max(deadline - loop.time(), 0.0))
    if not application.running:
        return
    try:
        async with asyncio.timeout(max(deadline - loop.time(), 0.0) + UNWIND):
            await application.stop()  # waits for handlers, jobs and the push to end
    except TimeoutError:
        # What is still running (a send stuck in the network) is cancelled with the loop.
        log.warning("shutting down: abandoned what was still running after %.1f s", grace)
        if application.job_queue is not None and application.job_queue.scheduler.running:
            await application.job_queue.stop(wait=False)


def _drop_pending_updates(application: DigestApplication) -> int:
    """Take the updates not yet handed to a handler off the queue; return how many."""
    queue = application.update_queue
    dropped = 0
    while not queue.empty():
        queue.get_nowait()
        queue.task_done()
        dropped += 1
    return dropped


@dataclass(frozen=True, slots=True)
class Webhook:
    """Where the webhook listens and what Telegram is told to call."""

    url: str
    listen: str
    port: int
    secret: str

    @property
    def path(self) -> str:
        """Return the local path to serve: the public URL's path (a proxy keeps it)."""
        return urlsplit(self.url).path or "/"


def webhook_for(settings: Settings, listen: str) -> Webhook:
    """Return the webhook settings; without WEBHOOK_SECRET a random secret for this start."""
    if not settings.webhook_url:
        raise ConfigError(
            "--webhook needs WEBHOOK_URL (the public https URL Telegram will POST updates to)"
        )
    secret = (
        settings.webhook_secret.get_secret_value()
        if settings.webhook_secret is not None
        else secrets.token_urlsafe(32)
    )
    return Webhook(settings.webhook_url, listen, settings.port, secret)


def webhook_app(application: DigestApplication, hook: Webhook) -> web.Application:
    """Return an aiohttp app that queues each POSTed update after checking the secret header."""
    expected = hook.secret.encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            return web.Response(status=403, text="wrong secret token")
        try:
            data = await request.json()
            update = Update.de_json(data, application.bot)
        except (ValueError, TypeError, KeyError, AttributeError):
            log.warning("webhook: ignored a request whose body is not an Update")
            return web.Response(status=400, text="not an Update")
        await application.update_queue.put(update)
        application.bot_data.liveness.beat(WEBHOOK)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post(hook.path, receive)
    mount_status(app, application, webhook=True)
    return app


def status_of(application: DigestApplication, *, webhook: bool) -> Status:
    """Return what /healthz and /metrics report on for this application."""
    state = application.bot_data
    push_tick = state.settings.push_tick if state.settings else MAX_PUSH_TICK
    bounds = bounds_for(push_tick=push_tick, poll_timeout=POLL_TIMEOUT, webhook=webhook)

    def ping() -> None:
        state.require_runtime().store.ping()

    return Status(state.liveness, bounds, state.metrics, ping)


def mount_status(app: web.Application, application: DigestApplication, *, webhook: bool) -> None:
    """Serve /healthz and /metrics on `app` (the webhook's server, or one of their own)."""
    add_status_routes(app, status_of(application, webhook=webhook))


@contextlib.asynccontextmanager
async def webhook_served(application: DigestApplication, hook: Webhook) -> AsyncIterator[None]:
    """Serve the webhook and register it with the Bot API; stop serving on exit."""
    app = webhook_app(application, hook)
    # The web reader shares the webhook's server when WEB_URL is set (bot.web).
    mount_reader(app, application.bot_data.require_runtime())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, hook.listen, hook.port).start()
        await application.bot.set_webhook(
            url=hook.url, secret_token=hook.secret, allowed_updates=Update.ALL_TYPES
        )
        log.info("webhook: listening on %s:%s%s", hook.listen, hook.port, hook.path)
        yield
    finally:
        await runner.cleanup()


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not every platform's loop supports signal handlers (Windows); Ctrl-C still works.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


@contextlib.asynccontextmanager
async def metrics_served(
    application: DigestApplication, hook: Webhook | None, listen: str, port: int
) -> AsyncIterator[None]:
    """Serve /healthz and /metrics on METRICS_PORT, unless off (0) or the webhook's own port."""
    if not port or (hook is not None and port == hook.port):
        yield
        return
    async with status_served(status_of(application, webhook=hook is not None), listen, port):
        yield


async def serve(
    application: DigestApplication,
    hook: Webhook | None = None,
    *,
    metrics_port: int = 0,
    listen: str = "127.0.0.1",
) -> None:
    """Run the bot (polling, or the webhook `hook`) until SIGINT or SIGTERM.

    /healthz and /metrics are served on the webhook's server, and on `metrics_port` if set.
    """
    stop = asyncio.Event()
    _stop_on_signals(stop)
    with reaching_bot_api():
        async with (
            started(application, poll=hook is None),
            metrics_served(application, hook, listen, metrics_port),
        ):
            if hook is None:
                log.info("polling for updates; stop with Ctrl-C or SIGTERM")
                await stop.wait()
            else:
                async with webhook_served(application, hook):
                    await stop.wait()
    log.info("stopped")


def run(settings: Settings, *, webhook: bool = False, listen: str = "0.0.0.0") -> None:  # noqa: S104 -- a webhook server listens for the outside world
    """Run the bot from settings: polling, or a webhook when asked or WEBHOOK_URL is set."""
    bot_token(settings)  # an unset token is the first thing to fix
    hook = webhook_for(settings, listen) if webhook or settings.webhook_url else None
    application = build_application(settings)
    asyncio.run(serve(application, hook, metrics_port=settings.metrics_port, listen=listen))
