"""The bot's typed PTB context: BotState in bot_data, and shortcuts handlers use."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, ParamSpec, TypeAlias, TypeVar

from telegram import Chat, Message, Update
from telegram.ext import Application, CallbackContext, ExtBot, JobQueue

from bot.alerts import ErrorReports
from bot.arguments import chat_title
from bot.config import Settings
from bot.digest import DigestCache
from bot.flood import CommandBudget, request_key
from bot.i18n import Lang, is_lang, language_for
from bot.metrics import Metrics
from bot.model import SearchHit, StoredArticle, Subscriber
from bot.push.options import push_defaults
from bot.rendering import Renderer
from bot.roles import AdminLists, RoleCache
from bot.runtime import Runtime
from bot.scheduling import PushDefaults
from bot.status import Liveness
from bot.store import Store
from bot.telegram.outbox import Outbox, Request
from bot.telegram.replies import Replier

P = ParamSpec("P")
R = TypeVar("R")
K = TypeVar("K")
V = TypeVar("V")

NEWEST_TTL = 1.0  # seconds a read of the newest article answers every /latest


# Store reads cheaper inline than through a worker thread: primary- and unique-key lookups.
INLINE_READS: Final = frozenset({"get_subscriber", "get_article"})


async def in_store(store: Store, call: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a store call off the event loop, unless it is a point lookup on SQLite.

    The one place that decides where a database call runs. Measured (2 cores): get_subscriber
    costs ~0.2 ms called directly, but ~0.5 ms of CPU through asyncio.to_thread and ~1 ms when
    200 such hops contend for the GIL. A WAL reader never waits for a writer, so an indexed
    SQLite lookup is shorter on the loop than the hop itself. Scans, writes and PostgreSQL (a
    network round trip) run in a worker thread, so a slow database never stalls other chats.
    """
    inline = (
        getattr(call, "__name__", "") in INLINE_READS
        and getattr(call, "__self__", None) is store
        and store.engine.dialect.name == "sqlite"
    )
    if inline:
        return call(*args, **kwargs)
    return await asyncio.to_thread(call, *args, **kwargs)


class SharedReads(Generic[K, V]):
    """Reads by key, each kept `ttl` seconds; callers arriving while one runs share it.

    200 chats sending /latest (or the same /search) at once share one read (and one
    rendering, via DigestCache). What a read returns shows for at most `ttl`; forget()
    drops every kept value at once (after a sync). At most `size` values are kept.
    """

    def __init__(
        self,
        ttl: float = NEWEST_TTL,
        clock: Callable[[], float] = time.monotonic,
        size: int = 256,
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._size = size
        self._values: dict[K, tuple[float, V]] = {}  # key → (read began, value), oldest first
        self._generation = 0  # bumped by forget(): a read begun before it is not kept
        self._pending: dict[K, asyncio.Future[V]] = {}

    async def get(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        """Return the value kept for `key`, else await `read()` (shared by every caller)."""
        kept = self._values.get(key)
        if kept is not None and self._clock() - kept[0] < self.ttl:
            return kept[1]
        pending = self._pending.get(key)
        if pending is not None and pending.get_loop() is not asyncio.get_running_loop():
            pending = None  # left over from an event loop that has ended
        if pending is None:
            # One read for every caller that arrives while it runs; shielded, so a cancelled
            # caller never cancels the others' read.
            pending = asyncio.ensure_future(self._read(key, read, self._generation))
            pending.add_done_callback(functools.partial(self._done, key))
            self._pending[key] = pending
        return await asyncio.shield(pending)

    async def _read(self, key: K, read: Callable[[], Awaitable[V]], generation: int) -> V:
        started = self._clock()
        value = await read()
        if generation == self._generation:
            self._values.pop(key, None)
            self._values[key] = (started, value)
            while len(self._values) > self._size:
                del self._values[next(iter(self._values))]
        return value

    def _done(self, key: K, future: asyncio.Future[V]) -> None:
        if self._pending.get(key) is future:
            del self._pending[key]
        if not future.cancelled():
            future.exception()  # its waiters got it; never "exception was never retrieved"

    def forget(self) -> None:
        """Drop every kept value (after a sync): the next get() of each key reads afresh."""
        self._generation += 1
        self._values.clear()
        self._pending.clear()


class NewestArticle:
    """The newest visible article, read from the store at most once per `ttl` seconds.

    An import shows in /latest at most `ttl` later; /reload forgets the cached one at once.
    The read stays in a worker thread: ordering by date is not a point lookup.
    """

    def __init__(self, ttl: float = NEWEST_TTL, clock: Callable[[], float] = time.monotonic):
        self._reads: SharedReads[None, StoredArticle | None] = SharedReads(ttl, clock, size=1)

    async def get(self, store: Store) -> StoredArticle | None:
        """Return the newest visible article (None when there is none)."""
        return await self._reads.get(None, lambda: in_store(store, store.latest_article))

    def forget(self) -> None:
        """Drop the cached article (after a sync): the next get() reads the store afresh."""
        self._reads.forget()


class BotState:
    """What every handler shares: settings and the Runtime that post_init opened."""

    def __init__(self) -> None:
        # PTB builds bot_data with no arguments; build_application fills these in.
        self.settings: Settings | None = None
        self.runtime: Runtime | None = None
        self.owns_runtime = False  # post_shutdown closes only what post_init opened
        self.ready = False  # post_init has run
        self.newest = NewestArticle()
        # (words, limit) → hits: the same /search from many chats at once is one read.
        self.searches: SharedReads[tuple[tuple[str, ...], int], list[SearchHit]] = SharedReads()
        # One registry per Application: two bots in one process (the tests) never collide.
        self.metrics = Metrics()
        self.liveness = Liveness()  # build_application shares it with the getUpdates transport
        self.error_reports = ErrorReports()  # ERROR_CHAT_ID's one-a-minute budget
        self.roles = RoleCache()  # members' roles in groups and channels, read briefly
        self.admin_lists = AdminLists()  # channels' administrators, for /channels
        self.outbox: Outbox | None = None  # opened in post_init, drained at shutdown
        self.budget = CommandBudget()  # per-chat flood control (bot.telegram.flood_guard)
        self._digests: DigestCache | None = None

    def require_runtime(self) -> Runtime:
        """Return the open Runtime (post_init opens it before any update is handled)."""
        if self.runtime is None:
            raise RuntimeError("the bot's Runtime is not open (post_init has not run)")
        return self.runtime

    def require_outbox(self) -> Outbox:
        """Return the open Outbox (post_init opens it before any update is handled)."""
        if self.outbox is None:
            raise RuntimeError("the bot's Outbox is not open (post_init has not run)")
        return self.outbox

    def forget_reads(self) -> None:
        """Drop the newest article and the searches kept (after a sync or /reload)."""
        self.newest.forget()
        self.searches.forget()

    def digests(self) -> DigestCache:
        """Return the rendering cache of the open Runtime's renderer."""
        renderer = self.require_runtime().renderer
        if self._digests is None or self._digests.renderer is not renderer:
            self._digests = DigestCache(renderer)
        return self._digests


def request_of(update: object) -> Request | None:
    """Describe what an update asks for: a command's or a button's request key, and its id."""
    if not isinstance(update, Update):
        return None
    if update.callback_query is not None:
        key = "button " + (update.callback_query.data or "")
    elif update.message is not None and update.message.text:
        key = request_key(update.message.text)
    else:
        return None
    return Request(update.update_id, key, update)


class DigestContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotState]):
    """CallbackContext with shortcuts to the runtime, store, renderer and settings."""

    # What the update being handled asks for; PTB builds one context per update.
    request: Request | None = None

    @classmethod
    def from_update(
        cls, update: object, application: Application[Any, DigestContext, Any, Any, Any, Any]
    ) -> DigestContext:
        """Build the context of one update, remembering what it asks for (its replies' key)."""
        context = super().from_update(update, application)
        context.request = request_of(update)
        return context

    @property
    def runtime(self) -> Runtime:
        """Return the open Runtime."""
        return self.bot_data.require_runtime()

    @property
    def store(self) -> Store:
        """Return the Store."""
        return self.runtime.store

    @property
    def renderer(self) -> Renderer:
        """Return the Renderer."""
        return self.runtime.renderer

    @property
    def settings(self) -> Settings:
        """Return the Settings the application was built with."""
        return self.runtime.settings

    @property
    def push_defaults(self) -> PushDefaults:
        """Return the push time, timezone and policy a chat without its own gets."""
        return push_defaults(self.settings)

    def reply(self, chat: ChatInfo, lang: Lang | None = None) -> Replier:
        """Return a Replier for this chat, in its language unless `lang` is given."""
        return Replier(
            self.bot,
            chat.id,
            self.renderer,
            lang or chat.lang,
            self.digests,
            self.outbox,
            self.request,
            chat.thread_id,
        )

    @property
    def outbox(self) -> Outbox:
        """Return the per-chat outboxes replies are queued in."""
        return self.bot_data.require_outbox()

    @property
    def digests(self) -> DigestCache:
        """Return the cache of rendered article parts and buttons."""
        return self.bot_data.digests()

    async def db(self, call: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run a store (or runtime) call where it belongs: see :func:`in_store`."""
        return await in_store(self.store, call, *args, **kwargs)

    async def search_articles(self, words: Sequence[str], limit: int) -> list[SearchHit]:
        """Return the store's search hits, one read shared by identical searches (SharedReads)."""
        return await self.bot_data.searches.get(
            (tuple(words), limit), lambda: self.db(self.store.search_articles, words, limit=limit)
        )

    async def newest_article(self) -> StoredArticle | None:
        """Return the newest visible article (read at most once a second; see NewestArticle)."""
        return await self.bot_data.newest.get(self.store)


DigestApplication: TypeAlias = Application[
    ExtBot[None], DigestContext, dict[Any, Any], dict[Any, Any], BotState, JobQueue[DigestContext]
]


@dataclass(frozen=True, slots=True)
class ChatInfo:
    """The chat (and forum topic) an update came from, who sent it, the language to answer in.

    In a forum each topic is a subscription of its own: `thread_id` is the topic's
    message_thread_id, 0 for the whole chat (and a forum's General topic); `subscriber` is
    that topic's subscription, and replies go into that topic.
    """

    id: int
    type: str
    title: str
    user_id: int | None
    user_lang: Lang  # from the sender's Telegram language_code
    subscriber: Subscriber | None
    thread_id: int = 0

    @property
    def lang(self) -> Lang:
        """Return the reply language: the chat's chosen one, else the sender's."""
        return lang_of(self.subscriber, self.user_lang)

    @property
    def is_private(self) -> bool:
        """Tell whether this is a one-to-one chat with the bot."""
        return self.type == Chat.PRIVATE


def lang_of(subscriber: Subscriber | None, fallback: Lang) -> Lang:
    """Return a subscriber's locked language (set in /settings), else `fallback`."""
    if subscriber is not None and subscriber.language_locked and is_lang(subscriber.language):
        return subscriber.language
    return fallback


def thread_of(update: Update) -> int:
    """Return the forum topic an update belongs to (its message_thread_id), 0 for none.

    Only a topic message counts (``is_topic_message``): in a forum's General topic, and in a
    group where a reply's thread is just its reply chain, the subscription is the whole chat.
    A pressed button's message is the bot's own, sent into the topic, and carries it too.
    """
    message = update.effective_message
    if not isinstance(message, Message) or not message.is_topic_message:
        return 0
    return message.message_thread_id or 0


async def chat_info(update: Update, context: DigestContext) -> ChatInfo | None:
    """Describe the update's chat (None for updates without one, such as inline queries)."""
    chat = update.effective_chat
    if chat is None:
        return None
    user = update.effective_user
    thread_id = thread_of(update)
    subscriber = await context.db(context.store.get_subscriber, chat.id, thread_id)
    return ChatInfo(
        id=chat.id,
        type=chat.type,
        title=chat_title(chat.title or chat.full_name or ""),
        user_id=user.id if user else None,
        user_lang=language_for(user.language_code if user else None),
        subscriber=subscriber,
        thread_id=thread_id,
    )
