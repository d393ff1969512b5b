"""/topics, /follow, /unfollow and the topic buttons; a topic narrows /latest and /list.

/topics is one message edited in place: a page of topics as toggle buttons (``topic:<id>:
<page>`` follows or unfollows and redraws that page, ``topics:<page>`` turns the page). A
chat that follows topics gets only their articles in the daily push (bot.push.planner);
following none means everything. In a group only its administrators may change what it
follows (bot.telegram.permissions).
"""

from __future__ import annotations

from telegram import CallbackQuery, Update

from bot.arguments import PAGE_SIZE, Page, chat_title, page_of, parse_text
from bot.digest import Button, callback
from bot.errors import UsageError
from bot.i18n import Lang
from bot.model import StoredArticle, Subscriber, Topic
from bot.rendering import Renderer
from bot.store import Store
from bot.telegram.context import ChatInfo, DigestContext, chat_info
from bot.telegram.keyboards import article_rows
from bot.telegram.permissions import manager_only, may_manage
from bot.telegram.replies import UNAVAILABLE, Answer, Replier, edit_in_place
from bot.topics import TOPIC_NAME_MAX, suggest

ACTIONS = frozenset({"topic", "topics", "listt"})
_LABEL_LIMIT = 28  # characters of a topic name on its button


# -- finding a topic by name -----------------------------------------------------------------


async def find_topic(context: DigestContext, reply: Replier, name: str) -> Topic | None:
    """Return the topic called `name` (any case); otherwise say so, with a suggestion."""
    try:
        name = parse_text(name, limit=TOPIC_NAME_MAX, what="topic")
    except UsageError:
        # Control characters or an endless name: no topic has one (and PostgreSQL cannot
        # even compare a NUL), so it is simply not a topic.
        await reply.notice("topic_unknown", name=chat_title(name)[:TOPIC_NAME_MAX])
        return None
    found = await context.db(context.store.find_topic, name)
    if found is not None:
        return found
    known = await context.db(context.store.list_topics)
    suggestion = suggest(name, [t.name for t in known])
    if suggestion is None:
        await reply.notice("topic_unknown", name=name)
    else:
        await reply.notice("topic_did_you_mean", name=name, suggestion=suggestion)
    return None


# -- /topics ---------------------------------------------------------------------------------


def _load(
    store: Store, chat_id: int, thread_id: int, requested: int
) -> tuple[Page, list[Topic], list[Topic]]:
    page = page_of(requested, store.count_topics())
    shown = store.list_topics(offset=page.offset, limit=PAGE_SIZE)
    return page, shown, store.followed_topics(chat_id, thread_id)


def _label(topic: Topic, followed: bool) -> str:
    """Return a toggle's label: ✓ when followed, the name, its article count."""
    name = topic.name if len(topic.name) <= _LABEL_LIMIT else topic.name[:27] + "…"
    return f"{'✓ ' if followed else ''}{name} · {topic.articles}"


def _topic_data(action: str, *args: int, channel: int | None) -> str:
    """Return a topic button's callback data, for this chat or (`ch…`) for a channel."""
    return callback(action, *args) if channel is None else callback(f"ch{action}", channel, *args)


def topic_rows(
    renderer: Renderer,
    lang: Lang,
    page: Page,
    shown: list[Topic],
    followed: set[int],
    *,
    channel: int | None = None,
) -> list[list[Button]]:
    """Return the /topics keyboard: a toggle per topic, two a row, then ◀ ▶.

    Given a channel's subscriber id, the buttons change that channel's topics, and a last
    row goes back to its screen.
    """
    toggles = [
        Button(
            _label(t, t.id in followed),
            _topic_data("topic", t.id, page.number, channel=channel),
        )
        for t in shown
    ]
    rows = [toggles[i : i + 2] for i in range(0, len(toggles), 2)]
    nav = []
    if page.number > 1:
        data = _topic_data("topics", page.number - 1, channel=channel)
        nav.append(Button(renderer.text("button_prev", lang), data))
    if page.number < page.pages:
        data = _topic_data("topics", page.number + 1, channel=channel)
        nav.append(Button(renderer.text("button_next", lang), data))
    if channel is None:
        return [*rows, nav]
    back = [Button(renderer.text("button_back", lang), callback("chopen", channel))]
    return [*rows, nav, back]


def _screen(
    renderer: Renderer, lang: Lang, page: Page, shown: list[Topic], following: list[Topic]
) -> tuple[str, list[list[Button]]]:
    text = renderer.render(
        "topics",
        lang,
        page=page.number,
        pages=page.pages,
        total=page.total,
        following=[t.name for t in following],
    )
    return text, topic_rows(renderer, lang, page, shown, {t.id for t in following})


async def channel_topics(
    context: DigestContext, lang: Lang, subscriber: Subscriber, requested: int
) -> tuple[str, list[list[Button]]] | None:
    """Return a channel's topics screen (one page of toggles), for its administrator."""
    page, shown, following = await context.db(
        _load, context.store, subscriber.chat_id, subscriber.thread_id, requested
    )
    if not shown:
        return None
    text = context.renderer.render(
        "channel_topics",
        lang,
        title=subscriber.title,
        page=page.number,
        pages=page.pages,
        total=page.total,
        following=[t.name for t in following],
    )
    followed = {t.id for t in following}
    return text, topic_rows(context.renderer, lang, page, shown, followed, channel=subscriber.id)


async def topics_command(update: Update, context: DigestContext) -> None:
    """List the topics as toggle buttons (✓ followed), paged like /list."""
    chat = await chat_info(update, context)
    if chat is None:
        return
    page, shown, following = await context.db(_load, context.store, chat.id, chat.thread_id, 1)
    if not shown:
        await context.reply(chat).notice("topics_none")
        return
    text, rows = _screen(context.renderer, chat.lang, page, shown, following)
    await context.reply(chat).chunks([text], rows)


# -- /follow and /unfollow -------------------------------------------------------------------


async def _set(update: Update, context: DigestContext, *, follow: bool) -> None:
    chat = await chat_info(update, context)
    if chat is None:
        return
    reply = context.reply(chat)
    name = " ".join(context.args or ())
    if not name:
        await reply.notice("usage_follow" if follow else "usage_unfollow")
        return
    if chat.subscriber is None:
        await reply.notice("settings_need_start")
        return
    if not await manager_only(update, context, chat):
        return
    topic = await find_topic(context, reply, name)
    if topic is None:
        return
    await _report(context, chat, reply, topic, follow=follow)


async def _report(
    context: DigestContext, chat: ChatInfo, reply: Replier, topic: Topic, *, follow: bool
) -> None:
    """Follow or unfollow the topic, and say what changed."""
    changed = await context.db(
        context.store.set_following,
        chat.id,
        topic.id,
        follow=follow,
        thread_id=chat.thread_id,
    )
    if follow:
        await reply.notice("follow_done" if changed else "follow_already", name=topic.name)
    elif not changed:
        await reply.notice("unfollow_not", name=topic.name)
    else:
        left = await context.db(context.store.followed_topics, chat.id, chat.thread_id)
        await reply.notice("unfollow_done" if left else "unfollow_done_all", name=topic.name)


async def follow_command(update: Update, context: DigestContext) -> None:
    """Follow a topic by name (`/follow <topic>`)."""
    await _set(update, context, follow=True)


async def unfollow_command(update: Update, context: DigestContext) -> None:
    """Stop following a topic by name (`/unfollow <topic>`)."""
    await _set(update, context, follow=False)


async def follow_deep_link(context: DigestContext, chat: ChatInfo, topic_id: int) -> None:
    """Follow the topic of a `/start t<id>` link (the chat has just subscribed)."""
    reply = context.reply(chat)
    topic = await context.db(context.store.get_topic, topic_id)
    if topic is None:
        await reply.notice("topic_unknown", name=f"t{topic_id}")
        return
    if not await may_manage(context, chat):
        await reply.notice("chat_admins_only")
        return
    changed = await context.db(
        context.store.set_following,
        chat.id,
        topic.id,
        follow=True,
        thread_id=chat.thread_id,
    )
    await reply.notice("follow_done" if changed else "follow_already", name=topic.name)


# -- a topic narrows /latest and /list ---------------------------------------------------------


def _load_topic_page(
    store: Store, topic_id: int, requested: int
) -> tuple[Page, list[StoredArticle]]:
    page = page_of(requested, store.count_articles(topic_id))
    return page, store.list_articles(offset=page.offset, limit=PAGE_SIZE, topic_id=topic_id)


def topic_list_rows(
    renderer: Renderer, lang: Lang, topic: Topic, articles: list[StoredArticle], page: Page
) -> list[list[Button]]:
    """Return a topic's /list keyboard: its articles, then ◀ ▶ within the topic."""
    nav = []
    if page.number > 1:
        previous = callback("listt", topic.id, page.number - 1)
        nav.append(Button(renderer.text("button_prev", lang), previous))
    if page.number < page.pages:
        following = callback("listt", topic.id, page.number + 1)
        nav.append(Button(renderer.text("button_next", lang), following))
    return [*article_rows(articles), nav]


def _list_values(topic: Topic, page: Page, articles: list[StoredArticle]) -> dict[str, object]:
    return {
        "page": page.number,
        "pages": page.pages,
        "total": page.total,
        "topic": topic.name,
        "articles": [
            {"id": a.id, "title": a.article.title, "date": a.article.date} for a in articles
        ],
    }


async def list_topic(context: DigestContext, chat: ChatInfo, name: str, requested: int) -> None:
    """Send a page of one topic's articles (`/list <topic> [page]`)."""
    reply = context.reply(chat)
    topic = await find_topic(context, reply, name)
    if topic is None:
        return
    page, articles = await context.db(_load_topic_page, context.store, topic.id, requested)
    if not articles:
        await reply.notice("topic_no_articles", name=topic.name)
        return
    rows = topic_list_rows(context.renderer, chat.lang, topic, articles, page)
    await reply.template("list", _list_values(topic, page, articles), rows)


async def latest_in_topic(
    context: DigestContext, chat: ChatInfo, name: str
) -> StoredArticle | None:
    """Return the newest article of a topic (`/latest <topic>`); None after saying why."""
    reply = context.reply(chat)
    topic = await find_topic(context, reply, name)
    if topic is None:
        return None
    found = await context.db(context.store.latest_article, topic.id)
    if found is None:
        await reply.notice("topic_no_articles", name=topic.name)
    return found


# -- buttons ---------------------------------------------------------------------------------


async def on_button(
    context: DigestContext,
    chat: ChatInfo,
    query: CallbackQuery,
    action: str,
    args: tuple[int, ...],
) -> Answer:
    """Handle a topic toggle, a /topics page or a topic's /list page."""
    if action == "listt":
        return await _topic_list_page(context, chat, query, args)
    if (action == "topic" and len(args) != 2) or (action == "topics" and len(args) != 1):
        return UNAVAILABLE
    answer = await _toggle(context, chat, args[0]) if action == "topic" else Answer()
    if answer.alert:
        return answer
    page, shown, following = await context.db(
        _load, context.store, chat.id, chat.thread_id, args[-1]
    )
    if not shown:
        return UNAVAILABLE
    text, rows = _screen(context.renderer, chat.lang, page, shown, following)
    await edit_in_place(query, text, rows)
    return answer


async def _toggle(context: DigestContext, chat: ChatInfo, topic_id: int) -> Answer:
    """Follow the topic if the chat does not, else unfollow it; an alert when refused."""
    if chat.subscriber is None:
        return Answer("settings_need_start", alert=True)
    if not await may_manage(context, chat):
        return Answer("chat_admins_only", alert=True, lang=chat.user_lang)
    return await toggle_following(context, chat.id, topic_id, thread_id=chat.thread_id)


async def toggle_following(
    context: DigestContext, chat_id: int, topic_id: int, *, thread_id: int = 0
) -> Answer:
    """Follow the topic if the chat does not, else unfollow it; the toast that says which."""
    topic = await context.db(context.store.get_topic, topic_id)
    if topic is None:
        return UNAVAILABLE
    followed = {t.id for t in await context.db(context.store.followed_topics, chat_id, thread_id)}
    follow = topic.id not in followed
    await context.db(
        context.store.set_following, chat_id, topic.id, follow=follow, thread_id=thread_id
    )
    return Answer("toast_followed" if follow else "toast_unfollowed")


async def _topic_list_page(
    context: DigestContext, chat: ChatInfo, query: CallbackQuery, args: tuple[int, ...]
) -> Answer:
    if len(args) != 2:
        return UNAVAILABLE
    topic = await context.db(context.store.get_topic, args[0])
    if topic is None:
        return UNAVAILABLE
    page, articles = await context.db(_load_topic_page, context.store, topic.id, args[1])
    if not articles:
        return UNAVAILABLE
    text = context.renderer.render("list", chat.lang, **_list_values(topic, page, articles))
    await edit_in_place(
        query, text, topic_list_rows(context.renderer, chat.lang, topic, articles, page)
    )
    return Answer()
