"""/settings, /time and /timezone: a chat's delivery time, timezone and language.

The /settings message is one screen edited in place: the main screen shows the current
values, its buttons open a picker (``set:<view>``), and a choice (``settime``, ``settz``,
``setlang``) saves it and returns to the main screen. The store keeps the values; the push
schedules with them.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from telegram import CallbackQuery, Update

from bot.arguments import parse_time, parse_timezone
from bot.errors import UsageError
from bot.i18n import LANGS, Lang
from bot.model import Subscriber
from bot.scheduling import PushDefaults, schedule_context, schedule_for
from bot.telegram.context import ChatInfo, DigestContext, chat_info, lang_of
from bot.telegram.keyboards import TIMEZONES, SettingsView, settings_rows
from bot.telegram.permissions import manager_only, may_manage
from bot.telegram.replies import UNAVAILABLE, Answer, edit_in_place

ACTIONS = frozenset({"set", "settime", "settz", "setlang"})


def settings_values(
    defaults: PushDefaults, subscriber: Subscriber, lang: Lang
) -> dict[str, object]:
    """Return the template values of the /settings screens."""
    schedule = schedule_for(subscriber, defaults)
    return {
        **schedule_context(schedule, datetime.now(UTC)),
        "language": lang,
        "language_locked": subscriber.language_locked,
    }


async def settings_command(update: Update, context: DigestContext) -> None:
    """Show the chat's settings with buttons to change them."""
    chat = await chat_info(update, context)
    if chat is None:
        return
    if chat.subscriber is None:
        await context.reply(chat).notice("settings_need_start")
        return
    values = {"view": "main", **settings_values(context.push_defaults, chat.subscriber, chat.lang)}
    rows = settings_rows(context.renderer, chat.lang, SettingsView.MAIN)
    await context.reply(chat).template("settings", values, rows)


async def _typed(update: Update, context: DigestContext, what: str) -> None:
    chat = await chat_info(update, context)
    if chat is None or not await manager_only(update, context, chat):
        return
    text = " ".join(context.args or ())
    try:
        value: time | str = parse_time(text) if what == "time" else parse_timezone(text)
    except UsageError:
        await context.reply(chat).notice(f"usage_{what}")
        return
    if chat.subscriber is None:
        await context.reply(chat).notice("settings_need_start")
        return
    store = context.store
    if isinstance(value, time):
        subscriber = await context.db(
            store.set_push_time, chat.id, value, thread_id=chat.thread_id
        )
    else:
        subscriber = await context.db(store.set_timezone, chat.id, value, thread_id=chat.thread_id)
    if subscriber is None:  # unsubscribed and deleted meanwhile; nothing to set
        await context.reply(chat).notice("settings_need_start")
        return
    values = schedule_context(schedule_for(subscriber, context.push_defaults), datetime.now(UTC))
    await context.reply(chat).notice(
        f"{what}_set",
        time=values["push_time"],
        timezone=values["timezone"],
        when=values["next_push"],
    )


async def time_command(update: Update, context: DigestContext) -> None:
    """Set the local delivery time (`/time HH:MM`)."""
    await _typed(update, context, "time")


async def timezone_command(update: Update, context: DigestContext) -> None:
    """Set the timezone (`/timezone Area/City`, validated against the IANA database)."""
    await _typed(update, context, "timezone")


async def save_choice(
    context: DigestContext, chat_id: int, action: str, args: tuple[int, ...], *, thread_id: int = 0
) -> Subscriber | None:
    """Apply one picker choice to the chat's (topic's) subscription; None when stale or forged."""
    store, thread = context.store, thread_id
    if action == "settime" and len(args) == 2 and args[0] < 24 and args[1] < 60:
        at = time(args[0], args[1])
        return await context.db(store.set_push_time, chat_id, at, thread_id=thread)
    if action == "settz" and len(args) == 1 and args[0] < len(TIMEZONES):
        return await context.db(store.set_timezone, chat_id, TIMEZONES[args[0]], thread_id=thread)
    if action == "setlang" and len(args) == 1 and args[0] < len(LANGS):
        return await context.db(store.set_language, chat_id, LANGS[args[0]], thread_id=thread)
    return None


async def on_button(
    context: DigestContext,
    chat: ChatInfo,
    query: CallbackQuery,
    action: str,
    args: tuple[int, ...],
) -> Answer:
    """Handle a /settings button; return what to answer the press with."""
    if chat.subscriber is None:
        return Answer("settings_need_start", alert=True)
    if not await may_manage(context, chat):
        return Answer("chat_admins_only", alert=True, lang=chat.user_lang)
    if action == "set":
        if len(args) != 1 or args[0] >= len(SettingsView):
            return UNAVAILABLE
        view, subscriber, saved = SettingsView(args[0]), chat.subscriber, False
    else:
        changed = await save_choice(context, chat.id, action, args, thread_id=chat.thread_id)
        if changed is None:
            return UNAVAILABLE
        view, subscriber, saved = SettingsView.MAIN, changed, True
    lang = lang_of(subscriber, chat.user_lang)
    text = context.renderer.render(
        "settings",
        lang,
        view=view.name.lower(),
        **settings_values(context.push_defaults, subscriber, lang),
    )
    await edit_in_place(query, text, settings_rows(context.renderer, lang, view))
    # After a language change the toast already speaks the new language.
    return Answer("settings_saved", lang=lang) if saved else Answer()
