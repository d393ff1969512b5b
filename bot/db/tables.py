"""The tables, as typed SQLAlchemy models; the query modules of bot.db and the migrations use them.

Queries are SQLAlchemy Core on the `Table` handles at the bottom (`ARTICLES`, ...): the
models describe the schema (and let Alembic compare it), they are never loaded as objects.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# A subscriber's next_push_at before it is computed: always in the past, so a tick picks it up.
UNSCHEDULED = datetime(1970, 1, 1, tzinfo=UTC)
# The same as stored: naive UTC, in the text form SQLAlchemy writes on SQLite (which
# compares datetimes as text, so the microseconds must be there).
UNSCHEDULED_SQL = "1970-01-01 00:00:00.000000"

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Store datetimes as naive UTC, return them tz-aware, on SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        """Convert an aware datetime to naive UTC for storage."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        """Mark a stored naive UTC datetime as UTC."""
        if value is None:
            return None
        assert isinstance(value, datetime)  # noqa: S101 - the column type guarantees it
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base with constraint names Alembic can rely on."""

    metadata = MetaData(naming_convention=NAMING)


class ArticleRow(Base):
    """One article file, as last imported."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(400), unique=True)
    title: Mapped[str] = mapped_column(Text)
    date: Mapped[date | None] = mapped_column(Date, nullable=True)
    author: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(Text, default="")
    one_line: Mapped[str] = mapped_column(Text)
    points: Mapped[list[list[str]]] = mapped_column(JSON)
    risks: Mapped[list[list[str]]] = mapped_column(JSON)
    body: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON)
    search_text: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    source_path: Mapped[str] = mapped_column(Text)
    file_mtime_ns: Mapped[int] = mapped_column(BigInteger)
    file_size: Mapped[int] = mapped_column(BigInteger)
    first_imported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_imported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_articles_visible_date", "hidden", "date", "id"),)


class SubscriberRow(Base):
    """A chat that subscribed (or once did) to the daily push."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    # A forum topic's message_thread_id: each topic of a forum subscribes on its own. 0, not
    # NULL, for the whole chat: NULLs never collide in a unique key.
    thread_id: Mapped[int] = mapped_column(
        BigInteger, default=0, server_default=text("0"), nullable=False
    )
    chat_type: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8))
    language_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    push_time: Mapped[time | None] = mapped_column(Time, nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    subscribed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    inactive_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_push_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    # The next instant the chat may be due (bot.scheduling.next_push_at), so a tick reads
    # only the rows that are due; UNSCHEDULED means "not known yet: the next tick computes it".
    next_push_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=UNSCHEDULED, server_default=text(f"'{UNSCHEDULED_SQL}'")
    )
    # A channel: the user who connected it, told in private when the bot loses the channel.
    connected_by: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        UniqueConstraint("chat_id", "thread_id", name="uq_subscribers_chat_thread"),
        Index("ix_subscribers_active", "active", "id"),
        Index("ix_subscribers_next_push", "active", "next_push_at", "id"),
    )


class DeliveryRow(Base):
    """The ledger: one row per (subscriber, article), pending → sending → sent | failed."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("push_runs.id", ondelete="SET NULL"), nullable=True
    )
    push_date: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # How many of a long digest's parts reached the chat: a resumed send starts there.
    parts_sent: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        UniqueConstraint("subscriber_id", "article_id", name="uq_deliveries_subscriber_article"),
        Index("ix_deliveries_state", "state", "id"),
        Index("ix_deliveries_run", "run_id", "state"),
    )


class PushRunRow(Base):
    """One push run (a scheduler tick's batch or a manual `push --now`), unique by key."""

    __tablename__ = "push_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    due: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    blocked: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)


class ReadRow(Base):
    """Web reader opens of an article: one row per reader, reader 0 counting every open."""

    __tablename__ = "reads"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    # 0: every open of the page; a Telegram user id: that user's verified Mini App opens.
    reader: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    opens: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TopicRow(Base):
    """A topic articles carry (front-matter tags, ## Related links); its id never changes."""

    __tablename__ = "topics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text)  # as first written
    key: Mapped[str] = mapped_column(String(200), unique=True)  # bot.topics.topic_key(name)


class ArticleTopicRow(Base):
    """Which topics an article carries (rewritten by the sync with the article)."""

    __tablename__ = "article_topics"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    topic_id: Mapped[int] = mapped_column(
        ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_article_topics_topic", "topic_id", "article_id"),)


class FollowRow(Base):
    """A subscriber follows a topic: its push carries only articles of followed topics."""

    __tablename__ = "follows"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    topic_id: Mapped[int] = mapped_column(
        ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_follows_topic", "topic_id", "subscriber_id"),)


class MetaRow(Base):
    """Facts the database keeps about itself, by key (the push defaults planned with)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RateBudgetRow(Base):
    """Telegram's rate budget shared by every process sending with one token (bot.ratebudget).

    `budget` is a hash of the token; `chat_id` 0 is the bot-wide bucket, any other a chat's.
    `next_at` is the bucket's next free send slot, in wall-clock seconds.
    """

    __tablename__ = "rate_budget"

    budget: Mapped[str] = mapped_column(String(64), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    next_at: Mapped[float] = mapped_column(Double)


ARTICLES = cast(Table, ArticleRow.__table__)
SUBSCRIBERS = cast(Table, SubscriberRow.__table__)
DELIVERIES = cast(Table, DeliveryRow.__table__)
PUSH_RUNS = cast(Table, PushRunRow.__table__)
READS = cast(Table, ReadRow.__table__)
TOPICS = cast(Table, TopicRow.__table__)
ARTICLE_TOPICS = cast(Table, ArticleTopicRow.__table__)
FOLLOWS = cast(Table, FollowRow.__table__)
META = cast(Table, MetaRow.__table__)
RATE_BUDGET = cast(Table, RateBudgetRow.__table__)
