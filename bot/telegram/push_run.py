"""One push outside the Application, for ``digestbot push``: a bare paced Bot, no polling.

It may run while ``digestbot run`` serves the same database: the ledger hands each row to one
claimant, so the two share the work instead of doubling it, and both draw from one Telegram
rate budget kept in that database (``bot.sharedbudget``), so together they stay at RATE_LIMIT.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from dataclasses import replace

from telegram.constants import ParseMode
from telegram.ext import Defaults, ExtBot

from bot.config import Settings
from bot.errors import DeliveryError, SendAbandoned
from bot.push.options import PushOptions
from bot.push.reports import PushProgress, PushReport
from bot.push.run import run_push
from bot.push.sender import OutgoingMessage, SendResult
from bot.runtime import Runtime
from bot.telegram.aiohttp_request import bot_requests
from bot.telegram.channel_loss import push_sender
from bot.telegram.credentials import bot_token, reaching_bot_api
from bot.telegram.pacer import Pacer, RateLimitArgs, pacer_for

# Connections beyond the sender's concurrency: a slow response must not stall the pool.
SPARE_CONNECTIONS = 4


def build_push_bot(
    settings: Settings, *, concurrency: int, pacer: Pacer | None = None
) -> ExtBot[RateLimitArgs]:
    """Build a Bot for pushing: the app's transport, base_url and pacer; no updater.

    `pacer` replaces the one built from the settings (tests pass one with shorter intervals).
    """
    return ExtBot(
        bot_token(settings),
        base_url=settings.telegram_base_url or "https://api.telegram.org/bot",
        **bot_requests(settings.http_backend, pool_size=concurrency + SPARE_CONNECTIONS),
        defaults=Defaults(parse_mode=ParseMode.HTML),
        rate_limiter=pacer or pacer_for(settings),
    )


async def push_once(
    runtime: Runtime,
    *,
    force: bool,
    dry_run: bool,
    progress: Callable[[PushProgress], None] | None = None,
) -> PushReport:
    """Run (or resume) one push to completion; with ``dry_run`` only plan it."""
    settings = runtime.settings
    options = PushOptions.from_settings(settings)
    if dry_run:
        return await run_push(
            runtime.store, runtime.renderer, _NoSender(), options, force=force, dry_run=True
        )
    bot = build_push_bot(settings, concurrency=options.concurrency)
    if isinstance(bot.rate_limiter, Pacer):
        # The bot, other pushes and this one draw from one budget in the database.
        bot.rate_limiter.share(runtime.store.writing, bot.token)
    # getMe in `async with`: a refused token fails there, before anything is planned.
    with reaching_bot_api():
        async with bot:
            # Known after getMe: a channel post's 📖 and ⚠️ deep-link to this bot.
            options = replace(options, bot_username=bot.username)
            push = asyncio.ensure_future(
                run_push(
                    runtime.store,
                    runtime.renderer,
                    # A refused channel is lost and its editor told, as in the running bot.
                    push_sender(bot, runtime),
                    options,
                    force=force,
                    progress=progress,
                )
            )
            with _stopped_by_signals(push, bot, settings.shutdown_grace) as caught:
                try:
                    return await push
                except (SendAbandoned, asyncio.CancelledError):
                    if not caught:
                        raise
                    raise DeliveryError(
                        f"push interrupted by {caught[0]}; its unsent messages are pending "
                        "again (`digestbot push` resumes them)"
                    ) from None


@contextlib.contextmanager
def _stopped_by_signals(
    push: asyncio.Future[PushReport], bot: ExtBot[RateLimitArgs], grace: float
) -> Iterator[list[str]]:
    """On SIGINT/SIGTERM stop `push`: abandon waiting sends now, cancel it after `grace`.

    Yields the list that receives the name of the signal that stopped it. Either way the
    push gives its unsent rows back to the ledger before it ends.
    """
    loop = asyncio.get_running_loop()
    caught: list[str] = []

    def stop(sig: signal.Signals) -> None:
        if caught:
            push.cancel()  # a second Ctrl-C: do not wait for sends in flight
            return
        caught.append(sig.name)
        if isinstance(bot.rate_limiter, Pacer):
            bot.rate_limiter.close(0.0)
        loop.call_later(grace, push.cancel)

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not every platform's loop supports signal handlers (Windows): Ctrl-C still stops it.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop, sig)
            installed.append(sig)
    try:
        yield caught
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


class _NoSender:
    """The Sender of a dry run: run_push never calls it."""

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Refuse to send: a dry run must not reach Telegram."""
        raise DeliveryError(f"a dry run tried to send to chat {message.chat_id}")
