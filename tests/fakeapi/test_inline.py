"""Inline mode: inline_query updates as Telegram sends them, answerInlineQuery validated."""

from __future__ import annotations

import aiohttp
import pytest
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InlineQueryResultsButton,
    InputTextMessageContent,
)
from telegram.error import BadRequest

from bot.fakeapi.server import LoopbackBotApi
from tests.fakeapi.conftest import bot_for


def article(
    ident: str, text: str = "<b>digest</b>", title: str = "Title"
) -> InlineQueryResultArticle:
    return InlineQueryResultArticle(
        ident,
        title,
        InputTextMessageContent(text, parse_mode="HTML"),
        reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("🔗 Original", url="https://example.com/1")]]
        ),
        description="one line",
    )


async def test_inline_query_update_is_shaped_like_telegrams(loopback_api: LoopbackBotApi) -> None:
    user = loopback_api.user(71, language_code="zh", username="reader")
    query_id = loopback_api.inline_query(user, "焦虑 AI", offset="20", chat_type="group")
    async with bot_for(loopback_api) as bot:
        [update] = await bot.get_updates()
    query = update.inline_query
    assert query is not None
    assert query.id == query_id
    assert query.from_user.id == 71
    assert query.from_user.language_code == "zh"
    assert query.query == "焦虑 AI"
    assert query.offset == "20"
    assert query.chat_type == "group"
    assert (await bot_me(loopback_api))["supports_inline_queries"] is True


async def bot_me(api: LoopbackBotApi) -> dict[str, object]:
    async with bot_for(api) as bot:
        me = await bot.get_me()
    return me.to_dict()


async def test_answer_is_stored_with_its_options(loopback_api: LoopbackBotApi) -> None:
    user = loopback_api.user(72)
    query_id = loopback_api.inline_query(user, "ai")
    async with bot_for(loopback_api) as bot:
        ok = await bot.answer_inline_query(
            query_id,
            [article("a1"), article("a2")],
            cache_time=30,
            is_personal=True,
            next_offset="2",
            button=InlineQueryResultsButton("Open the bot", start_parameter="inline"),
        )
    assert ok is True
    answer = await loopback_api.wait_inline_answer(query_id)
    assert [r["id"] for r in answer.results] == ["a1", "a2"]
    assert answer.cache_time == 30
    assert answer.is_personal is True
    assert answer.next_offset == "2"
    assert answer.button == {"text": "Open the bot", "start_parameter": "inline"}
    assert answer.query == "ai"
    assert answer.user_id == 72


async def test_a_query_is_answered_once_and_only_within_its_lifetime(
    loopback_api: LoopbackBotApi,
) -> None:
    user = loopback_api.user(73)
    first = loopback_api.inline_query(user, "a")
    late = loopback_api.inline_query(user, "b")
    loopback_api.expire_inline_query(late)
    async with bot_for(loopback_api) as bot:
        await bot.answer_inline_query(first, [])
        with pytest.raises(BadRequest, match=r"(?i)query is too old and response timeout expired"):
            await bot.answer_inline_query(first, [])
        with pytest.raises(BadRequest, match=r"(?i)query is too old"):
            await bot.answer_inline_query(late, [])
        with pytest.raises(BadRequest, match=r"(?i)query ID is invalid"):
            await bot.answer_inline_query("12345", [])
    assert late not in loopback_api.inline_answers


@pytest.mark.parametrize(
    ("results", "error"),
    [
        ([article(f"r{i}") for i in range(51)], "RESULTS_TOO_MUCH"),
        ([article("same"), article("same")], "RESULT_ID_DUPLICATE"),
        ([article("x" * 65)], "RESULT_ID_INVALID"),
        ([article("ok", text="<b>unclosed")], "can't parse entities"),
        ([article("ok", text="<br>")], "can't parse entities"),
        ([article("ok", text="x" * 4097)], "MESSAGE_TOO_LONG"),
        ([article("ok", text="<b> </b>")], "MESSAGE_EMPTY"),
        ([article("ok", title=" ")], "RESULT_TITLE_EMPTY"),
    ],
)
async def test_answers_telegram_refuses_are_refused(
    loopback_api: LoopbackBotApi, results: list[InlineQueryResultArticle], error: str
) -> None:
    query_id = loopback_api.inline_query(loopback_api.user(74), "q")
    async with bot_for(loopback_api) as bot:
        with pytest.raises(BadRequest) as caught:
            await bot.answer_inline_query(query_id, results)
    assert error.lower() in caught.value.message.lower()
    assert query_id not in loopback_api.inline_answers


async def test_fifty_results_and_a_64_byte_id_are_accepted(loopback_api: LoopbackBotApi) -> None:
    query_id = loopback_api.inline_query(loopback_api.user(75), "q")
    results = [article(f"r{i}") for i in range(49)] + [article("é" * 32)]
    async with bot_for(loopback_api) as bot:
        assert await bot.answer_inline_query(query_id, results)


async def test_bad_offset_and_start_parameter_are_refused(loopback_api: LoopbackBotApi) -> None:
    user = loopback_api.user(76)
    async with bot_for(loopback_api) as bot:
        with pytest.raises(BadRequest, match=r"(?i)NEXT_OFFSET_INVALID"):
            await bot.answer_inline_query(
                loopback_api.inline_query(user, "q"), [], next_offset="9" * 65
            )
        with pytest.raises(BadRequest, match=r"(?i)START_PARAM_INVALID"):
            await bot.answer_inline_query(
                loopback_api.inline_query(user, "q"),
                [],
                button=InlineQueryResultsButton("Open", start_parameter="not valid!"),
            )


async def test_choosing_a_result_posts_its_message_via_the_bot(
    loopback_api: LoopbackBotApi,
) -> None:
    loopback_api.inline_feedback = True
    user = loopback_api.user(77)
    group = loopback_api.group(-770, "Friends")
    query_id = loopback_api.inline_query(user, "q", chat_type="group")
    async with bot_for(loopback_api) as bot:
        await bot.answer_inline_query(query_id, [article("a1", "<b>One</b> digest")])
        posted = loopback_api.choose_inline_result(group, user, query_id, "a1")
        updates = await bot.get_updates()
    assert posted.via_bot
    assert posted.sender_id == 77
    assert posted.text == "One digest"
    assert posted.entities[0]["type"] == "bold"
    assert posted.buttons()[0][0]["url"] == "https://example.com/1"
    assert loopback_api.messages(-770) == [posted]
    chosen = updates[-1].chosen_inline_result
    assert chosen is not None
    assert chosen.result_id == "a1"
    assert chosen.query == "q"
    with pytest.raises(KeyError):
        loopback_api.choose_inline_result(group, user, query_id, "missing")


async def test_control_api_types_a_query_reads_the_answer_and_chooses(
    loopback_api: LoopbackBotApi,
) -> None:
    control = loopback_api.control_url
    async with aiohttp.ClientSession() as session, bot_for(loopback_api) as bot:
        async with session.post(
            f"{control}/inline", json={"user_id": 78, "query": "ai", "language_code": "zh"}
        ) as resp:
            query_id = (await resp.json())["result"]["inline_query_id"]
        [update] = await bot.get_updates()
        assert update.inline_query is not None
        assert update.inline_query.from_user.language_code == "zh"
        await bot.answer_inline_query(query_id, [article("a1")], cache_time=5)
        async with session.get(
            f"{control}/inline_answers", params={"inline_query_id": query_id}
        ) as resp:
            [answer] = (await resp.json())["result"]
        assert answer["cache_time"] == 5
        assert answer["results"][0]["id"] == "a1"
        async with session.post(
            f"{control}/choose",
            json={"chat_id": 78, "user_id": 78, "inline_query_id": query_id, "result_id": "a1"},
        ) as resp:
            message = (await resp.json())["result"]
        assert message["via_bot"] is True
        assert message["text"] == "digest"
        async with session.post(
            f"{control}/choose",
            json={"chat_id": 78, "user_id": 78, "inline_query_id": "1", "result_id": "a1"},
        ) as resp:
            assert resp.status == 400
