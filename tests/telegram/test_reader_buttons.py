"""With WEB_URL, 📖 opens the web reader: a Mini App in private chats, a signed link in groups."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.fakeapi.server import LoopbackBotApi
from bot.web.access import check_token, link_key
from tests.telegram.conftest import BotHarness, bot_settings, running_bot

WEB_URL = "https://read.example.org"


@pytest.fixture
async def reader_bot(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> AsyncIterator[BotHarness]:
    settings = bot_settings(loopback_api, tmp_path, seeds_dir, "aiohttp").model_copy(
        update={"web_url": WEB_URL}
    )
    async with running_bot(loopback_api, settings) as harness:
        yield harness


def assert_signed(url: str, token: str) -> None:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == WEB_URL
    assert parts.path == "/a/1"
    assert check_token(link_key(token), "/a/1", parse_qs(parts.query)["t"][0], 1) is None
    import time  # noqa: PLC0415

    assert check_token(link_key(token), "/a/1", parse_qs(parts.query)["t"][0], int(time.time()))


async def test_the_full_text_button_is_a_mini_app_in_a_private_chat(
    reader_bot: BotHarness,
) -> None:
    user = reader_bot.api.user(31, language_code="en")
    chat = reader_bot.api.private_chat(user)
    [digest] = await reader_bot.say(chat, user, "/latest")
    [row] = digest.buttons()
    assert row[0]["text"] == "📖 Full text"
    assert "callback_data" not in row[0]
    assert "url" not in row[0]
    assert_signed(row[0]["web_app"]["url"], reader_bot.api.token)
    assert row[1]["callback_data"] == "risks:1"


async def test_the_full_text_button_is_a_signed_link_in_a_group(reader_bot: BotHarness) -> None:
    user = reader_bot.api.user(32, language_code="en")
    group = reader_bot.api.group(-3200, "Readers")
    [digest] = await reader_bot.say(group, user, "/latest")
    [row] = digest.buttons()
    assert "web_app" not in row[0]
    assert_signed(row[0]["url"], reader_bot.api.token)


async def test_full_offers_the_reader_first_and_the_chat_one_tap_away(
    reader_bot: BotHarness,
) -> None:
    user = reader_bot.api.user(33, language_code="en")
    chat = reader_bot.api.private_chat(user)
    [offer] = await reader_bot.say(chat, user, "/full")
    assert "Read the whole article on one page" in offer.text
    reader, here = offer.buttons()
    assert reader[0]["web_app"]["url"].startswith(WEB_URL + "/a/1?t=")
    assert here[0] == {"text": "💬 Read here instead", "callback_data": "full:1"}
    _, messages = await reader_bot.press(chat, user, offer, "full:1", expect=1)
    assert messages[0].text.startswith("聊聊如何缓解越来越严重的AI焦虑")  # in chat, as before


async def test_without_web_url_the_button_still_sends_the_text_in_chat(bot: BotHarness) -> None:
    user = bot.api.user(34, language_code="en")
    chat = bot.api.private_chat(user)
    [digest] = await bot.say(chat, user, "/latest")
    assert digest.buttons()[0][0]["callback_data"] == "full:1"
