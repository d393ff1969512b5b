"""How a push runs: its options from the settings, the worker id, and the run's key."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.config import Settings
from bot.scheduling import PushDefaults, zone
from bot.store import utcnow
from bot.web.links import ReaderLinks


def default_worker_id() -> str:
    """Return an id naming this process in the ledger's claims (host, pid, random)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


def push_defaults(settings: Settings) -> PushDefaults:
    """Build the scheduling defaults from the settings."""
    return PushDefaults(
        push_time=settings.push_time,
        timezone=settings.timezone,
        grace=settings.push_grace,
        policy=settings.push_policy,
        max_per_day=settings.push_max_per_day,
    )


@dataclass(frozen=True, slots=True)
class PushOptions:
    """How a push runs: scheduling rules, retries, pool size, batch sizes, lease."""

    defaults: PushDefaults
    max_attempts: int = 5
    concurrency: int = 32
    batch: int = 200  # claim size, and the bound on the queue of claimed rows
    lease: timedelta = timedelta(seconds=30)  # heartbeats renew it every lease/4
    worker_id: str = field(default_factory=default_worker_id)
    paid_broadcast: bool = False
    backoff: timedelta = timedelta(seconds=2)  # first retry delay, doubled per attempt
    max_backoff: timedelta = timedelta(minutes=5)
    flush_every: int = 100  # outcomes written back after this many results ...
    flush_interval: float = 0.5  # ... or this many seconds
    poll_interval: float = 0.5  # how often to look again while others hold rows
    clock: Callable[[], datetime] = utcnow  # wall clock for claims, leases and retries
    reader: ReaderLinks | None = None  # set with WEB_URL: 📖 opens the web reader
    # The bot's @username: a channel post's 📖 and ⚠️ are t.me deep links into the bot.
    bot_username: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> PushOptions:
        """Build options from the settings; keyword overrides win."""
        values: dict[str, object] = {
            "defaults": push_defaults(settings),
            "max_attempts": settings.push_max_attempts,
            "paid_broadcast": settings.paid_broadcast,
            "reader": ReaderLinks.from_settings(settings),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def run_key(now: datetime, defaults: PushDefaults, *, force: bool) -> str:
    """Return the push run's unique key: the tick's minute, or the day for `push --now`."""
    if force:
        tz = zone(defaults.timezone)
        local = now.astimezone(tz) if tz is not None else now.astimezone(UTC)
        return f"now:{local.date().isoformat()}"
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
