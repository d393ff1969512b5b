"""Queries on `articles`: the sync's writes and every read of articles; the table's one writer."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, Select, bindparam, func, insert, select, update

from bot.db.tables import ARTICLE_TOPICS, ARTICLES
from bot.model import Article, ArticleUpsert, FileStamp, Point, StoredArticle

_ARTICLE_FIELDS = tuple(f.name for f in fields(Article))
_COLUMNS = (ARTICLES.c.id, ARTICLES.c.hidden, *(ARTICLES.c[name] for name in _ARTICLE_FIELDS))

# Newest first: dated articles by date, undated last, ties broken by newest import.
# Written so an index serves it (SQLite: ix_articles_visible_date read backwards, where NULL
# sorts lowest; PostgreSQL: ix_articles_newest, migration 0002): no sort of whole rows.
NEWEST_FIRST = (ARTICLES.c.date.desc().nulls_last(), ARTICLES.c.id.desc())
# The backlog's push order: oldest dated article first, undated ones after them.
OLDEST_FIRST = (ARTICLES.c.date.is_(None), ARTICLES.c.date.asc(), ARTICLES.c.id.asc())

_VISIBLE = ARTICLES.c.hidden.is_(False)


def _in_topic(query: Select[Any], topic_id: int | None) -> Select[Any]:
    """Narrow an article query to one topic's articles (all of them for None)."""
    if topic_id is None:
        return query
    tagged = select(ARTICLE_TOPICS.c.article_id).where(ARTICLE_TOPICS.c.topic_id == topic_id)
    return query.where(ARTICLES.c.id.in_(tagged))


def search_text(article: Article) -> str:
    """Build the lower-cased text /search matches words against."""
    parts = [article.title, article.one_line, article.body, *article.tags]
    for point in (*article.points, *article.risks):
        parts.extend((point.label, point.text))
    return "\n".join(parts).casefold()


def _points(points: Sequence[Point]) -> list[list[str]]:
    return [[p.label, p.text] for p in points]


def _content(item: ArticleUpsert) -> dict[str, Any]:
    """Return the column values of a parsed file (everything but ids and import times)."""
    a = item.article
    values: dict[str, Any] = {name: getattr(a, name) for name in _ARTICLE_FIELDS}
    values.update(
        points=_points(a.points),
        risks=_points(a.risks),
        tags=list(a.tags),
        search_text=search_text(a),
        content_hash=item.content_hash,
        source_path=item.source_path,
        file_mtime_ns=item.mtime_ns,
        file_size=item.size,
        hidden=False,
    )
    return values


def _stored(row: RowMapping) -> StoredArticle:
    values = {name: row[name] for name in _ARTICLE_FIELDS}
    values.update(
        points=tuple(Point(label, text) for label, text in row["points"]),
        risks=tuple(Point(label, text) for label, text in row["risks"]),
        tags=tuple(row["tags"]),
    )
    return StoredArticle(id=row["id"], article=Article(**values), hidden=row["hidden"])


def _all(c: Connection, query: Select[Any]) -> list[StoredArticle]:
    return [_stored(row) for row in c.execute(query).mappings()]


def _first(c: Connection, query: Select[Any]) -> StoredArticle | None:
    row = c.execute(query).mappings().first()
    return None if row is None else _stored(row)


# -- writes (sync) ----------------------------------------------------------------------


def insert_new(c: Connection, items: Sequence[ArticleUpsert], now: datetime) -> None:
    """Insert new article files, imported at `now`."""
    if items:
        rows = [{**_content(i), "first_imported_at": now, "last_imported_at": now} for i in items]
        c.execute(insert(ARTICLES), rows)


def update_content(c: Connection, items: Sequence[ArticleUpsert], now: datetime) -> None:
    """Rewrite changed article files in place (each keeps its id), re-imported at `now`."""
    if items:
        rows = [{**_content(i), "b_id": i.id, "last_imported_at": now} for i in items]
        c.execute(update(ARTICLES).where(ARTICLES.c.id == bindparam("b_id")), rows)


def restamp(c: Connection, stamps: Sequence[FileStamp]) -> None:
    """Record new file stamps of unchanged content, showing the articles again."""
    if stamps:
        rows = [
            {
                "b_id": s.id,
                "source_path": s.source_path,
                "file_mtime_ns": s.mtime_ns,
                "file_size": s.size,
                "hidden": False,
            }
            for s in stamps
        ]
        c.execute(update(ARTICLES).where(ARTICLES.c.id == bindparam("b_id")), rows)


def hide(c: Connection, slugs: Iterable[str]) -> None:
    """Hide the articles whose files vanished (their rows and ledger history stay)."""
    slugs = list(slugs)
    if slugs:
        c.execute(update(ARTICLES).where(ARTICLES.c.slug.in_(slugs)).values(hidden=True))


# -- reads ------------------------------------------------------------------------------


def file_stamps(c: Connection) -> dict[str, FileStamp]:
    """Return every article's file stamp, keyed by slug."""
    query = select(
        ARTICLES.c.slug,
        ARTICLES.c.id,
        ARTICLES.c.source_path,
        ARTICLES.c.file_mtime_ns.label("mtime_ns"),
        ARTICLES.c.file_size.label("size"),
        ARTICLES.c.content_hash,
        ARTICLES.c.hidden,
    )
    found: dict[str, FileStamp] = {}
    for row in c.execute(query).mappings():
        values = dict(row)
        slug = values.pop("slug")
        found[slug] = FileStamp(**values)
    return found


def newest(c: Connection, topic_id: int | None = None) -> StoredArticle | None:
    """Return the newest visible article (of one topic, when given)."""
    query = _in_topic(select(*_COLUMNS).where(_VISIBLE), topic_id)
    return _first(c, query.order_by(*NEWEST_FIRST).limit(1))


def by_id(c: Connection, article_id: int) -> StoredArticle | None:
    """Return the article with this id, hidden or not."""
    return _first(c, select(*_COLUMNS).where(ARTICLES.c.id == article_id))


def visible_by_slug(c: Connection, slug: str) -> StoredArticle | None:
    """Return the visible article with this slug."""
    return _first(c, select(*_COLUMNS).where(ARTICLES.c.slug == slug, _VISIBLE))


def by_ids(c: Connection, ids: Sequence[int]) -> dict[int, StoredArticle]:
    """Return the articles with these ids (hidden included), keyed by id."""
    if not ids:
        return {}
    found = _all(c, select(*_COLUMNS).where(ARTICLES.c.id.in_(list(ids))))
    return {stored.id: stored for stored in found}


def visible_page(
    c: Connection, *, offset: int = 0, limit: int | None = None, topic_id: int | None = None
) -> list[StoredArticle]:
    """Return visible articles (of one topic), newest first, from `offset` (all: no `limit`)."""
    query = _in_topic(select(*_COLUMNS).where(_VISIBLE), topic_id)
    query = query.order_by(*NEWEST_FIRST).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return _all(c, query)


def count_visible(c: Connection, topic_id: int | None = None) -> int:
    """Return how many visible articles there are (of one topic, when given)."""
    query = _in_topic(select(func.count()).select_from(ARTICLES).where(_VISIBLE), topic_id)
    return int(c.scalar(query) or 0)


def count_by_hidden(c: Connection) -> tuple[int, int]:
    """Return how many articles are visible and how many hidden."""
    counts: dict[bool, int] = dict(
        c.execute(select(ARTICLES.c.hidden, func.count()).group_by(ARTICLES.c.hidden)).all()
    )
    return int(counts.get(False, 0)), int(counts.get(True, 0))


def search(c: Connection, words: Sequence[str], *, limit: int) -> list[StoredArticle]:
    """Return visible articles containing every word (case-insensitive), newest first."""
    query = select(*_COLUMNS).where(_VISIBLE)
    for word in words:
        escaped = word.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(ARTICLES.c.search_text.like(f"%{escaped}%", escape="\\"))
    return _all(c, query.order_by(*NEWEST_FIRST).limit(limit))


def visible_ids(c: Connection, *, newest_first: bool) -> list[int]:
    """Return the ids of visible articles in push order (newest or oldest first)."""
    order = NEWEST_FIRST if newest_first else OLDEST_FIRST
    return list(c.scalars(select(ARTICLES.c.id).where(_VISIBLE).order_by(*order)))
