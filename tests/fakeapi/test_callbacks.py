"""Button presses: a callback_query reaches the Application and is answered once."""

from __future__ import annotations

import pytest
from telegram import Update
from telegram.error import BadRequest
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.fakeapi.server import LoopbackBotApi
from bot.telegram.aiohttp_request import bot_requests
from tests.fakeapi.conftest import KEYBOARD, bot_for, running


async def test_button_press_reaches_the_application_and_is_answered(
    loopback_api: LoopbackBotApi,
) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("menu", reply_markup=KEYBOARD)

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        assert query.message is not None
        await query.answer(f"got {query.data}")
        await context.bot.send_message(query.message.chat.id, f"pressed {query.data}")

    requests = bot_requests("httpx", pool_size=8)
    app = (
        ApplicationBuilder()
        .token(loopback_api.token)
        .base_url(loopback_api.base_url)
        .request(requests["request"])
        .get_updates_request(requests["get_updates_request"])
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(button))
    user = loopback_api.user(61, language_code="zh")
    chat = loopback_api.private_chat(user)
    group = loopback_api.group(-610, "Group")
    async with running(app):
        loopback_api.send_message(chat, user, "/start")
        [menu] = await loopback_api.wait_sent(61, 1)
        query_id = loopback_api.press_button(chat, user, menu.message_id, "full:1")
        await loopback_api.wait_sent(61, 2)
        loopback_api.send_message(group, user, "/start@digest_test_bot")
        loopback_api.send_message(group, user, "/start@someone_else_bot")
        await loopback_api.settle(quiet=0.2)
    answered = loopback_api.answered_callbacks[query_id]
    assert (answered.text, answered.data, answered.user_id) == ("got full:1", "full:1", 61)
    assert [m.text for m in loopback_api.messages(61)] == ["menu", "pressed full:1"]
    assert [m.text for m in loopback_api.messages(-610)] == ["menu"]
    async with bot_for(loopback_api) as bot:
        with pytest.raises(BadRequest, match="Query is too old"):
            await bot.answer_callback_query(query_id)
