"""The Application: built from Settings, its handler table, and its start-up and shut-down.

``build_application(settings)`` returns a ready PTB Application. Its ``initialize()`` runs
``post_init`` (open the Runtime and the reply outbox, sync the seeds, set the command menus,
schedule the jobs) and its ``shutdown()`` drains the outbox (``drain_replies``, bounded) while the
bot can still send, then runs ``post_shutdown``, so the same set-up happens under ``run_polling``,
``run_webhook`` and a hand-driven ``async with application: await application.start()``
(the console and the tests). PTB's own post_init hook only fires in ``run_*``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from telegram import Message, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    ExtBot,
    InlineQueryHandler,
    JobQueue,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.config import Settings
from bot.errors import ConfigError
from bot.i18n import DEFAULT_LANG, LANGS
from bot.ledger import Ledger
from bot.metrics import DatabaseTotals
from bot.runtime import Runtime
from bot.status import Liveness
from bot.telegram import (
    channels_flow,
    flood_guard,
    handlers,
    inline,
    jobs,
    push_commands,
    settings_flow,
    topics_flow,
)
from bot.telegram.aiohttp_request import build_request
from bot.telegram.commands import menu_commands
from bot.telegram.context import BotState, DigestApplication, DigestContext
from bot.telegram.credentials import bot_token
from bot.telegram.instruments import BeatingRequest, timed
from bot.telegram.outbox import Outbox
from bot.telegram.pacer import Pacer, pacer_for

log = logging.getLogger(__name__)

POOL_SIZE = 256  # PTB's default: updates are handled concurrently, each may send at once
# Seconds queued replies may take to go out at shutdown before they are abandoned.
# TODO(L): take it from Settings.shutdown_grace (SHUTDOWN_GRACE) once that lands.
DEFAULT_REPLY_GRACE = 10.0  # SHUTDOWN_GRACE's default, when no settings are at hand


class _DigestApp(
    Application[
        ExtBot[None],
        DigestContext,
        dict[Any, Any],
        dict[Any, Any],
        BotState,
        JobQueue[DigestContext],
    ]
):
    """Application whose initialize()/shutdown() also run post_init/post_shutdown."""

    async def initialize(self) -> None:
        """Initialize PTB, then open what the bot needs (once)."""
        await super().initialize()
        if not self.bot_data.ready:
            await post_init(self)

    async def shutdown(self) -> None:
        """Send or abandon the queued replies, shut PTB down, then close what post_init opened."""
        # Before PTB closes the bot's connection: the queued replies still need it. The pacer
        # (closed by bot.telegram.runner.wind_down) abandons sends past SHUTDOWN_GRACE anyway.
        settings = self.bot_data.settings
        grace = settings.shutdown_grace if settings is not None else DEFAULT_REPLY_GRACE
        await drain_replies(self, grace)
        await super().shutdown()
        await post_shutdown(self)


def build_application(
    settings: Settings, *, runtime: Runtime | None = None, pacer: Pacer | None = None
) -> DigestApplication:
    """Build the bot's Application.

    `runtime` if given is used (and left open) as is; `pacer` replaces the one built from
    the settings (tests pass one with shorter intervals).
    """
    token = bot_token(settings)
    context_types = ContextTypes(context=DigestContext, bot_data=BotState)
    backend = settings.http_backend
    liveness = Liveness()
    pacer = pacer or pacer_for(settings)
    updates_request = build_request(backend, pool_size=1, proxy=settings.proxy_url)
    builder = (
        ApplicationBuilder()
        .application_class(_DigestApp)
        .token(token)
        .context_types(context_types)
        .job_queue(JobQueue[DigestContext]())
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .request(build_request(backend, pool_size=POOL_SIZE, proxy=settings.proxy_url))
        # Each successful getUpdates is a beat for /healthz.
        .get_updates_request(BeatingRequest(updates_request, liveness))
        # A burst of commands from many chats is answered concurrently, not one by one.
        .concurrent_updates(True)
        # Every send goes through one pacer: Telegram's limits, command replies first.
        .rate_limiter(pacer)
    )
    if settings.telegram_base_url:
        # PTB appends the token: http://host:port/bot -> http://host:port/bot<token>/getMe
        builder = builder.base_url(settings.telegram_base_url)
    # The pacer types the bot as ExtBot[dict]; handlers never pass rate_limit_args, so the
    # app-wide alias keeps ExtBot[None] (only bot.telegram.sender passes the push lane).
    application: DigestApplication = builder.build()  # type: ignore[assignment]
    application.bot_data.settings = settings
    application.bot_data.runtime = runtime
    application.bot_data.owns_runtime = runtime is None
    application.bot_data.liveness = liveness
    pacer.metrics = application.bot_data.metrics
    register_handlers(application)
    return application


def register_handlers(application: DigestApplication) -> None:
    """Register every handler of the bot, in the order PTB tries them."""
    # Only new messages: an edited "/latest" is not a new request.
    new = filters.UpdateType.MESSAGE
    private = filters.ChatType.PRIVATE

    def command(names: str | list[str], callback: Any) -> None:
        # Timed (metrics) and named in the log context by the command's first name.
        name = names if isinstance(names, str) else names[0]
        application.add_handler(CommandHandler(names, timed(name, callback), filters=new))

    # Group -1, before every other handler: a flooding chat's updates stop here.
    application.add_handler(TypeHandler(Update, flood_guard.guard), group=flood_guard.GROUP)

    # A group's migration to a supergroup arrives as a service message; handle it first.
    application.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, handlers.migrate))

    # CommandHandler ignores /cmd@otherbot and answers /cmd@ourbot in groups.
    command("start", handlers.start)
    command(["stop", "unsubscribe"], handlers.stop)
    command("latest", handlers.latest)
    command("risks", handlers.risks)
    command("full", handlers.full)
    command("article", handlers.article)
    command("list", handlers.list_archive)
    command("search", handlers.search)
    command("settings", settings_flow.settings_command)
    command("time", settings_flow.time_command)
    command("timezone", settings_flow.timezone_command)
    command("topics", topics_flow.topics_command)
    command("follow", topics_flow.follow_command)
    command("unfollow", topics_flow.unfollow_command)
    command("help", handlers.help_command)
    command("stats", push_commands.stats)
    command("reload", handlers.reload)
    command("pushnow", push_commands.pushnow)
    command("preview", push_commands.preview)
    command("channel", channels_flow.channel_command)
    command("channels", channels_flow.channels_command)

    # The bot's own role in a chat changed (added to a channel, promoted, demoted, removed).
    # Channel posts (`channel_post`) reach no handler: commands in a channel are ignored.
    application.add_handler(
        ChatMemberHandler(channels_flow.my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER)
    )
    # Someone else's role in a channel changed: a demoted administrator loses its screens.
    application.add_handler(
        ChatMemberHandler(channels_flow.chat_member, ChatMemberHandler.CHAT_MEMBER)
    )

    application.add_handler(CallbackQueryHandler(timed("button", handlers.button)))
    application.add_handler(InlineQueryHandler(timed("inline", inline.inline_query)))

    # Order matters: these catch-alls come after every command. Private chats get a hint
    # (one for unknown commands, one for free text); in groups the bot answers an unknown
    # command only when it is addressed to it (/cmd@thisbot), and stays silent otherwise.
    addressed = private | _AddressedToThisBot()
    # A channel's post forwarded into the private chat connects that channel.
    application.add_handler(
        MessageHandler(new & private & filters.FORWARDED, channels_flow.forwarded)
    )
    unknown = MessageHandler(new & filters.COMMAND & addressed, handlers.unknown_command)
    application.add_handler(unknown)
    application.add_handler(MessageHandler(new & private & filters.TEXT, handlers.hint))

    application.add_error_handler(handlers.on_error)


class _AddressedToThisBot(filters.MessageFilter):
    """A command written as /cmd@<this bot's username>."""

    def filter(self, message: Message) -> bool:
        """Tell whether the message's leading command names this bot."""
        command = (message.text or "").split(maxsplit=1)[0] if message.text else ""
        _, at, name = command.partition("@")
        username = message.get_bot().username or ""
        return bool(at) and name.casefold() == username.casefold()


def schedule_jobs(application: DigestApplication) -> None:
    """Schedule the periodic jobs (the one place where jobs are added)."""
    job_queue = application.job_queue
    if job_queue is None:
        raise ConfigError("python-telegram-bot[job-queue] is not installed")
    settings = application.bot_data.require_runtime().settings
    for job in job_queue.get_jobs_by_name("sync_seeds"):  # a re-initialized application
        job.schedule_removal()
    if settings.sync_interval > 0:
        job_queue.run_repeating(
            jobs.sync_seeds,
            interval=settings.sync_interval,
            first=settings.sync_interval,
            name="sync_seeds",
        )
    jobs.schedule_push(application, settings.push_tick)


async def set_command_menus(application: DigestApplication) -> None:
    """Set the command menu for each language, plus a default for other languages."""
    renderer = application.bot_data.require_runtime().renderer
    for lang in LANGS:
        await application.bot.set_my_commands(menu_commands(renderer, lang), language_code=lang)
    await application.bot.set_my_commands(menu_commands(renderer, DEFAULT_LANG))


async def post_init(application: DigestApplication) -> None:
    """Open the Runtime (unless given), sync the seeds, set the menus, schedule the jobs."""
    state = application.bot_data
    if state.runtime is None:
        if state.settings is None:
            raise ConfigError("the Application was not built by build_application()")
        state.runtime = await asyncio.to_thread(Runtime.open, state.settings)
    pacer = application.bot.rate_limiter
    if isinstance(pacer, Pacer) and pacer.budget is None:
        # Every process sending with this token shares one budget in the database.
        pacer.share(state.runtime.store.writing, application.bot.token)
    if state.outbox is None or state.outbox.closed:
        # Errors while sending a queued reply go through the one error path (handlers.on_error).
        state.outbox = Outbox(application.process_error)
    report = await asyncio.to_thread(state.runtime.sync)
    log.info("seeds synced: %s", report.summary())
    state.metrics.synced(report)
    state.metrics.read_database_with(database_totals(state.runtime))
    await set_command_menus(application)
    schedule_jobs(application)
    state.ready = True


def database_totals(runtime: Runtime) -> Callable[[], DatabaseTotals]:
    """Return what the metrics read from the database on scrape (in a worker thread)."""
    ledger = Ledger(runtime.store)

    def read() -> DatabaseTotals:
        return DatabaseTotals(
            ledger=ledger.state_counts(), subscribers=runtime.store.subscriber_kinds()
        )

    return read


async def drain_replies(application: DigestApplication, grace: float) -> int:
    """Stop taking replies, send the queued ones for `grace` s; return how many were left."""
    outbox = application.bot_data.outbox
    if outbox is None:
        return 0
    return await outbox.close(grace)


async def post_shutdown(application: DigestApplication) -> None:
    """Close what post_init opened (a Runtime passed in stays open for its owner)."""
    state = application.bot_data
    state.ready = False
    state.metrics.read_database_with(None)
    if state.owns_runtime and state.runtime is not None:
        runtime, state.runtime = state.runtime, None
        await asyncio.to_thread(runtime.close)
