"""Admin commands of the push: /pushnow, /preview, and /stats with the last push.

Each handler narrows its input, asks the ledger or bot.push.preview (through ``context.db``),
and replies from templates/. The push itself runs in the background
(bot.telegram.jobs.start_push), so /pushnow answers at once and again when the push is done.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from telegram import Update

from bot.i18n import is_lang
from bot.ledger import Ledger
from bot.model import RunStats
from bot.push.preview import next_push
from bot.readlog import ReadLog
from bot.scheduling import schedule_for
from bot.store import Store
from bot.telegram import jobs
from bot.telegram.context import DigestApplication, DigestContext
from bot.telegram.handlers import admin_chat, send_article


def _last_push(store: Store) -> RunStats | None:
    """Read the most recent push run's counts from the ledger."""
    ledger = Ledger(store)
    return ledger.last_run_stats()


def _duration(value: timedelta) -> str:
    """Format a run's duration as H:MM:SS (no microseconds)."""
    return str(timedelta(seconds=round(value.total_seconds())))


def _stamp(value: datetime) -> str:
    """Format a UTC instant for the stats line."""
    return value.strftime("%Y-%m-%d %H:%M UTC")


async def stats(update: Update, context: DigestContext) -> None:
    """Show article and subscriber totals and the last push (admins only)."""
    chat = await admin_chat(update, context)
    if chat is None:
        return
    counts = await context.db(context.store.counts)
    run = await context.db(_last_push, context.store)
    followers = await context.db(context.store.topic_followers)
    last_push = None
    if run is not None:
        last_push = {
            "key": run.key,
            "started": _stamp(run.started_at),
            "due": run.due,
            "sent": run.sent,
            "pending": run.pending + run.sending,
            "failed": run.failed,
            "blocked": run.blocked,
            "duration": _duration(run.duration) if run.duration is not None else None,
        }
    values = {
        "articles": counts.articles,
        "hidden": counts.hidden_articles,
        "active": counts.active_subscribers,
        "inactive": counts.inactive_subscribers,
        "topics": followers,
        "last_push": last_push,
    }
    await context.reply(chat).template("push_stats", values)
    if context.settings.web_url:
        # How many of those who received an article opened it in the web reader.
        rates = await context.db(ReadLog(context.store).rates)
        if rates:
            await context.reply(chat).template("read_rates", {"rates": rates})


async def pushnow(update: Update, context: DigestContext) -> None:
    """Run today's push for every active subscriber now, like `digestbot push --now`."""
    chat = await admin_chat(update, context)
    if chat is None:
        return
    reply = context.reply(chat)
    application = cast("DigestApplication", context.application)
    task = jobs.start_push(application, force=True)
    await reply.notice("pushnow_started")
    report = await task
    if report is None:
        await reply.notice("pushnow_stopped")
        return
    await reply.notice(
        "pushnow_done",
        sent=report.sent,
        failed=report.failed,
        blocked=report.blocked,
        skipped=report.skipped,
    )


async def preview(update: Update, context: DigestContext) -> None:
    """Show what this chat gets in its next push, exactly as it will look (admins only)."""
    chat = await admin_chat(update, context)
    if chat is None:
        return
    subscriber = chat.subscriber
    upcoming = await context.db(next_push, context.store, subscriber, context.push_defaults)
    # The push speaks the subscriber's stored language; an unsubscribed chat the sender's.
    lang = chat.lang
    if subscriber is not None and is_lang(subscriber.language):
        lang = subscriber.language
    reply = context.reply(chat, lang)
    if not upcoming.articles:
        await reply.notice("preview_nothing")
        return
    if upcoming.subscribed:
        schedule = schedule_for(subscriber, context.push_defaults)
        await reply.notice(
            "preview_next",
            push_time=schedule.push_time.strftime("%H:%M"),
            timezone=schedule.timezone,
        )
    else:
        await reply.notice("preview_not_subscribed")
    for stored in upcoming.articles:
        await send_article(reply, stored, "digest")
