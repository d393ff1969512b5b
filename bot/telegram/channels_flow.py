"""Channels: connect one, manage it from the private chat, and notice when it is lost.

- **Connect.** Telegram sends ``my_chat_member`` when an editor makes the bot an administrator
  of a channel; if it may post, the channel is registered, waiting for a confirmation, and the
  editor gets its screen in their private chat. ``/channel add @name`` (or the id, or a
  forwarded post) connects it at once, once getChatMember shows the bot may post and the
  person is an administrator there; otherwise the reply says which of the two is missing.
- **Manage.** ``/channels`` lists the channels the person administers (getChatAdministrators,
  cached by :class:`bot.roles.AdminLists`); each channel's screen has the /settings pickers
  (bot.telegram.settings_flow's, with the channel's subscriber id in the callback data), start
  or pause, post the latest now, and disconnect. Every press is checked against the channel's
  administrators (and ADMIN_IDS).
- **Lose.** The bot removed or demoted, or a send refused, makes an active channel inactive,
  and the editor who connected it is told once, in private (bot.telegram.channel_loss, the
  one place of that policy). Adding the bot again brings the channel back with its settings.

The bot never writes into a channel except the digest: everything here goes to private chats.
"""

from __future__ import annotations

import logging
from typing import Final

from telegram import CallbackQuery, Chat, MessageOriginChannel, Update
from telegram.error import Forbidden, TelegramError

from bot import channels
from bot.arguments import chat_title, parse_channel_add
from bot.digest import Button, callback
from bot.errors import UsageError
from bot.i18n import Lang, language_for
from bot.model import Subscriber
from bot.push.options import PushOptions
from bot.push.run import deliver_now
from bot.push.sender import Outcome
from bot.roles import MemberRole
from bot.telegram import topics_flow
from bot.telegram.channel_loss import channel_lang, lose, push_sender, tell
from bot.telegram.context import ChatInfo, DigestContext, chat_info
from bot.telegram.keyboards import (
    CHANNEL_SETTINGS,
    LABEL_LIMIT,
    SettingsView,
    channel_rows,
    settings_rows,
)
from bot.telegram.permissions import member_role, role_of
from bot.telegram.replies import UNAVAILABLE, Answer, Rows, edit_in_place, send_chunks
from bot.telegram.settings_flow import save_choice, settings_values

log = logging.getLogger(__name__)

# The settings pickers of a channel's screen, by their private-chat action.
_SETTINGS: Final = {channel_action: action for action, channel_action in CHANNEL_SETTINGS.items()}
_TOPICS: Final = frozenset({"chtopics", "chtopic"})  # a channel's topics screen, a toggle
ACTIONS: Final = frozenset(
    {"chopen", "chon", "choff", "chpost", "chdrop", "chlist", *_SETTINGS, *_TOPICS}
)


# -- connecting ---------------------------------------------------------------------------


async def my_chat_member(update: Update, context: DigestContext) -> None:
    """Follow the bot's role in a channel: a posting admin connects it, anything else loses it."""
    change = update.my_chat_member
    if change is None or change.chat.type != Chat.CHANNEL:
        return
    chat = change.chat
    context.bot_data.roles.forget(chat.id)
    context.bot_data.admin_lists.forget(chat.id)
    role = member_role(change.new_chat_member)
    by = change.from_user
    lang = language_for(by.language_code)
    if not (role.is_admin and role.can_post):
        await lose(context.bot, context.runtime, chat.id)
        return
    before = member_role(change.old_chat_member)
    if before.is_admin and before.can_post:
        known = await context.db(context.store.get_subscriber, chat.id)
        if known is not None and channels.state_of(known.active, known.inactive_reason) != "lost":
            # Only its other rights were edited: the channel is as it was, nothing to say.
            return
    link = await context.db(
        context.store.connect_channel,
        chat.id,
        title=chat_title(chat.title or ""),
        language=lang,
        by=by.id,
        confirmed=False,
    )
    subscriber = link.subscriber
    log.info("bot made a posting admin of channel %s by user %s", chat.id, by.id)
    if subscriber.inactive_reason == channels.UNCONFIRMED:
        text, rows = await _screen(
            context, lang, subscriber, SettingsView.MAIN, intro="channel_added"
        )
        try:
            await send_chunks(context.bot, by.id, [text], rows)
        except TelegramError as exc:
            log.info("could not ask user %s to confirm channel %s: %s", by.id, chat.id, exc)
    elif link.reactivated:
        await tell(
            context.bot, context.renderer, by.id, lang, "channel_back", title=subscriber.title
        )


async def chat_member(update: Update, context: DigestContext) -> None:
    """Follow a channel's administrators: one who stops being one may no longer manage it.

    Their cached role and the channel's cached administrators are dropped at once. If they
    had connected the channel, it passes to the administrator who demoted them (None when
    they left on their own), so the notice of a lost channel reaches someone who can act.
    """
    change = update.chat_member
    if change is None or change.chat.type != Chat.CHANNEL:
        return
    user = change.new_chat_member.user
    context.bot_data.roles.forget(change.chat.id, user.id)
    context.bot_data.admin_lists.forget(change.chat.id)
    if member_role(change.new_chat_member).is_admin:
        return
    by = change.from_user.id if change.from_user.id != user.id else None
    await context.db(context.store.hand_over_channel, change.chat.id, user.id, by)


async def _missing(context: DigestContext, channel_id: int, user_id: int) -> str | None:
    """Return what stops `user_id` connecting the channel (a catalogue key), None if nothing."""
    bot = context.bot
    try:
        own = member_role(await bot.get_chat_member(channel_id, bot.id))
    except Forbidden:  # "bot is not a member of the channel chat"
        own = MemberRole("left")
    except TelegramError:
        return "channel_not_found"
    if not (own.is_admin and own.can_post):
        return "channel_bot_cannot_post" if own.is_admin else "channel_bot_not_admin"
    if user_id in context.settings.admin_ids:
        return None
    try:
        theirs = member_role(await bot.get_chat_member(channel_id, user_id))
    except TelegramError:
        theirs = MemberRole("left")
    return None if theirs.is_admin else "channel_you_not_admin"


async def connect(context: DigestContext, chat: ChatInfo, ref: int | str) -> None:
    """Connect a channel named by a person in their private chat, or say what is missing."""
    if chat.user_id is None:
        return
    reply = context.reply(chat)
    if isinstance(ref, int) and ref > 0:
        # A positive id is a person (or the bot): channels' ids are negative (-100…).
        await reply.notice("channel_not_a_channel", ref=str(ref))
        return
    try:
        target = await context.bot.get_chat(ref)
    except TelegramError:
        await reply.notice("channel_not_found", ref=str(ref))
        return
    if target.type != Chat.CHANNEL:
        await reply.notice("channel_not_a_channel", ref=str(ref))
        return
    title = chat_title(target.title or "")
    missing = await _missing(context, target.id, chat.user_id)
    if missing is not None:
        await reply.notice(missing, title=title, ref=str(ref))
        return
    link = await context.db(
        context.store.connect_channel,
        target.id,
        title=title,
        language=chat.lang,
        by=chat.user_id,
        confirmed=True,
    )
    text, rows = await _screen(
        context, chat.lang, link.subscriber, SettingsView.MAIN, intro="channel_connected"
    )
    await reply.chunks([text], rows)


async def channel_command(update: Update, context: DigestContext) -> None:
    """Connect a channel from the private chat (`/channel add @name` or its id)."""
    chat = await chat_info(update, context)
    if chat is None:
        return
    if not chat.is_private:
        await context.reply(chat).notice("channels_private_only")
        return
    try:
        ref = parse_channel_add(list(context.args or ()))
    except UsageError:
        await context.reply(chat).notice("usage_channel")
        return
    await connect(context, chat, ref)


async def forwarded(update: Update, context: DigestContext) -> None:
    """Connect the channel a post forwarded into the private chat came from."""
    chat = await chat_info(update, context)
    message = update.effective_message
    if chat is None or message is None:
        return
    origin = message.forward_origin
    if not isinstance(origin, MessageOriginChannel):
        await context.reply(chat).notice("hint")
        return
    await connect(context, chat, origin.chat.id)


# -- managing -----------------------------------------------------------------------------


async def _screen(
    context: DigestContext,
    lang: Lang,
    subscriber: Subscriber,
    view: SettingsView,
    *,
    intro: str = "",
) -> tuple[str, Rows]:
    """Return a channel's screen: its state, topics and settings, with their buttons."""
    values = settings_values(context.push_defaults, subscriber, channel_lang(subscriber))
    following = await context.db(context.store.followed_topics, subscriber.chat_id)
    text = context.renderer.render(
        "channel",
        lang,
        view=view.name.lower(),
        title=subscriber.title,
        state=channels.state_of(subscriber.active, subscriber.inactive_reason),
        intro=intro,
        topics=[t.name for t in following],
        **values,
    )
    rows = settings_rows(context.renderer, lang, view, channel=subscriber.id)
    if view is SettingsView.MAIN:
        rows += channel_rows(
            context.renderer,
            lang,
            subscriber.id,
            active=subscriber.active,
            can_start=channels.resumable(subscriber.inactive_reason),
        )
    return text, tuple(tuple(row) for row in rows)


async def _administered(context: DigestContext, user_id: int) -> list[Subscriber]:
    """Return the connected channels whose administrators include the user (all for ADMIN_IDS)."""
    listed = await context.db(context.store.channel_subscribers)
    shown = [s for s in listed if s.inactive_reason != channels.DISCONNECTED]
    if user_id in context.settings.admin_ids:
        return shown

    async def fetch(chat_id: int) -> frozenset[int]:
        members = await context.bot.get_chat_administrators(chat_id)
        return frozenset(m.user.id for m in members)

    mine = []
    for subscriber in shown:
        try:
            admins = await context.bot_data.admin_lists.admins(subscriber.chat_id, fetch)
        except TelegramError as exc:
            log.debug("no administrators of channel %s: %s", subscriber.chat_id, exc)
            continue
        if user_id in admins:
            mine.append(subscriber)
    return mine


def _list(context: DigestContext, lang: Lang, listed: list[Subscriber]) -> tuple[str, Rows]:
    """Return /channels' text and one button per channel."""
    entries = [
        {"title": s.title, "state": channels.state_of(s.active, s.inactive_reason)} for s in listed
    ]
    text = context.renderer.render("channels", lang, channels=entries)
    rows = tuple(
        (Button(s.title[:LABEL_LIMIT] or str(s.chat_id), callback("chopen", s.id)),)
        for s in listed
    )
    return text, rows


async def channels_command(update: Update, context: DigestContext) -> None:
    """List the channels the person administers, each opening its settings."""
    chat = await chat_info(update, context)
    if chat is None or chat.user_id is None:
        return
    if not chat.is_private:
        await context.reply(chat).notice("channels_private_only")
        return
    listed = await _administered(context, chat.user_id)
    if not listed:
        await context.reply(chat).notice("channels_none", bot=context.bot.username or "")
        return
    text, rows = _list(context, chat.lang, listed)
    await context.reply(chat).chunks([text], rows)


async def may_manage_channel(context: DigestContext, channel_id: int, user_id: int) -> bool:
    """Tell whether a person may change a channel: one of its administrators, or ADMIN_IDS."""
    if user_id in context.settings.admin_ids:
        return True
    try:
        role = await role_of(context, channel_id, user_id)
    except TelegramError as exc:
        log.info("could not read user %s's role in channel %s: %s", user_id, channel_id, exc)
        return False
    return role.is_admin


# The toast of each way "post the latest now" can end.
_POSTED: Final = {
    Outcome.SENT: "channel_posted",
    Outcome.BLOCKED: "channel_post_failed",
    Outcome.RETRY: "channel_post_later",
    Outcome.FAILED: "channel_post_error",
}


async def post_latest(context: DigestContext, subscriber: Subscriber) -> str:
    """Post the newest article's digest into the channel now; return the toast to show.

    It goes through the ledger's row for (channel, article), as the daily push would send
    it: the push never posts that article there again, and a second press posts nothing.
    """
    stored = await context.db(context.store.latest_for, subscriber.chat_id)
    if stored is None:
        return "no_articles"
    options = PushOptions.from_settings(context.settings, bot_username=context.bot.username)
    outcome = await deliver_now(
        context.store,
        context.renderer,
        push_sender(context.bot, context.runtime),
        options,
        subscriber=subscriber,
        article_id=stored.id,
    )
    return "channel_post_already" if outcome is None else _POSTED[outcome]


def _transition(action: str, subscriber: Subscriber) -> tuple[str | None, str] | None:
    """Return the state a press moves a channel to (None: active) and its toast, if it may."""
    if action == "chon" and channels.resumable(subscriber.inactive_reason):
        return None, "channel_started"
    if action == "choff" and subscriber.active:
        return channels.PAUSED, "channel_paused"
    if action == "chdrop":
        return channels.DISCONNECTED, "channel_disconnected"
    return None


async def _act(
    context: DigestContext, subscriber: Subscriber, action: str, rest: tuple[int, ...]
) -> tuple[Subscriber, SettingsView, str | None] | None:
    """Apply one press on a channel's screen; None when the data is stale or forged."""
    if action in _SETTINGS:
        base = _SETTINGS[action]
        if base == "set":
            valid = len(rest) == 1 and rest[0] < len(SettingsView)
            return (subscriber, SettingsView(rest[0]), None) if valid else None
        changed = await save_choice(context, subscriber.chat_id, base, rest)
        return None if changed is None else (changed, SettingsView.MAIN, "settings_saved")
    if action in ("chpost", "chopen"):
        toast = await post_latest(context, subscriber) if action == "chpost" else None
        return subscriber, SettingsView.MAIN, toast
    transition = _transition(action, subscriber)
    if transition is None:
        return None
    changed = await context.db(context.store.set_channel_state, subscriber.id, transition[0])
    return None if changed is None else (changed, SettingsView.MAIN, transition[1])


async def _topics_press(
    context: DigestContext,
    chat: ChatInfo,
    query: CallbackQuery,
    subscriber: Subscriber,
    *,
    action: str,
    rest: tuple[int, ...],
) -> Answer:
    """Show a page of the channel's topics (`chtopics`), or toggle one first (`chtopic`)."""
    if len(rest) != (2 if action == "chtopic" else 1):
        return UNAVAILABLE
    answer = Answer()
    if action == "chtopic":
        answer = await topics_flow.toggle_following(context, subscriber.chat_id, rest[0])
        if answer is UNAVAILABLE:
            return answer
    screen = await topics_flow.channel_topics(context, chat.lang, subscriber, rest[-1])
    if screen is None:
        return Answer("topics_none", alert=True)
    await edit_in_place(query, *screen)
    return answer


async def _show_list(context: DigestContext, chat: ChatInfo, query: CallbackQuery) -> Answer:
    """Turn the pressed message back into the list of the person's channels."""
    if chat.user_id is None:
        return UNAVAILABLE
    listed = await _administered(context, chat.user_id)
    if not listed:
        return Answer("channels_none_short", alert=True)
    text, rows = _list(context, chat.lang, listed)
    await edit_in_place(query, text, rows)
    return Answer()


async def _managed(
    context: DigestContext, user_id: int, args: tuple[int, ...]
) -> Subscriber | Answer:
    """Return the channel a press names if the person may manage it, else the answer."""
    subscriber = None
    if args:
        subscriber = await context.db(context.store.get_subscriber_by_id, args[0])
    if subscriber is None or subscriber.chat_type != channels.CHANNEL:
        return UNAVAILABLE
    if not await may_manage_channel(context, subscriber.chat_id, user_id):
        return Answer("chat_admins_only", alert=True)
    return subscriber


async def _press(
    context: DigestContext,
    chat: ChatInfo,
    query: CallbackQuery,
    subscriber: Subscriber,
    *,
    action: str,
    rest: tuple[int, ...],
) -> Answer:
    """Apply a press on a channel's screen and redraw it."""
    done = await _act(context, subscriber, action, rest)
    if done is None:
        return UNAVAILABLE
    subscriber, view, toast = done
    text, rows = await _screen(context, chat.lang, subscriber, view)
    await edit_in_place(query, text, rows)
    return Answer(toast) if toast else Answer()


async def on_button(
    context: DigestContext,
    chat: ChatInfo,
    query: CallbackQuery,
    action: str,
    args: tuple[int, ...],
) -> Answer:
    """Handle a press on /channels or on a channel's screen; return what to answer it with."""
    if not chat.is_private or chat.user_id is None:
        return UNAVAILABLE
    if action == "chlist":
        return await _show_list(context, chat, query)
    subscriber = await _managed(context, chat.user_id, args)
    if isinstance(subscriber, Answer):
        return subscriber
    press = _topics_press if action in _TOPICS else _press
    return await press(context, chat, query, subscriber, action=action, rest=args[1:])
