"""Channels end to end over the loopback Bot API: connect, manage, post, lose, come back.

An editor (a user who owns the channel) connects it either by making the bot a posting
administrator (a ``my_chat_member`` update) or with ``/channel add``; manages it from the
private chat (``/channels``); the daily push posts into it through the ledger with deep-link
buttons; the bot removed or refused on send makes it inactive and tells the editor once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram.error import BadRequest, Forbidden

from bot.channels import LOST, PAUSED, UNCONFIRMED
from bot.fakeapi.models import FakeChat, FakeUser, Fault, SentMessage
from bot.fakeapi.server import LoopbackBotApi
from bot.flood import CommandBudget
from bot.ledger import Ledger
from bot.model import Subscriber
from bot.runtime import Runtime
from bot.telegram import jobs
from bot.telegram.pacer import Pacer
from bot.telegram.push_run import push_once
from tests.fakeapi.conftest import bot_for
from tests.telegram.conftest import DEFAULT_BACKEND, BotHarness, bot_settings, running_bot
from tests.telegram.test_pacer import VirtualTime, max_in_window
from tests.telegram.test_topics import ARTICLES as TOPICAL_ARTICLES

CHANNEL_ID = -1001234567890
NO_POST = {"can_post_messages": False}


def button_data(message: SentMessage) -> list[str]:
    """Return each button's callback data or URL (a share button: "inline:<its query>")."""
    return [
        b.get("callback_data") or b.get("url") or f"inline:{b['switch_inline_query']}"
        for row in message.buttons()
        for b in row
    ]


def new_channel(api: LoopbackBotApi, editor: FakeUser, username: str = "newsdaily") -> FakeChat:
    """A channel `editor` owns, the bot not in it yet."""
    channel = api.channel(CHANNEL_ID, "News Daily", username=username)
    api.set_role(channel, editor, "creator")
    return channel


async def subscriber(bot: BotHarness) -> Subscriber | None:
    await bot.settle()
    return bot.runtime.store.get_subscriber(CHANNEL_ID)


async def add_bot(bot: BotHarness, channel: FakeChat, editor: FakeUser, **rights: bool) -> None:
    """The editor makes the bot an administrator of the channel (rights override defaults)."""
    bot.api.change_member(channel, None, editor, "administrator", rights=rights or None)
    await bot.settle()


async def connected(bot: BotHarness, editor: FakeUser, lang: str = "en") -> FakeChat:
    """Connect a channel by adding the bot and confirming; return it."""
    channel = new_channel(bot.api, editor)
    private = bot.api.private_chat(editor)
    before = len(bot.api.messages(private.id))
    await add_bot(bot, channel, editor)
    # Waited for, not only settled: on a busy machine the database may outlast a quiet spell.
    screen = (await bot.api.wait_sent(private.id, before + 1))[-1]
    start = next(d for d in button_data(screen) if d.startswith("chon:"))
    await bot.press(private, editor, screen, start)
    found = await subscriber(bot)
    assert found is not None
    assert found.active
    return channel


async def test_adding_the_bot_registers_the_channel_paused_until_the_editor_confirms(
    bot: BotHarness,
) -> None:
    editor = bot.api.user(501, language_code="en")
    channel = new_channel(bot.api, editor)
    await add_bot(bot, channel, editor)
    await bot.api.wait_sent(editor.id, 1)

    found = await subscriber(bot)
    assert found is not None
    assert (found.chat_type, found.active, found.inactive_reason) == (
        "channel",
        False,
        UNCONFIRMED,
    )
    assert found.connected_by == editor.id
    [screen] = bot.api.messages(editor.id)
    assert "The bot is now an administrator of “News Daily”" in screen.text
    assert "Status: waiting for confirmation" in screen.text
    assert "Delivery time: 08:00 (default)" in screen.text
    assert f"chon:{found.id}" in button_data(screen)
    assert bot.api.messages(CHANNEL_ID) == []  # nothing is ever said in the channel

    answer, _ = await bot.press(bot.api.private_chat(editor), editor, screen, f"chon:{found.id}")
    assert answer.text == "Posting started"
    confirmed = await subscriber(bot)
    assert confirmed is not None
    assert confirmed.active
    assert "Status: posting daily" in bot.api.messages(editor.id)[-1].text


async def test_a_bot_without_the_right_to_post_is_not_registered(bot: BotHarness) -> None:
    editor = bot.api.user(502)
    channel = new_channel(bot.api, editor)
    await add_bot(bot, channel, editor, **NO_POST)
    assert await subscriber(bot) is None
    assert bot.api.messages(editor.id) == []


async def test_channel_add_connects_when_the_bot_may_post_and_the_person_is_an_admin(
    bot: BotHarness,
) -> None:
    editor = bot.api.user(503, language_code="zh")
    private = bot.api.private_chat(editor)
    channel = new_channel(bot.api, editor)

    [reply] = await bot.say(private, editor, "/channel add @newsdaily")
    assert "机器人还不是频道“News Daily”的管理员" in reply.text
    bot.api.set_role(channel, None, "administrator", rights=NO_POST)
    [reply] = await bot.say(private, editor, "/channel add @newsdaily")
    assert "没有“发布消息”权限" in reply.text
    assert await subscriber(bot) is None

    bot.api.set_role(channel, None, "administrator")
    [screen] = await bot.say(private, editor, f"/channel add {CHANNEL_ID}")
    assert "频道“News Daily”已连接" in screen.text
    assert "状态：每日发布中" in screen.text
    found = await subscriber(bot)
    assert found is not None
    assert found.active
    assert found.connected_by == editor.id
    assert found.language == "zh"


async def test_channel_add_refuses_a_person_who_is_not_an_admin(bot: BotHarness) -> None:
    editor = bot.api.user(504)
    stranger = bot.api.user(505)
    channel = new_channel(bot.api, editor)
    bot.api.set_role(channel, None, "administrator")
    private = bot.api.private_chat(stranger)

    [reply] = await bot.say(private, stranger, "/channel add @newsdaily")
    assert "You are not an administrator of “News Daily”" in reply.text
    [reply] = await bot.say(private, stranger, "/channel add @nosuchchannel")
    assert "No channel @nosuchchannel found" in reply.text
    [reply] = await bot.say(private, stranger, "/channel remove everything")
    assert reply.text.startswith("Usage: /channel add @channel")
    assert await subscriber(bot) is None


async def test_a_forwarded_channel_post_connects_that_channel(bot: BotHarness) -> None:
    editor = bot.api.user(506)
    channel = new_channel(bot.api, editor)
    bot.api.set_role(channel, None, "administrator")
    before = len(bot.api.messages(editor.id))
    bot.api.forward_channel_post(editor, channel)
    [screen] = (await bot.api.wait_sent(editor.id, before + 1))[before:]
    assert "“News Daily” is connected" in screen.text
    found = await subscriber(bot)
    assert found is not None
    assert found.active


async def test_channels_lists_only_what_the_person_administers_and_configures_it(
    bot: BotHarness,
) -> None:
    editor = bot.api.user(507)
    channel = await connected(bot, editor)
    private = bot.api.private_chat(editor)
    found = await subscriber(bot)
    assert found is not None

    [listing] = await bot.say(private, editor, "/channels")
    assert "News Daily" in listing.text
    assert button_data(listing) == [f"chopen:{found.id}"]

    stranger = bot.api.user(508)
    stranger_chat = bot.api.private_chat(stranger)
    [none] = await bot.say(stranger_chat, stranger, "/channels")
    assert "None of the channels you administer is connected" in none.text
    # Forged presses from someone who is not an administrator change nothing.
    answer, _ = await bot.press(stranger_chat, stranger, none, f"chtime:{found.id}:9:0")
    assert answer.show_alert
    assert answer.text is not None

    await bot.press(private, editor, listing, f"chopen:{found.id}")
    screen = bot.api.messages(private.id)[-1]
    assert f"chset:{found.id}:1" in button_data(screen)
    await bot.press(private, editor, screen, f"chset:{found.id}:1")
    picker = bot.api.messages(private.id)[-1]
    assert f"chtime:{found.id}:9:0" in button_data(picker)
    answer, _ = await bot.press(private, editor, picker, f"chtime:{found.id}:9:0")
    assert answer.text == "Saved."
    answer, _ = await bot.press(private, editor, picker, f"chtz:{found.id}:5")
    answer, _ = await bot.press(private, editor, picker, f"chlang:{found.id}:0")
    answer, _ = await bot.press(private, editor, picker, f"choff:{found.id}")
    assert answer.text == "Paused"

    changed = await subscriber(bot)
    assert changed is not None
    assert changed.push_time is not None
    assert changed.push_time.hour == 9
    assert changed.timezone == "Europe/London"
    assert changed.language == "zh"
    assert (changed.active, changed.inactive_reason) == (False, PAUSED)
    # The screen stays in the editor's language; the channel's language is the digest's.
    assert "Status: paused" in bot.api.messages(private.id)[-1].text
    assert bot.api.messages(channel.id) == []


async def test_daily_push_posts_into_the_channel_through_the_ledger_with_deep_links(
    bot: BotHarness,
) -> None:
    editor = bot.api.user(509)
    channel = await connected(bot, editor)
    report = await jobs.start_push(bot.app, force=True)
    assert report is not None
    assert report.sent == 1

    posts = bot.api.messages(channel.id)
    assert posts
    found = await subscriber(bot)
    assert found is not None
    # One ledger row for this channel and the article (the kill-safety of the push).
    [(article_id, state, _)] = Ledger(bot.runtime.store).deliveries(found.id)
    assert state == "sent"
    links = button_data(posts[-1])
    username = bot.api.bot_username
    assert f"https://t.me/{username}?start=f{article_id}" in links
    assert all(not link.startswith(("full:", "risks:")) for link in links)

    # A reader taps 📖 in the channel: Telegram opens the bot with /start f<id>.
    reader = bot.api.user(510)
    reader_chat = bot.api.private_chat(reader)
    sent = await bot.say(reader_chat, reader, f"/start f{article_id}")
    assert sent[0].text.strip()
    assert bot.runtime.store.get_subscriber(reader.id) is None  # reading is not subscribing
    assert len(bot.api.messages(channel.id)) == len(posts)  # nothing more in the channel

    # The same day's push does not post it twice.
    again = await jobs.start_push(bot.app, force=True)
    assert again is not None
    assert again.sent == 0


async def test_removed_bot_makes_the_channel_inactive_and_readding_brings_it_back(
    bot: BotHarness,
) -> None:
    editor = bot.api.user(511)
    channel = await connected(bot, editor)
    private = bot.api.private_chat(editor)
    before = len(bot.api.messages(private.id))

    bot.api.change_member(channel, None, editor, "left")
    await bot.api.wait_sent(private.id, before + 1)
    lost = await subscriber(bot)
    assert lost is not None
    assert (lost.active, lost.inactive_reason) == (False, LOST)
    told = bot.api.messages(private.id)[before:]
    assert len(told) == 1
    assert "can no longer post in “News Daily”" in told[0].text

    bot.api.change_member(channel, None, editor, "kicked")  # still gone: not told again
    await bot.settle()
    assert len(bot.api.messages(private.id)) == before + 1

    bot.api.set_role(channel, None, "left")
    await add_bot(bot, channel, editor)
    await bot.api.wait_sent(private.id, before + 2)
    back = await subscriber(bot)
    assert back is not None
    assert back.active
    assert back.id == lost.id
    assert "posting resumes" in bot.api.messages(private.id)[-1].text


async def test_demoting_the_bot_loses_the_channel(bot: BotHarness) -> None:
    editor = bot.api.user(512)
    channel = await connected(bot, editor)
    bot.api.change_member(channel, None, editor, "administrator", rights=NO_POST)
    lost = await subscriber(bot)
    assert lost is not None
    assert not lost.active


async def test_a_refused_push_loses_the_channel_and_tells_the_editor_once(
    bot: BotHarness,
) -> None:
    editor = bot.api.user(513)
    channel = await connected(bot, editor)
    private = bot.api.private_chat(editor)
    before = len(bot.api.messages(private.id))
    # Demoted without an update reaching the bot: the push finds out on send.
    bot.api.set_role(channel, None, "administrator", rights=NO_POST)

    report = await jobs.start_push(bot.app, force=True)
    assert report is not None
    assert report.blocked == 1
    lost = await subscriber(bot)
    assert lost is not None
    assert (lost.active, lost.inactive_reason) == (False, LOST)
    assert len(bot.api.messages(private.id)) == before + 1
    assert bot.api.messages(channel.id) == []


async def test_chat_write_forbidden_on_post_now_loses_the_channel(bot: BotHarness) -> None:
    editor = bot.api.user(514)
    await connected(bot, editor)
    private = bot.api.private_chat(editor)
    found = await subscriber(bot)
    assert found is not None
    bot.api.fail_next("sendMessage", fault=Fault.bad_request("Bad Request: CHAT_WRITE_FORBIDDEN"))
    screen = bot.api.messages(private.id)[-1]
    answer, _ = await bot.press(private, editor, screen, f"chpost:{found.id}", expect=1)
    assert answer.text == "Not posted: the bot cannot post in this channel"
    lost = await subscriber(bot)
    assert lost is not None
    assert not lost.active


async def test_post_the_latest_now_posts_into_the_channel(bot: BotHarness) -> None:
    editor = bot.api.user(515)
    channel = await connected(bot, editor)
    private = bot.api.private_chat(editor)
    found = await subscriber(bot)
    assert found is not None
    answer, _ = await bot.press(
        private, editor, bot.api.messages(private.id)[-1], f"chpost:{found.id}"
    )
    assert answer.text == "Posted"
    posts = bot.api.messages(channel.id)
    assert posts
    assert any(link.startswith("https://t.me/") for link in button_data(posts[-1]))


async def test_commands_posted_in_a_channel_are_ignored(bot: BotHarness) -> None:
    editor = bot.api.user(516)
    channel = await connected(bot, editor)
    for text in ("/start", "/latest", "/help", "/channels", "/stop"):
        bot.api.channel_post(channel, text)
    await bot.settle()
    assert bot.api.messages(channel.id) == []
    still = await subscriber(bot)
    assert still is not None
    assert still.active


async def test_sending_into_a_channel_without_rights_is_refused_like_telegram() -> None:
    async with LoopbackBotApi() as api:
        channel = api.channel(CHANNEL_ID, "News")
        async with bot_for(api) as tg:
            with pytest.raises(Forbidden, match=r"^Forbidden: bot is not a member of the channel"):
                await tg.send_message(CHANNEL_ID, "hi")
            api.set_role(channel, None, "administrator", rights=NO_POST)
            with pytest.raises(
                BadRequest, match=r"^Need administrator rights in the channel chat$"
            ):
                await tg.send_message(CHANNEL_ID, "hi")
            api.set_role(channel, None, "administrator")
            sent = await tg.send_message(CHANNEL_ID, "hi")
            assert sent.chat.type == "channel"
            admins = await tg.get_chat_administrators(CHANNEL_ID)
            assert [a.user.id for a in admins] == [tg.id]
            member = await tg.get_chat_member(CHANNEL_ID, tg.id)
            assert member.can_post_messages is True  # type: ignore[attr-defined]


async def test_the_push_lane_keeps_a_channel_to_twenty_posts_a_minute() -> None:
    """A channel's id (-100…) gets the pacer's per-group window: ≤ 20 sends in any minute."""
    vt = VirtualTime()
    pacer = Pacer(25.0, clock=vt.clock, sleep=vt.sleep)
    times: list[float] = []

    async def post() -> None:
        await pacer.acquire(CHANNEL_ID, lane="push")
        times.append(vt.now)

    await vt.run(asyncio.gather(*(post() for _ in range(41))))
    assert len(times) == 41
    assert max_in_window(times, 60.0) == 20


async def test_post_now_uses_the_ledger_so_neither_a_second_press_nor_the_push_repeats_it(
    bot: BotHarness,
) -> None:
    editor = bot.api.user(517)
    channel = await connected(bot, editor)
    private = bot.api.private_chat(editor)
    found = await subscriber(bot)
    assert found is not None
    screen = bot.api.messages(private.id)[-1]

    answer, _ = await bot.press(private, editor, screen, f"chpost:{found.id}")
    assert answer.text == "Posted"
    posts = len(bot.api.messages(channel.id))
    assert posts
    [(article_id, state, _)] = Ledger(bot.runtime.store).deliveries(found.id)
    assert state == "sent"
    newest = bot.runtime.store.latest_article()
    assert newest is not None
    assert article_id == newest.id

    answer, _ = await bot.press(private, editor, screen, f"chpost:{found.id}")
    assert answer.text == "Already posted in this channel (or being posted)"
    report = await jobs.start_push(bot.app, force=True)
    assert report is not None
    assert report.sent == 0  # the day's push finds the row: that article is not posted again
    assert len(bot.api.messages(channel.id)) == posts
    assert len(Ledger(bot.runtime.store).deliveries(found.id)) == 1


async def test_a_double_tap_on_post_now_posts_once(bot: BotHarness) -> None:
    editor = bot.api.user(518)
    channel = await connected(bot, editor)
    private = bot.api.private_chat(editor)
    found = await subscriber(bot)
    assert found is not None
    screen = bot.api.messages(private.id)[-1]

    # Both presses are in the bot's queue before it answers either (updates run concurrently).
    first = bot.api.press_button(private, editor, screen.message_id, f"chpost:{found.id}")
    second = bot.api.press_button(private, editor, screen.message_id, f"chpost:{found.id}")
    answers = sorted([(await bot.answer(first)).text or "", (await bot.answer(second)).text or ""])
    assert answers == ["Already posted in this channel (or being posted)", "Posted"]
    await bot.settle()
    [(_, state, _)] = Ledger(bot.runtime.store).deliveries(found.id)
    assert state == "sent"
    texts = [m.text for m in bot.api.messages(channel.id)]
    assert len(texts) == len(set(texts))  # no part of the digest twice


async def test_digestbot_push_loses_a_refused_channel_and_tells_the_editor_once(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> None:
    """`digestbot push` (no running bot) treats a refused channel as the bot's own push does."""
    api = loopback_api
    runtime = Runtime.open(bot_settings(api, tmp_path, seeds_dir, DEFAULT_BACKEND))
    try:
        runtime.sync()
        editor = api.user(519, language_code="en")
        private = api.private_chat(editor)
        channel = new_channel(api, editor)
        runtime.store.connect_channel(
            CHANNEL_ID, title="News Daily", language="en", by=editor.id, confirmed=True
        )
        api.set_role(channel, None, "administrator", rights=NO_POST)  # demoted, unnoticed

        report = await push_once(runtime, force=True, dry_run=False)
        assert report.blocked == 1
        lost = runtime.store.get_subscriber(CHANNEL_ID)
        assert lost is not None
        assert (lost.active, lost.inactive_reason) == (False, LOST)
        [told] = api.messages(private.id)
        assert "can no longer post in “News Daily”" in told.text
        assert api.messages(channel.id) == []

        again = await push_once(runtime, force=True, dry_run=False)
        assert again.blocked == 0
        assert len(api.messages(private.id)) == 1  # told once
    finally:
        runtime.close()


@pytest.fixture
async def topical_bot(loopback_api: LoopbackBotApi, tmp_path: Path) -> AsyncIterator[BotHarness]:
    """A bot whose seeds carry topics: AI (articles 1, 3), Health (1), Economy (2); 4 has none."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for index, text in TOPICAL_ARTICLES.items():
        (seeds / f"article-{index}.md").write_text(text, encoding="utf-8")
    settings = bot_settings(loopback_api, tmp_path, seeds, DEFAULT_BACKEND)
    settings = settings.model_copy(update={"push_max_per_day": 10})
    async with running_bot(loopback_api, settings) as harness:
        yield harness


async def test_an_admin_chooses_the_channels_topics_and_its_push_honours_them(
    topical_bot: BotHarness,
) -> None:
    bot = topical_bot
    editor = bot.api.user(520)
    channel = await connected(bot, editor)
    private = bot.api.private_chat(editor)
    found = await subscriber(bot)
    assert found is not None
    screen = bot.api.messages(private.id)[-1]
    assert "Topics: all (none chosen)" in screen.text
    assert f"chtopics:{found.id}:1" in button_data(screen)

    await bot.press(private, editor, screen, f"chtopics:{found.id}:1")
    topics = bot.api.messages(private.id)[-1]
    assert "The channel follows no topic" in topics.text
    economy = bot.runtime.store.find_topic("Economy")
    assert economy is not None
    toggle = f"chtopic:{found.id}:{economy.id}:1"
    assert toggle in button_data(topics)
    answer, _ = await bot.press(private, editor, topics, toggle)
    assert not answer.show_alert
    assert "The channel follows Economy" in bot.api.messages(private.id)[-1].text
    assert [t.name for t in bot.runtime.store.followed_topics(CHANNEL_ID)] == ["Economy"]
    assert bot.runtime.store.followed_topics(editor.id) == []  # the editor's own are apart

    await bot.press(private, editor, topics, f"chopen:{found.id}")
    assert "Topics: Economy" in bot.api.messages(private.id)[-1].text

    report = await jobs.start_push(bot.app, force=True)
    assert report is not None
    assert report.sent == 1
    [(article_id, state, _)] = Ledger(bot.runtime.store).deliveries(found.id)
    assert state == "sent"
    posted = bot.runtime.store.get_article(article_id)
    assert posted is not None
    assert posted.article.title == "Article 2"  # Economy's only article, not the newest (4)
    texts = "\n".join(m.text for m in bot.api.messages(channel.id))
    assert "Article 2" in texts
    assert all(f"Article {i}" not in texts for i in (1, 3, 4))

    # "Post the latest now" takes the newest in the channel's topics: already posted.
    answer, _ = await bot.press(private, editor, topics, f"chpost:{found.id}")
    assert answer.text == "Already posted in this channel (or being posted)"


# -- hostile input ------------------------------------------------------------------------

ADMINS_ONLY = "Sorry, only this chat's administrators can change its subscription or settings."
UNAVAILABLE = "This article is no longer available."  # the answer to stale or forged data
CHANNEL_PRESSES = (
    "chopen:{id}",
    "chon:{id}",
    "choff:{id}",
    "chpost:{id}",
    "chdrop:{id}",
    "chtopics:{id}:1",
    "chtopic:{id}:1:1",
    "chset:{id}:1",
    "chtime:{id}:9:0",
    "chtz:{id}:5",
    "chlang:{id}:0",
)


async def test_forged_presses_on_another_persons_channel_change_nothing(
    topical_bot: BotHarness,
) -> None:
    """Callback data naming a channel the presser does not administer: refused, unchanged."""
    bot = topical_bot
    bot.app.bot_data.budget = CommandBudget(burst=1000, rate=1000.0)  # a test, not a flood
    editor = bot.api.user(521)
    channel = await connected(bot, editor)
    found = await subscriber(bot)
    assert found is not None
    stranger = bot.api.user(522)
    chat = bot.api.private_chat(stranger)
    [reply] = await bot.say(chat, stranger, "/start")
    for data in CHANNEL_PRESSES:
        answer, sent = await bot.press(chat, stranger, reply, data.format(id=found.id))
        assert answer.show_alert, data
        assert answer.text == ADMINS_ONLY, data
        assert sent == [], data
    assert await subscriber(bot) == found
    assert bot.runtime.store.followed_topics(CHANNEL_ID) == []
    assert bot.api.messages(channel.id) == []
    assert Ledger(bot.runtime.store).deliveries(found.id) == []

    # A channel action naming a private chat's subscriber, or with broken data: nothing.
    own = bot.runtime.store.get_subscriber(stranger.id)
    assert own is not None
    for data in (
        f"chopen:{own.id}",
        f"chpost:{own.id}",
        f"chtopic:{own.id}:1:1",
        "chopen",
        "chopen:99999999999",
        "chopen:-1",
    ):
        answer, sent = await bot.press(chat, stranger, reply, data)
        assert answer.text == UNAVAILABLE, data
        assert sent == [], data
    # The editor's own broken presses: refused without a change either.
    private = bot.api.private_chat(editor)
    screen = bot.api.messages(private.id)[-1]
    for data in (
        f"chtime:{found.id}:25:0",
        f"chtz:{found.id}:9999",
        f"chset:{found.id}:99",
        f"chtopic:{found.id}:999999:1",
        f"chtopic:{found.id}:1",
        f"chtopics:{found.id}",
    ):
        answer, _ = await bot.press(private, editor, screen, data)
        assert answer.text == UNAVAILABLE, data
    assert await subscriber(bot) == found


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("@", "Usage: /channel add @channel"),
        ("@@x", "Usage: /channel add @channel"),
        ("@" + "a" * 40, "Usage: /channel add @channel"),
        ("-" + "9" * 30, "Usage: /channel add @channel"),
        ("9" * 30, "Usage: /channel add @channel"),
        ("0", "Usage: /channel add @channel"),
        ("-0", "Usage: /channel add @channel"),
        ("+123", "Usage: /channel add @channel"),
        ("https://t.me/+AbCdEfGh", "Usage: /channel add @channel"),
        ("@newsdaily extra", "Usage: /channel add @channel"),
        ("", "Usage: /channel add @channel"),
        ("525", "525 is not a channel"),  # a user's id
        ("-4001", "-4001 is not a channel"),  # a group's id
        ("-1009999999999", "No channel -1009999999999 found"),  # private, the bot not in it
        ("@nosuchchannel", "No channel @nosuchchannel found"),
    ],
)
async def test_channel_add_with_garbage_gets_a_clear_reply_and_writes_nothing(
    bot: BotHarness, argument: str, expected: str
) -> None:
    editor = bot.api.user(525)
    bot.api.group(-4001, "A group")
    new_channel(bot.api, editor)
    private = bot.api.private_chat(editor)
    [reply] = await bot.say(private, editor, f"/channel add {argument}".strip())
    assert expected in reply.text
    assert bot.runtime.store.channel_subscribers() == []


async def test_a_private_channel_without_username_connects_by_id(bot: BotHarness) -> None:
    editor = bot.api.user(526)
    channel = bot.api.channel(CHANNEL_ID, "Private")
    bot.api.set_role(channel, editor, "creator")
    bot.api.set_role(channel, None, "administrator")
    [screen] = await bot.say(bot.api.private_chat(editor), editor, f"/channel add {CHANNEL_ID}")
    assert "“Private” is connected" in screen.text
    # The same channel added twice: still one subscription, the same row.
    [again] = await bot.say(bot.api.private_chat(editor), editor, f"/channel add {CHANNEL_ID}")
    assert "“Private” is connected" in again.text
    assert len(bot.runtime.store.channel_subscribers()) == 1


async def test_channel_commands_outside_the_private_chat_are_refused(bot: BotHarness) -> None:
    user = bot.api.user(527)
    group = bot.api.group(-4003, "A group")
    [reply] = await bot.say(group, user, "/channel add @newsdaily")
    assert "Manage channels in your private chat" in reply.text
    [reply] = await bot.say(group, user, "/channels")
    assert "Manage channels in your private chat" in reply.text


async def test_the_bot_made_admin_of_a_group_or_a_plain_member_registers_nothing(
    bot: BotHarness,
) -> None:
    editor = bot.api.user(528)
    group = bot.api.group(-4004, "A group")
    bot.api.change_member(group, None, editor, "administrator")
    await bot.settle()
    assert bot.runtime.store.get_subscriber(group.id) is None
    channel = new_channel(bot.api, editor)
    bot.api.change_member(channel, None, editor, "member")
    assert await subscriber(bot) is None
    assert bot.api.messages(editor.id) == []


async def test_an_edit_of_the_bots_other_rights_says_nothing_twice(bot: BotHarness) -> None:
    editor = bot.api.user(529)
    channel = new_channel(bot.api, editor)
    await add_bot(bot, channel, editor)
    assert len(await bot.api.wait_sent(editor.id, 1)) == 1  # the confirmation screen
    await add_bot(bot, channel, editor, can_edit_messages=False)
    assert len(bot.api.messages(editor.id)) == 1
    found = await subscriber(bot)
    assert found is not None
    assert found.inactive_reason == UNCONFIRMED


async def test_the_connecting_admin_demoted_loses_the_channel_to_whoever_demoted_them(
    bot: BotHarness,
) -> None:
    owner = bot.api.user(530)
    editor = bot.api.user(531)
    channel = new_channel(bot.api, owner)
    bot.api.set_role(channel, editor, "administrator")
    bot.api.set_role(channel, None, "administrator")
    private = bot.api.private_chat(editor)
    [screen] = await bot.say(private, editor, "/channel add @newsdaily")
    found = await subscriber(bot)
    assert found is not None
    assert found.connected_by == editor.id
    [listing] = await bot.say(private, editor, "/channels")  # the admin lists are cached now
    assert button_data(listing) == [f"chopen:{found.id}"]

    bot.api.change_member(channel, editor, owner, "member")
    moved = await subscriber(bot)
    assert moved is not None
    assert moved.connected_by == owner.id
    answer, _ = await bot.press(private, editor, screen, f"choff:{found.id}")
    assert answer.text == ADMINS_ONLY
    [none] = await bot.say(private, editor, "/channels")
    assert "None of the channels you administer is connected" in none.text

    before = len(bot.api.messages(private.id))
    bot.api.change_member(channel, None, owner, "left")
    await bot.settle()
    assert len(bot.api.messages(private.id)) == before  # the former admin is not told
    [told] = await bot.api.wait_sent(owner.id, 1)
    assert "can no longer post in “News Daily”" in told.text
