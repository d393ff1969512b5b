"""Forum supergroups on the loopback API: topics as Telegram shapes them, and its refusals."""

from __future__ import annotations

import aiohttp
import pytest
from telegram import ChatFullInfo
from telegram.error import BadRequest

from bot.fakeapi.server import LoopbackBotApi
from tests.fakeapi.conftest import KEYBOARD, bot_for

EVENTS = ("forum_topic_created", "forum_topic_closed", "forum_topic_reopened")


async def test_get_chat_says_a_forum_is_one(loopback_api: LoopbackBotApi) -> None:
    forum = loopback_api.forum(-100700, "Readers")
    group = loopback_api.group(-100701, "Plain", supergroup=True)
    async with bot_for(loopback_api) as bot:
        info = await bot.get_chat(forum.id)
        plain = await bot.get_chat(group.id)
    assert isinstance(info, ChatFullInfo)
    assert (info.type, info.title, info.is_forum) == ("supergroup", "Readers", True)
    assert not plain.is_forum


async def test_a_topic_message_carries_its_thread_and_the_general_topic_none(
    loopback_api: LoopbackBotApi,
) -> None:
    forum = loopback_api.forum(-100702)
    user = loopback_api.user(70)
    async with bot_for(loopback_api) as bot:
        topic = loopback_api.create_topic(forum, user, "News")
        loopback_api.send_message(forum, user, "/start", thread_id=topic.thread_id)
        loopback_api.send_message(forum, user, "/start")
        created, in_topic, in_general = await bot.get_updates()

    assert created.message is not None
    assert created.message.forum_topic_created is not None
    assert created.message.forum_topic_created.name == "News"
    assert created.message.message_id == topic.thread_id  # a topic's id is its first message's
    assert created.effective_chat is not None
    assert created.effective_chat.is_forum

    message = in_topic.message
    assert message is not None
    assert (message.message_thread_id, message.is_topic_message) == (topic.thread_id, True)
    assert message.reply_to_message is not None
    assert message.reply_to_message.forum_topic_created is not None

    general = in_general.message
    assert general is not None
    assert (general.message_thread_id, general.is_topic_message) == (None, None)


async def test_sends_into_a_topic_are_recorded_with_it_and_refused_when_closed_or_deleted(
    loopback_api: LoopbackBotApi,
) -> None:
    forum = loopback_api.forum(-100703)
    user = loopback_api.user(71)
    news = loopback_api.create_topic(forum, user, "News")
    chat = loopback_api.create_topic(forum, user, "Chat")
    async with bot_for(loopback_api) as bot:
        sent = await bot.send_message(
            forum.id, "in news", message_thread_id=news.thread_id, reply_markup=KEYBOARD
        )
        assert (sent.message_thread_id, sent.is_topic_message) == (news.thread_id, True)
        await bot.send_message(forum.id, "in general")

        loopback_api.close_topic(forum, user, news.thread_id)
        with pytest.raises(BadRequest, match="Topic_closed"):
            await bot.send_message(forum.id, "closed", message_thread_id=news.thread_id)
        await bot.send_message(forum.id, "other topic", message_thread_id=chat.thread_id)

        loopback_api.reopen_topic(forum, user, news.thread_id)
        await bot.send_message(forum.id, "reopened", message_thread_id=news.thread_id)

        loopback_api.delete_topic(forum, chat.thread_id)
        with pytest.raises(BadRequest, match="Message thread not found"):
            await bot.send_message(forum.id, "deleted", message_thread_id=chat.thread_id)
        with pytest.raises(BadRequest, match="Message thread not found"):
            await bot.send_message(forum.id, "never was", message_thread_id=9999)

        events = await bot.get_updates()
    kinds = [next(k for k in EVENTS if getattr(u.message, k) is not None) for u in events]
    assert kinds == [
        "forum_topic_created",
        "forum_topic_created",
        "forum_topic_closed",
        "forum_topic_reopened",
    ]
    assert [m.text for m in loopback_api.messages(forum.id, thread_id=news.thread_id)] == [
        "in news",
        "reopened",
    ]
    assert [m.text for m in loopback_api.messages(forum.id, thread_id=0)] == ["in general"]
    assert [m.text for m in loopback_api.messages(forum.id, thread_id=chat.thread_id)] == [
        "other topic"
    ]


async def test_a_pressed_button_in_a_topic_carries_the_thread(
    loopback_api: LoopbackBotApi,
) -> None:
    forum = loopback_api.forum(-100704)
    user = loopback_api.user(72)
    topic = loopback_api.create_topic(forum, user, "News")
    async with bot_for(loopback_api) as bot:
        sent = await bot.send_message(
            forum.id, "digest", message_thread_id=topic.thread_id, reply_markup=KEYBOARD
        )
        await bot.get_updates()  # the topic's creation
        loopback_api.press_button(forum, user, sent.message_id, "full:1")
        [update] = await bot.get_updates(offset=-1)
    query = update.callback_query
    assert query is not None
    assert query.message is not None
    assert query.message.message_thread_id == topic.thread_id  # type: ignore[union-attr]
    assert query.message.is_topic_message  # type: ignore[union-attr]


async def test_the_control_api_creates_closes_and_writes_in_topics(
    loopback_api: LoopbackBotApi,
) -> None:
    control = loopback_api.control_url
    async with aiohttp.ClientSession() as session, bot_for(loopback_api) as bot:
        async with session.post(
            f"{control}/topic",
            json={"chat_id": -100705, "user_id": 73, "action": "create", "name": "News"},
        ) as resp:
            topic = (await resp.json())["result"]
        thread = topic["message_thread_id"]
        async with session.post(
            f"{control}/message",
            json={
                "chat_id": -100705,
                "user_id": 73,
                "text": "/start",
                "message_thread_id": thread,
            },
        ) as resp:
            assert (await resp.json())["ok"]
        _, update = await bot.get_updates()
        assert update.message is not None
        assert update.message.message_thread_id == thread
        await bot.send_message(-100705, "reply", message_thread_id=thread)

        async with session.post(
            f"{control}/topic",
            json={
                "chat_id": -100705,
                "user_id": 73,
                "action": "close",
                "message_thread_id": thread,
            },
        ) as resp:
            assert (await resp.json())["result"]["closed"] is True
        async with session.get(f"{control}/topics", params={"chat_id": "-100705"}) as resp:
            [listed] = (await resp.json())["result"]
        assert (listed["name"], listed["closed"]) == ("News", True)
        async with session.get(
            f"{control}/messages", params={"chat_id": "-100705", "thread_id": str(thread)}
        ) as resp:
            [message] = (await resp.json())["result"]
        assert (message["text"], message["message_thread_id"]) == ("reply", thread)
