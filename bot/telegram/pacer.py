"""One pacer in front of every Bot API send: Telegram's flood limits, two lanes, 429 pauses.

``Pacer`` is a PTB :class:`~telegram.ext.BaseRateLimiter` (``ApplicationBuilder().rate_limiter``
or ``ExtBot(rate_limiter=...)``), so every message the bot sends passes through it. It throttles
ahead of time instead of reacting to 429s:

- **Global**: ``rate`` messages/s for all chats together (a GCRA, i.e. a token bucket kept as
  one "theoretical arrival time"; late wake-ups are absorbed, so the achieved rate stays at the
  configured one). A call with ``allow_paid_broadcast`` is held to ``paid_rate`` instead when
  the pacer was built with ``paid_broadcast=True``.
- **Per chat**: push sends are spaced ``chat_interval`` (1 s) apart in one chat; command replies
  may burst ``chat_burst`` messages (a reply in three parts), then follow the same 1/s.
- **Per group/channel** (negative chat ids): at most ``group_per_minute`` in any 61-s window
  (Telegram's 60 s plus a second of slack for network jitter).

Lanes. A call passing ``rate_limit_args={"lane": "push"}``, or made through
``Pacer.send(..., lane="push")`` (the push's sender, which posts outside PTB's request path), is
a push send; everything else is a command reply. Command replies *reserve* the next global
slot the moment they arrive, ahead of every waiting push send. Push sends queue FIFO behind one
gate and take a slot only when it is free *now*, re-checking after every sleep, so a command
reply waits for at most the one slot in use, never behind the push queue. The pacer starts no
task: waiting callers are the coroutines of the bounded sender pool (the push) or of handlers;
each sleeps on ``asyncio.sleep`` until its slot, on a monotonic clock.

429. ``RetryAfter`` pauses *every* lane until ``retry_after`` has passed (a deadline that only
moves later: a request finishing early cannot lift it), then the same call is made again. It is
never dropped; the caller's own timeout or cancellation is the only way out.

Shutdown. :meth:`Pacer.close` gives the sends a deadline (SHUTDOWN_GRACE from now): a send
whose slot comes later (a chat's queue of replies at 1/s, a long full text, a 429 pause) raises
:class:`~bot.errors.SendAbandoned` at once instead of waiting, sleepers included; sends whose slot
comes sooner still go out.

Only sending and editing endpoints are paced (``sendMessage``, ``editMessageText``, ...);
``getUpdates``, ``getMe``, ``answerCallbackQuery`` and the like go straight through.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final, Literal, TypeVar

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from bot.config import Settings
from bot.errors import SendAbandoned
from bot.metrics import Metrics
from bot.ratebudget import LATE, budget_key
from bot.sharedbudget import SharedBudget, Writing

log = logging.getLogger(__name__)

Lane = Literal["command", "push"]
RateLimitArgs = dict[str, Any]
JSONDict = dict[str, Any]
Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")

DEFAULT_RATE: Final = 25.0
# Telegram allows 1000/s with paid broadcast; 10 % headroom keeps rate + burst + network
# jitter (requests sent evenly can arrive bunched) under it.
PAID_RATE: Final = 900.0
GROUP_WINDOW: Final = 61.0
# Endpoints Telegram counts against the flood limits; sendChatAction is not a message.
_PACED_PREFIXES: Final = ("send", "edit", "copy", "forward")
_UNPACED: Final = frozenset({"sendchataction"})
# Forget per-chat state once this many chats are tracked and their slots are in the past,
# so memory stays flat however many subscribers a push reaches.
_PRUNE_AT: Final = 4096


def is_paced(endpoint: str) -> bool:
    """Return True when ``endpoint`` sends or edits a message (Telegram rate-limits those)."""
    name = endpoint.lower()
    return name.startswith(_PACED_PREFIXES) and name not in _UNPACED


def retry_after_seconds(exc: RetryAfter) -> float:
    """Return how long ``exc`` asks to wait, in seconds, whatever PTB_TIMEDELTA says."""
    # PTB 22 warns when it hands out the int form; the value is the same either way.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def failure_reason(exc: TelegramError) -> str:
    """Return a short label for why a Bot API call failed (the metrics' `reason`)."""
    # Subclasses before their bases: BadRequest, TimedOut and ChatMigrated are NetworkErrors.
    kinds: tuple[tuple[type[TelegramError], str], ...] = (
        (RetryAfter, "flood"),
        (ChatMigrated, "migrated"),
        (Forbidden, "forbidden"),
        (InvalidToken, "token"),
        (BadRequest, "bad_request"),
        (TimedOut, "timeout"),
        (NetworkError, "network"),
    )
    return next((label for kind, label in kinds if isinstance(exc, kind)), "other")


def _chat_key(chat_id: object) -> int | str | None:
    """Normalise a chat_id parameter: ints stay ints, "@channel" names stay strings."""
    if chat_id is None or chat_id == "":
        return None
    if isinstance(chat_id, int):
        return chat_id
    text = str(chat_id)
    try:
        return int(text)
    except ValueError:
        return text


def _is_group(chat: int | str) -> bool:
    """Return True for groups, supergroups and channels (negative ids or @names)."""
    return isinstance(chat, str) or chat < 0


@dataclass(slots=True)
class PacerStats:
    """What the pacer did: calls paced per lane, 429s seen, total seconds paused by them."""

    command: int = 0
    push: int = 0
    retry_after: int = 0
    paused_seconds: float = 0.0


class Pacer(BaseRateLimiter[RateLimitArgs]):
    """Throttle Bot API sends to Telegram's limits, command replies first; retry every 429."""

    __slots__ = (
        "_chat_burst",
        "_chat_interval",
        "_chats",
        "_clock",
        "_closing",
        "_deadline",
        "_global_tat",
        "_group_limit",
        "_groups",
        "_interval",
        "_paid_interval",
        "_paid_rate",
        "_paused_until",
        "_push_gate",
        "_sleep",
        "_tolerance",
        "budget",
        "enabled",
        "metrics",
        "paid_broadcast",
        "rate",
        "stats",
    )

    def __init__(
        self,
        rate: float = DEFAULT_RATE,
        *,
        paid_broadcast: bool = False,
        paid_rate: float = PAID_RATE,
        chat_interval: float = 1.0,
        chat_burst: int = 2,
        group_per_minute: int = 20,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0 or paid_rate <= 0 or chat_interval < 0 or chat_burst < 1:
            raise ValueError("rates must be positive and chat_burst at least 1")
        self.rate = rate
        self.paid_broadcast = paid_broadcast
        self.enabled = enabled
        self.stats = PacerStats()
        # Set by build_application: every paced call's result is counted there.
        self.metrics: Metrics | None = None
        # Set once the database is open (post_init, push_once): the bot-wide slots then come
        # from the budget every process shares; per-chat spacing stays local (the ledger
        # hands a chat's rows to one worker).
        self.budget: SharedBudget | None = None
        self._interval = 1.0 / rate
        self._paid_rate = paid_rate
        self._paid_interval = 1.0 / paid_rate
        # A little credit (2 % of a second, at least one message) absorbs late wake-ups without
        # letting a 1-s window see more than rate + 2 % + 1 messages.
        self._tolerance = max(1.0, rate * 0.02) * self._interval
        self._chat_interval = chat_interval
        self._chat_burst = chat_burst
        self._group_limit = group_per_minute
        self._clock = clock
        self._sleep = sleep
        self._global_tat = 0.0
        self._paused_until = 0.0
        self._chats: dict[int | str, float] = {}
        self._groups: dict[int | str, list[float]] = {}
        self._push_gate = asyncio.Lock()
        # Set by close(): no send may start after this time; _closing wakes the sleepers.
        self._deadline: float | None = None
        self._closing: asyncio.Future[None] | None = None

    async def initialize(self) -> None:
        """Nothing to set up: the pacer holds no connection and starts no task."""

    async def shutdown(self) -> None:
        """Forget per-chat state; let go of the shared budget."""
        self._chats.clear()
        self._groups.clear()
        if self.budget is not None:
            self.budget.close()
            self.budget = None

    def share(self, writing: Writing, token: str) -> SharedBudget:
        """Draw from the rate budget every process sending with `token` shares in the database.

        `writing` begins a write transaction on the database (``Store.writing``).
        """
        if self.budget is not None:
            self.budget.close()
        self.budget = SharedBudget(
            writing,
            budget_key(token),
            self.rate,
            paid_rate=self._paid_rate if self.paid_broadcast else self.rate,
            clock=self._clock,  # the pacer's own clock and sleep: slots come back on them
            sleep=self._sleep,
        )
        return self.budget

    # ----------------------------------------------------------------- shutdown

    def close(self, grace: float) -> None:
        """Abandon every send that cannot start within ``grace`` seconds from now (shutdown).

        Waiting sends whose slot comes later raise SendAbandoned at once; so does every send
        asked for after the deadline. Closing again can only bring the deadline closer.
        """
        deadline = self._clock() + max(grace, 0.0)
        if self._deadline is None or deadline < self._deadline:
            self._deadline = deadline
        if self._closing is not None and not self._closing.done():
            self._closing.set_result(None)

    @property
    def closed(self) -> bool:
        """Tell whether close() was called: sends past its deadline are abandoned."""
        return self._deadline is not None

    def _abandon_after(self, at: float) -> None:
        """Raise SendAbandoned when a send starting at ``at`` would miss the deadline."""
        if self._deadline is not None and at > self._deadline:
            raise SendAbandoned("the bot is shutting down; a message was not sent")

    async def _wait(self, delay: float) -> None:
        """Sleep ``delay`` seconds, or give up (SendAbandoned) once a shutdown makes it moot."""
        target = self._clock() + delay
        self._abandon_after(target)
        if self._deadline is None:
            if self._closing is None:
                self._closing = asyncio.get_running_loop().create_future()
            sleeper = asyncio.ensure_future(self._sleep(delay))
            try:
                await asyncio.wait({sleeper, self._closing}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
            if not self._closing.done():
                return
            # Closed meanwhile: go on sleeping only if the send still makes the deadline.
            self._abandon_after(target)
            delay = target - self._clock()
            if delay <= 0:
                return
        await self._sleep(delay)

    # ----------------------------------------------------------------- limits

    def pause(self, seconds: float) -> None:
        """Hold every lane for ``seconds`` from now (only ever extends a running pause)."""
        until = self._clock() + seconds
        if until > self._paused_until:
            self.stats.paused_seconds += until - max(self._paused_until, self._clock())
            self._paused_until = until

    def _local_delay(self, chat: int | str | None, lane: Lane, now: float) -> float:
        """Seconds until the pause, this chat's spacing and its group window all allow a send."""
        delay = self._paused_until - now
        if chat is None:
            return delay
        tat = self._chats.get(chat)
        if tat is not None:
            slack = 0.0 if lane == "push" else (self._chat_burst - 1) * self._chat_interval
            delay = max(delay, tat - slack - now)
        window = self._groups.get(chat)
        if window is not None and len(window) >= self._group_limit:
            delay = max(delay, window[-self._group_limit] + GROUP_WINDOW - now)
        return delay

    def _commit(self, chat: int | str | None, at: float, *, paid: bool) -> None:
        """Record a send at ``at`` in the global, per-chat and per-group books."""
        step = self._paid_interval if paid else self._interval
        self._global_tat = max(self._global_tat, at) + step
        if chat is None:
            return
        if len(self._chats) >= _PRUNE_AT:
            self._prune(at)
        self._chats[chat] = max(self._chats.get(chat, 0.0), at) + self._chat_interval
        if _is_group(chat):
            window = self._groups.setdefault(chat, [])
            bisect.insort(window, at)
            cut = bisect.bisect_right(window, at - GROUP_WINDOW)
            if cut:
                del window[:cut]

    def _prune(self, now: float) -> None:
        """Drop chats whose next allowed send is already in the past (they carry no limit)."""
        self._chats = {c: t for c, t in self._chats.items() if t > now}
        self._groups = {c: w for c, w in self._groups.items() if w and w[-1] > now - GROUP_WINDOW}

    async def acquire(
        self, chat_id: object, *, lane: Lane = "command", paid: bool = False
    ) -> None:
        """Wait until a message to ``chat_id`` may be sent in ``lane``, and book its slot."""
        chat = _chat_key(chat_id)
        paid = paid and self.paid_broadcast
        self._abandon_after(self._clock())
        if lane == "push":
            self.stats.push += 1
            await self._acquire_push(chat, paid=paid)
        else:
            self.stats.command += 1
            await self._acquire_command(chat, paid=paid)

    async def _acquire_command(self, chat: int | str | None, *, paid: bool) -> None:
        """Reserve the next global slot at once (ahead of queued pushes), then sleep until it."""
        while True:
            now = self._clock()
            delay = self._local_delay(chat, "command", now)
            if delay <= 0:
                break
            await self._wait(delay)
        if self.budget is not None:
            at = await self.budget.slot("command", paid=paid)
            # See _acquire_shared_push: not during a 429 pause, not long after the slot.
            while at < self._paused_until or self._clock() - at > LATE:
                await self._wait(self._paused_until - self._clock())
                at = await self.budget.slot("command", paid=paid)
            now = self._clock()
            at = max(now, at)
        else:
            at = max(now, self._global_tat - self._tolerance, self._paused_until)
        self._abandon_after(at)
        self._commit(chat, at, paid=paid)
        if at > now:
            await self._wait(at - now)

    async def _acquire_push(self, chat: int | str | None, *, paid: bool) -> None:
        """Wait for the chat, then take a global slot that is free now, one waiter at a time."""
        if self.budget is not None:
            await self._acquire_shared_push(self.budget, chat, paid=paid)
            return
        while True:
            delay = self._local_delay(chat, "push", self._clock())
            if delay > 0:
                # Waiting for one chat must not hold the gate: other chats' sends go meanwhile.
                await self._wait(delay)
                continue
            async with self._push_gate:
                while True:
                    now = self._clock()
                    local = self._local_delay(chat, "push", now)
                    if local > 0:
                        break  # a command reply took this chat's slot meanwhile
                    wait = self._global_tat - self._tolerance - now
                    if wait <= 0:
                        self._commit(chat, now, paid=paid)
                        return
                    # Re-check after the sleep: a command reply may have reserved this slot.
                    await self._wait(wait)

    async def _acquire_shared_push(
        self, budget: SharedBudget, chat: int | str | None, *, paid: bool
    ) -> None:
        """Wait for the chat, take the budget's next push slot, and sleep until it."""
        while True:
            delay = self._local_delay(chat, "push", self._clock())
            if delay > 0:
                await self._wait(delay)
                continue
            # The gate keeps the push lane FIFO; the slot may be a little ahead (its slice), so
            # the wait for it happens outside, and the next waiter takes the next slot.
            async with self._push_gate:
                at = await budget.slot("push", paid=paid)
            if at < self._paused_until:
                # A 429 pause covers the slot: spend it, and take a fresh one after the pause,
                # or every waiting send would go at once when the pause ends.
                await self._wait(self._paused_until - self._clock())
                continue
            if self._local_delay(chat, "push", at) > 0:
                continue  # a command reply took this chat's slot meanwhile
            self._abandon_after(at)
            self._commit(chat, at, paid=paid)
            wait = at - self._clock()
            if wait > 0:
                await self._wait(wait)
            if self._clock() - at <= LATE:
                return
            # Woke up too late (a stalled loop): the slot is gone; take another.

    # ----------------------------------------------------------------- sending

    async def send(
        self,
        call: Callable[[], Awaitable[T]],
        *,
        chat_id: object,
        lane: Lane = "command",
        paid: bool = False,
        endpoint: str = "sendMessage",
    ) -> T:
        """Make one message-sending Bot API call under every limit; re-make it after each 429.

        The one entry to the pacer's policy. PTB reaches it through ``process_request`` (from
        ``ExtBot._do_post``); a caller that posts outside that path calls it directly, so it
        cannot skip the limits or the 429 pause: the push's ``TelegramSender`` posts a body
        encoded once per digest through ``bot.request``, which PTB's path would re-encode per
        chat. ``call`` makes the request afresh each time it is called.
        """
        while True:
            if self.enabled:
                await self.acquire(chat_id, lane=lane, paid=paid)
            else:
                self._abandon_after(self._clock())
                wait = self._paused_until - self._clock()
                if wait > 0:
                    await self._wait(wait)
            try:
                result = await call()
            except RetryAfter as exc:
                seconds = retry_after_seconds(exc)
                self.stats.retry_after += 1
                if self.metrics is not None:
                    self.metrics.flood_wait(seconds)
                log.warning(
                    "%s got 429: pausing every send for %.1f s, then retrying", endpoint, seconds
                )
                self.pause(seconds)
            except TelegramError as exc:
                if self.metrics is not None:
                    self.metrics.failed(lane, failure_reason(exc))
                raise
            else:
                if self.metrics is not None:
                    self.metrics.sent(lane)
                return result

    # ----------------------------------------------------------------- PTB hook

    async def process_request(  # noqa: PLR0917 - the signature PTB calls
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: RateLimitArgs | None,
    ) -> bool | JSONDict | list[JSONDict]:
        """Pace one Bot API call, retrying it after every 429 until it gets an answer."""
        if not is_paced(endpoint):
            # Not a message (getMe, answerCallbackQuery, ...): no limit, and a late retry of,
            # say, a callback answer is useless, so a 429 goes back to the caller.
            return await callback(*args, **kwargs)
        lane: Lane = "command"
        if rate_limit_args and rate_limit_args.get("lane") == "push":
            lane = "push"
        return await self.send(
            lambda: callback(*args, **kwargs),
            chat_id=data.get("chat_id"),
            lane=lane,
            paid=bool(data.get("allow_paid_broadcast")),
            endpoint=endpoint,
        )


def pacer_for(settings: Settings) -> Pacer:
    """Build the pacer for the RATE_LIMIT and PAID_BROADCAST settings (Telegram's limits)."""
    return Pacer(settings.rate_limit, paid_broadcast=settings.paid_broadcast)
