"""Fault injection: planned and random failures map to the exceptions PTB raises."""

from __future__ import annotations

import datetime as dtm

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.fakeapi.models import Fault
from bot.fakeapi.server import LoopbackBotApi
from tests.fakeapi.conftest import bot_for


async def test_injected_retry_after_raises_retry_after_once(
    loopback_api: LoopbackBotApi,
) -> None:
    loopback_api.fail_next("sendMessage", fault=Fault.retry_after(2))
    async with bot_for(loopback_api) as bot:
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(41, "first")
        await bot.send_message(41, "second")
    assert caught.value.retry_after == dtm.timedelta(seconds=2)
    assert loopback_api.stats.too_many_requests == 1
    assert [m.text for m in loopback_api.messages(41)] == ["second"]


@pytest.mark.parametrize(
    ("fault", "error", "match"),
    [
        (Fault.forbidden(), Forbidden, "bot was blocked"),
        (Fault.bad_request("Bad Request: odd"), BadRequest, "Odd"),
        (Fault.chat_not_found(), BadRequest, "Chat not found"),
        (Fault.server_error(), NetworkError, "Bad Gateway"),
        (Fault.drop(), NetworkError, "disconnected"),
    ],
)
async def test_injected_faults_map_to_ptb_exceptions(
    loopback_api: LoopbackBotApi, fault: Fault, error: type[Exception], match: str
) -> None:
    loopback_api.fail_next("sendMessage", 2, fault=fault)
    async with bot_for(loopback_api) as bot:
        for _ in range(2):
            with pytest.raises(error, match=match):
                await bot.send_message(42, "x")
        await bot.send_message(42, "through")
    assert [m.text for m in loopback_api.messages(42)] == ["through"]


async def test_hang_fault_times_the_client_out_but_the_message_is_sent(
    loopback_api: LoopbackBotApi,
) -> None:
    loopback_api.fail_next("sendMessage", fault=Fault.hang(0.5))
    async with bot_for(loopback_api) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(43, "slow", read_timeout=0.1)
        await loopback_api.settle(quiet=0.05)
    assert [m.text for m in loopback_api.messages(43)] == ["slow"]


async def test_random_faults_hit_some_calls_reproducibly(loopback_api: LoopbackBotApi) -> None:
    loopback_api.fail_randomly("sendMessage", 0.3, lambda: Fault.retry_after(1), seed=7)
    failed = 0
    async with bot_for(loopback_api) as bot:
        for n in range(30):
            try:
                await bot.send_message(44 + n, "x")
            except RetryAfter:
                failed += 1
    assert 0 < failed < 30
    assert loopback_api.stats.too_many_requests == failed
    assert loopback_api.stats.sent == 30 - failed
