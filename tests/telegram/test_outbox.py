"""The per-chat outbox: replies queue behind their own chat only, in order, bounded."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.telegram.outbox import Outbox, Request


class Recorder:
    """Sends that record themselves; a chat's sends can be held until released."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []
        self.errors: list[tuple[object, Exception]] = []
        self.gates: dict[int, asyncio.Event] = {}

    def hold(self, chat: int) -> asyncio.Event:
        self.gates[chat] = asyncio.Event()
        return self.gates[chat]

    def send(self, chat: int, text: str):  # type: ignore[no-untyped-def]
        async def go() -> None:
            gate = self.gates.get(chat)
            if gate is not None:
                await gate.wait()
            if text == "boom":
                raise RuntimeError("send failed")
            self.sent.append((chat, text))

        return go

    async def report(self, update: object, exc: Exception) -> None:
        self.errors.append((update, exc))


async def drained(outbox: Outbox) -> None:
    for _ in range(1000):
        if not outbox.waiting():
            return
        await asyncio.sleep(0)
    raise AssertionError("the outbox did not drain")


async def test_a_held_chat_never_delays_another_chat_and_keeps_its_order() -> None:
    rec = Recorder()
    outbox = Outbox(rec.report)
    gate = rec.hold(1)
    for i in range(5):
        assert outbox.put(1, rec.send(1, f"a{i}"))
    assert outbox.put(2, rec.send(2, "help"))
    for _ in range(10):
        await asyncio.sleep(0)
    assert rec.sent == [(2, "help")]
    gate.set()
    await drained(outbox)
    assert [t for c, t in rec.sent if c == 1] == ["a0", "a1", "a2", "a3", "a4"]


async def test_idle_chats_are_forgotten() -> None:
    rec = Recorder()
    outbox = Outbox(rec.report)
    for chat in range(50):
        outbox.put(chat, rec.send(chat, "x"))
    await drained(outbox)
    await asyncio.sleep(0)
    assert outbox._queues == {}
    assert outbox._senders == {}


async def test_a_chat_queue_is_bounded_and_a_refusal_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rec = Recorder()
    outbox = Outbox(rec.report, limit=3)
    gate = rec.hold(1)
    assert [outbox.put(1, rec.send(1, str(i))) for i in range(5)] == [True] * 3 + [False] * 2
    assert outbox.refused == 2
    assert "dropped" in caplog.text
    gate.set()
    await drained(outbox)
    assert len(rec.sent) == 3


async def test_an_identical_request_from_another_update_is_queued_once() -> None:
    rec = Recorder()
    outbox = Outbox(rec.report)
    gate = rec.hold(1)
    first, again = Request(1, "/latest"), Request(2, "/latest")
    assert outbox.put(1, rec.send(1, "digest"), first)
    assert outbox.put(1, rec.send(1, "more of the same reply"), first)  # same update: kept
    assert outbox.pending(1, again)
    assert not outbox.put(1, rec.send(1, "digest"), again)
    assert outbox.put(1, rec.send(1, "other"), Request(3, "/help"))
    gate.set()
    await drained(outbox)
    assert [t for _, t in rec.sent] == ["digest", "more of the same reply", "other"]
    # Sent: the same request is answered again.
    assert not outbox.pending(1, again)
    assert outbox.put(1, rec.send(1, "digest"), again)
    await drained(outbox)


async def test_a_failed_send_is_reported_once_with_its_update_and_the_next_reply_goes() -> None:
    rec = Recorder()
    outbox = Outbox(rec.report)
    update = object()
    outbox.put(1, rec.send(1, "boom"), Request(7, "/help", update))
    outbox.put(1, rec.send(1, "next"))
    await drained(outbox)
    assert [(u, str(e)) for u, e in rec.errors] == [(update, "send failed")]
    assert rec.sent == [(1, "next")]


async def test_a_failing_report_still_logs_the_error(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(_update: object, _exc: Exception) -> None:
        raise RuntimeError("report broke")

    rec = Recorder()
    outbox = Outbox(broken)
    with caplog.at_level(logging.ERROR):
        outbox.put(1, rec.send(1, "boom"))
        await drained(outbox)
    assert "error while sending a reply to chat 1" in caplog.text


async def test_close_sends_what_it_can_within_the_grace_then_abandons_the_rest() -> None:
    rec = Recorder()
    outbox = Outbox(rec.report)
    rec.hold(1)  # never released: chat 1's replies cannot go
    outbox.put(1, rec.send(1, "stuck"))
    outbox.put(1, rec.send(1, "behind"))
    outbox.put(2, rec.send(2, "quick"))
    abandoned = await outbox.close(0.05)
    assert abandoned == 2
    assert rec.sent == [(2, "quick")]
    assert not outbox.put(3, rec.send(3, "late"))  # closed: nothing new is taken
    assert outbox._senders == {}


async def test_close_with_nothing_queued_returns_at_once() -> None:
    outbox = Outbox(Recorder().report)
    assert await outbox.close(10.0) == 0
