"""End-to-end: act as Telegram users against the real bot and read what it sent.

The `bot` fixture runs the bot on the default HTTP backend without Telegram's per-chat
spacing; tests/telegram/test_app.py runs a conversation on both backends, and the tests
marked ``slow`` here keep the real pacing.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import time
from pathlib import Path
from time import sleep
from typing import Any

import pytest

from bot.alerts import ErrorReports
from bot.db import articles
from bot.digest import render_part
from bot.fakeapi.models import Fault, Limits
from bot.fakeapi.server import LoopbackBotApi
from bot.i18n import DEFAULT_LANG
from bot.telegram.commands import COMMANDS
from tests.telegram.conftest import (
    ADMIN_ID,
    DEFAULT_BACKEND,
    BotHarness,
    article_file,
    bot_settings,
    running_bot,
)


def button_data(message: object) -> list[str]:
    rows = message.buttons()  # type: ignore[attr-defined]
    return [b.get("callback_data") or b.get("url") for row in rows for b in row]


async def add_articles(bot: BotHarness, count: int) -> None:
    for i in range(count):
        (bot.settings.seeds_dir / f"extra_{i:03d}.md").write_text(
            article_file(i), encoding="utf-8"
        )
    await asyncio.to_thread(bot.runtime.sync)


# -- /start, /stop --------------------------------------------------------------------


async def test_start_subscribes_a_private_chat_and_says_when_the_next_push_comes(
    bot: BotHarness,
) -> None:
    user = bot.api.user(1, language_code="en")
    chat = bot.api.private_chat(user)
    [welcome] = await bot.say(chat, user, "/start")
    assert "You are subscribed!" in welcome.text
    assert "Next push: " in welcome.text
    assert "(Asia/Shanghai)" in welcome.text
    assert "08:00" in welcome.text
    subscriber = bot.runtime.store.get_subscriber(1)
    assert subscriber is not None
    assert subscriber.active
    assert subscriber.chat_type == "private"
    assert subscriber.language == "en"


async def test_start_answers_in_chinese_for_a_zh_language_code(bot: BotHarness) -> None:
    user = bot.api.user(2, language_code="zh-hans")
    chat = bot.api.private_chat(user)
    [welcome] = await bot.say(chat, user, "/start")
    assert "订阅成功" in welcome.text
    assert "下次推送" in welcome.text


async def test_start_again_is_never_a_duplicate_and_a_returning_subscriber_is_welcomed_back(
    bot: BotHarness,
) -> None:
    user = bot.api.user(3)
    chat = bot.api.private_chat(user)
    await bot.say(chat, user, "/start")
    [again] = await bot.say(chat, user, "/start")
    assert "already subscribed" in again.text
    [stopped] = await bot.say(chat, user, "/stop")
    assert "Unsubscribed" in stopped.text
    [back] = await bot.say(chat, user, "/start")
    assert "Welcome back" in back.text
    counts = bot.runtime.store.counts()
    assert (counts.active_subscribers, counts.inactive_subscribers) == (1, 0)


async def test_a_blocked_subscriber_who_starts_again_is_reactivated(bot: BotHarness) -> None:
    user = bot.api.user(4)
    chat = bot.api.private_chat(user)
    await bot.say(chat, user, "/start")
    bot.runtime.store.unsubscribe(4, reason="blocked")
    [back] = await bot.say(chat, user, "/start")
    assert "Welcome back" in back.text
    subscriber = bot.runtime.store.get_subscriber(4)
    assert subscriber is not None
    assert subscriber.active


async def test_start_in_a_group_subscribes_the_group(bot: BotHarness) -> None:
    user = bot.api.user(5, language_code="zh")
    group = bot.api.group(-100, "读书会")
    [welcome] = await bot.say(group, user, "/start")
    assert "在本群推送" in welcome.text
    subscriber = bot.runtime.store.get_subscriber(-100)
    assert subscriber is not None
    assert subscriber.chat_type == "group"
    assert subscriber.title == "读书会"


async def test_deep_link_opens_the_article_after_the_welcome(bot: BotHarness) -> None:
    user = bot.api.user(6)
    chat = bot.api.private_chat(user)
    welcome, digest = await bot.say(chat, user, "/start a1", expect=2)
    assert "subscribed" in welcome.text
    assert "AI焦虑" in digest.text
    assert button_data(digest)[:2] == ["full:1", "risks:1"]


async def test_deep_link_to_an_unknown_article_says_it_is_no_longer_available(
    bot: BotHarness,
) -> None:
    user = bot.api.user(7, language_code="zh-TW")
    chat = bot.api.private_chat(user)
    _, notice = await bot.say(chat, user, "/start a999", expect=2)
    assert notice.text == "这篇文章已不可用。"


async def test_stop_and_unsubscribe_confirm_and_keep_the_history(bot: BotHarness) -> None:
    user = bot.api.user(8)
    chat = bot.api.private_chat(user)
    [not_yet] = await bot.say(chat, user, "/stop")
    assert "not subscribed" in not_yet.text
    await bot.say(chat, user, "/start")
    await bot.say(chat, user, "/time 09:15")
    [done] = await bot.say(chat, user, "/unsubscribe")
    assert "Unsubscribed" in done.text
    subscriber = bot.runtime.store.get_subscriber(8)
    assert subscriber is not None
    assert not subscriber.active
    assert subscriber.push_time == time(9, 15)


# -- reading --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "labels"),
    [
        ("en", ["📖 Full text", "⚠️ Risks", "🔗 Original", "↗️ Share"]),
        ("zh-hans", ["📖 全文", "⚠️ 风险", "🔗 原文", "↗️ 分享"]),
    ],
)
async def test_latest_sends_the_digest_with_full_risks_original_and_share_buttons(
    bot: BotHarness, code: str, labels: list[str]
) -> None:
    user = bot.api.user(10, language_code=code)
    chat = bot.api.private_chat(user)
    [digest] = await bot.say(chat, user, "/latest")
    assert digest.text.startswith("聊聊如何缓解越来越严重的AI焦虑")
    [row] = digest.buttons()
    assert [b["text"] for b in row] == labels
    assert row[2]["url"].startswith("https://mp.weixin.qq.com/")


async def test_latest_without_articles_says_there_are_none(bot: BotHarness) -> None:
    for path in bot.settings.seeds_dir.iterdir():
        path.unlink()
    await asyncio.to_thread(bot.runtime.sync)
    user = bot.api.user(11)
    chat = bot.api.private_chat(user)
    [reply] = await bot.say(chat, user, "/latest")
    assert reply.text == "There are no articles yet."
    [reply] = await bot.say(chat, user, "/risks")
    assert reply.text == "There are no articles yet."


async def test_risks_with_and_without_an_id(bot: BotHarness) -> None:
    user = bot.api.user(12, language_code="zh")
    chat = bot.api.private_chat(user)
    [newest] = await bot.say(chat, user, "/risks")
    [by_id] = await bot.say(chat, user, "/risks 1")
    assert "风险/隐患" in newest.text
    assert "舆论加剧焦虑" in newest.text
    assert by_id.text == newest.text
    [missing] = await bot.say(chat, user, "/risks 999")
    assert "999" in missing.text
    assert "/list" in missing.text


async def test_full_sends_every_chunk_in_order(bot: BotHarness) -> None:
    body = "\n\n".join(f"Paragraph {i}: " + "words " * 120 for i in range(40))
    (bot.settings.seeds_dir / "long.md").write_text(
        article_file(99, title="A long read", body=body), encoding="utf-8"
    )
    await asyncio.to_thread(bot.runtime.sync)
    stored = bot.runtime.store.get_article_by_slug("long")
    assert stored is not None
    expected = render_part(bot.runtime.renderer, stored, "full", "en")
    assert len(expected) > 2
    user = bot.api.user(13)
    chat = bot.api.private_chat(user)
    sent = await bot.say(chat, user, f"/full {stored.id}", expect=len(expected))
    assert [m.html for m in sent] == expected
    await bot.settle()
    assert len(bot.api.messages(chat.id)) == len(expected)


@pytest.mark.slow
async def test_a_long_full_text_is_paced_within_telegrams_limits(
    tmp_path: Path, seeds_dir: Path
) -> None:
    """With the real pacer against a loopback that refuses any flood (``Limits()``), a /full
    of several messages arrives whole and in order, one chat's messages a second apart, and
    the server never answers 429."""
    body = "\n\n".join(f"Paragraph {i}: " + "words " * 120 for i in range(16))
    (seeds_dir / "long.md").write_text(
        article_file(99, title="A long read", body=body), encoding="utf-8"
    )
    async with LoopbackBotApi(limits=Limits()) as api:
        settings = bot_settings(api, tmp_path, seeds_dir, DEFAULT_BACKEND)
        async with running_bot(api, settings, paced=True) as bot:
            stored = bot.runtime.store.get_article_by_slug("long")
            assert stored is not None
            expected = render_part(bot.runtime.renderer, stored, "full", "en")
            assert len(expected) > Limits().per_chat_burst
            user = api.user(14)
            chat = api.private_chat(user)
            sent = await bot.say(chat, user, f"/full {stored.id}", expect=len(expected))
            assert [m.html for m in sent] == expected
        assert api.stats.clean()
        assert api.stats.max_per_chat_per_second <= Limits().per_chat_burst


async def test_article_needs_an_id_and_sends_the_digest(bot: BotHarness) -> None:
    user = bot.api.user(14)
    chat = bot.api.private_chat(user)
    [usage] = await bot.say(chat, user, "/article")
    assert usage.text.startswith("Usage: /article <number>")
    [digest] = await bot.say(chat, user, "/article 1")
    assert button_data(digest)[:2] == ["full:1", "risks:1"]
    [missing] = await bot.say(chat, user, "/article nope")
    assert "No article “nope”" in missing.text


async def test_list_counts_one_article_without_a_wrong_plural(bot: BotHarness) -> None:
    user = bot.api.user(16)
    chat = bot.api.private_chat(user)
    [page] = await bot.say(chat, user, "/list")
    assert "page 1 of 1 · articles: 1" in page.text
    assert "1 articles" not in page.text


async def test_list_pages_edit_the_message_in_place(bot: BotHarness) -> None:
    await add_articles(bot, 24)  # 25 with the bundled one: 3 pages
    user = bot.api.user(15)
    chat = bot.api.private_chat(user)
    [page1] = await bot.say(chat, user, "/list")
    assert "page 1 of 3 · articles: 25" in page1.text
    data = button_data(page1)
    assert len([d for d in data if d.startswith("article:")]) == 10
    assert data[-1] == "list:2"
    assert "list:0" not in data

    answer, new = await bot.press(chat, user, page1, "list:2")
    assert new == []
    assert answer.text is None
    [edited] = bot.api.messages(chat.id)
    assert edited.message_id == page1.message_id
    assert edited.edits == 1
    assert "page 2 of 3" in edited.text
    assert button_data(edited)[-2:] == ["list:1", "list:3"]

    answer, _ = await bot.press(chat, user, edited, "list:3")
    [last] = bot.api.messages(chat.id)
    assert "page 3 of 3" in last.text
    assert len([d for d in button_data(last) if d.startswith("article:")]) == 5
    assert button_data(last)[-1] == "list:2"

    article_button = button_data(last)[0]
    answer, [digest] = await bot.press(chat, user, last, article_button, expect=1)
    assert not answer.show_alert
    assert "Summary of article" in digest.text


async def test_list_page_arguments(bot: BotHarness) -> None:
    await add_articles(bot, 12)
    user = bot.api.user(16, language_code="zh")
    chat = bot.api.private_chat(user)
    [page2] = await bot.say(chat, user, "/list 2")
    assert "第 2/2 页" in page2.text
    [clamped] = await bot.say(chat, user, "/list 99")
    assert "第 2/2 页" in clamped.text
    [usage] = await bot.say(chat, user, "/list 0")
    assert usage.text.startswith("用法：/list")
    [unknown] = await bot.say(chat, user, "/list abc")  # a word is a topic
    assert "没有名为“abc”的主题" in unknown.text


async def test_search_finds_articles_as_buttons_and_explains_no_match_and_empty_query(
    bot: BotHarness,
) -> None:
    await add_articles(bot, 3)
    user = bot.api.user(17)
    chat = bot.api.private_chat(user)
    [found] = await bot.say(chat, user, "/search 焦虑")
    assert "(1)" in found.text
    assert button_data(found) == ["article:1"]
    [several] = await bot.say(chat, user, "/search summary article")
    assert len(button_data(several)) == 3
    [none] = await bot.say(chat, user, "/search zebra<b>")
    assert none.text == "No article matches “zebra<b>”."
    [usage] = await bot.say(chat, user, "/search")
    assert usage.text.startswith("Usage: /search <words>")


async def test_search_of_only_short_words_says_it_searched_the_newest_articles(
    bot: BotHarness,
) -> None:
    await add_articles(bot, 3)
    user = bot.api.user(19)
    chat = bot.api.private_chat(user)
    note = f"search only the newest {articles.SHORT_REACH} articles"
    [short] = await bot.say(chat, user, "/search 焦虑")
    assert note in short.text
    [long] = await bot.say(chat, user, "/search summary")
    assert "newest" not in long.text
    [none] = await bot.say(chat, user, "/search 斑马")
    assert none.text.startswith(
        f"None of the newest {articles.SHORT_REACH} articles matches “斑马”."
    )
    [long_none] = await bot.say(chat, user, "/search zebra")
    assert long_none.text == "No article matches “zebra”."


@pytest.mark.parametrize(
    ("language", "heading"),
    [("zh-hans", "匹配 “AI 焦虑” 的文章（3 篇）"), ("en", "Articles matching “AI 焦虑” (3)")],
)
async def test_search_lists_the_best_match_first_with_a_marked_snippet(
    bot: BotHarness, language: str, heading: str
) -> None:
    """Results come most relevant first, each with its snippet; the words are bold, <x> escaped.

    The bundled seed article talks about AI 焦虑 too: three matches.
    """
    bodies = {
        1: "说实话，AI <让人> 焦虑。" + "填充。" * 60,
        2: "AI 焦虑，AI 焦虑，还是 AI 焦虑。",
        3: "Nothing to see here.",
    }
    for index, body in bodies.items():
        (bot.settings.seeds_dir / f"s{index}.md").write_text(
            article_file(index, title=f"Story {index}", body=body), encoding="utf-8"
        )
    await asyncio.to_thread(bot.runtime.sync)
    ids = {s.article.title: s.id for s in bot.runtime.store.list_articles()}
    user = bot.api.user(18, language_code=language)
    chat = bot.api.private_chat(user)
    [found] = await bot.say(chat, user, "/search AI 焦虑")
    assert found.text.startswith(heading)
    assert found.text.index("Story 2") < found.text.index("Story 1")
    assert "Story 3" not in found.text
    assert "说实话，AI <让人> 焦虑。" in found.text
    bold = {found.text[e["offset"] : e["offset"] + e["length"]] for e in found.entities}
    assert {"AI", "焦虑"} <= bold
    buttons = button_data(found)
    assert buttons.index(f"article:{ids['Story 2']}") < buttons.index(f"article:{ids['Story 1']}")


# -- buttons --------------------------------------------------------------------------


async def test_full_and_risks_buttons_send_the_part_and_answer_the_query(
    bot: BotHarness,
) -> None:
    user = bot.api.user(20, language_code="zh")
    chat = bot.api.private_chat(user)
    [digest] = await bot.say(chat, user, "/latest")
    answer, [full] = await bot.press(chat, user, digest, "full:1", expect=1)
    assert answer.text is None
    assert "见字如面" in full.text
    answer, [risks] = await bot.press(chat, user, digest, "risks:1", expect=1)
    assert "盲目学习的负面效应" in risks.text


@pytest.mark.parametrize(
    "data", ["full:999", "risks:0", "article:5000", "list:1:2", "full:abc", "nope:1", "", "::"]
)
async def test_stale_or_forged_buttons_get_an_alert_and_no_exception(
    bot: BotHarness, data: str, caplog: pytest.LogCaptureFixture
) -> None:
    user = bot.api.user(21)
    chat = bot.api.private_chat(user)
    [digest] = await bot.say(chat, user, "/latest")
    answer, _ = await bot.press(chat, user, digest, data)
    assert answer.show_alert
    assert answer.text == "This article is no longer available."
    await bot.settle()
    assert len(bot.api.messages(chat.id)) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_group_member_presses_a_button_in_the_group(bot: BotHarness) -> None:
    user = bot.api.user(22)
    group = bot.api.group(-200)
    [digest] = await bot.say(group, user, "/latest")
    _, [risks] = await bot.press(group, user, digest, "risks:1", expect=1)
    assert "Risks" in risks.text


# -- help, hints, groups --------------------------------------------------------------


@pytest.mark.parametrize(("code", "heading"), [("en", "Commands"), ("zh-CN", "命令")])
async def test_help_lists_every_command_in_the_users_language(
    bot: BotHarness, code: str, heading: str
) -> None:
    user = bot.api.user(40, language_code=code)
    chat = bot.api.private_chat(user)
    [reply] = await bot.say(chat, user, "/help")
    assert reply.text.startswith(heading)
    for command in COMMANDS:
        assert (f"/{command.name}" in reply.text) is not command.admin, command.name


async def test_help_for_an_admin_lists_the_admin_commands(bot: BotHarness) -> None:
    admin = bot.api.user(ADMIN_ID)
    chat = bot.api.private_chat(admin)
    [reply] = await bot.say(chat, admin, "/help")
    assert "/stats" in reply.text
    assert "/reload" in reply.text


@pytest.mark.parametrize(
    ("code", "text", "expected"),
    [
        ("zh", "hello there", "我只回应命令，/help 查看全部。"),
        ("en", "hello there", "I answer commands. /help lists them."),
        ("zh", "/frobnicate", "未知命令，/help 查看全部命令。"),
        ("en", "/frobnicate", "Unknown command. /help lists them."),
        ("en", "/latest@some_other_bot", "Unknown command. /help lists them."),
    ],
)
async def test_free_text_gets_a_hint_and_an_unknown_command_is_called_unknown_in_private(
    bot: BotHarness, code: str, text: str, expected: str
) -> None:
    user = bot.api.user(41, language_code=code)
    chat = bot.api.private_chat(user)
    [reply] = await bot.say(chat, user, text)
    assert reply.text == expected


async def test_help_in_chinese_names_the_arguments_in_chinese(bot: BotHarness) -> None:
    user = bot.api.user(44, language_code="zh-hans")
    chat = bot.api.private_chat(user)
    [reply] = await bot.say(chat, user, "/help")
    for usage in (
        "/list [主题] [页码]",
        "/article <编号>",
        "/search <关键词>",
        "/timezone 地区/城市",
    ):
        assert usage in reply.text
    assert "[page]" not in reply.text
    assert "Area/City" not in reply.text


async def test_in_a_group_the_bot_answers_only_commands_addressed_to_it(
    bot: BotHarness,
) -> None:
    user = bot.api.user(42)
    group = bot.api.group(-300, supergroup=True)
    for text in ("hello everyone", "/frobnicate", "/latest@some_other_bot"):
        assert await bot.say(group, user, text, expect=0) == []
    [digest] = await bot.say(group, user, "/latest@digest_test_bot")
    assert button_data(digest)[:2] == ["full:1", "risks:1"]
    [digest] = await bot.say(group, user, "/latest")
    assert button_data(digest)[:2] == ["full:1", "risks:1"]


async def test_group_migration_moves_the_subscription_to_the_supergroup(
    bot: BotHarness,
) -> None:
    user = bot.api.user(43)
    group = bot.api.group(-400)
    await bot.say(group, user, "/start")
    new_id = bot.api.migrate_group(-400)
    await bot.settle()
    assert bot.runtime.store.get_subscriber(-400) is None
    moved = bot.runtime.store.get_subscriber(new_id)
    assert moved is not None
    assert moved.chat_type == "supergroup"
    assert moved.active


# -- admin ----------------------------------------------------------------------------


async def test_admin_commands_refuse_others_and_do_nothing(bot: BotHarness) -> None:
    (bot.settings.seeds_dir / "new.md").write_text(article_file(1), encoding="utf-8")
    user = bot.api.user(50, language_code="zh")
    chat = bot.api.private_chat(user)
    for command in ("/stats", "/reload"):
        [reply] = await bot.say(chat, user, command)
        assert reply.text == "抱歉，此命令仅限管理员使用。"
    assert bot.runtime.store.count_articles() == 1


async def test_admin_stats_and_reload(bot: BotHarness) -> None:
    admin = bot.api.user(ADMIN_ID)
    chat = bot.api.private_chat(admin)
    await bot.say(chat, admin, "/start")
    [stats] = await bot.say(chat, admin, "/stats")
    assert "Articles: 1 (0 hidden)" in stats.text
    assert "Subscribers: 1 active, 0 inactive" in stats.text
    (bot.settings.seeds_dir / "new.md").write_text(article_file(1), encoding="utf-8")
    (bot.settings.seeds_dir / "broken.md").write_text("---\ntitle: [\n---\n", encoding="utf-8")
    [reload] = await bot.say(chat, admin, "/reload")
    assert "1 new, 0 updated, 1 unchanged, 0 hidden, 1 failed" in reload.text
    assert "broken.md" in reload.text
    assert bot.runtime.store.count_articles() == 2


async def test_latest_shows_what_reload_imported_at_once_even_when_it_changed_in_place(
    bot: BotHarness,
) -> None:
    """/latest is cached briefly and rendered once; /reload must still show new content."""
    admin = bot.api.user(ADMIN_ID)
    chat = bot.api.private_chat(admin)
    [old] = await bot.say(chat, admin, "/latest")
    assert old.text.startswith("聊聊如何缓解")
    newer = article_file(1, title="Fresh news").replace("date: 2024-01-02", "date: 2030-01-02")
    (bot.settings.seeds_dir / "new.md").write_text(newer, encoding="utf-8")
    await bot.say(chat, admin, "/reload")
    [fresh] = await bot.say(chat, admin, "/latest")
    assert fresh.text.startswith("Fresh news")
    (bot.settings.seeds_dir / "new.md").write_text(
        newer.replace("Fresh news", "Corrected news"), encoding="utf-8"
    )
    [reload] = await bot.say(chat, admin, "/reload")
    assert "0 new, 1 updated" in reload.text
    [corrected] = await bot.say(chat, admin, "/latest")
    assert corrected.text.startswith("Corrected news")
    [risks] = await bot.say(chat, admin, "/risks")
    assert "a risk of article 1" in risks.text


# -- errors and concurrency -----------------------------------------------------------


async def test_an_error_is_logged_once_and_the_user_gets_a_short_apology(
    bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    user = bot.api.user(60)
    chat = bot.api.private_chat(user)
    bot.api.fail_next("sendMessage", fault=Fault.bad_request("Bad Request: secret internals"))
    [apology] = await bot.say(chat, user, "/latest")
    assert apology.text == "Sorry, something went wrong. Please try again later."
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    await bot.settle()
    assert len(bot.api.messages(chat.id)) == 1


async def test_unhandled_errors_reach_error_chat_id_once_a_minute_without_the_token(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> None:
    api = loopback_api
    admin_chat = api.private_chat(api.user(ADMIN_ID))
    settings = bot_settings(api, tmp_path, seeds_dir, DEFAULT_BACKEND).model_copy(
        update={"error_chat_id": admin_chat.id}
    )
    secret = api.token.split(":", 1)[1]
    async with running_bot(api, settings) as bot:
        now = [0.0]
        bot.app.bot_data.error_reports = ErrorReports(clock=lambda: now[0])
        user = api.user(62)
        chat = api.private_chat(user)

        async def fail_once() -> None:
            api.fail_next("sendMessage", fault=Fault.bad_request(f"Wrong token {api.token}"))
            [apology] = await bot.say(chat, user, "/latest")
            assert "Sorry" in apology.text

        await fail_once()
        await fail_once()  # within the minute: held back
        await api.settle()
        [report] = api.messages(admin_chat.id)
        assert "BadRequest" in report.text
        assert "/latest chat 62" in report.text
        assert secret not in report.text
        assert "<token>" in report.text

        now[0] = 61.0
        await fail_once()
        await api.settle()
        [_, second] = api.messages(admin_chat.id)
        held = bot.runtime.renderer.text("error_report_suppressed", DEFAULT_LANG, count=1)
        assert held in second.text


async def test_a_chat_that_blocked_the_bot_is_unsubscribed(bot: BotHarness) -> None:
    user = bot.api.user(61)
    chat = bot.api.private_chat(user)
    await bot.say(chat, user, "/start")
    bot.api.fail_next("sendMessage", fault=Fault.forbidden())
    assert await bot.say(chat, user, "/latest", expect=0) == []
    subscriber = bot.runtime.store.get_subscriber(61)
    assert subscriber is not None
    assert not subscriber.active


async def test_settle_waits_for_a_slow_unsubscribe_after_a_blocked_send(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The harness's settle() waits for the error handling of a failed send, however long the
    database takes (here 0.5 s, longer than any quiet spell): what a test reads after it is
    what the bot did, on a busy machine too."""
    store = bot.runtime.store
    unsubscribe = store.unsubscribe

    def slow_unsubscribe(*args: Any, **kwargs: Any) -> bool:
        sleep(0.5)  # a database under load; the handler runs it off the loop
        return unsubscribe(*args, **kwargs)

    monkeypatch.setattr(store, "unsubscribe", slow_unsubscribe)
    user = bot.api.user(62)
    chat = bot.api.private_chat(user)
    await bot.say(chat, user, "/start")
    bot.api.fail_next("sendMessage", fault=Fault.forbidden())
    assert await bot.say(chat, user, "/latest", expect=0) == []
    subscriber = store.get_subscriber(62)
    assert subscriber is not None
    assert not subscriber.active


async def test_a_burst_of_latest_from_twenty_users_is_answered_for_everyone(
    bot: BotHarness,
) -> None:
    users = [bot.api.user(1000 + i, language_code="zh" if i % 2 else "en") for i in range(20)]
    chats = [bot.api.private_chat(u) for u in users]
    for user, chat in zip(users, chats, strict=True):
        bot.api.send_message(chat, user, "/latest")
    for user, chat in zip(users, chats, strict=True):
        [digest] = await bot.api.wait_sent(chat.id, 1)
        label = "📖 全文" if user.language_code == "zh" else "📖 Full text"
        assert digest.buttons()[0][0]["text"] == label
    await bot.settle()
    assert all(len(bot.api.messages(c.id)) == 1 for c in chats)
