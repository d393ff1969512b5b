"""Command and button handlers: narrow the update, call one store function, reply.

Replies are rendered from templates/ in the chat's language, article parts once per content
(``DigestCache``). Every store call goes through ``context.db``, which decides whether it runs
in a worker thread or inline (``bot.telegram.context.in_store``); the newest article is read
once for every /latest of the same second (``NewestArticle``), and a search once for the
same /search of the same second (``SharedReads``). The handler table is
``bot.telegram.app.register_handlers``.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from telegram import CallbackQuery, Chat, Update
from telegram.error import Forbidden

from bot.arguments import (
    INLINE_START_PAYLOAD,
    PAGE_SIZE,
    Page,
    deep_link_article,
    deep_link_part,
    page_of,
    parse_callback,
    parse_full,
    parse_page,
    parse_search,
)
from bot.digest import Button, Part, callback
from bot.errors import NotFoundError, SendAbandoned, UsageError
from bot.fulltext import full_page
from bot.i18n import DEFAULT_LANG, Lang, language_for
from bot.model import StoredArticle
from bot.scheduling import schedule_context, schedule_for
from bot.store import Store
from bot.telegram import channels_flow, settings_flow, topics_flow
from bot.telegram.commands import command_usage, help_lines
from bot.telegram.context import ChatInfo, DigestContext, chat_info, lang_of, thread_of
from bot.telegram.keyboards import article_rows, list_rows
from bot.telegram.permissions import manager_only
from bot.telegram.replies import UNAVAILABLE, Answer, Replier, edit_in_place
from bot.topics import deep_link_topic
from bot.web.links import ReaderLinks, full_text_button, is_private_chat, with_reader

log = logging.getLogger(__name__)


def now() -> datetime:
    """Return the current time, tz-aware UTC."""
    return datetime.now(UTC)


async def send_article(
    reply: Replier,
    stored: StoredArticle,
    part: Part,
    reader: ReaderLinks | None = None,
    *,
    page: int = 1,
    page_size: int = 0,
) -> None:
    """Send one part of an article; the digest carries the 📖 ⚠️ 🔗 buttons.

    With `page_size`, at most that many messages go (page `page`, 1-based), then one saying how
    to read on; raise UsageError for a page past the end.
    """
    chunks = reply.digests.part(stored, part, reply.lang)
    rows: tuple[tuple[Button, ...], ...] = ()
    if part == "digest":
        buttons = reply.digests.buttons(stored, reply.lang)
        private = is_private_chat(reply.chat_id)
        now = int(time.time())
        rows = (with_reader(buttons, reader, stored.id, private=private, now=now),)
    if not page_size:
        await reply.chunks(chunks, rows)
        return
    shown = full_page(chunks, page, page_size)
    await reply.chunks(shown.chunks, rows)
    if shown.next is not None:
        await reply.notice(
            "full_more", page=shown.number, pages=shown.pages, id=stored.id, next=shown.next
        )


async def send_full(
    reply: Replier, stored: StoredArticle, context: DigestContext, page: int = 1
) -> None:
    """Send one page of an article's full text (FULL_TEXT_MAX_MESSAGES messages at most)."""
    size = context.settings.full_text_max_messages
    await send_article(reply, stored, "full", page=page, page_size=size)


def reader_links(context: DigestContext) -> ReaderLinks | None:
    """Return the web reader's links when WEB_URL is set."""
    return ReaderLinks.from_settings(context.settings)


async def offer_reader(reply: Replier, stored: StoredArticle, reader: ReaderLinks) -> None:
    """Answer /full with the reader first, and the in-chat full text one tap away."""
    label = reply.renderer.text("button_reader", reply.lang)
    private = is_private_chat(reply.chat_id)
    now = int(time.time())
    rows = (
        (full_text_button(label, reader, stored.id, private=private, now=now),),
        (
            Button(
                reply.renderer.text("button_read_here", reply.lang), callback("full", stored.id)
            ),
        ),
    )
    await reply.template("reader_offer", {"title": stored.article.title}, rows)


# -- subscribing ----------------------------------------------------------------------


async def start(update: Update, context: DigestContext) -> None:
    """Subscribe this chat, welcome it, and open a deep-linked article (`/start a<id>`)."""
    chat = await chat_info(update, context)
    if chat is None:
        return
    part = deep_link_part(context.args[0]) if context.args and chat.is_private else None
    if part is not None:
        # A channel post's 📖 or ⚠️: the reader wants that part, not a subscription.
        await send_linked_part(context, chat, *part)
        return
    subscription = await context.db(
        context.store.subscribe,
        chat.id,
        chat_type=chat.type,
        language=chat.user_lang,
        title=chat.title,
        thread_id=chat.thread_id,
    )
    subscriber = subscription.subscriber
    reply = context.reply(chat, lang_of(subscriber, chat.user_lang))
    status = "new" if subscription.created else "back" if subscription.reactivated else "already"
    schedule = schedule_context(schedule_for(subscriber, context.push_defaults), now())
    values = {"status": status, "group": not chat.is_private, "topic": chat.thread_id != 0}
    await reply.template("welcome", {**values, **schedule})
    topic_id = deep_link_topic(context.args[0]) if context.args else None
    if topic_id is not None:
        await topics_flow.follow_deep_link(context, chat, topic_id)
    elif context.args and context.args[0] != INLINE_START_PAYLOAD:
        # (An inline answer's "open the bot" button starts the bot with no article.)
        article_id = deep_link_article(context.args[0])
        stored = (
            None if article_id is None else await context.db(context.store.get_article, article_id)
        )
        if stored is None:
            await reply.notice("unavailable")
        else:
            await send_article(reply, stored, "digest", reader_links(context))


async def send_linked_part(
    context: DigestContext, chat: ChatInfo, part: str, article_id: int
) -> None:
    """Send the part of an article a deep link (`/start f<id>`, `r<id>`) asks for."""
    stored = await context.db(context.store.get_article, article_id)
    reply = context.reply(chat)
    if stored is None:
        await reply.notice("unavailable")
    elif part == "full":
        await send_full(reply, stored, context)
    else:
        await send_article(reply, stored, "risks")


async def stop(update: Update, context: DigestContext) -> None:
    """Unsubscribe this chat (/stop, /unsubscribe); its history and settings are kept."""
    chat = await chat_info(update, context)
    if chat is None or not await manager_only(update, context, chat):
        return
    was_active = await context.db(context.store.unsubscribe, chat.id, thread_id=chat.thread_id)
    key = "stop_done" if was_active else "stop_not_subscribed"
    await context.reply(chat).notice(key)


# -- reading --------------------------------------------------------------------------


async def latest(update: Update, context: DigestContext) -> None:
    """Send the newest article's digest (of one topic: `/latest <topic>`) with its buttons."""
    chat = await chat_info(update, context)
    if chat is None:
        return
    if context.args:
        in_topic = await topics_flow.latest_in_topic(context, chat, " ".join(context.args))
        if in_topic is not None:
            await send_article(context.reply(chat), in_topic, "digest")
        return
    stored = await context.newest_article()
    if stored is None:
        await context.reply(chat).notice("no_articles")
        return
    await send_article(context.reply(chat), stored, "digest", reader_links(context))


async def _part(
    update: Update, context: DigestContext, part: Part, *, required: bool, page: int = 1
) -> None:
    chat = await chat_info(update, context)
    if chat is None:
        return
    ref = " ".join(context.args or ()) if part != "full" else parse_full(context.args or [])[0]
    if not ref and required:
        await context.reply(chat).notice("usage_article")
        return
    try:
        # Without a ref: the newest, shared with /latest (resolve("latest") reads the same).
        found = await (context.db(context.store.resolve, ref) if ref else context.newest_article())
    except UsageError:
        if part == "digest":
            await context.reply(chat).notice("usage_article")
        else:
            await usage(context, chat, PART_COMMANDS[part])
        return
    except NotFoundError:
        found = None
    if found is None:
        key, values = ("not_found", {"ref": ref}) if ref else ("no_articles", {})
        await context.reply(chat).notice(key, **values)
        return
    reader = reader_links(context)
    if part == "full":
        if reader is not None and page == 1:
            # The whole article on one page first; "read here instead" sends the messages.
            await offer_reader(context.reply(chat), found, reader)
            return
        try:
            await send_full(context.reply(chat), found, context, page)
        except UsageError:
            await context.reply(chat).notice("usage_full")
        return
    await send_article(context.reply(chat), found, part, reader)


# The command that sends each part, for its usage line.
PART_COMMANDS: dict[Part, str] = {"digest": "article", "full": "full", "risks": "risks"}


async def usage(context: DigestContext, chat: ChatInfo, name: str) -> None:
    """Reply with a command's synopsis from the command table, in the chat's language."""
    synopsis = command_usage(context.renderer, chat.lang, name)
    await context.reply(chat).notice("usage", usage=synopsis)


async def risks(update: Update, context: DigestContext) -> None:
    """Send an article's risks (`/risks [id]`, the newest without an id)."""
    await _part(update, context, "risks", required=False)


async def full(update: Update, context: DigestContext) -> None:
    """Send a page of an article's full text (`/full [id] [page]`), then how to read on."""
    try:
        _, page = parse_full(list(context.args or ()))
    except UsageError:
        chat = await chat_info(update, context)
        if chat is not None:
            await context.reply(chat).notice("usage_full")
        return
    await _part(update, context, "full", required=False, page=page)


async def article(update: Update, context: DigestContext) -> None:
    """Send one article's digest with its buttons (`/article <id>`)."""
    await _part(update, context, "digest", required=True)


def _load_page(store: Store, requested: int) -> tuple[Page, list[StoredArticle]]:
    page = page_of(requested, store.count_articles())
    return page, store.list_articles(offset=page.offset, limit=PAGE_SIZE)


def _list_context(page: Page, articles: list[StoredArticle]) -> dict[str, object]:
    return {
        "page": page.number,
        "pages": page.pages,
        "total": page.total,
        "topic": None,
        "articles": [
            {"id": a.id, "title": a.article.title, "date": a.article.date} for a in articles
        ],
    }


async def list_archive(update: Update, context: DigestContext) -> None:
    """Send a page of the archive (or of a topic), newest first, with ◀ ▶ and article buttons."""
    chat = await chat_info(update, context)
    if chat is None:
        return
    args = list(context.args or ())
    if args and not all(a.isdigit() for a in args):
        # `/list <topic> [page]`: a trailing number after the topic's name is its page.
        page_arg = int(args.pop()) if len(args) > 1 and args[-1].isdigit() else 1
        await topics_flow.list_topic(context, chat, " ".join(args), max(page_arg, 1))
        return
    try:
        requested = parse_page(args)
    except UsageError:
        await context.reply(chat).notice("usage_list")
        return
    page, articles = await context.db(_load_page, context.store, requested)
    if not articles:
        await context.reply(chat).notice("no_articles")
        return
    rows = list_rows(context.renderer, chat.lang, articles, page)
    await context.reply(chat).template("list", _list_context(page, articles), rows)


async def search(update: Update, context: DigestContext) -> None:
    """Search titles, summaries, points and full text (`/search <words>`): 10 best, snippets."""
    chat = await chat_info(update, context)
    if chat is None:
        return
    try:
        words = parse_search(list(context.args or ()))
    except UsageError:
        await context.reply(chat).notice("usage_search")
        return
    hits = await context.search_articles(words, limit=10)
    query = " ".join(words)
    reach = context.store.search_reach(words)
    if not hits:
        none = "search_none" if reach is None else "search_none_recent"
        await context.reply(chat).notice(none, query=query, reach=reach)
        return
    values = {"query": query, "count": len(hits), "hits": hits, "reach": reach}
    await context.reply(chat).template("search", values, article_rows([h.stored for h in hits]))


# -- help, hints, admin -----------------------------------------------------------------


def is_admin(context: DigestContext, chat: ChatInfo) -> bool:
    """Tell whether the sender is one of ADMIN_IDS."""
    return chat.user_id is not None and chat.user_id in context.settings.admin_ids


async def help_command(update: Update, context: DigestContext) -> None:
    """List every command in the chat's language (admin commands for admins only)."""
    chat = await chat_info(update, context)
    if chat is None:
        return
    lines = help_lines(context.renderer, chat.lang, admin=is_admin(context, chat))
    await context.reply(chat).template("help", {"commands": lines})


async def hint(update: Update, context: DigestContext) -> None:
    """Point free text in a private chat to /help."""
    chat = await chat_info(update, context)
    if chat is None:
        return
    await context.reply(chat).notice("hint")


async def unknown_command(update: Update, context: DigestContext) -> None:
    """Tell a private chat that a command is unknown, and point to /help."""
    chat = await chat_info(update, context)
    if chat is None:
        return
    await context.reply(chat).notice("unknown_command")


async def admin_chat(update: Update, context: DigestContext) -> ChatInfo | None:
    """Return the chat if the sender is an admin; otherwise refuse and return None."""
    chat = await chat_info(update, context)
    if chat is None:
        return None
    if not is_admin(context, chat):
        log.info("refused an admin command from user %s", chat.user_id)
        await context.reply(chat).notice("not_allowed")
        return None
    return chat


async def reload(update: Update, context: DigestContext) -> None:
    """Re-sync the seeds now and report what changed (admins only)."""
    chat = await admin_chat(update, context)
    if chat is None:
        return
    report = await context.db(context.runtime.sync)
    context.bot_data.metrics.synced(report)
    context.bot_data.forget_reads()  # /latest and /search show what the admin just imported
    log.info("seeds re-synced by /reload: %s", report.summary())
    values = {
        "new": report.new,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "hidden": report.hidden,
        "failed": report.failed,
        "failures": list(report.failures),
    }
    await context.reply(chat).template("reload", values)


# -- chat life cycle --------------------------------------------------------------------


async def migrate(update: Update, context: DigestContext) -> None:
    """Follow a group that became a supergroup: the subscription moves to the new id."""
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id:
        old, new = message.chat_id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id:
        old, new = message.migrate_from_chat_id, message.chat_id
    else:
        return
    await context.db(context.store.migrate_chat, old, new)
    log.info("chat %s migrated to %s", old, new)


# -- buttons --------------------------------------------------------------------------


async def _article_button(
    context: DigestContext, chat: ChatInfo, spinner: Spinner, args: tuple[int, ...], part: Part
) -> Answer:
    if len(args) != 1:
        return UNAVAILABLE
    stored = await context.db(context.store.get_article, args[0])
    if stored is None:
        return UNAVAILABLE
    # Stop the spinner before the send: a long full text must not keep it turning.
    await spinner.stop(Answer(), chat.lang)
    if part == "full":
        await send_full(context.reply(chat), stored, context)
    else:
        await send_article(context.reply(chat), stored, part, reader_links(context))
    return Answer()


async def _list_button(
    context: DigestContext, chat: ChatInfo, query: CallbackQuery, args: tuple[int, ...]
) -> Answer:
    if len(args) != 1:
        return UNAVAILABLE
    page, articles = await context.db(_load_page, context.store, args[0])
    if not articles:
        return UNAVAILABLE
    text = context.renderer.render("list", chat.lang, **_list_context(page, articles))
    # A double tap asks for the page already shown: an unchanged edit is fine.
    await edit_in_place(query, text, list_rows(context.renderer, chat.lang, articles, page))
    return Answer()


# Button actions that open one part of an article.
ARTICLE_ACTIONS: dict[str, Part] = {"full": "full", "risks": "risks", "article": "digest"}


# The flows whose screens have buttons of their own: their actions, and who handles them.
_FLOWS = (
    (settings_flow.ACTIONS, settings_flow.on_button),
    (channels_flow.ACTIONS, channels_flow.on_button),
    (topics_flow.ACTIONS, topics_flow.on_button),
)


class Spinner:
    """A pressed button's spinner: answered (stopped) exactly once, however the press ends."""

    def __init__(self, query: CallbackQuery, context: DigestContext) -> None:
        self.query = query
        self.context = context
        self.stopped = False

    async def stop(self, answer: Answer, lang: Lang) -> None:
        """Answer the query (a toast or an alert, or nothing) unless it was answered already."""
        if self.stopped:
            return
        self.stopped = True
        text = self.context.renderer.text(answer.key, answer.lang or lang) if answer.key else None
        await self.query.answer(text, show_alert=answer.alert)


async def _dispatch(
    context: DigestContext, chat: ChatInfo | None, query: CallbackQuery, spinner: Spinner
) -> Answer:
    parsed = parse_callback(query.data or "")
    if parsed is None or chat is None or chat.type == Chat.CHANNEL:
        # A button in a channel never answers there (its 📖 and ⚠️ are deep links anyway).
        return UNAVAILABLE
    action, args = parsed
    if action in ARTICLE_ACTIONS:
        return await _article_button(context, chat, spinner, args, ARTICLE_ACTIONS[action])
    if action == "list":
        return await _list_button(context, chat, query, args)
    for actions, on_button in _FLOWS:
        if action in actions:
            return await on_button(context, chat, query, action, args)
    return UNAVAILABLE


async def button(update: Update, context: DigestContext) -> None:
    """Handle every inline button; always answer, stale or forged data gets an alert."""
    query = update.callback_query
    chat = await chat_info(update, context)
    if query is None:
        return
    spinner = Spinner(query, context)
    answer = Answer()  # if an action raises, the spinner stops and on_error apologises
    try:
        answer = await _dispatch(context, chat, query, spinner)
    finally:
        # The client shows a spinner until the query is answered, whatever happened.
        lang = chat.lang if chat else language_for(query.from_user.language_code)
        await spinner.stop(answer, lang)


# -- errors -------------------------------------------------------------------------------


async def on_error(update: object, context: DigestContext) -> None:
    """Log the traceback once, and apologise to the chat without showing internals."""
    error = context.error
    if isinstance(error, SendAbandoned):
        # The bot is shutting down: the reply was given up on purpose; an apology would be too.
        log.debug("shutting down: a reply was not sent")
        return
    if isinstance(error, Forbidden) and isinstance(update, Update) and update.effective_chat:
        # The user blocked the bot (or removed it from the group): stop pushing to them,
        # in every forum topic of the chat.
        chat_id = update.effective_chat.id
        await context.db(context.store.unsubscribe, chat_id, reason="blocked", thread_id=None)
        log.info("chat %s blocked the bot; unsubscribed", chat_id)
        return
    log.error("error while handling an update", exc_info=error)
    if error is not None:
        await report_error(update, context, error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    user = update.effective_user
    lang = language_for(user.language_code if user else None)
    text = context.renderer.render("notice", lang, key="error_apology", values={})
    try:
        thread = thread_of(update) or None
        await context.bot.send_message(update.effective_chat.id, text, message_thread_id=thread)
    except Exception:  # the apology is best effort; the error itself is logged above
        log.warning("could not send the apology to chat %s", update.effective_chat.id)


async def report_error(update: object, context: DigestContext, error: BaseException) -> None:
    """Send the error to ERROR_CHAT_ID (at most one a minute; the next says how many were held)."""
    state = context.bot_data
    chat_id = state.settings.error_chat_id if state.settings else None
    if chat_id is None or state.runtime is None:  # no renderer before post_init
        return
    where = ""
    if isinstance(update, Update):
        chat = update.effective_chat
        message = update.effective_message
        command = message.text.split(maxsplit=1)[0][:64] if message and message.text else ""
        where = " ".join(part for part in (command, f"chat {chat.id}" if chat else "") if part)
    elif context.job is not None:
        where = f"job {context.job.name}"
    secret = context.bot.token.split(":", 1)[-1]
    report = context.bot_data.error_reports.report(error, where=where, secret=secret)
    if report is None:
        return
    text = context.renderer.render(
        "error_report",
        DEFAULT_LANG,
        summary=report.summary,
        where=report.where,
        details=report.details,
        suppressed=report.suppressed,
    )
    try:
        await context.bot.send_message(chat_id, text)
    except Exception:  # best effort: the error itself is in the log already
        log.warning("could not send the error report to ERROR_CHAT_ID %s", chat_id)
