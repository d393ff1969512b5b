"""Forum supergroups end to end: each topic is a subscription of its own, answered and pushed
in its own thread; a closed or deleted topic stops only its own subscription; only the
group's administrators change its settings. Real PTB bot, loopback Bot API, real ledger."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from telegram.ext import ExtBot

from bot.config import Settings
from bot.db.engine import open_database
from bot.fakeapi.models import FakeChat, FakeUser, SentMessage
from bot.fakeapi.server import LoopbackBotApi
from bot.ledger import Ledger
from bot.push.options import PushOptions
from bot.push.reports import PushReport
from bot.push.run import run_push
from bot.rendering import Renderer
from bot.store import Store, utcnow
from bot.sync import sync_articles
from bot.telegram.aiohttp_request import bot_requests
from bot.telegram.sender import TelegramSender
from tests.telegram.conftest import BotHarness

FORUM = -1001234500


async def say_in(
    bot: BotHarness, forum: FakeChat, user: FakeUser, text: str, thread: int, *, expect: int = 1
) -> list[SentMessage]:
    """Write `text` in a topic (0: General); return the `expect` new messages of the forum."""
    before = len(bot.api.messages(forum.id))
    bot.api.send_message(forum, user, text, thread_id=thread)
    await bot.api.wait_sent(forum.id, before + expect)
    await bot.api.settle(quiet=0.1)
    return bot.api.messages(forum.id)[before:]


def texts(api: LoopbackBotApi, chat_id: int, thread: int) -> list[str]:
    return [m.text for m in api.messages(chat_id, thread_id=thread)]


async def push(bot: BotHarness, **overrides: object) -> PushReport:
    """Run the daily push now, through the running bot's own Bot and pacer."""
    options = PushOptions.from_settings(
        bot.settings, poll_interval=0.05, flush_interval=0.05, **overrides
    )
    sender = TelegramSender(bot.app.bot)
    return await run_push(bot.runtime.store, bot.runtime.renderer, sender, options, force=True)


@pytest.fixture
def forum_setup(bot: BotHarness) -> tuple[FakeChat, FakeUser, FakeUser]:
    """A forum whose owner is `admin`, with a plain `member`."""
    forum = bot.api.forum(FORUM, "Readers")
    admin, member = bot.api.user(801), bot.api.user(802, language_code="zh")
    bot.api.set_role(forum, admin, "creator")
    return forum, admin, member


async def test_two_topics_subscribe_separately_and_replies_land_in_their_thread(
    bot: BotHarness, forum_setup: tuple[FakeChat, FakeUser, FakeUser]
) -> None:
    forum, admin, _ = forum_setup
    news = bot.api.create_topic(forum, admin, "News")
    chat = bot.api.create_topic(forum, admin, "Chat")
    store = bot.runtime.store

    [welcome] = await say_in(bot, forum, admin, "/start", news.thread_id)
    assert welcome.thread_id == news.thread_id
    assert "in this topic" in welcome.text
    assert "Each other topic of this group subscribes with its own /start" in welcome.text
    assert store.get_subscriber(FORUM, chat.thread_id) is None
    assert store.get_subscriber(FORUM) is None  # the General topic did not subscribe

    [welcome] = await say_in(bot, forum, admin, "/start", chat.thread_id)
    assert welcome.thread_id == chat.thread_id
    a, b = store.get_subscriber(FORUM, news.thread_id), store.get_subscriber(FORUM, chat.thread_id)
    assert a is not None
    assert b is not None
    assert a.id != b.id
    assert (a.thread_id, b.thread_id, a.active, b.active) == (
        news.thread_id,
        chat.thread_id,
        True,
        True,
    )

    replies = await say_in(bot, forum, admin, "/latest", news.thread_id)
    assert {m.thread_id for m in replies} == {news.thread_id}
    # A command in the General topic is answered there, outside every topic.
    [help_reply] = await say_in(bot, forum, admin, "/help", 0)
    assert help_reply.thread_id == 0

    [stopped] = await say_in(bot, forum, admin, "/stop", news.thread_id)
    assert stopped.thread_id == news.thread_id
    a, b = store.get_subscriber(FORUM, news.thread_id), store.get_subscriber(FORUM, chat.thread_id)
    assert a is not None
    assert b is not None
    assert (a.active, b.active) == (False, True)  # /stop in one topic leaves the other


async def test_each_topic_gets_its_push_in_its_own_thread(
    bot: BotHarness, forum_setup: tuple[FakeChat, FakeUser, FakeUser]
) -> None:
    forum, admin, _ = forum_setup
    news = bot.api.create_topic(forum, admin, "News")
    chat = bot.api.create_topic(forum, admin, "Chat")
    bot.api.create_topic(forum, admin, "Quiet")  # never subscribed: gets nothing
    for thread in (news.thread_id, chat.thread_id):
        await say_in(bot, forum, admin, "/start", thread)
    before = {t: len(texts(bot.api, FORUM, t)) for t in (0, news.thread_id, chat.thread_id)}

    report = await push(bot)

    assert report.sent == 2
    after = {t: texts(bot.api, FORUM, t)[before[t] :] for t in before}
    assert after[0] == []  # nothing in General
    assert len(after[news.thread_id]) == len(after[chat.thread_id]) >= 1
    assert after[news.thread_id] == after[chat.thread_id]  # the same digest, once per topic
    assert len(bot.api.messages(FORUM)) == sum(before.values()) + 2 * len(after[chat.thread_id])


async def test_a_closed_topic_goes_inactive_and_the_other_topic_is_still_pushed(
    bot: BotHarness, forum_setup: tuple[FakeChat, FakeUser, FakeUser]
) -> None:
    forum, admin, _ = forum_setup
    news = bot.api.create_topic(forum, admin, "News")
    chat = bot.api.create_topic(forum, admin, "Chat")
    gone = bot.api.create_topic(forum, admin, "Gone")
    for thread in (news.thread_id, chat.thread_id, gone.thread_id):
        await say_in(bot, forum, admin, "/start", thread)
    bot.api.close_topic(forum, admin, chat.thread_id)
    bot.api.delete_topic(forum, gone.thread_id)
    await bot.api.settle(quiet=0.1)
    before = len(texts(bot.api, FORUM, news.thread_id))

    report = await push(bot)

    assert (report.sent, report.blocked) == (1, 2)
    assert len(texts(bot.api, FORUM, news.thread_id)) > before
    store = bot.runtime.store
    open_, closed, deleted = (
        store.get_subscriber(FORUM, t) for t in (news.thread_id, chat.thread_id, gone.thread_id)
    )
    assert open_ is not None
    assert open_.active
    for sub, reason in ((closed, "topic_closed"), (deleted, "message thread not found")):
        assert sub is not None
        assert not sub.active
        with store.engine.connect() as c:
            stored = c.exec_driver_sql(
                "SELECT inactive_reason FROM subscribers WHERE id = ?", (sub.id,)
            ).scalar()
        assert reason in str(stored).lower()

    # Reopened, and /start there again: the topic's subscription comes back.
    bot.api.reopen_topic(forum, admin, chat.thread_id)
    [welcome] = await say_in(bot, forum, admin, "/start", chat.thread_id)
    assert welcome.thread_id == chat.thread_id
    again = store.get_subscriber(FORUM, chat.thread_id)
    assert again is not None
    assert again.active
    assert again.id == closed.id  # type: ignore[union-attr]


async def test_only_the_groups_admins_change_a_topics_settings(
    bot: BotHarness, forum_setup: tuple[FakeChat, FakeUser, FakeUser]
) -> None:
    forum, admin, member = forum_setup
    news = bot.api.create_topic(forum, admin, "News")
    chat = bot.api.create_topic(forum, admin, "Chat")
    await say_in(bot, forum, member, "/start", news.thread_id)  # any member may subscribe
    await say_in(bot, forum, admin, "/start", chat.thread_id)

    [refusal] = await say_in(bot, forum, member, "/time 07:00", news.thread_id)
    assert refusal.thread_id == news.thread_id
    assert "只有本群的管理员" in refusal.text
    [refusal] = await say_in(bot, forum, member, "/stop", news.thread_id)
    assert "只有本群的管理员" in refusal.text
    [screen] = await say_in(bot, forum, member, "/settings", news.thread_id)
    assert screen.thread_id == news.thread_id
    answer, _ = await bot.press(forum, member, screen, "settime:9:0")
    assert answer.show_alert

    store = bot.runtime.store
    sub = store.get_subscriber(FORUM, news.thread_id)
    assert sub is not None
    assert (sub.active, sub.push_time) == (True, None)

    [done] = await say_in(bot, forum, admin, "/time 07:00", news.thread_id)
    assert "07:00" in done.text
    answer, _ = await bot.press(forum, admin, screen, "settime:9:0")
    assert not answer.show_alert
    news_sub = store.get_subscriber(FORUM, news.thread_id)
    chat_sub = store.get_subscriber(FORUM, chat.thread_id)
    assert news_sub is not None
    assert chat_sub is not None
    assert str(news_sub.push_time) == "09:00:00"
    assert chat_sub.push_time is None  # the other topic keeps its own settings


# -- the ledger, on both databases ----------------------------------------------------------


@pytest.fixture
def forum_store(database_url: str, seeds_dir: Path) -> Iterator[Store]:
    store = Store(open_database(database_url))
    sync_articles(store, [seeds_dir])
    yield store
    store.close()


async def test_each_topic_owns_its_ledger_rows_and_a_rerun_sends_nothing_twice(
    forum_store: Store, renderer: Renderer
) -> None:
    async with LoopbackBotApi() as api:
        forum = api.forum(FORUM)
        owner = api.user(803)
        topics = [api.create_topic(forum, owner, name).thread_id for name in ("A", "B")]
        for thread in topics:
            forum_store.subscribe(FORUM, chat_type="supergroup", language="en", thread_id=thread)
        settings = Settings(_env_file=None)
        requests = bot_requests("httpx", pool_size=8)
        async with ExtBot(api.token, base_url=api.base_url, **requests) as bot:
            sender = TelegramSender(bot)
            options = PushOptions.from_settings(settings, poll_interval=0.05, flush_interval=0.05)
            first = await run_push(forum_store, renderer, sender, options, force=True)
            # The next day: both topics are due again, and the newest article is the same one.
            tomorrow = utcnow() + timedelta(days=1)
            later = PushOptions.from_settings(
                settings, poll_interval=0.05, flush_interval=0.05, clock=lambda: tomorrow
            )
            second = await run_push(forum_store, renderer, sender, later, now=tomorrow, force=True)
        per_topic = {t: len(api.messages(FORUM, thread_id=t)) for t in topics}

    assert first.sent == 2
    assert second.sent == 0
    assert len(set(per_topic.values())) == 1
    assert 0 not in per_topic.values()
    with forum_store.engine.connect() as c:
        rows = c.exec_driver_sql(
            "SELECT s.thread_id, count(*) FROM deliveries d JOIN subscribers s"
            " ON s.id = d.subscriber_id GROUP BY s.thread_id ORDER BY s.thread_id"
        ).all()
    assert [tuple(r) for r in rows] == [(topics[0], 1), (topics[1], 1)]
    assert Ledger(forum_store).pending_count() == 0
