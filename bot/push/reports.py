"""What a push tells its caller: progress while it runs, a report when it ends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.model import RunStats


@dataclass(frozen=True, slots=True)
class PushProgress:
    """Progress of a running push, for a progress bar."""

    total: int
    sent: int
    failed: int
    blocked: int
    retried: int

    @property
    def done(self) -> int:
        """Return how many rows are settled (sent, failed or blocked)."""
        return self.sent + self.failed + self.blocked


@dataclass(frozen=True, slots=True)
class PushReport:
    """What one run_push call did (counts are messages this process handled)."""

    run_key: str
    due: int  # rows planned by this call
    sent: int
    failed: int
    blocked: int
    skipped: int  # subscribers due (or, forced, active) who got nothing this time
    retried: int
    duration: timedelta
    renders: int = 0
    dry_run: bool = False
    planned: tuple[tuple[int, int], ...] = ()  # (chat_id, article_id), dry runs only
    stats: RunStats | None = None
