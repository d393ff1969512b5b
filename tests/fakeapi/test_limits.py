"""Flood limits: 429 with retry_after when enforced, violations counted when not."""

from __future__ import annotations

import datetime as dtm

import pytest
from telegram.error import RetryAfter

from bot.fakeapi.models import Limits
from bot.fakeapi.server import LoopbackBotApi
from tests.fakeapi.conftest import bot_for


async def test_strict_limits_answer_429_past_the_per_chat_burst() -> None:
    async with LoopbackBotApi(limits=Limits()) as api, bot_for(api) as bot:
        for n in range(3):  # a burst of three is tolerated
            await bot.send_message(71, f"burst {n}")
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(71, "one too many")
        await bot.send_message(72, "another chat is fine")
    assert caught.value.retry_after >= dtm.timedelta(seconds=1)  # type: ignore[operator]
    assert api.stats.too_many_requests == api.stats.rate_limited == 1
    assert not api.stats.clean()
    assert api.stats.violations == {}
    assert api.stats.max_per_chat_per_second == 3


async def test_strict_limits_cap_groups_per_minute_and_all_chats_per_second() -> None:
    loose_chats = Limits(per_chat_per_second=1000, per_chat_burst=1000, per_group_per_minute=4)
    async with LoopbackBotApi(limits=loose_chats) as api, bot_for(api) as bot:
        api.group(-700)
        for _ in range(4):
            await bot.send_message(-700, "ok")
        with pytest.raises(RetryAfter):
            await bot.send_message(-700, "fifth in a minute")
    assert api.stats.max_per_group_per_minute == 4
    few = Limits(global_per_second=3, paid_broadcast_per_second=5)
    async with LoopbackBotApi(limits=few) as api, bot_for(api) as bot:
        for n in range(3):
            await bot.send_message(800 + n, "ok")
        with pytest.raises(RetryAfter):
            await bot.send_message(810, "fourth this second")
        await bot.send_message(811, "paid", allow_paid_broadcast=True)
    assert api.messages(811)[0].allow_paid_broadcast
    assert api.stats.rate_limited == 1


async def test_without_enforcement_stats_count_violations(loopback_api: LoopbackBotApi) -> None:
    async with bot_for(loopback_api) as bot:
        for _ in range(5):
            await bot.send_message(90, "flood")
        await bot.send_message(91, "calm")
    stats = loopback_api.stats
    assert stats.too_many_requests == 0
    assert stats.violations == {90: 2}  # the default burst of 3 is not a violation
    assert stats.max_per_chat_per_second == 5
    assert stats.sent == 6
    assert not stats.clean()
