"""The plain values every layer passes around: articles, subscribers, ledger rows, push runs.

Frozen dataclasses with no database in them: `bot.db` maps rows to them by column name, the
store and the ledger return them, and pure modules (scheduling, digest) take them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

# A delivery row's states: pending → sending → sent | failed (a retry goes back to pending).
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
BLOCKED_PREFIX = "blocked"  # failed rows whose chat is gone; counted apart from failures


# -- articles ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Point:
    """One core point or risk: an optional bold label and its text."""

    label: str  # "" when the point has no **label**
    text: str


@dataclass(frozen=True, slots=True)
class Article:
    """A parsed article file: front matter, summary, full text and topics."""

    slug: str
    title: str
    date: datetime.date | None  # None when the front matter has none
    author: str  # "" when missing
    source: str  # "" when missing
    url: str  # "" when missing; kept as written, templates decide whether to link it
    one_line: str
    points: tuple[Point, ...]
    risks: tuple[Point, ...]
    body: str  # paragraphs joined by "\n\n", no trailing whitespace
    tags: tuple[str, ...]  # front-matter tags, then topics from ## 关联主题; deduplicated


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """An article as kept in the database: its short id and its parsed fields."""

    id: int
    article: Article
    hidden: bool = False


@dataclass(frozen=True, slots=True)
class Snippet:
    """A short piece of an article's text around a search match, the matches marked."""

    pieces: tuple[tuple[str, bool], ...]  # (text, is a match), in reading order
    cut_before: bool  # the article's text goes on before the first piece
    cut_after: bool  # ... and after the last


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One /search result: the article and a snippet of it around the match."""

    stored: StoredArticle
    snippet: Snippet


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
class SyncWrites:
    """What a sync's write did to its new files: inserted, or found inserted by another writer.

    A file another process inserted first is no error: it counts as updated when the two
    disagree (or the row had been hidden since), else as unchanged.
    """

    inserted: int
    taken_updated: int = 0
    taken_unchanged: int = 0


# -- subscribers ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A chat (or one forum topic of it) that subscribed (active) or once did (inactive)."""

    id: int
    chat_id: int
    chat_type: str
    title: str
    language: str
    language_locked: bool
    push_time: datetime.time | None
    timezone: str | None
    active: bool
    subscribed_at: datetime.datetime
    last_push_date: datetime.date | None
    # The forum topic (message_thread_id) this subscription lives in; 0: the whole chat.
    thread_id: int = 0
    inactive_reason: str | None = None  # why it is inactive ("paused", "unconfirmed", ...)
    connected_by: int | None = None  # a channel: the user who connected it


@dataclass(frozen=True, slots=True)
class SubscriberImport:
    """One subscription read from a subscriber file (bot.subscriber_files)."""

    chat_id: int
    chat_type: str
    language: str
    push_time: datetime.time | None
    timezone: str | None
    title: str = ""
    active: bool = True
    thread_id: int = 0  # a forum topic of the chat; 0: the whole chat


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


# -- the delivery ledger ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """One claimed ledger row with what sending it needs."""

    delivery_id: int
    subscriber_id: int
    chat_id: int
    chat_type: str
    language: str
    article_id: int
    attempts: int
    parts_sent: int = 0  # the digest's parts already delivered: a resumed send starts here
    thread_id: int = 0  # the forum topic the digest goes to; 0: the whole chat


@dataclass(slots=True)
class Outcomes:
    """A batch of send outcomes to write back in one transaction."""

    sent: list[tuple[int, int | None]] = field(default_factory=list)  # (delivery_id, message_id)
    failed: list[tuple[int, str]] = field(default_factory=list)  # (delivery_id, reason)
    # (delivery_id, not_before, reason, counts_as_attempt)
    retries: list[tuple[int, datetime.datetime, str, bool]] = field(default_factory=list)
    deactivate: list[tuple[int, str]] = field(default_factory=list)  # (subscriber_id, reason)
    # (delivery_id, parts_sent, message_id): a multi-part digest's progress; 0 starts it over
    progress: list[tuple[int, int, int | None]] = field(default_factory=list)

    def __len__(self) -> int:
        """Return how many outcomes are waiting."""
        return self.settled + len(self.deactivate)

    @property
    def settled(self) -> int:
        """Return how many sends these outcomes settle (each part sent or failed is one)."""
        return len(self.sent) + len(self.failed) + len(self.retries) + len(self.progress)

    def take(self) -> Outcomes:
        """Move everything into a new batch and leave this one empty."""
        batch = Outcomes(self.sent, self.failed, self.retries, self.deactivate, self.progress)
        self.sent, self.failed, self.retries, self.deactivate = [], [], [], []
        self.progress = []
        return batch

    def restore(self, batch: Outcomes) -> None:
        """Put a batch taken earlier (and not written) back in front of what came since."""
        self.sent[:0] = batch.sent
        self.failed[:0] = batch.failed
        self.retries[:0] = batch.retries
        self.deactivate[:0] = batch.deactivate
        self.progress[:0] = batch.progress


@dataclass(frozen=True, slots=True)
class PushRun:
    """A push run row; `created` is False when another caller had already started it."""

    id: int
    key: str
    started_at: datetime.datetime
    created: bool


@dataclass(frozen=True, slots=True)
class RunStats:
    """A push run's counts from the ledger (messages, not subscribers)."""

    run_id: int
    key: str
    due: int
    sent: int
    pending: int
    sending: int
    failed: int
    blocked: int
    skipped: int
    started_at: datetime.datetime
    finished_at: datetime.datetime | None

    @property
    def duration(self) -> datetime.timedelta | None:
        """Return how long the run took, None while it is unfinished."""
        return None if self.finished_at is None else self.finished_at - self.started_at


@dataclass(frozen=True, slots=True)
class PlanResult:
    """What planning did: rows inserted, subscribers due, skipped, and (dry runs) the pairs."""

    planned: int
    due: int
    skipped: int
    pairs: tuple[tuple[int, int], ...] = ()  # (chat_id, article_id), dry runs only


@dataclass(frozen=True, slots=True)
class SharedPlan:
    """One decision for every due subscriber with the same push time, zone and last push date.

    The key is what bot.db.subscribers groups by (a NULL time reads as the default one, a NULL
    zone as "", a NULL last push date as bot.db.subscribers.NEVER_PUSHED). `day` is the local
    date they are due for (None: not due), `pushed_at` the next push instant of those that get
    articles, `kept_at` that of the others; None for both in a forced plan (`push --now`),
    which leaves the instants: a tick moves each once it reads the row.
    """

    push_time: datetime.time
    timezone: str
    last_push_date: datetime.date
    day: datetime.date | None
    pushed_at: datetime.datetime | None
    kept_at: datetime.datetime | None


# -- the web reader -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadRate:
    """How an article was read on the web: opens, and who of its private recipients read it."""

    article_id: int
    title: str
    opens: int  # every open of its page
    received: int  # private-chat subscribers it was sent to
    read_by: int  # of those, how many opened it in the Mini App

    @property
    def percent(self) -> int:
        """Return read_by as a whole percentage of received (0 when nobody received it)."""
        return round(100 * self.read_by / self.received) if self.received else 0


# -- topics -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Topic:
    """A topic: its short stable id, its name, and how many visible articles carry it."""

    id: int
    name: str
    articles: int = 0
