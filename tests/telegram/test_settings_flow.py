"""/settings, /time and /timezone end to end: the keyboard edits one screen; typed values are
validated; a chat must /start first."""

from __future__ import annotations

from datetime import time

import pytest

from tests.telegram.conftest import BotHarness


def button_data(message: object) -> list[str]:
    rows = message.buttons()  # type: ignore[attr-defined]
    return [b.get("callback_data") or b.get("url") for row in rows for b in row]


async def test_settings_keyboard_sets_time_timezone_and_language(bot: BotHarness) -> None:
    user = bot.api.user(30)
    chat = bot.api.private_chat(user)
    await bot.say(chat, user, "/start")
    [screen] = await bot.say(chat, user, "/settings")
    assert "Delivery time: 08:00 (default)" in screen.text
    assert button_data(screen) == ["set:1", "set:2", "set:3"]

    await bot.press(chat, user, screen, "set:1")
    picker = bot.api.messages(chat.id)[-1]
    assert picker.message_id == screen.message_id
    assert "Choose the delivery time" in picker.text
    assert "settime:9:0" in button_data(picker)
    answer, _ = await bot.press(chat, user, picker, "settime:9:0")
    assert answer.text == "Saved."
    main = bot.api.messages(chat.id)[-1]
    assert "Delivery time: 09:00" in main.text
    assert "(default)" in main.text  # the timezone still is

    await bot.press(chat, user, main, "set:2")
    answer, _ = await bot.press(chat, user, bot.api.messages(chat.id)[-1], "settz:5")
    assert answer.text == "Saved."
    assert "Timezone: Europe/London" in bot.api.messages(chat.id)[-1].text

    await bot.press(chat, user, bot.api.messages(chat.id)[-1], "set:3")
    answer, _ = await bot.press(chat, user, bot.api.messages(chat.id)[-1], "setlang:0")
    assert answer.text == "已保存。"
    assert "推送时间：09:00" in bot.api.messages(chat.id)[-1].text

    subscriber = bot.runtime.store.get_subscriber(30)
    assert subscriber is not None
    assert (subscriber.push_time, subscriber.timezone) == (time(9, 0), "Europe/London")
    assert (subscriber.language, subscriber.language_locked) == ("zh", True)
    # The chosen language wins over the client's language_code from now on.
    [help_reply] = await bot.say(chat, user, "/help")
    assert "命令" in help_reply.text


async def test_settings_buttons_with_forged_values_are_refused(bot: BotHarness) -> None:
    user = bot.api.user(31)
    chat = bot.api.private_chat(user)
    await bot.say(chat, user, "/start")
    [screen] = await bot.say(chat, user, "/settings")
    for data in ("settime:25:0", "settz:99", "setlang:7", "set:9"):
        answer, _ = await bot.press(chat, user, screen, data)
        assert answer.show_alert, data
    subscriber = bot.runtime.store.get_subscriber(31)
    assert subscriber is not None
    assert subscriber.push_time is None


async def test_settings_before_start_asks_to_subscribe_first(bot: BotHarness) -> None:
    user = bot.api.user(32, language_code="zh")
    chat = bot.api.private_chat(user)
    for command in ("/settings", "/time 08:30", "/timezone Asia/Tokyo"):
        [reply] = await bot.say(chat, user, command)
        assert reply.text.startswith("请先发送 /start")


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("/time 07:30", "Daily push set to 07:30 (Asia/Shanghai)"),
        ("/time 7:05", "Daily push set to 07:05"),
        ("/time 25:00", "Usage: /time HH:MM"),
        ("/time", "Usage: /time HH:MM"),
        ("/time soon", "Usage: /time HH:MM"),
        ("/timezone Europe/Berlin", "Timezone set to Europe/Berlin, delivery at 08:00"),
        ("/timezone Mars/Olympus", "Usage: /timezone Area/City"),
        ("/timezone ../etc/passwd", "Usage: /timezone Area/City"),
        ("/timezone", "Usage: /timezone Area/City"),
    ],
)
async def test_typed_time_and_timezone_are_validated(
    bot: BotHarness, command: str, reply: str
) -> None:
    user = bot.api.user(33)
    chat = bot.api.private_chat(user)
    await bot.say(chat, user, "/start")
    [answer] = await bot.say(chat, user, command)
    assert answer.text.startswith(reply)
