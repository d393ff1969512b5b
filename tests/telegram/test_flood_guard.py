"""End-to-end: one flooding chat never stalls the bot for everyone (issue 9 §2).

The flooding chat's replies are held in the pacer (a fake clock whose sleeps wait for a gate),
so "the flooder's replies are still waiting" is a state, not a timing: the tests assert on
which replies arrived, never on how long they took.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.fakeapi.models import Fault
from bot.fakeapi.server import LoopbackBotApi
from bot.flood import BURST, RATE, CommandBudget
from bot.telegram.pacer import Pacer
from tests.telegram.conftest import DEFAULT_BACKEND, BotHarness, bot_settings, running_bot

SLOW_DOWN = {"en": "Slow down, please", "zh": "请慢一点"}


class FakeTime:
    """A monotonic clock that moves only when a held sleep is let go (or a test moves it)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.gate = asyncio.Event()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        await self.gate.wait()
        self.now += seconds


def held_pacer(time: FakeTime) -> Pacer:
    """Telegram's per-chat pace (two at once, then one a second) on a clock that stands still:
    a chat's third message waits in the pacer until the test opens the gate."""
    return Pacer(
        1e9, chat_interval=1.0, chat_burst=2, group_per_minute=10_000,
        clock=time.clock, sleep=time.sleep,
    )  # fmt: skip


@asynccontextmanager
async def held_bot(
    api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> AsyncIterator[tuple[BotHarness, FakeTime]]:
    time = FakeTime()
    settings = bot_settings(api, tmp_path, seeds_dir, DEFAULT_BACKEND)
    pacer = held_pacer(time)
    async with running_bot(api, settings, pacer=pacer) as bot:
        # The held clock is this process's alone: the budget shared through the database runs
        # on the wall clock every process shares (tested on its own), so it is let go.
        await pacer.shutdown()
        bot.app.bot_data.budget = CommandBudget(clock=time.clock)
        try:
            yield bot, time
        finally:
            time.gate.set()  # whatever a test left waiting goes, so shutdown is quick


def notices(bot: BotHarness, chat_id: int, lang: str = "en") -> int:
    return sum(SLOW_DOWN[lang] in m.text for m in bot.api.messages(chat_id))


async def test_a_flooding_chat_does_not_delay_another_chats_help(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> None:
    async with held_bot(loopback_api, tmp_path, seeds_dir) as (bot, time):
        api = bot.api
        flooder = api.user(1, language_code="en")
        flood_chat = api.private_chat(flooder)
        for i in range(300):
            api.send_message(flood_chat, flooder, f"/latest {i}")
        other = api.user(2, language_code="en")
        [help_reply] = await bot.say(api.private_chat(other), other, "/help")
        assert "/full" in help_reply.text
        # The other chat was answered while the flooder's replies still wait for its pace.
        assert len(api.messages(flood_chat.id)) < 5
        time.gate.set()
        # BURST commands answered, then exactly one notice; the rest ignored.
        await api.wait_sent(flood_chat.id, BURST + 1)
        await api.settle()
        sent = api.messages(flood_chat.id)
        assert len(sent) == BURST + 1
        assert notices(bot, flood_chat.id) == 1
        # Still ignored while flooding goes on; heard again once it has calmed down.
        await bot.say(flood_chat, flooder, "/help", expect=0)
        assert len(api.messages(flood_chat.id)) == BURST + 1
        time.now += BURST / RATE
        [heard] = await bot.say(flood_chat, flooder, "/help")
        assert "/full" in heard.text


async def test_the_slow_down_notice_speaks_the_chats_language(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> None:
    async with held_bot(loopback_api, tmp_path, seeds_dir) as (bot, time):
        time.gate.set()
        user = bot.api.user(3, language_code="zh")
        chat = bot.api.private_chat(user)
        for i in range(BURST + 5):
            bot.api.send_message(chat, user, f"/help {i}")
        await bot.api.wait_sent(chat.id, BURST + 1)
        await bot.settle()
        assert notices(bot, chat.id, "zh") == 1
        assert len(bot.api.messages(chat.id)) == BURST + 1


async def test_repeated_identical_requests_are_answered_once(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> None:
    async with held_bot(loopback_api, tmp_path, seeds_dir) as (bot, time):
        api = bot.api
        user = api.user(4, language_code="en")
        chat = api.private_chat(user)
        await bot.say(chat, user, "/help")
        await bot.say(chat, user, "/stop")  # the chat's burst is spent: the next reply waits
        for _ in range(5):
            api.send_message(chat, user, "/latest")
        api.send_message(
            chat, user, f"/LATEST@{bot.app.bot.username}"
        )  # the same, spelt otherwise
        await api.settle()
        time.gate.set()
        await api.wait_sent(chat.id, 3)
        await api.settle()
        sent = api.messages(chat.id)
        assert len(sent) == 3
        assert sent[2].buttons()  # the one digest, with its buttons
        # Once sent, the same request is answered again.
        [again] = await bot.say(chat, user, "/latest")
        assert again.html == sent[2].html


async def test_a_flood_of_button_presses_is_answered_and_warned_once(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> None:
    async with held_bot(loopback_api, tmp_path, seeds_dir) as (bot, time):
        time.gate.set()
        bot.app.bot_data.budget = CommandBudget(burst=2, clock=time.clock)
        api = bot.api
        user = api.user(5, language_code="en")
        chat = api.private_chat(user)
        [digest] = await bot.say(chat, user, "/article 1")
        queries = [api.press_button(chat, user, digest.message_id, "risks:1") for _ in range(6)]
        answers = [await bot.answer(q) for q in queries]
        assert len(answers) == 6  # every spinner stops, even for an ignored press
        await api.settle()
        assert notices(bot, chat.id) == 1


async def test_an_error_while_sending_a_queued_reply_goes_through_the_one_error_path(
    bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    user = bot.api.user(6, language_code="en")
    chat = bot.api.private_chat(user)
    bot.api.fail_next("sendMessage", fault=Fault.bad_request())
    with caplog.at_level(logging.ERROR):
        [apology] = await bot.say(chat, user, "/help")
        await bot.settle()
    assert "Sorry, something went wrong" in apology.text
    logged = [r for r in caplog.records if r.getMessage() == "error while handling an update"]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
    # A 403 takes the same path and unsubscribes the chat: test_handlers.py
    # test_a_chat_that_blocked_the_bot_is_unsubscribed (its reply is a queued one too).


async def test_shutdown_abandons_queued_replies_within_the_grace(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> None:
    async with held_bot(loopback_api, tmp_path, seeds_dir) as (bot, _time):
        user = bot.api.user(8, language_code="en")
        chat = bot.api.private_chat(user)
        for i in range(5):
            bot.api.send_message(chat, user, f"/help {i}")
        # Every update handled and two replies sent; three wait in the outbox for a slot the
        # held clock never gives (so not bot.settle(), which waits for the outbox to empty).
        await bot.api.settle()
        await bot.app.update_queue.join()
        assert len(bot.api.messages(chat.id)) == 2
        outbox = bot.app.bot_data.require_outbox()
        assert await outbox.close(0.01) == 3
        assert outbox.closed
