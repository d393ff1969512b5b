"""Store: articles and subscribers in the database, each method one transaction.

Methods take and return plain values (frozen dataclasses), never ORM rows, so the
Telegram layer and the CLI never hold a session. The delivery ledger lives in
``bot.ledger``, on the same engine.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import Engine, bindparam, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.articles import Article, Point
from bot.db import create_db_engine
from bot.errors import NotFoundError
from bot.models import ArticleRow, SubscriberRow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """An article as kept in the database: its short id and its parsed fields."""

    id: int
    article: Article
    hidden: bool = False


@dataclass(frozen=True, slots=True)
class FileStamp:
    """What sync needs to tell an unchanged file from a changed one cheaply."""

    id: int
    source_path: str
    mtime_ns: int
    size: int
    content_hash: str
    hidden: bool


@dataclass(frozen=True, slots=True)
class ArticleUpsert:
    """One parsed article file to insert or update, with its file stamp."""

    article: Article
    source_path: str
    mtime_ns: int
    size: int
    content_hash: str
    id: int | None = None  # set for an update: the row keeps its id


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A chat that subscribed (active) or once did (inactive)."""

    id: int
    chat_id: int
    chat_type: str
    title: str
    language: str
    language_locked: bool
    push_time: time | None
    timezone: str | None
    active: bool
    subscribed_at: datetime
    last_push_date: date | None


@dataclass(frozen=True, slots=True)
class Subscription:
    """The outcome of /start: the subscriber, and whether it is new or came back."""

    subscriber: Subscriber
    created: bool
    reactivated: bool


@dataclass(frozen=True, slots=True)
class Counts:
    """Totals for /stats."""

    articles: int
    hidden_articles: int
    active_subscribers: int
    inactive_subscribers: int


def utcnow() -> datetime:
    """Return the current time, tz-aware UTC."""
    return datetime.now(UTC)


def search_text(article: Article) -> str:
    """Build the lower-cased text /search matches words against."""
    parts = [article.title, article.one_line, article.body, *article.tags]
    for point in (*article.points, *article.risks):
        parts.extend((point.label, point.text))
    return "\n".join(parts).casefold()


def _points(points: Sequence[Point]) -> list[list[str]]:
    return [[p.label, p.text] for p in points]


def _article_values(item: ArticleUpsert) -> dict[str, Any]:
    a = item.article
    values: dict[str, Any] = {f.name: getattr(a, f.name) for f in fields(a)}
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


def _to_article(row: ArticleRow) -> StoredArticle:
    return StoredArticle(
        id=row.id,
        hidden=row.hidden,
        article=Article(
            slug=row.slug,
            title=row.title,
            date=row.date,
            author=row.author,
            source=row.source,
            url=row.url,
            one_line=row.one_line,
            points=tuple(Point(label, text) for label, text in row.points),
            risks=tuple(Point(label, text) for label, text in row.risks),
            body=row.body,
            tags=tuple(row.tags),
        ),
    )


_SUBSCRIBER_FIELDS = fields(Subscriber)


def _to_subscriber(row: SubscriberRow) -> Subscriber:
    return Subscriber(**{f.name: getattr(row, f.name) for f in _SUBSCRIBER_FIELDS})


# Newest first: dated articles by date, undated last, ties broken by newest import.
# Written so an index serves it (SQLite: ix_articles_visible_date read backwards, where NULL
# sorts lowest; PostgreSQL: ix_articles_newest, migration 0002): no sort of whole rows.
_NEWEST = (ArticleRow.date.desc().nulls_last(), ArticleRow.id.desc())


_BY_CHAT = select(*(SubscriberRow.__table__.c[f.name] for f in fields(Subscriber))).where(
    SubscriberRow.chat_id == bindparam("chat_id")
)


class Store:
    """Articles and subscribers, one transaction per method."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        if engine.dialect.name == "sqlite":
            # Writes begin with BEGIN IMMEDIATE: a deferred read-then-write transaction fails
            # at once with SQLITE_BUSY when a push committed in between (WAL snapshot upgrade).
            url = engine.url.render_as_string(hide_password=False)
            self.write_engine = create_db_engine(url, immediate=True)
        else:
            self.write_engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)
        self._write_session = sessionmaker(self.write_engine, expire_on_commit=False)

    def close(self) -> None:
        """Release every database connection."""
        self.engine.dispose()
        self.write_engine.dispose()

    def session(self) -> Session:
        """Open a session (for modules that share the engine, such as the ledger)."""
        return self._session()

    # -- articles: sync -------------------------------------------------------------------

    def file_stamps(self) -> dict[str, FileStamp]:
        """Return every article's file stamp, keyed by slug."""
        query = select(
            ArticleRow.id,
            ArticleRow.slug,
            ArticleRow.source_path,
            ArticleRow.file_mtime_ns,
            ArticleRow.file_size,
            ArticleRow.content_hash,
            ArticleRow.hidden,
        )
        with self._session() as s:
            return {
                slug: FileStamp(id_, path, mtime, size, digest, hidden)
                for id_, slug, path, mtime, size, digest, hidden in s.execute(query)
            }

    def apply_sync(
        self,
        *,
        inserts: Sequence[ArticleUpsert],
        updates: Sequence[ArticleUpsert],
        restamps: Sequence[FileStamp],
        hide: Iterable[str],
    ) -> None:
        """Write one sync's changes in a single transaction, batched.

        `inserts` are new slugs, `updates` changed content (same id kept), `restamps` files
        whose content is unchanged but whose mtime moved (or that were hidden and came back),
        `hide` slugs whose file vanished.
        """
        now = utcnow()
        with self._write_session.begin() as s:
            if inserts:
                s.execute(
                    insert(ArticleRow),
                    [
                        {**_article_values(i), "first_imported_at": now, "last_imported_at": now}
                        for i in inserts
                    ],
                )
            if updates:
                s.execute(
                    update(ArticleRow),
                    [{**_article_values(u), "id": u.id, "last_imported_at": now} for u in updates],
                )
            if restamps:
                s.execute(
                    update(ArticleRow),
                    [
                        {
                            "id": r.id,
                            "source_path": r.source_path,
                            "file_mtime_ns": r.mtime_ns,
                            "file_size": r.size,
                            "hidden": False,
                        }
                        for r in restamps
                    ],
                )
            hidden = list(hide)
            if hidden:
                s.execute(
                    update(ArticleRow).where(ArticleRow.slug.in_(hidden)).values(hidden=True)
                )

    # -- articles: reading -------------------------------------------------------------

    def latest_article(self) -> StoredArticle | None:
        """Return the newest visible article, or None when there is none."""
        with self._session() as s:
            row = s.scalars(
                select(ArticleRow).where(ArticleRow.hidden.is_(False)).order_by(*_NEWEST).limit(1)
            ).first()
            return None if row is None else _to_article(row)

    def get_article(
        self, article_id: int, *, include_hidden: bool = False
    ) -> StoredArticle | None:
        """Return one article by its short id (hidden ones only when asked)."""
        with self._session() as s:
            row = s.get(ArticleRow, article_id)
            if row is None or (row.hidden and not include_hidden):
                return None
            return _to_article(row)

    def get_article_by_slug(self, slug: str) -> StoredArticle | None:
        """Return one visible article by its slug."""
        with self._session() as s:
            row = s.scalars(
                select(ArticleRow).where(ArticleRow.slug == slug, ArticleRow.hidden.is_(False))
            ).first()
            return None if row is None else _to_article(row)

    def get_articles(self, ids: Sequence[int]) -> dict[int, StoredArticle]:
        """Return the articles with these ids (hidden included), keyed by id."""
        if not ids:
            return {}
        with self._session() as s:
            rows = s.scalars(select(ArticleRow).where(ArticleRow.id.in_(list(ids))))
            return {row.id: _to_article(row) for row in rows}

    def resolve(self, ref: str) -> StoredArticle:
        """Find a visible article by numeric id, slug, or `latest`; raise NotFoundError."""
        ref = ref.strip()
        if ref.lower() == "latest":
            found = self.latest_article()
        elif ref.isdigit():
            found = self.get_article(int(ref))
        else:
            found = self.get_article_by_slug(ref)
        if found is None:
            raise NotFoundError(
                f"no article {ref!r}" if ref.lower() != "latest" else "no articles"
            )
        return found

    def list_articles(self, *, offset: int = 0, limit: int | None = None) -> list[StoredArticle]:
        """Return visible articles, newest first."""
        query = select(ArticleRow).where(ArticleRow.hidden.is_(False)).order_by(*_NEWEST)
        query = query.offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self._session() as s:
            return [_to_article(row) for row in s.scalars(query)]

    def count_articles(self) -> int:
        """Return how many visible articles there are."""
        with self._session() as s:
            query = (
                select(func.count()).select_from(ArticleRow).where(ArticleRow.hidden.is_(False))
            )
            return int(s.scalar(query) or 0)

    def search_articles(self, words: Sequence[str], *, limit: int = 10) -> list[StoredArticle]:
        """Return visible articles containing every word (case-insensitive), newest first."""
        query = select(ArticleRow).where(ArticleRow.hidden.is_(False))
        for word in words:
            escaped = word.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(ArticleRow.search_text.like(f"%{escaped}%", escape="\\"))
        with self._session() as s:
            return [_to_article(r) for r in s.scalars(query.order_by(*_NEWEST).limit(limit))]

    def visible_article_ids(self, *, newest_first: bool = True) -> list[int]:
        """Return the ids of visible articles in push order."""
        order = (
            _NEWEST
            if newest_first
            else (ArticleRow.date.is_(None), ArticleRow.date.asc(), ArticleRow.id.asc())
        )
        with self._session() as s:
            return list(
                s.scalars(
                    select(ArticleRow.id).where(ArticleRow.hidden.is_(False)).order_by(*order)
                )
            )

    # -- subscribers -------------------------------------------------------------------

    def subscribe(
        self, chat_id: int, *, chat_type: str, language: str, title: str = ""
    ) -> Subscription:
        """Subscribe a chat; a returning or blocked subscriber is reactivated, never duplicated."""
        now = utcnow()
        with self._write_session.begin() as s:
            row = s.scalars(
                select(SubscriberRow).where(SubscriberRow.chat_id == chat_id).with_for_update()
            ).first()
            if row is None:
                row = SubscriberRow(
                    chat_id=chat_id,
                    chat_type=chat_type,
                    title=title,
                    language=language,
                    language_locked=False,
                    active=True,
                    subscribed_at=now,
                )
                s.add(row)
                s.flush()
                return Subscription(_to_subscriber(row), created=True, reactivated=False)
            reactivated = not row.active
            row.active = True
            row.chat_type = chat_type
            row.title = title or row.title
            row.inactive_reason = None
            row.unsubscribed_at = None
            if reactivated:
                row.subscribed_at = now
            if not row.language_locked:
                row.language = language
            s.flush()
            return Subscription(_to_subscriber(row), created=False, reactivated=reactivated)

    def unsubscribe(self, chat_id: int, *, reason: str = "unsubscribed") -> bool:
        """Mark a chat inactive, keeping its history; return False if it was not subscribed."""
        with self._write_session.begin() as s:
            result = s.execute(
                update(SubscriberRow)
                .where(SubscriberRow.chat_id == chat_id, SubscriberRow.active.is_(True))
                .values(active=False, unsubscribed_at=utcnow(), inactive_reason=reason)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def get_subscriber(self, chat_id: int) -> Subscriber | None:
        """Return the subscriber for a chat, active or not."""
        # Every command reads this: a Core query skips the ORM's identity map (~4x faster).
        with self.engine.connect() as c:
            row = c.execute(_BY_CHAT, {"chat_id": chat_id}).mappings().first()
        return None if row is None else Subscriber(**row)

    def _set(self, chat_id: int, **values: Any) -> Subscriber | None:
        with self._write_session.begin() as s:
            row = s.scalars(select(SubscriberRow).where(SubscriberRow.chat_id == chat_id)).first()
            if row is None:
                return None
            for key, value in values.items():
                setattr(row, key, value)
            s.flush()
            return _to_subscriber(row)

    def set_language(self, chat_id: int, language: str) -> Subscriber | None:
        """Set and lock a chat's language; None if the chat never subscribed."""
        return self._set(chat_id, language=language, language_locked=True)

    def set_push_time(self, chat_id: int, push_time: time | None) -> Subscriber | None:
        """Set a chat's local push time (None: the default); None if never subscribed."""
        return self._set(chat_id, push_time=push_time)

    def set_timezone(self, chat_id: int, timezone: str | None) -> Subscriber | None:
        """Set a chat's IANA timezone (None: the default); None if never subscribed."""
        return self._set(chat_id, timezone=timezone)

    def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        """Move a subscriber to the supergroup its group became."""
        with self._write_session.begin() as s:
            taken = s.scalars(
                select(SubscriberRow.id).where(SubscriberRow.chat_id == new_chat_id)
            ).first()
            if taken is None:
                s.execute(
                    update(SubscriberRow)
                    .where(SubscriberRow.chat_id == old_chat_id)
                    .values(chat_id=new_chat_id, chat_type="supergroup")
                )

    def active_subscribers(self, *, after_id: int = 0, limit: int = 1000) -> list[Subscriber]:
        """Return a page of active subscribers by id (keyset paging keeps memory flat)."""
        with self._session() as s:
            rows = s.scalars(
                select(SubscriberRow)
                .where(SubscriberRow.active.is_(True), SubscriberRow.id > after_id)
                .order_by(SubscriberRow.id)
                .limit(limit)
            )
            return [_to_subscriber(r) for r in rows]

    def add_subscribers(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert many subscribers at once (benchmarks and tests seed thousands)."""
        now = utcnow()
        defaults = {"title": "", "language_locked": False, "active": True, "subscribed_at": now}
        with self._write_session.begin() as s:
            for start in range(0, len(rows), 5000):
                s.execute(
                    insert(SubscriberRow), [{**defaults, **r} for r in rows[start : start + 5000]]
                )

    def counts(self) -> Counts:
        """Return article and subscriber totals."""
        with self._session() as s:
            articles = dict(
                s.execute(
                    select(ArticleRow.hidden, func.count()).group_by(ArticleRow.hidden)
                ).all()
            )
            subs = dict(
                s.execute(
                    select(SubscriberRow.active, func.count()).group_by(SubscriberRow.active)
                ).all()
            )
        return Counts(
            articles=int(articles.get(False, 0)),
            hidden_articles=int(articles.get(True, 0)),
            active_subscribers=int(subs.get(True, 0)),
            inactive_subscribers=int(subs.get(False, 0)),
        )
