"""Queries on `reads`: web reader opens per article and per Mini App reader; its one writer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection, and_, func, select

from bot.db.articles import NEWEST_FIRST
from bot.db.engine import insert_on_conflict
from bot.db.tables import ARTICLES, DELIVERIES, READS, SUBSCRIBERS
from bot.model import SENT, ReadRate

EVERYONE = 0  # the reader id of the row counting every open


def record(c: Connection, opens: Mapping[tuple[int, int], int], now: datetime) -> None:
    """Add opens by (article id, reader id): EVERYONE for any open, else a Mini App user."""
    if not opens:
        return
    rows = [
        {"article_id": article, "reader": reader, "opens": n, "first_at": now, "last_at": now}
        for (article, reader), n in sorted(opens.items())  # sorted: no deadlock between writers
    ]
    statement = insert_on_conflict(c, READS).values(rows)
    # One statement, no read-then-write: concurrent opens of one article never collide.
    c.execute(
        statement.on_conflict_do_update(
            index_elements=[READS.c.article_id, READS.c.reader],
            set_={
                "opens": READS.c.opens + statement.excluded.opens,
                "last_at": statement.excluded.last_at,
            },
        )
    )


def rates(c: Connection, *, limit: int) -> list[ReadRate]:
    """Return read rates of the newest articles that were sent or opened, newest first."""
    received = (
        select(DELIVERIES.c.article_id, func.count().label("received"))
        .join(SUBSCRIBERS, SUBSCRIBERS.c.id == DELIVERIES.c.subscriber_id)
        .where(DELIVERIES.c.state == SENT, SUBSCRIBERS.c.chat_type == "private")
        .group_by(DELIVERIES.c.article_id)
        .subquery()
    )
    # A private chat's id is its user's id: that is how a Mini App reader meets a recipient.
    read_by = (
        select(DELIVERIES.c.article_id, func.count().label("read_by"))
        .join(SUBSCRIBERS, SUBSCRIBERS.c.id == DELIVERIES.c.subscriber_id)
        .join(
            READS,
            and_(
                READS.c.article_id == DELIVERIES.c.article_id,
                READS.c.reader == SUBSCRIBERS.c.chat_id,
            ),
        )
        .where(DELIVERIES.c.state == SENT, SUBSCRIBERS.c.chat_type == "private")
        .group_by(DELIVERIES.c.article_id)
        .subquery()
    )
    opens = select(READS.c.article_id, READS.c.opens).where(READS.c.reader == EVERYONE).subquery()
    query = (
        select(
            ARTICLES.c.id,
            ARTICLES.c.title,
            func.coalesce(opens.c.opens, 0),
            func.coalesce(received.c.received, 0),
            func.coalesce(read_by.c.read_by, 0),
        )
        .outerjoin(opens, opens.c.article_id == ARTICLES.c.id)
        .outerjoin(received, received.c.article_id == ARTICLES.c.id)
        .outerjoin(read_by, read_by.c.article_id == ARTICLES.c.id)
        .where((opens.c.opens.is_not(None)) | (received.c.received.is_not(None)))
        .order_by(*NEWEST_FIRST)
        .limit(limit)
    )
    return [ReadRate(*row) for row in c.execute(query).all()]
