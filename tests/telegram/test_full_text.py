"""End-to-end: a long full text comes in bounded pages, and its button's spinner stops first."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bot.digest import render_part
from bot.fakeapi.server import LoopbackBotApi
from bot.fakeapi.updates import QueuedUpdate
from bot.model import StoredArticle
from tests.telegram.conftest import (
    DEFAULT_BACKEND,
    BotHarness,
    article_file,
    bot_settings,
    running_bot,
)

PAGE = 3  # FULL_TEXT_MAX_MESSAGES in these tests


def long_article(seeds_dir: Path) -> None:
    body = "\n\n".join(f"Paragraph {i}: " + "words " * 120 for i in range(40))
    (seeds_dir / "long.md").write_text(
        article_file(99, title="A long read", body=body), encoding="utf-8"
    )


def stored_long(bot: BotHarness) -> tuple[StoredArticle, list[str]]:
    stored = bot.runtime.store.get_article_by_slug("long")
    assert stored is not None
    chunks = render_part(bot.runtime.renderer, stored, "full", "en")
    assert len(chunks) > 2 * PAGE  # three pages at least
    return stored, chunks


class SendOrder:
    """The loopback's observer: how many callbacks had been answered at each sendMessage."""

    def __init__(self) -> None:
        self.api: LoopbackBotApi | None = None
        self.answered_at_send: list[int] = []

    def call_arrived(self) -> None:
        pass

    def updates_fetched(self, updates: Sequence[QueuedUpdate]) -> None:
        pass

    def message_sent(self, chat_id: int) -> None:
        assert self.api is not None
        self.answered_at_send.append(len(self.api.answered_callbacks))


async def test_a_long_full_text_comes_in_pages_each_ending_with_how_to_read_on(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> None:
    long_article(seeds_dir)
    settings = bot_settings(loopback_api, tmp_path, seeds_dir, DEFAULT_BACKEND)
    settings = settings.model_copy(update={"full_text_max_messages": PAGE})
    async with running_bot(loopback_api, settings) as bot:
        stored, chunks = stored_long(bot)
        pages = -(-len(chunks) // PAGE)
        user = bot.api.user(20, language_code="en")
        chat = bot.api.private_chat(user)
        received: list[str] = []
        for page in range(1, pages + 1):
            command = f"/full {stored.id}" if page == 1 else f"/full {stored.id} {page}"
            last = page == pages
            count = len(chunks) - (pages - 1) * PAGE if last else PAGE
            sent = await bot.say(chat, user, command, expect=count + (0 if last else 1))
            received += [m.html for m in sent[:count]]
            if not last:
                assert sent[-1].text == (
                    f"Full text, page {page} of {pages}. Read on: /full {stored.id} {page + 1}"
                )
        await bot.settle()
        assert received == chunks  # every message, each once, in order
        [usage] = await bot.say(chat, user, f"/full {stored.id} {pages + 1}")
        assert usage.text.startswith("Usage: /full [id] [page]")
        [usage] = await bot.say(chat, user, f"/full {stored.id} 0")
        assert usage.text.startswith("Usage: /full [id] [page]")


async def test_the_read_on_message_speaks_chinese(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> None:
    long_article(seeds_dir)
    settings = bot_settings(loopback_api, tmp_path, seeds_dir, DEFAULT_BACKEND)
    settings = settings.model_copy(update={"full_text_max_messages": PAGE})
    async with running_bot(loopback_api, settings) as bot:
        stored, _ = stored_long(bot)
        user = bot.api.user(21, language_code="zh")
        chat = bot.api.private_chat(user)
        sent = await bot.say(chat, user, f"/full {stored.id}", expect=PAGE + 1)
        assert sent[-1].text.startswith("全文第 1/")
        assert f"/full {stored.id} 2" in sent[-1].text


async def test_the_full_text_button_stops_its_spinner_before_the_first_message(
    tmp_path: Path, seeds_dir: Path
) -> None:
    long_article(seeds_dir)
    order = SendOrder()
    async with LoopbackBotApi(observer=order) as api:
        order.api = api
        settings = bot_settings(api, tmp_path, seeds_dir, DEFAULT_BACKEND)
        settings = settings.model_copy(update={"full_text_max_messages": PAGE})
        async with running_bot(api, settings) as bot:
            stored, chunks = stored_long(bot)
            user = api.user(22, language_code="en")
            chat = api.private_chat(user)
            [digest] = await bot.say(chat, user, f"/article {stored.id}")
            order.answered_at_send.clear()
            answer, sent = await bot.press(
                chat, user, digest, f"full:{stored.id}", expect=PAGE + 1
            )
            assert answer.text is None
            assert [m.html for m in sent[:PAGE]] == chunks[:PAGE]
            assert sent[PAGE].text.endswith(f"/full {stored.id} 2")
            # Every full-text message reached Telegram after the spinner's answer.
            assert order.answered_at_send == [1] * (PAGE + 1)
