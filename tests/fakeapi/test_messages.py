"""The message store: sendMessage, edits and deletes, refused as Telegram refuses them."""

from __future__ import annotations

from typing import Any

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest

from bot.fakeapi.server import LoopbackBotApi
from tests.fakeapi.conftest import KEYBOARD, bot_for


async def test_send_message_records_html_text_entities_and_buttons(
    loopback_api: LoopbackBotApi,
) -> None:
    async with bot_for(loopback_api) as bot:
        sent = await bot.send_message(
            21,
            "<b>Title</b>\n<a href='https://example.org'>link</a>",
            parse_mode="HTML",
            reply_markup=KEYBOARD,
        )
    assert sent.message_id == 1
    assert sent.chat.id == 21
    assert sent.text == "Title\nlink"
    assert [e.type for e in sent.entities] == ["bold", "text_link"]
    assert sent.reply_markup == KEYBOARD
    [stored] = loopback_api.messages(21)
    assert stored.html.startswith("<b>Title</b>")
    assert stored.text == "Title\nlink"
    assert stored.entities[1]["url"] == "https://example.org"
    assert stored.buttons()[0][0]["callback_data"] == "full:1"
    assert stored.parse_mode == "HTML"
    assert loopback_api.all_sent() == [stored]


@pytest.mark.parametrize(
    ("text", "kwargs", "reason"),
    [
        ("a" * 4097, {}, "message is too long"),
        ("<b>" + "é" * 4096 + "</b>", {"parse_mode": "HTML"}, None),  # 4096 visible: allowed
        ("😀" * 2049, {}, "message is too long"),  # 4098 UTF-16 units
        ("<b>bold", {"parse_mode": "HTML"}, "can't parse entities"),
        ("a<br>b", {"parse_mode": "HTML"}, "can't parse entities"),
        ("   ", {}, "message text is empty"),
        ("<b> </b>", {"parse_mode": "HTML"}, "message text is empty"),
        (
            "ok",
            {
                "reply_markup": InlineKeyboardMarkup(
                    [[InlineKeyboardButton("x", callback_data="d" * 65)]]
                )
            },
            "button_data_invalid",
        ),
        (
            "ok",
            {
                "reply_markup": InlineKeyboardMarkup(
                    [[InlineKeyboardButton("x", url="javascript:alert(1)")]]
                )
            },
            "inline keyboard button url 'javascript:alert(1)' is invalid",
        ),
    ],
)
async def test_send_message_refuses_what_telegram_refuses(
    loopback_api: LoopbackBotApi, text: str, kwargs: dict[str, Any], reason: str | None
) -> None:
    async with bot_for(loopback_api) as bot:
        if reason is None:
            await bot.send_message(22, text, **kwargs)
            assert len(loopback_api.messages(22)) == 1
            return
        with pytest.raises(BadRequest) as caught:
            await bot.send_message(22, text, **kwargs)
    assert reason in str(caught.value).lower()
    assert loopback_api.messages(22) == []


async def test_edit_delete_and_not_modified(loopback_api: LoopbackBotApi) -> None:
    async with bot_for(loopback_api) as bot:
        sent = await bot.send_message(51, "<b>v1</b>", parse_mode="HTML", reply_markup=KEYBOARD)
        edited = await bot.edit_message_text(
            "<i>v2</i>",
            chat_id=51,
            message_id=sent.message_id,
            parse_mode="HTML",
            reply_markup=KEYBOARD,
        )
        assert isinstance(edited, object)
        with pytest.raises(BadRequest, match="Message is not modified"):
            await bot.edit_message_text(
                "<i>v2</i>",
                chat_id=51,
                message_id=sent.message_id,
                parse_mode="HTML",
                reply_markup=KEYBOARD,
            )
        await bot.edit_message_reply_markup(chat_id=51, message_id=sent.message_id)
        with pytest.raises(BadRequest, match="Message is not modified"):
            await bot.edit_message_reply_markup(chat_id=51, message_id=sent.message_id)
        with pytest.raises(BadRequest, match="Message to edit not found"):
            await bot.edit_message_text("x", chat_id=51, message_id=99)
        [message] = loopback_api.messages(51)
        assert (message.text, message.edits, message.buttons()) == ("v2", 2, [])
        await bot.send_chat_action(51, "typing")
        assert await bot.delete_message(51, sent.message_id)
        with pytest.raises(BadRequest, match="Message to delete not found"):
            await bot.delete_message(51, sent.message_id)
    assert loopback_api.messages(51) == []
    assert loopback_api.messages(51, include_deleted=True)[0].deleted
