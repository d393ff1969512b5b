"""TelegramSender: a real PTB bot against the loopback Bot API; each fault maps to its Outcome."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram.ext import ExtBot

from bot.digest import Button, article_buttons, render_part
from bot.errors import ConfigError
from bot.fakeapi.models import Fault
from bot.fakeapi.server import LoopbackBotApi
from bot.markup import parse_html
from bot.push.run import run_push
from bot.push.sender import Outcome, OutgoingMessage
from bot.rendering import Renderer
from bot.store import Store
from bot.telegram.aiohttp_request import bot_requests
from bot.telegram.pacer import Pacer
from bot.telegram.sender import TelegramSender
from tests.conftest import NOW, add_subscribers
from tests.push.conftest import add_long_article, options

BUTTONS = (Button("📖", callback_data="full:1"), Button("🔗", url="https://example.org/a"))


@pytest.fixture(autouse=True)
def _timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns on RetryAfter unless it may use timedelta; warnings are errors here.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture
async def pacer() -> Pacer:
    # Without the second between one chat's messages: these tests are about what is sent
    # (the pacer's own tests, tests/telegram/test_pacer.py, hold it to Telegram's spacing).
    return Pacer(100.0, chat_interval=0.0)


@pytest.fixture(params=["aiohttp", "httpx"])
async def sender(
    loopback_api: LoopbackBotApi, pacer: Pacer, request: pytest.FixtureRequest
) -> AsyncIterator[TelegramSender]:
    """A sender on each HTTP backend (JSON body on aiohttp, a form on httpx)."""
    bot: ExtBot[object] = ExtBot(
        loopback_api.token,
        base_url=loopback_api.base_url,
        **bot_requests(request.param, pool_size=8, read_timeout=0.5),
        rate_limiter=pacer,
    )
    async with bot:
        yield TelegramSender(bot)


def message(chat_id: int, html: str = "<b>Digest</b> of the day") -> OutgoingMessage:
    return OutgoingMessage(chat_id, "private" if chat_id > 0 else "group", (html,), BUTTONS)


async def test_sent_message_carries_html_and_buttons(
    sender: TelegramSender, loopback_api: LoopbackBotApi, pacer: Pacer
) -> None:
    """A send reports SENT with Telegram's message_id; the chat shows the HTML and keyboard."""
    result = await sender.send(message(42))
    assert result.outcome is Outcome.SENT
    [sent] = loopback_api.messages(42)
    assert (result.delivered, result.message_ids) == (1, (sent.message_id,))
    assert sent.text == "Digest of the day"
    assert sent.parse_mode == "HTML"
    assert sent.reply_markup_json is not None
    assert "full:1" in sent.reply_markup_json
    assert "https://example.org/a" in sent.reply_markup_json
    assert pacer.stats.push == 1  # it went through the push lane


async def test_one_prepared_message_reaches_many_chats_intact(
    sender: TelegramSender, loopback_api: LoopbackBotApi
) -> None:
    """The shared body is encoded once, yet each chat gets the exact text, entities, buttons
    and paid-broadcast flag, and its own chat's message id comes back."""
    html = '<b>标题 &amp; 😀</b>\n<a href="https://example.org/?a=1&amp;b=2">原文</a> "引号"'
    outgoing = [
        OutgoingMessage(chat, "private", (html,), BUTTONS, paid=True) for chat in (61, 62, 63)
    ]
    results = [await sender.send(m) for m in outgoing]
    assert [r.outcome for r in results] == [Outcome.SENT] * 3
    for chat, result in zip((61, 62, 63), results, strict=True):
        [sent] = loopback_api.messages(chat)
        assert result.message_id == sent.message_id
        assert sent.text == '标题 & 😀\n原文 "引号"'
        assert sent.allow_paid_broadcast
        assert [e["type"] for e in sent.entities] == ["bold", "text_link"]
        assert sent.buttons() == [
            [
                {"text": "📖", "callback_data": "full:1"},
                {"text": "🔗", "url": "https://example.org/a"},
            ]
        ]


async def test_a_digest_in_parts_arrives_in_order_with_the_buttons_under_the_last(
    sender: TelegramSender, loopback_api: LoopbackBotApi, pacer: Pacer
) -> None:
    """Every part goes out, in order, each through the pacer's push lane; only the last
    carries the keyboard; the result names every part's message id."""
    parts = ("<b>Part one</b>", "Part <i>two</i>", "Part three")
    result = await sender.send(OutgoingMessage(52, "private", parts, BUTTONS))
    assert result.outcome is Outcome.SENT
    sent = loopback_api.messages(52)
    assert [m.text for m in sent] == ["Part one", "Part two", "Part three"]
    assert [m.reply_markup_json is None for m in sent] == [True, True, False]
    assert result.delivered == 3
    assert result.message_ids == tuple(m.message_id for m in sent)
    assert result.message_id == sent[0].message_id
    assert pacer.stats.push == 3


async def test_a_part_refused_midway_reports_the_parts_delivered(
    sender: TelegramSender, loopback_api: LoopbackBotApi
) -> None:
    """A failure after the first part stops the digest there and says one part got through."""
    parts = ("First part", "x" * 5000, "Never sent")  # Telegram refuses over 4096 characters
    result = await sender.send(OutgoingMessage(53, "private", parts, BUTTONS))
    assert result.outcome is Outcome.FAILED
    assert result.error == "Message is too long"
    [first] = loopback_api.messages(53)
    assert first.text == "First part"
    assert (result.delivered, result.message_ids) == (1, (first.message_id,))


async def test_a_three_part_digest_reaches_a_subscriber_whole(
    loopback_api: LoopbackBotApi, sqlite_store: Store, renderer: Renderer
) -> None:
    """run_push over a real PTB bot and the loopback Bot API: a digest too long for one
    message reaches the chat as /latest shows it: three messages, in order, the article's
    buttons under the last one."""
    stored = add_long_article(sqlite_store)
    add_subscribers(sqlite_store, 1, language="en")
    bot: ExtBot[object] = ExtBot(
        loopback_api.token,
        base_url=loopback_api.base_url,
        **bot_requests("aiohttp", pool_size=8),
        rate_limiter=Pacer(100.0, chat_interval=0.0),
    )
    async with bot:
        report = await run_push(sqlite_store, renderer, TelegramSender(bot), options(), now=NOW)
    assert report.sent == 1
    sent = loopback_api.messages(1)
    expected = [parse_html(part).text for part in render_part(renderer, stored, "digest", "en")]
    assert len(expected) == 3
    assert [m.text for m in sent] == expected
    assert [m.buttons() for m in sent[:2]] == [[], []]
    buttons = article_buttons(renderer, stored, "en")
    assert [b["text"] for row in sent[2].buttons() for b in row] == [b.label for b in buttons]


async def test_blocked_user_is_blocked(
    sender: TelegramSender, loopback_api: LoopbackBotApi
) -> None:
    """403 "bot was blocked by the user" → BLOCKED."""
    loopback_api.block(43)
    result = await sender.send(message(43))
    assert result.outcome is Outcome.BLOCKED
    assert result.error is not None
    assert "blocked" in result.error


async def test_chat_not_found_is_blocked(
    sender: TelegramSender, loopback_api: LoopbackBotApi
) -> None:
    """400 "chat not found" (a deleted account) → BLOCKED, like a 403."""
    loopback_api.forget_chat(44)
    assert (await sender.send(message(44))).outcome is Outcome.BLOCKED


async def test_migrated_group_reports_the_new_id(
    sender: TelegramSender, loopback_api: LoopbackBotApi
) -> None:
    """400 with migrate_to_chat_id → MIGRATED carrying the supergroup's id; sending there works."""
    loopback_api.group(-500, "Readers")
    new_id = loopback_api.migrate_group(-500, notify=False)
    result = await sender.send(message(-500))
    assert result.outcome is Outcome.MIGRATED
    assert result.new_chat_id == new_id
    assert (await sender.send(message(new_id))).outcome is Outcome.SENT


@pytest.mark.parametrize(
    "fault", [Fault.server_error(), Fault.drop(), Fault.hang(1.5)], ids=["502", "drop", "timeout"]
)
async def test_transient_failures_are_retried(
    sender: TelegramSender, loopback_api: LoopbackBotApi, fault: Fault
) -> None:
    """5xx, a dropped connection and a read timeout → RETRY (the engine backs off)."""
    loopback_api.fail_next("sendMessage", fault=fault)
    result = await sender.send(message(45))
    assert result.outcome is Outcome.RETRY
    assert result.retry_after is None


async def test_other_bad_request_fails_with_the_description(
    sender: TelegramSender, loopback_api: LoopbackBotApi
) -> None:
    """Any other 400 → FAILED with Telegram's description: resending would fail the same way."""
    loopback_api.fail_next("sendMessage", fault=Fault.bad_request("Bad Request: message is odd"))
    result = await sender.send(message(46))
    assert result.outcome is Outcome.FAILED
    assert result.error == "Message is odd"  # PTB strips "Bad Request: " and capitalises


async def test_429_is_waited_out_by_the_pacer(
    sender: TelegramSender, loopback_api: LoopbackBotApi, pacer: Pacer
) -> None:
    """A 429 never reaches the engine: the pacer pauses, re-sends the same call, and it is SENT."""
    loopback_api.fail_next("sendMessage", fault=Fault.retry_after(1))
    result = await sender.send(message(47))
    assert result.outcome is Outcome.SENT
    assert pacer.stats.retry_after == 1
    assert len(loopback_api.messages(47)) == 1


async def test_429_without_a_pacer_is_retry_with_retry_after(
    loopback_api: LoopbackBotApi,
) -> None:
    """On a bot without a rate limiter a 429 comes back as RETRY with retry_after set."""
    loopback_api.fail_next("sendMessage", fault=Fault.retry_after(2))
    async with ExtBot(
        loopback_api.token, base_url=loopback_api.base_url, **bot_requests("httpx", pool_size=8)
    ) as bot:
        result = await TelegramSender(bot).send(message(48))
    assert result.outcome is Outcome.RETRY
    assert result.retry_after == 2.0


async def test_paid_broadcast_flag_reaches_telegram(
    sender: TelegramSender, loopback_api: LoopbackBotApi
) -> None:
    """A message marked paid is sent with allow_paid_broadcast; others without it."""
    paid = OutgoingMessage(49, "private", ("paid",), (), paid=True)
    assert (await sender.send(paid)).outcome is Outcome.SENT
    assert (await sender.send(message(50))).outcome is Outcome.SENT
    assert loopback_api.messages(49)[0].allow_paid_broadcast
    assert not loopback_api.messages(50)[0].allow_paid_broadcast


async def test_a_refused_token_raises_config_error_without_the_token(
    sender: TelegramSender, loopback_api: LoopbackBotApi
) -> None:
    """A 401 (token revoked after start-up) raises ConfigError naming the setting, never the
    token, instead of a per-row outcome the engine would retry until every row failed."""
    token = loopback_api.token
    loopback_api.token = "987654321:ANOTHER-token-the-bot-does-not-have"  # noqa: S105
    try:
        with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN") as caught:
            await sender.send(message(51))
    finally:
        loopback_api.token = token
    assert token not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
