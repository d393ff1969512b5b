"""Queries on `follows`: which topics each subscriber follows; the table's one writer."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Connection, delete, func, insert, select

from bot.db.tables import FOLLOWS, SUBSCRIBERS, TOPICS

_CHUNK = 500  # bound parameters per IN (…) list


def followed(c: Connection, subscriber_id: int) -> set[int]:
    """Return the ids of the topics a subscriber follows."""
    query = select(FOLLOWS.c.topic_id).where(FOLLOWS.c.subscriber_id == subscriber_id)
    return set(c.scalars(query))


def followed_by(c: Connection, subscriber_ids: Sequence[int]) -> dict[int, frozenset[int]]:
    """Return the followed topic ids of each of these subscribers that follows any."""
    found: dict[int, set[int]] = defaultdict(set)
    ids = list(subscriber_ids)
    for i in range(0, len(ids), _CHUNK):
        query = select(FOLLOWS.c.subscriber_id, FOLLOWS.c.topic_id).where(
            FOLLOWS.c.subscriber_id.in_(ids[i : i + _CHUNK])
        )
        for subscriber_id, topic_id in c.execute(query):
            found[subscriber_id].add(topic_id)
    return {k: frozenset(v) for k, v in found.items()}


def follow(c: Connection, subscriber_id: int, topic_id: int) -> bool:
    """Follow a topic; return False if it was followed already."""
    if topic_id in followed(c, subscriber_id):
        return False
    c.execute(insert(FOLLOWS).values(subscriber_id=subscriber_id, topic_id=topic_id))
    return True


def unfollow(c: Connection, subscriber_id: int, topic_id: int) -> bool:
    """Stop following a topic; return False if it was not followed."""
    result = c.execute(
        delete(FOLLOWS).where(
            FOLLOWS.c.subscriber_id == subscriber_id, FOLLOWS.c.topic_id == topic_id
        )
    )
    return bool(result.rowcount)


def followers_per_topic(c: Connection) -> list[tuple[str, int]]:
    """Return (topic name, active followers) for every followed topic, most followed first."""
    count = func.count(FOLLOWS.c.subscriber_id)
    query = (
        select(TOPICS.c.name, count)
        .join(FOLLOWS, FOLLOWS.c.topic_id == TOPICS.c.id)
        .join(SUBSCRIBERS, SUBSCRIBERS.c.id == FOLLOWS.c.subscriber_id)
        .where(SUBSCRIBERS.c.active.is_(True))
        .group_by(TOPICS.c.id, TOPICS.c.name)
        .order_by(count.desc(), TOPICS.c.name)
    )
    return [(name, int(n)) for name, n in c.execute(query)]
