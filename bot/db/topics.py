"""Queries on `topics` and `article_topics`: which topics exist and which articles carry them.

The sync is the one writer: ``link`` rewrites an article's topics whenever its file is
imported. A topic row is never deleted, so its id (in buttons, deep links and follows) stays
valid even while no article carries it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Select, delete, func, select

from bot.db.engine import insert_on_conflict
from bot.db.tables import ARTICLE_TOPICS, ARTICLES, TOPICS
from bot.model import Topic
from bot.topics import topic_key

_VISIBLE = ARTICLES.c.hidden.is_(False)
_CHUNK = 500  # bound parameters per IN (…) list
_ID_BY_KEY = select(TOPICS.c.key, TOPICS.c.id)


def ensure(c: Connection, names: Iterable[str]) -> dict[str, int]:
    """Return the id of each topic by key, inserting the topics not seen before."""
    wanted: dict[str, str] = {}
    for name in names:
        key = topic_key(name)
        if key:
            wanted.setdefault(key, name.strip())
    if not wanted:
        return {}
    keys = list(wanted)
    found: dict[str, int] = {}
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        found.update(c.execute(_ID_BY_KEY.where(TOPICS.c.key.in_(chunk))).all())
    missing = [{"key": k, "name": wanted[k]} for k in keys if k not in found]
    if missing:
        # Two imports at once may both find a topic missing: the second inserts nothing.
        c.execute(insert_on_conflict(c, TOPICS).on_conflict_do_nothing(), missing)
        for i in range(0, len(missing), _CHUNK):
            chunk = [m["key"] for m in missing[i : i + _CHUNK]]
            found.update(c.execute(_ID_BY_KEY.where(TOPICS.c.key.in_(chunk))).all())
    return found


def link(c: Connection, slugs: Sequence[str]) -> None:
    """Rewrite the topics of the articles with these slugs from their stored tags."""
    rows: list[tuple[int, list[str]]] = []
    for i in range(0, len(slugs), _CHUNK):
        query = select(ARTICLES.c.id, ARTICLES.c.tags).where(
            ARTICLES.c.slug.in_(list(slugs[i : i + _CHUNK]))
        )
        rows.extend((row.id, list(row.tags)) for row in c.execute(query))
    if not rows:
        return
    ids = ensure(c, (tag for _, tags in rows for tag in tags))
    article_ids = [article_id for article_id, _ in rows]
    for i in range(0, len(article_ids), _CHUNK):
        chunk = article_ids[i : i + _CHUNK]
        c.execute(delete(ARTICLE_TOPICS).where(ARTICLE_TOPICS.c.article_id.in_(chunk)))
    links = {
        (article_id, ids[topic_key(tag)])
        for article_id, tags in rows
        for tag in tags
        if topic_key(tag) in ids
    }
    if links:
        # Another import of the same files may have linked them since the delete above.
        c.execute(
            insert_on_conflict(c, ARTICLE_TOPICS).on_conflict_do_nothing(),
            [{"article_id": a, "topic_id": t} for a, t in sorted(links)],
        )


def _counted() -> Select[Any]:
    """Select topics with how many visible articles carry each (only topics with some)."""
    count = func.count(ARTICLES.c.id)
    return (
        select(TOPICS.c.id, TOPICS.c.name, count.label("articles"))
        .join(ARTICLE_TOPICS, ARTICLE_TOPICS.c.topic_id == TOPICS.c.id)
        .join(ARTICLES, ARTICLES.c.id == ARTICLE_TOPICS.c.article_id)
        .where(_VISIBLE)
        .group_by(TOPICS.c.id, TOPICS.c.name)
    )


def _topics(c: Connection, query: Select[Any]) -> list[Topic]:
    return [Topic(id=r.id, name=r.name, articles=int(r.articles)) for r in c.execute(query)]


def listed(c: Connection, *, offset: int = 0, limit: int | None = None) -> list[Topic]:
    """Return the topics visible articles carry, most articles first, then by name."""
    query = _counted().order_by(func.count(ARTICLES.c.id).desc(), TOPICS.c.key, TOPICS.c.id)
    query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return _topics(c, query)


def count_listed(c: Connection) -> int:
    """Return how many topics visible articles carry."""
    return int(c.scalar(select(func.count()).select_from(_counted().subquery())) or 0)


def by_id(c: Connection, topic_id: int) -> Topic | None:
    """Return a topic by id (with its visible article count, maybe 0)."""
    row = c.execute(select(TOPICS.c.id, TOPICS.c.name).where(TOPICS.c.id == topic_id)).first()
    if row is None:
        return None
    found = _topics(c, _counted().where(TOPICS.c.id == topic_id))
    return found[0] if found else Topic(id=row.id, name=row.name)


def by_name(c: Connection, name: str) -> Topic | None:
    """Return the topic with this name, case-insensitively."""
    topic_id = c.scalar(select(TOPICS.c.id).where(TOPICS.c.key == topic_key(name)))
    return None if topic_id is None else by_id(c, int(topic_id))


def by_ids(c: Connection, ids: Iterable[int]) -> list[Topic]:
    """Return these topics, in name order."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    query = select(TOPICS.c.id, TOPICS.c.name).where(TOPICS.c.id.in_(wanted))
    return [Topic(id=r.id, name=r.name) for r in c.execute(query.order_by(TOPICS.c.key))]


def articles_of(c: Connection, topic_ids: Iterable[int]) -> dict[int, set[int]]:
    """Return the ids of the articles (hidden included) carrying each topic."""
    wanted = sorted(set(topic_ids))
    found: dict[int, set[int]] = defaultdict(set)
    for i in range(0, len(wanted), _CHUNK):
        query = select(ARTICLE_TOPICS.c.topic_id, ARTICLE_TOPICS.c.article_id).where(
            ARTICLE_TOPICS.c.topic_id.in_(wanted[i : i + _CHUNK])
        )
        for topic_id, article_id in c.execute(query):
            found[topic_id].add(article_id)
    return dict(found)
