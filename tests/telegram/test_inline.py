"""Inline sharing end to end: `@bot words` in any chat, answered over the loopback API."""

from __future__ import annotations

from typing import Any

from bot.digest import render_part
from bot.fakeapi.models import FakeUser, InlineAnswer, SentMessage
from bot.markup import parse_html
from tests.conftest import add_articles
from tests.telegram.conftest import ADMIN_ID, BotHarness

BOT = "digest_test_bot"


async def ask(
    bot: BotHarness, user: FakeUser, query: str, offset: str = "", chat_type: str = "group"
) -> InlineAnswer:
    """Type `@bot query` as `user`; return the bot's answer."""
    query_id = bot.api.inline_query(user, query, offset=offset, chat_type=chat_type)
    return await bot.api.wait_inline_answer(query_id)


def buttons(result: dict[str, Any]) -> list[dict[str, Any]]:
    [row] = result["reply_markup"]["inline_keyboard"]
    return list(row)


def share_button(message: SentMessage) -> dict[str, Any]:
    [share] = [b for row in message.buttons() for b in row if "switch_inline_query" in b]
    return share


async def test_empty_query_offers_articles_newest_first_in_english(bot: BotHarness) -> None:
    """With no words the newest articles come first, each its digest with shareable buttons."""
    add_articles(bot.runtime.store, 3)  # dated 2026: newer than the bundled seed
    user = bot.api.user(501, language_code="en-GB")
    answer = await ask(bot, user, "")
    assert [r["title"] for r in answer.results[:3]] == ["Article 3", "Article 2", "Article 1"]
    assert len(answer.results) == 4
    assert answer.next_offset == ""
    assert answer.cache_time == 30
    assert answer.is_personal is True
    assert answer.button is None
    first = answer.results[0]
    assert first["type"] == "article"
    assert first["description"] == "Summary 3"
    content = first["input_message_content"]
    assert content["parse_mode"] == "HTML"
    assert "Article 3" in parse_html(content["message_text"]).text
    read, original, share = buttons(first)
    article_id = int(first["id"][1:].split(":")[0])
    assert read == {"text": "📖 Read in the bot", "url": f"https://t.me/{BOT}?start=a{article_id}"}
    assert original == {"text": "🔗 Original", "url": "https://example.com/3"}
    assert share == {"text": "↗️ Share", "switch_inline_query": f"#{article_id}"}
    assert not any("callback_data" in b for r in answer.results for b in buttons(r))


async def test_words_find_matching_articles_in_chinese(bot: BotHarness) -> None:
    """A Chinese client gets Chinese results; words narrow to the articles containing them."""
    add_articles(bot.runtime.store, 12)
    user = bot.api.user(502, language_code="zh-hans")
    answer = await ask(bot, user, "article 1")
    # "article" and "1": Article 1, 10, 11, 12 and nothing else, the most relevant first.
    assert sorted(r["title"] for r in answer.results) == [
        "Article 1",
        "Article 10",
        "Article 11",
        "Article 12",
    ]
    read, original, share = buttons(answer.results[0])
    assert read["text"] == "📖 在机器人中读全文"
    assert original["text"] == "🔗 原文"
    assert share["text"] == "↗️ 分享"
    stored = bot.runtime.store.get_article(int(answer.results[0]["id"][1:].split(":")[0]))
    assert stored is not None
    [zh] = render_part(bot.runtime.renderer, stored, "digest", "zh")
    assert answer.results[0]["input_message_content"]["message_text"] == zh
    seed = (await ask(bot, user, "")).results[-1]  # the bundled article, with key points
    assert "核心要点" in parse_html(seed["input_message_content"]["message_text"]).text


async def test_a_subscribers_chosen_language_wins_over_the_client_language(
    bot: BotHarness,
) -> None:
    """Someone who chose Chinese in the bot gets Chinese results from an English client."""
    user = bot.api.user(503, language_code="en")
    chat = bot.api.private_chat(user)
    await bot.say(chat, user, "/start")
    bot.runtime.store.set_language(user.id, "zh")
    answer = await ask(bot, user, "")
    assert buttons(answer.results[0])[0]["text"] == "📖 在机器人中读全文"


async def test_pages_follow_next_offset(bot: BotHarness) -> None:
    """25 new articles and the seed: a page of 20, then the last 6, then nothing more."""
    add_articles(bot.runtime.store, 25)
    user = bot.api.user(504)
    first = await ask(bot, user, "")
    assert len(first.results) == 20
    assert first.next_offset == "20"
    assert first.results[0]["title"] == "Article 25"
    second = await ask(bot, user, "", offset=first.next_offset)
    assert len(second.results) == 6
    assert second.next_offset == ""
    assert second.results[0]["title"] == "Article 5"
    ids = [r["id"] for r in first.results + second.results]
    assert len(set(ids)) == 26


async def test_choosing_a_result_posts_the_digest_with_its_buttons(bot: BotHarness) -> None:
    """The chosen digest appears in the group via the bot; its 📖 link opens the bot on it."""
    [article_id] = add_articles(bot.runtime.store, 1)
    user = bot.api.user(505)
    group = bot.api.group(-5050, "Friends")
    answer = await ask(bot, user, f"#{article_id}")
    [result] = answer.results
    posted = bot.api.choose_inline_result(group, user, answer.id, result["id"])
    assert posted.via_bot
    assert posted.sender_id == user.id
    assert posted.text.startswith("Article 1")
    assert "Summary 1" in posted.text
    [[read, original, share]] = posted.buttons()
    assert read["url"] == f"https://t.me/{BOT}?start=a{article_id}"
    assert original["url"] == "https://example.com/1"
    assert share["switch_inline_query"] == f"#{article_id}"
    # A reader in the group taps 📖: Telegram opens the bot with /start a<id>.
    reader = bot.api.user(506)
    private = bot.api.private_chat(reader)
    welcome, digest = await bot.say(private, reader, f"/start a{article_id}", expect=2)
    assert "Article 1" in digest.text
    assert welcome.text != digest.text


async def test_no_match_answers_an_empty_list_and_offers_the_bot(bot: BotHarness) -> None:
    """Nothing matches: no results, and a button that opens the bot with a plain welcome."""
    user = bot.api.user(507)
    answer = await ask(bot, user, "zzqx-nothing-has-this")
    assert answer.results == []
    assert answer.next_offset == ""
    assert answer.button == {
        "text": "No matching article — open the bot",
        "start_parameter": "inline",
    }
    chat = bot.api.private_chat(user)
    [welcome] = await bot.say(chat, user, "/start inline")
    assert "unavailable" not in welcome.text.lower()
    await bot.settle()
    assert bot.api.messages(chat.id) == [welcome]
    unknown = await ask(bot, user, "#999999")
    assert unknown.results == []


async def test_hostile_queries_are_answered(bot: BotHarness) -> None:
    """HTML, 300+ characters, emoji and control characters in a query break nothing."""
    add_articles(bot.runtime.store, 2)
    user = bot.api.user(508)
    for query in (
        "<b>Article</b> &amp; <script>",
        "Article " + "x" * 320,
        "🔥 Article 🧪\u200d",
        "Article\x00\x1b[31m",
        "#0",
        "#99999999999999999999999",
        "' OR 1=1 --",
        "%_\\",
    ):
        answer = await ask(bot, user, query)
        assert len(answer.results) <= 20, query
    same = await ask(bot, user, "🔥 Article 🧪")
    assert same.results == []
    found = await ask(bot, user, "Article\x00")
    assert [r["title"] for r in found.results] == ["Article 2", "Article 1"]
    forged = await ask(bot, user, "", offset="-5")
    assert forged.results[0]["title"] == "Article 2"


async def test_share_button_under_latest_and_pushed_digests(bot: BotHarness) -> None:
    """/latest and the daily push carry ↗️ Share, which types `@bot #<id>` in a chosen chat."""
    admin = bot.api.user(ADMIN_ID, language_code="en")
    chat = bot.api.private_chat(admin)
    await bot.say(chat, admin, "/start")
    [latest] = await bot.say(chat, admin, "/latest")
    newest = bot.runtime.store.latest_article()
    assert newest is not None
    assert share_button(latest) == {
        "text": "↗️ Share",
        "switch_inline_query": f"#{newest.id}",
    }
    before = len(bot.api.messages(chat.id))
    bot.api.send_message(chat, admin, "/pushnow")
    sent = await bot.api.wait_sent(chat.id, before + 3)
    [pushed] = [m for m in sent[before:] if m.reply_markup_json and "full:" in m.reply_markup_json]
    assert share_button(pushed)["switch_inline_query"] == f"#{newest.id}"
