"""Topic subscriptions end to end: /topics, /follow, /unfollow, the t<id> deep link, a topic's
/latest and /list, hashtags in the digest, followers in /stats, and a filtered daily push."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.fakeapi.server import LoopbackBotApi
from bot.telegram import jobs
from tests.telegram.conftest import ADMIN_ID, BotHarness, bot_settings, running_bot


def _article(index: int, tags: list[str], related: list[str] = ()) -> str:  # type: ignore[assignment]
    tag_line = f"tags: [{', '.join(tags)}]\n" if tags else ""
    links = "".join(f"- [[notes/{name}]]\n" for name in related)
    related_section = f"\n## Related\n{links}" if links else ""
    return f"""---
title: Article {index}
date: 2024-01-{index:02d}
url: https://example.com/{index}
{tag_line}---

## Summary

### One-line summary
Summary of article {index}.

### Key points
- **Point**: a point.

## Full text

Body of article {index}.
{related_section}"""


ARTICLES = {
    1: _article(1, ["AI", "Health"]),
    2: _article(2, ["Economy"]),
    3: _article(3, ["AI"], related=["Machine Learning"]),
    4: _article(4, []),
}


@pytest.fixture
async def bot(loopback_api: LoopbackBotApi, tmp_path: Path) -> AsyncIterator[BotHarness]:
    """A bot whose seeds carry topics: AI (1, 3), Health (1), Economy (2), Machine Learning (3)."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for index, text in ARTICLES.items():
        (seeds / f"article-{index}.md").write_text(text, encoding="utf-8")
    settings = bot_settings(loopback_api, tmp_path, seeds, "aiohttp")
    settings = settings.model_copy(update={"push_max_per_day": 10})
    async with running_bot(loopback_api, settings) as harness:
        yield harness


def topic_id(bot: BotHarness, name: str) -> int:
    topic = bot.runtime.store.find_topic(name)
    assert topic is not None
    return topic.id


def labels(message: object) -> list[str]:
    rows = message.buttons()  # type: ignore[attr-defined]
    return [b["text"] for row in rows for b in row]


async def test_topics_lists_toggle_buttons_and_a_press_follows(bot: BotHarness) -> None:
    user = bot.api.user(601)
    chat = bot.api.private_chat(user)
    await bot.say(chat, user, "/start")
    [screen] = await bot.say(chat, user, "/topics")
    assert "topics: 4" in screen.text
    assert "You follow no topic" in screen.text
    assert labels(screen)[0] == "AI · 2"
    ai = topic_id(bot, "ai")
    answer, _ = await bot.press(chat, user, screen, f"topic:{ai}:1")
    assert answer.text == "Followed"
    edited = bot.api.messages(chat.id)[-1]
    assert edited.message_id == screen.message_id
    assert "Following: AI." in edited.text
    assert labels(edited)[0] == "✓ AI · 2"
    answer, _ = await bot.press(chat, user, edited, f"topic:{ai}:1")
    assert answer.text == "Unfollowed"
    assert bot.runtime.store.followed_topics(601) == []


async def test_follow_and_unfollow_by_name_with_did_you_mean(bot: BotHarness) -> None:
    user = bot.api.user(602, language_code="zh")
    chat = bot.api.private_chat(user)
    await bot.say(chat, user, "/start")
    [done] = await bot.say(chat, user, "/follow machine learning")
    assert "已关注“Machine Learning”" in done.text
    [again] = await bot.say(chat, user, "/follow MACHINE LEARNING")
    assert "已经关注" in again.text
    [miss] = await bot.say(chat, user, "/follow Econmy")
    assert "你是不是想找“Economy”" in miss.text
    [none] = await bot.say(chat, user, "/follow zzz")
    assert "没有名为“zzz”的主题" in none.text
    [usage] = await bot.say(chat, user, "/unfollow")
    assert "/unfollow <主题>" in usage.text
    [gone] = await bot.say(chat, user, "/unfollow Machine Learning")
    assert "不再关注任何主题" in gone.text


async def test_a_deep_link_subscribes_and_follows_in_one_tap(bot: BotHarness) -> None:
    user = bot.api.user(603)
    chat = bot.api.private_chat(user)
    economy = topic_id(bot, "Economy")
    welcome, followed = await bot.say(chat, user, f"/start t{economy}", expect=2)
    assert "subscribed" in welcome.text
    assert "You now follow “Economy”" in followed.text
    subscriber = bot.runtime.store.get_subscriber(603)
    assert subscriber is not None
    assert subscriber.active
    assert [t.name for t in bot.runtime.store.followed_topics(603)] == ["Economy"]
    _, unknown = await bot.say(chat, user, "/start t99999", expect=2)
    assert "There is no topic" in unknown.text


async def test_latest_and_list_narrow_to_a_topic_and_the_digest_shows_hashtags(
    bot: BotHarness,
) -> None:
    user = bot.api.user(604)
    chat = bot.api.private_chat(user)
    [digest] = await bot.say(chat, user, "/latest ai")
    assert "Article 3" in digest.text
    assert "#AI #Machine_Learning" in digest.text
    [economy] = await bot.say(chat, user, "/latest Economy")
    assert "Article 2" in economy.text
    [listing] = await bot.say(chat, user, "/list AI")
    assert "Topic AI · page 1 of 1 · articles: 2" in listing.text
    assert [label.split()[0] for label in labels(listing) if label] == ["#3", "#1"]
    [miss] = await bot.say(chat, user, "/list Helth")
    assert "Did you mean “Health”?" in miss.text


async def test_the_daily_push_honours_followed_topics(bot: BotHarness) -> None:
    """Different topics get different articles; nobody gets one outside their topics."""
    follows = {611: ["AI"], 612: ["Economy"], 613: [], 614: ["Health", "Economy"]}
    for user_id, names in follows.items():
        user = bot.api.user(user_id)
        chat = bot.api.private_chat(user)
        await bot.say(chat, user, "/start")
        for name in names:
            await bot.say(chat, user, f"/follow {name}")
    before = {user_id: len(bot.api.messages(user_id)) for user_id in follows}
    report = await jobs.start_push(bot.app, force=True)
    assert report is not None
    got = {
        user_id: sorted(
            int(m.text.split()[1]) for m in bot.api.messages(user_id)[before[user_id] :]
        )
        for user_id in follows
    }
    assert got == {611: [1, 3], 612: [2], 613: [1, 2, 3, 4], 614: [1, 2]}

    # A day with nothing new in their topics sends nothing.
    before = {user_id: len(bot.api.messages(user_id)) for user_id in follows}
    await jobs.start_push(bot.app, force=True)
    assert all(len(bot.api.messages(u)) == before[u] for u in follows)


async def test_stats_shows_followers_per_topic(bot: BotHarness) -> None:
    for user_id in (621, 622):
        user = bot.api.user(user_id)
        chat = bot.api.private_chat(user)
        await bot.say(chat, user, "/start")
        await bot.say(chat, user, "/follow AI")
    admin = bot.api.user(ADMIN_ID)
    [stats] = await bot.say(bot.api.private_chat(admin), admin, "/stats")
    assert "Followers per topic" in stats.text
    assert "AI: 2" in stats.text


async def test_in_a_group_only_admins_change_the_topics(bot: BotHarness) -> None:
    owner, member = bot.api.user(631), bot.api.user(632)
    group = bot.api.group(-6301)
    bot.api.set_role(group, owner, "creator")
    await bot.say(group, owner, "/start")
    [refused] = await bot.say(group, member, "/follow AI")
    assert "only this chat's administrators" in refused.text
    [screen] = await bot.say(group, member, "/topics")
    answer, _ = await bot.press(group, member, screen, f"topic:{topic_id(bot, 'AI')}:1")
    assert answer.show_alert
    assert bot.runtime.store.followed_topics(-6301) == []
    [done] = await bot.say(group, owner, "/follow AI")
    assert "You now follow “AI”" in done.text
