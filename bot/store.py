"""Store: articles and subscribers in the database, each method one transaction.

Methods take and return plain values (`bot.model`), and the queries live in `bot.db`, so
the Telegram layer and the CLI never hold a connection. The delivery ledger
(``bot.ledger``) works on the same engines.

A SQLite file deleted or replaced under a running process would swallow every later write
(the process keeps writing into the unlinked file, lost at restart). The store remembers
which file it opened, refuses to write once the path names another file or none
(`DatabaseError`), and `check_database()` lets a periodic job find out while idle.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, time
from pathlib import Path

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError

from bot import channels
from bot.arguments import parse_article_ref
from bot.db import articles, follows, subscribers, topics
from bot.db.engine import create_db_engine
from bot.db.tables import UNSCHEDULED
from bot.errors import DatabaseError, NotFoundError
from bot.model import (
    ArticleUpsert,
    Counts,
    FileStamp,
    SearchHit,
    StoredArticle,
    Subscriber,
    SubscriberImport,
    Subscription,
    SyncWrites,
    Topic,
)
from bot.snippets import snippet

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """Return the current time, tz-aware UTC."""
    return datetime.now(UTC)


def _database_file(engine: Engine) -> Path | None:
    """Return the absolute path of a SQLite engine's file (None: PostgreSQL or in memory)."""
    name = engine.url.database
    if engine.dialect.name != "sqlite" or not name or name == ":memory:":
        return None
    return Path(name).absolute()


def _file_identity(path: Path) -> tuple[int, int] | None:
    """Return a file's (device, inode), None if the path names nothing."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


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
        self._file = _database_file(engine)
        if self._file is not None:
            with engine.connect():  # SQLite creates the file on first connect
                pass
        self._identity = None if self._file is None else _file_identity(self._file)
        self._lost = False

    def close(self) -> None:
        """Release every database connection."""
        self.engine.dispose()
        self.write_engine.dispose()

    def check_database(self) -> None:
        """Raise DatabaseError if the SQLite file was deleted or replaced since the store opened.

        The first time it finds out it logs an ERROR; PostgreSQL always passes.
        """
        if self._file is None:
            return
        now = _file_identity(self._file)
        if now == self._identity:
            return
        what = "was deleted" if now is None else "was replaced by another file"
        message = (
            f"the database file {self._file} {what} while digestbot ran; "
            "refusing to write into the old file, whose changes a restart would lose: "
            "restore the file and restart"
        )
        if not self._lost:
            self._lost = True
            log.error("%s", message)
        raise DatabaseError(message)

    @contextlib.contextmanager
    def writing(self) -> Iterator[Connection]:
        """Begin a write transaction, once the database is still the file the store opened."""
        # One stat per transaction (microseconds) keeps a vanished file from eating writes
        # between two periodic checks.
        self.check_database()
        with self.write_engine.begin() as c:
            yield c

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
    ) -> SyncWrites:
        """Write one sync's changes in a single transaction, batched; report the inserts.

        `inserts` are new slugs, `updates` changed content (same id kept), `restamps` files
        whose content is unchanged but whose mtime moved (or that were hidden and came back),
        `hide` slugs whose file vanished. An insert whose slug another process added since
        the stamps were read is settled against that row instead of failing.
        """
        now = utcnow()
        with self.writing() as c:
            taken = articles.insert_new(c, inserts, now)
            taken_updated = articles.settle_taken(c, taken, now) if taken else 0
            articles.update_content(c, updates, now)
            articles.restamp(c, restamps)
            articles.hide(c, hide)
            topics.link(c, [i.article.slug for i in (*inserts, *updates)])
        return SyncWrites(
            inserted=len(inserts) - len(taken),
            taken_updated=taken_updated,
            taken_unchanged=len(taken) - taken_updated,
        )

    # -- articles: reading -------------------------------------------------------------

    def latest_article(self, topic_id: int | None = None) -> StoredArticle | None:
        """Return the newest visible article (of one topic), or None when there is none."""
        with self.engine.connect() as c:
            return articles.newest(c, topic_id)

    def latest_for(self, chat_id: int) -> StoredArticle | None:
        """Return the newest visible article in the topics a chat follows (any: following none)."""
        with self.engine.connect() as c:
            found = subscribers.by_chat(c, chat_id)
            followed = set() if found is None else follows.followed(c, found.id)
            if followed:
                return articles.newest_of_topics(c, followed)
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

    def list_articles(
        self, *, offset: int = 0, limit: int | None = None, topic_id: int | None = None
    ) -> list[StoredArticle]:
        """Return visible articles (of one topic), newest first."""
        with self.engine.connect() as c:
            return articles.visible_page(c, offset=offset, limit=limit, topic_id=topic_id)

    def count_articles(self, topic_id: int | None = None) -> int:
        """Return how many visible articles there are (of one topic)."""
        with self.engine.connect() as c:
            return articles.count_visible(c, topic_id)

    def search_articles(
        self, words: Sequence[str], *, limit: int = 10, offset: int = 0
    ) -> list[SearchHit]:
        """Return visible articles holding every word, most relevant first, with snippets."""
        with self.engine.connect() as c:
            found = articles.search(c, words, limit=limit, offset=offset)
        terms = articles.search_terms(words)
        return [SearchHit(stored, snippet(stored.article, terms)) for stored in found]

    def search_reach(self, words: Sequence[str]) -> int | None:
        """Return how many of the newest articles a search searches (None: every article)."""
        return articles.search_reach(words)

    def visible_article_ids(self, *, newest_first: bool = True) -> list[int]:
        """Return the ids of visible articles in push order."""
        with self.engine.connect() as c:
            return articles.visible_ids(c, newest_first=newest_first)

    # -- subscribers -------------------------------------------------------------------
    # A subscription is a chat, or one forum topic of it: `thread_id` is the topic's
    # message_thread_id, 0 (the default) the whole chat.

    def subscribe(
        self,
        chat_id: int,
        *,
        chat_type: str,
        language: str,
        title: str = "",
        thread_id: int = 0,
    ) -> Subscription:
        """Subscribe a chat (topic); a returning or blocked one is reactivated, not duplicated."""
        now = utcnow()
        with self.writing() as c:
            found = subscribers.by_chat(c, chat_id, thread_id, lock=True)
            if found is None:
                new = subscribers.insert_new(
                    c,
                    chat_id,
                    thread_id,
                    chat_type=chat_type,
                    language=language,
                    title=title,
                    now=now,
                )
                if new is not None:
                    return Subscription(new, created=True, reactivated=False)
                # Another instance subscribed the chat since we looked (two webhook
                # instances, one /start each): theirs is the new row, ours a plain /start.
                found = subscribers.by_chat(c, chat_id, thread_id, lock=True)
                assert found is not None  # noqa: S101 - insert_new met its row; rows stay
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
                values["next_push_at"] = UNSCHEDULED  # the next tick schedules it afresh
            if not found.language_locked:
                values["language"] = language
            changed = subscribers.change(c, chat_id, thread_id, **values)
        assert changed is not None  # noqa: S101 - the row is locked and was just read
        return Subscription(changed, created=False, reactivated=reactivated)

    def unsubscribe(
        self, chat_id: int, *, reason: str = "unsubscribed", thread_id: int | None = 0
    ) -> bool:
        """Mark a chat thread inactive, keeping its history; False if it was not subscribed.

        `thread_id` None marks every subscription of the chat (the bot left the chat).
        """
        with self.writing() as c:
            return subscribers.unsubscribe(c, chat_id, thread_id, reason=reason, now=utcnow())

    def get_subscriber(self, chat_id: int, thread_id: int = 0) -> Subscriber | None:
        """Return the subscriber for a chat (thread), active or not."""
        with self.engine.connect() as c:
            return subscribers.by_chat(c, chat_id, thread_id)

    def set_language(
        self, chat_id: int, language: str, *, thread_id: int = 0
    ) -> Subscriber | None:
        """Set and lock a chat thread's language; None if it never subscribed."""
        with self.writing() as c:
            return subscribers.change(
                c, chat_id, thread_id, language=language, language_locked=True
            )

    def set_push_time(
        self, chat_id: int, push_time: time | None, *, thread_id: int = 0
    ) -> Subscriber | None:
        """Set a chat thread's local push time (None: the default); None if never subscribed."""
        with self.writing() as c:
            # UNSCHEDULED: the next tick computes its next push instant (it needs the defaults).
            return subscribers.change(
                c, chat_id, thread_id, push_time=push_time, next_push_at=UNSCHEDULED
            )

    def set_timezone(
        self, chat_id: int, timezone: str | None, *, thread_id: int = 0
    ) -> Subscriber | None:
        """Set a chat thread's IANA timezone (None: the default); None if never subscribed."""
        with self.writing() as c:
            return subscribers.change(
                c, chat_id, thread_id, timezone=timezone, next_push_at=UNSCHEDULED
            )

    # -- channels ----------------------------------------------------------------------

    def connect_channel(
        self, chat_id: int, *, title: str, language: str, by: int, confirmed: bool
    ) -> Subscription:
        """Register a channel the bot may post in, connected by user `by`.

        A new channel is active when `confirmed` (its administrator asked for it), else it
        waits for a confirmation. A known one keeps its settings; one the bot had lost comes
        back active, a paused one stays paused (bot.channels.readd_state).
        """
        now = utcnow()
        reason = None if confirmed else channels.UNCONFIRMED
        with self.writing() as c:
            found = subscribers.by_chat(c, chat_id, lock=True)
            if found is None:
                new = subscribers.insert_channel(
                    c,
                    chat_id,
                    title=title,
                    language=language,
                    connected_by=by,
                    inactive_reason=reason,
                    now=now,
                )
                if new is not None:
                    return Subscription(new, created=True, reactivated=new.active)
                found = subscribers.by_chat(c, chat_id, lock=True)
                assert found is not None  # noqa: S101 - insert_new met its row; rows stay
            state = None if found.active else channels.readd_state(found.inactive_reason)
            if confirmed and state == channels.UNCONFIRMED:
                state = None
            values: dict[str, object] = {
                "chat_type": channels.CHANNEL,
                "title": title or found.title,
                "connected_by": by,
                "active": state is None,
                "inactive_reason": state,
            }
            reactivated = not found.active and state is None
            if reactivated:
                values.update(unsubscribed_at=None, subscribed_at=now, next_push_at=UNSCHEDULED)
            changed = subscribers.change(c, chat_id, 0, **values)
        assert changed is not None  # noqa: S101 - the row is locked and was just read
        return Subscription(changed, created=False, reactivated=reactivated)

    def set_channel_state(self, subscriber_id: int, reason: str | None) -> Subscriber | None:
        """Start a channel's posting (None) or stop it with a reason; None if it is unknown."""
        now = utcnow()
        with self.writing() as c:
            found = subscribers.by_id(c, subscriber_id)
            if found is None or found.chat_type != channels.CHANNEL:
                return None
            values: dict[str, object] = {"active": reason is None, "inactive_reason": reason}
            if reason is None:
                values.update(unsubscribed_at=None, next_push_at=UNSCHEDULED)
            elif found.active:
                values["unsubscribed_at"] = now
            return subscribers.change(c, found.chat_id, 0, **values)

    def lose_channel(self, chat_id: int) -> Subscriber | None:
        """Mark a channel lost (the bot may not post); return it only if it was active."""
        with self.writing() as c:
            if not subscribers.unsubscribe(c, chat_id, 0, reason=channels.LOST, now=utcnow()):
                return None
            return subscribers.by_chat(c, chat_id)

    def hand_over_channel(self, chat_id: int, user_id: int, to: int | None) -> bool:
        """Pass a channel connected by `user_id` (no longer its admin) to `to`; True if it was."""
        with self.writing() as c:
            found = subscribers.by_chat(c, chat_id, lock=True)
            if found is None or found.chat_type != channels.CHANNEL:
                return False
            if found.connected_by != user_id:
                return False
            subscribers.change(c, chat_id, 0, connected_by=to)
            return True

    def channel_subscribers(self) -> list[Subscriber]:
        """Return every channel subscriber, whatever its state, by id."""
        with self.engine.connect() as c:
            return subscribers.of_type(c, channels.CHANNEL)

    def get_subscriber_by_id(self, subscriber_id: int) -> Subscriber | None:
        """Return a subscriber by its row id."""
        with self.engine.connect() as c:
            return subscribers.by_id(c, subscriber_id)

    def import_subscribers(self, rows: Sequence[SubscriberImport]) -> tuple[int, int]:
        """Add or update a batch of subscriptions from a file; return (added, updated)."""
        with self.writing() as c:
            return subscribers.import_batch(c, rows, utcnow())

    def subscriber_page(self, *, after_id: int = 0, limit: int = 1000) -> list[Subscriber]:
        """Return a page of every subscriber, active or not, by id (for an export)."""
        with self.engine.connect() as c:
            return subscribers.page(c, after_id=after_id, limit=limit)

    def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        """Move a subscriber to the supergroup its group became (unless that one has a row)."""
        with self.writing() as c:
            if not subscribers.chat_taken(c, new_chat_id):
                subscribers.move_chat(c, old_chat_id, new_chat_id)

    def ping(self) -> None:
        """Run a trivial query; raise when the database cannot be reached."""
        with self.engine.connect() as c:
            c.execute(select(1))

    def subscriber_kinds(self) -> dict[tuple[str, bool], int]:
        """Return subscriber totals by (chat type, active)."""
        with self.engine.connect() as c:
            return subscribers.count_by_kind(c)

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

    # -- topics ------------------------------------------------------------------------

    def list_topics(self, *, offset: int = 0, limit: int | None = None) -> list[Topic]:
        """Return the topics visible articles carry, most articles first."""
        with self.engine.connect() as c:
            return topics.listed(c, offset=offset, limit=limit)

    def count_topics(self) -> int:
        """Return how many topics visible articles carry."""
        with self.engine.connect() as c:
            return topics.count_listed(c)

    def get_topic(self, topic_id: int) -> Topic | None:
        """Return a topic by its short id."""
        with self.engine.connect() as c:
            return topics.by_id(c, topic_id)

    def find_topic(self, name: str) -> Topic | None:
        """Return the topic with this name, case-insensitively."""
        with self.engine.connect() as c:
            return topics.by_name(c, name)

    def followed_topics(self, chat_id: int, thread_id: int = 0) -> list[Topic]:
        """Return the topics a chat (thread) follows, by name (none: it receives everything)."""
        with self.engine.connect() as c:
            found = subscribers.by_chat(c, chat_id, thread_id)
            return [] if found is None else topics.by_ids(c, follows.followed(c, found.id))

    def set_following(
        self, chat_id: int, topic_id: int, *, follow: bool, thread_id: int = 0
    ) -> bool | None:
        """Follow or unfollow a topic; False if already so, None if the chat never subscribed."""
        try:
            with self.write_engine.begin() as c:
                found = subscribers.by_chat(c, chat_id, thread_id)
                if found is None:
                    return None
                if follow:
                    return follows.follow(c, found.id, topic_id)
                return follows.unfollow(c, found.id, topic_id)
        except IntegrityError:
            return False  # a concurrent tap followed it first (or the topic is unknown)

    def topic_followers(self) -> list[tuple[str, int]]:
        """Return (topic, active followers) for every followed topic."""
        with self.engine.connect() as c:
            return follows.followers_per_topic(c)
