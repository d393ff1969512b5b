"""The pacer keeps Telegram's limits, serves command replies first and retries every 429.

Most tests run the pacer on a virtual clock (``VirtualTime``): sleeping advances the clock
instead of waiting, so the send times are exact and the tests assert limits, not durations.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from telegram.error import RetryAfter

from bot.errors import SendAbandoned
from bot.telegram.pacer import GROUP_WINDOW, Pacer, is_paced


class VirtualTime:
    """A clock that only moves when every coroutine is asleep: it jumps to the next wake-up."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._seq), future))
        await future

    async def run(self, work: Awaitable[Any]) -> Any:
        """Run ``work`` to completion, advancing the clock whenever everything sleeps."""
        task = asyncio.ensure_future(work)
        while not task.done():
            for _ in range(20):  # let every runnable coroutine reach its next sleep
                await asyncio.sleep(0)
            if task.done():
                break
            if not self._sleepers:
                continue
            at, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, at)
            future.set_result(None)
        return task.result()


def virtual_pacer(vt: VirtualTime, rate: float = 25.0, **kwargs: Any) -> Pacer:
    return Pacer(rate, clock=vt.clock, sleep=vt.sleep, **kwargs)


def max_in_window(times: list[float], window: float) -> int:
    """Return the most sends inside any half-open window of ``window`` seconds."""
    times = sorted(times)
    best = 0
    start = 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_push_sends_keep_the_global_rate_and_reach_it() -> None:
    """300 push sends to distinct chats at 25/s: never more than 26 in a second, ~12 s total."""
    vt = VirtualTime()
    pacer = virtual_pacer(vt)
    times: list[float] = []

    async def worker(chats: list[int]) -> None:
        for chat in chats:
            await pacer.acquire(chat, lane="push")
            times.append(vt.now)

    chats = list(range(1, 301))
    await vt.run(asyncio.gather(*(worker(chats[i::32]) for i in range(32))))
    assert len(times) == 300
    assert max_in_window(times, 1.0) <= 26
    achieved = (len(times) - 1) / (max(times) - min(times))
    assert achieved >= 0.95 * 25


async def test_push_sends_to_one_chat_are_a_second_apart() -> None:
    """Several push messages for one private chat go out at most one per second."""
    vt = VirtualTime()
    pacer = virtual_pacer(vt)
    times: list[float] = []

    async def send() -> None:
        await pacer.acquire(7, lane="push")
        times.append(vt.now)

    await vt.run(asyncio.gather(*(send() for _ in range(5))))
    gaps = [b - a for a, b in itertools.pairwise(sorted(times))]
    assert min(gaps) >= 1.0


async def test_waiting_for_one_chat_does_not_hold_up_other_chats() -> None:
    """A push send waiting for its chat's second lets sends to other chats pass meanwhile."""
    vt = VirtualTime()
    pacer = virtual_pacer(vt)
    order: list[int] = []

    async def send(chat: int) -> None:
        await pacer.acquire(chat, lane="push")
        order.append(chat)

    await vt.run(asyncio.gather(send(1), send(1), *(send(c) for c in range(2, 12))))
    assert order[-1] == 1  # the second message to chat 1 waited a second; the others did not


async def test_group_gets_at_most_twenty_messages_a_minute() -> None:
    """Messages to a group (negative id) never exceed 20 in any 60-s window, in either lane."""
    vt = VirtualTime()
    pacer = virtual_pacer(vt)
    times: list[float] = []

    async def send(lane: Any) -> None:
        await pacer.acquire(-100123, lane=lane)
        times.append(vt.now)

    await vt.run(asyncio.gather(*(send("push" if i % 2 else "command") for i in range(45))))
    assert len(times) == 45
    assert max_in_window(times, 60.0) <= 20
    assert max_in_window(times, GROUP_WINDOW - 0.001) <= 20


async def test_command_reply_goes_before_queued_push_sends() -> None:
    """With 32 push sends queued, a command reply books the next slot ahead of all of them."""
    vt = VirtualTime()
    pacer = virtual_pacer(vt)
    order: list[str] = []

    async def push(chat: int) -> None:
        await pacer.acquire(chat, lane="push")
        order.append("push")

    async def command() -> None:
        await vt.sleep(0.01)  # arrives once the push queue is full
        await pacer.acquire(99999, lane="command")
        order.append("command")

    await vt.run(asyncio.gather(*(push(c) for c in range(1, 33)), command()))
    assert order.index("command") <= 2


async def test_command_replies_may_burst_in_one_chat() -> None:
    """A reply in two parts goes out at once; a third part follows the chat's 1/s."""
    vt = VirtualTime()
    pacer = virtual_pacer(vt)
    times = []
    for _ in range(3):
        await vt.run(pacer.acquire(5, lane="command"))
        times.append(vt.now)
    assert times[1] - times[0] < 0.1
    assert times[2] - times[0] >= 1.0


async def test_pause_holds_every_lane() -> None:
    """After pause(3), neither lane gets a slot before three seconds have passed."""
    vt = VirtualTime()
    pacer = virtual_pacer(vt)
    pacer.pause(3.0)
    times: list[float] = []

    async def send(lane: Any, chat: int) -> None:
        await pacer.acquire(chat, lane=lane)
        times.append(vt.now)

    await vt.run(asyncio.gather(send("push", 1), send("command", 2)))
    assert min(times) >= 3.0


async def test_a_shorter_pause_never_shortens_a_longer_one() -> None:
    """A second, shorter 429 (or a request finishing) cannot lift a running pause early."""
    vt = VirtualTime()
    pacer = virtual_pacer(vt)
    pacer.pause(5.0)
    pacer.pause(1.0)
    await vt.run(pacer.acquire(1, lane="push"))
    assert vt.now >= 5.0


async def test_paid_broadcast_raises_the_global_rate() -> None:
    """With paid broadcast on, sends marked paid go far beyond 25/s; unmarked ones do not."""
    vt = VirtualTime()
    pacer = virtual_pacer(vt, paid_broadcast=True)
    await vt.run(asyncio.gather(*(pacer.acquire(c, lane="push", paid=True) for c in range(500))))
    assert vt.now < 1.0
    vt2 = VirtualTime()
    unpaid = virtual_pacer(vt2, paid_broadcast=False)
    await vt2.run(asyncio.gather(*(unpaid.acquire(c, lane="push", paid=True) for c in range(100))))
    assert vt2.now >= 3.5


async def test_per_chat_state_stays_small_over_many_chats() -> None:
    """Chats whose slot has passed are forgotten, so 20 000 chats do not pile up in memory."""
    now = [0.0]
    pacer = Pacer(1000.0, clock=lambda: now[0])
    for chat in range(20_000):
        now[0] += 0.01  # slower than every limit, so no acquire ever sleeps
        await pacer.acquire(chat + 1, lane="push")
    assert len(pacer._chats) <= 5000


def test_only_message_endpoints_are_paced() -> None:
    """sendMessage and editMessageText are paced; getUpdates, getMe, callback answers are not."""
    assert is_paced("sendMessage")
    assert is_paced("editMessageText")
    assert is_paced("copyMessage")
    for name in ("getUpdates", "getMe", "answerCallbackQuery", "sendChatAction", "setMyCommands"):
        assert not is_paced(name)


def _flaky(failures: int, seconds: int) -> tuple[Callable[..., Awaitable[Any]], list[int]]:
    calls: list[int] = []

    async def callback(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) <= failures:
            raise RetryAfter(seconds)
        return {"ok": True}

    return callback, calls


async def test_process_request_retries_the_same_call_after_429(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 429 pauses everyone for retry_after, then the same call is made again; never dropped."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    vt = VirtualTime()
    pacer = virtual_pacer(vt)
    callback, calls = _flaky(failures=4, seconds=2)
    result = await vt.run(
        pacer.process_request(callback, (), {}, "sendMessage", {"chat_id": 1}, {"lane": "push"})
    )
    assert result == {"ok": True}
    assert len(calls) == 5
    assert vt.now >= 8.0
    assert pacer.stats.retry_after == 4


async def test_disabled_pacer_still_retries_429(monkeypatch: pytest.MonkeyPatch) -> None:
    """With pacing off (paid-broadcast ceiling runs), a 429 is still waited out and retried."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    vt = VirtualTime()
    pacer = virtual_pacer(vt, enabled=False)
    callback, calls = _flaky(failures=1, seconds=1)
    await vt.run(pacer.process_request(callback, (), {}, "sendMessage", {"chat_id": 1}, None))
    assert len(calls) == 2
    assert vt.now >= 1.0


async def test_unpaced_endpoint_passes_429_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 429 on answerCallbackQuery goes back to the caller: a late answer is useless."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    pacer = Pacer()
    callback, calls = _flaky(failures=1, seconds=1)
    with pytest.raises(RetryAfter):
        await pacer.process_request(callback, (), {}, "answerCallbackQuery", {}, None)
    assert len(calls) == 1


async def test_after_close_a_send_within_the_grace_goes_and_later_ones_are_refused() -> None:
    pacer = Pacer(100.0, chat_interval=0.5, chat_burst=1)
    await pacer.acquire(1)
    timely = asyncio.create_task(pacer.acquire(1, lane="push"))  # its slot is 0.5 s away
    await asyncio.sleep(0.05)
    pacer.close(3.0)
    await asyncio.wait_for(timely, 5)
    pacer.close(0.0)  # the deadline only moves closer: now
    with pytest.raises(SendAbandoned):
        await pacer.acquire(2)


async def test_a_send_waiting_past_the_grace_is_abandoned_without_waiting() -> None:
    """close() wakes a send whose slot comes after the grace: SendAbandoned now, not later."""
    pacer = Pacer(100.0, chat_interval=5.0, chat_burst=1)
    await pacer.acquire(1)
    waiting = asyncio.create_task(pacer.acquire(1))
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    pacer.close(1.0)
    with pytest.raises(SendAbandoned):
        await waiting
    assert loop.time() - started < 0.5
