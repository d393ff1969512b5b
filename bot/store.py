"""Store: articles and subscribers in the database, each method one transaction.

Methods take and return plain values (`bot.model`), and the queries live in `bot.db`, so
the Telegram layer and the CLI never hold a connection. The delivery ledger
(``bot.ledger``) works on the same engines.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, time

from sqlalchemy import Engine

from bot.arguments import parse_article_ref
from bot.db import articles, subscribers
from bot.db.engine import create_db_engine
from bot.errors import NotFoundError
from bot.model import ArticleUpsert, Counts, FileStamp, StoredArticle, Subscriber, Subscription


def utcnow() -> datetime:
    """Return the current time, tz-aware UTC."""
    return datetime.now(UTC)


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

    def close(self) -> None:
        """Release every database connection."""
        self.engine.dispose()
        self.write_engine.dispose()

    # -- articles: sync -------------------------------------------------------------------

    def file_stamps(self) -> dict[str, FileStamp]:
        """Return every article's file stamp, keyed by slug."""
        with self.engine.connect() as c:
            return articles.file_stamps(c)

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
        with self.write_engine.begin() as c:
            articles.insert_new(c, inserts, now)
            articles.update_content(c, updates, now)
            articles.restamp(c, restamps)
            articles.hide(c, hide)

    # -- articles: reading -------------------------------------------------------------

    def latest_article(self) -> StoredArticle | None:
        """Return the newest visible article, or None when there is none."""
        with self.engine.connect() as c:
            return articles.newest(c)

    def get_article(
        self, article_id: int, *, include_hidden: bool = False
    ) -> StoredArticle | None:
        """Return one article by its short id (hidden ones only when asked)."""
        with self.engine.connect() as c:
            found = articles.by_id(c, article_id)
        if found is None or (found.hidden and not include_hidden):
            return None
        return found

    def get_article_by_slug(self, slug: str) -> StoredArticle | None:
        """Return one visible article by its slug."""
        with self.engine.connect() as c:
            return articles.visible_by_slug(c, slug)

    def get_articles(self, ids: Sequence[int]) -> dict[int, StoredArticle]:
        """Return the articles with these ids (hidden included), keyed by id."""
        if not ids:
            return {}
        with self.engine.connect() as c:
            return articles.by_ids(c, ids)

    def resolve(self, ref: str) -> StoredArticle:
        """Find a visible article by id, slug, or `latest`; raise UsageError or NotFoundError."""
        parsed = parse_article_ref(ref)
        if parsed.id is not None:
            found = self.get_article(parsed.id)
        elif parsed.slug is not None:
            found = self.get_article_by_slug(parsed.slug)
        else:
            found = self.latest_article()
        if found is None:
            raise NotFoundError("no articles" if parsed.latest else f"no article {ref.strip()!r}")
        return found

    def list_articles(self, *, offset: int = 0, limit: int | None = None) -> list[StoredArticle]:
        """Return visible articles, newest first."""
        with self.engine.connect() as c:
            return articles.visible_page(c, offset=offset, limit=limit)

    def count_articles(self) -> int:
        """Return how many visible articles there are."""
        with self.engine.connect() as c:
            return articles.count_visible(c)

    def search_articles(self, words: Sequence[str], *, limit: int = 10) -> list[StoredArticle]:
        """Return visible articles containing every word (case-insensitive), newest first."""
        with self.engine.connect() as c:
            return articles.search(c, words, limit=limit)

    def visible_article_ids(self, *, newest_first: bool = True) -> list[int]:
        """Return the ids of visible articles in push order."""
        with self.engine.connect() as c:
            return articles.visible_ids(c, newest_first=newest_first)

    # -- subscribers -------------------------------------------------------------------

    def subscribe(
        self, chat_id: int, *, chat_type: str, language: str, title: str = ""
    ) -> Subscription:
        """Subscribe a chat; a returning or blocked subscriber is reactivated, never duplicated."""
        now = utcnow()
        with self.write_engine.begin() as c:
            found = subscribers.by_chat(c, chat_id, lock=True)
            if found is None:
                new = subscribers.insert_new(
                    c, chat_id, chat_type=chat_type, language=language, title=title, now=now
                )
                if new is not None:
                    return Subscription(new, created=True, reactivated=False)
                # Another /start of this chat inserted it meanwhile: subscribe that row.
                found = subscribers.by_chat(c, chat_id, lock=True)
                assert found is not None  # noqa: S101 - the conflict means the row exists
            reactivated = not found.active
            values: dict[str, object] = {
                "active": True,
                "chat_type": chat_type,
                "title": title or found.title,
                "inactive_reason": None,
                "unsubscribed_at": None,
            }
            if reactivated:
                values["subscribed_at"] = now
            if not found.language_locked:
                values["language"] = language
            changed = subscribers.change(c, chat_id, **values)
        assert changed is not None  # noqa: S101 - the row is locked and was just read
        return Subscription(changed, created=False, reactivated=reactivated)

    def unsubscribe(self, chat_id: int, *, reason: str = "unsubscribed") -> bool:
        """Mark a chat inactive, keeping its history; return False if it was not subscribed."""
        with self.write_engine.begin() as c:
            return subscribers.unsubscribe(c, chat_id, reason=reason, now=utcnow())

    def get_subscriber(self, chat_id: int) -> Subscriber | None:
        """Return the subscriber for a chat, active or not."""
        with self.engine.connect() as c:
            return subscribers.by_chat(c, chat_id)

    def set_language(self, chat_id: int, language: str) -> Subscriber | None:
        """Set and lock a chat's language; None if the chat never subscribed."""
        with self.write_engine.begin() as c:
            return subscribers.change(c, chat_id, language=language, language_locked=True)

    def set_push_time(self, chat_id: int, push_time: time | None) -> Subscriber | None:
        """Set a chat's local push time (None: the default); None if never subscribed."""
        with self.write_engine.begin() as c:
            return subscribers.change(c, chat_id, push_time=push_time)

    def set_timezone(self, chat_id: int, timezone: str | None) -> Subscriber | None:
        """Set a chat's IANA timezone (None: the default); None if never subscribed."""
        with self.write_engine.begin() as c:
            return subscribers.change(c, chat_id, timezone=timezone)

    def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        """Move a subscriber to the supergroup its group became."""
        with self.write_engine.begin() as c:
            if not subscribers.chat_taken(c, new_chat_id):
                subscribers.move_chat(c, old_chat_id, new_chat_id)

    def counts(self) -> Counts:
        """Return article and subscriber totals."""
        with self.engine.connect() as c:
            visible, hidden = articles.count_by_hidden(c)
            active, inactive = subscribers.count_by_active(c)
        return Counts(
            articles=visible,
            hidden_articles=hidden,
            active_subscribers=active,
            inactive_subscribers=inactive,
        )
