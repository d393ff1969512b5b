"""Reads: opens counted per article and per Mini App reader; /stats' read rates."""

from __future__ import annotations

from datetime import date

from sqlalchemy import insert, select

from bot.db.tables import DELIVERIES, READS, SUBSCRIBERS
from bot.model import SENT
from bot.readlog import ReadLog
from bot.store import Store, utcnow
from tests.conftest import add_articles, add_subscribers, seed_subscribers


def deliver(store: Store, article_id: int, chat_ids: list[int]) -> None:
    with store.write_engine.begin() as c:
        ids = dict(c.execute(select(SUBSCRIBERS.c.chat_id, SUBSCRIBERS.c.id)).all())
        c.execute(
            insert(DELIVERIES),
            [
                {
                    "subscriber_id": ids[chat],
                    "article_id": article_id,
                    "push_date": date(2026, 6, 1),
                    "state": SENT,
                    "attempts": 1,
                    "created_at": utcnow(),
                }
                for chat in chat_ids
            ],
        )


def test_opens_count_per_article_and_per_reader(store: Store) -> None:
    [first, second] = add_articles(store, 2)
    log = ReadLog(store)
    for _ in range(3):
        log.record_open(first)
    log.record_reader(first, 7)
    log.record_reader(first, 7)
    with store.engine.connect() as c:
        rows = {(r.article_id, r.reader): r.opens for r in c.execute(select(READS))}
    assert rows == {(first, 0): 3, (first, 7): 2}
    assert second not in {a for a, _ in rows}


def test_read_rates_count_private_recipients_who_opened_it(store: Store) -> None:
    [older, newer] = add_articles(store, 2)
    add_subscribers(store, 4)  # private chats 1..4
    seed_subscribers(store, [{"chat_id": -100, "chat_type": "group", "language": "en"}])
    deliver(store, newer, [1, 2, 3, 4, -100])
    deliver(store, older, [1])
    log = ReadLog(store)
    log.record_open(newer)
    log.record_reader(newer, 1)
    log.record_reader(newer, 99)  # opened, but never received it
    log.record_open(newer)
    rates = log.rates()
    assert [r.article_id for r in rates] == [newer, older]
    top = rates[0]
    assert (top.opens, top.received, top.read_by, top.percent) == (2, 4, 1, 25)
    assert (rates[1].opens, rates[1].received, rates[1].percent) == (0, 1, 0)


def test_articles_nobody_received_or_opened_are_left_out(store: Store) -> None:
    add_articles(store, 3)
    assert ReadLog(store).rates() == []
