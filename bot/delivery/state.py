"""What one process's push holds while it runs: queue, events, caches, budget, counters."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.delivery.messages import Sender
from bot.delivery.options import PushOptions
from bot.delivery.reports import PushProgress
from bot.digest import Button
from bot.i18n import Lang
from bot.ledger import Ledger
from bot.model import Claim, Outcomes, StoredArticle
from bot.rendering import Renderer
from bot.store import Store

_Prepared = tuple[str, tuple[Button, ...]]


class PushState:
    """The state the push engine's parts share (see bot.delivery.engine.Push)."""

    def __init__(  # noqa: PLR0917 - internal, called once by run_push
        self,
        store: Store,
        renderer: Renderer,
        sender: Sender,
        options: PushOptions,
        ledger: Ledger,
        total: int,
        progress: Callable[[PushProgress], None] | None,
    ) -> None:
        self.store = store
        self.renderer = renderer
        self.sender = sender
        self.options = options
        self.ledger = ledger
        self.total = total
        self.progress = progress
        self.queue: asyncio.Queue[Claim | None] = asyncio.Queue(maxsize=max(1, options.batch))
        self.outcomes = Outcomes()
        self.room = asyncio.Event()  # the queue drained to half: claim more
        self.settled = asyncio.Event()  # a worker finished a row
        self.flush_now = asyncio.Event()
        self.flush_lock = asyncio.Lock()
        self.articles: dict[int, StoredArticle | None] = {}
        self.prepared: dict[tuple[int, Lang], _Prepared | None] = {}
        # Sends in flight plus results not yet in the ledger never exceed this: it is what a
        # crash can repeat.
        self.budget = asyncio.Semaphore(options.concurrency + options.flush_every)
        self.busy = 0
        self.flush_failures = 0  # failed ledger writes in a row
        self.sent = self.failed = self.blocked = self.retried = self.renders = 0

    @property
    def handled(self) -> int:
        """Return how many rows this process settled or re-queued."""
        return self.sent + self.failed + self.blocked + self.retried
