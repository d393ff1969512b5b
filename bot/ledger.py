"""The delivery ledger: one row per (subscriber, article), pending → sending → sent | failed.

The ledger is what makes the push idempotent. Planning (bot.push.planner) inserts rows
under the unique (subscriber_id, article_id) key, so re-running a tick or a second instance
adds nothing. Senders claim rows in batches of whole chats (PostgreSQL: `FOR ... SKIP LOCKED`
on each chat's first subscriber row, then the rows; SQLite: one `BEGIN IMMEDIATE` write
transaction), so two claimers never get the same row, nor rows of one chat (forum topics of
a group are subscribers of their own, but one chat): one worker sends to a chat at a time,
and its local pacer's spacing is the chat's. A claim
is a lease: a worker refreshes `claimed_at` of its rows while it runs (heartbeat), and rows
left `sending` by a worker that died are claimed again once the lease has expired. Outcomes
are written back in batches (executemany), so per-message database cost stays small.

Each method is one transaction over `bot.db.deliveries`, `push_runs` and `subscribers`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from bot.db import deliveries, push_runs, subscribers
from bot.model import Claim, Outcomes, PushRun, RunStats
from bot.store import Store


class Ledger:
    """The delivery ledger on a store's database (SQLite or PostgreSQL)."""

    def __init__(self, store: Store) -> None:
        self._read = store.engine
        # Store.writing(): on SQLite BEGIN IMMEDIATE (see bot.db.engine), and never into a
        # database file deleted or replaced under the process.
        self._write = store.writing

    # -- push runs --------------------------------------------------------------------------

    def start_run(self, key: str, now: datetime) -> PushRun:
        """Create the run `key`, or return the one another caller created (created=False)."""
        with self._write() as c:
            return push_runs.start(c, key, now)

    def finish_run(self, run_id: int, now: datetime, *, skipped: int = 0) -> RunStats | None:
        """Store the run's counts and its latest plan's `skipped`; return its stats.

        The run is finished (finished_at) only once none of its rows is pending or sending.
        Finishing it again keeps the first finish time unless rows were planned into it
        since, so a no-op rerun of `push --now` does not stretch the run's duration.
        """
        with self._write() as c:
            stats = push_runs.stats(c, run_id)
            if stats is None:
                return None
            finished_at = stats.finished_at
            if stats.pending or stats.sending:
                finished_at = None
            elif finished_at is None or deliveries.added_since(c, run_id, finished_at):
                finished_at = now
            push_runs.finish(c, stats, finished_at=finished_at, skipped=skipped)
            return push_runs.stats(c, run_id)

    def discard_run(self, run_id: int) -> bool:
        """Delete a run that planned nothing (a tick where nobody was due); True if deleted."""
        with self._write() as c:
            if deliveries.run_used(c, run_id):
                return False
            push_runs.remove(c, run_id)
            return True

    def run_stats(self, run_id: int) -> RunStats | None:
        """Return a run's counts, read from its ledger rows."""
        with self._read.connect() as c:
            return push_runs.stats(c, run_id)

    def last_run_stats(self) -> RunStats | None:
        """Return the stats of the most recently started run, None before the first push."""
        with self._read.connect() as c:
            run_id = push_runs.latest_id(c)
            return None if run_id is None else push_runs.stats(c, run_id)

    # -- claims -----------------------------------------------------------------------------

    def claim(
        self,
        worker: str,
        limit: int,
        now: datetime,
        *,
        lease: timedelta,
        run_id: int | None = None,
    ) -> list[Claim]:
        """Claim up to `limit` rows for `worker`: due pending rows and other workers' stale ones.

        Whole chats at a time (every forum topic of a group), and none another worker holds
        a live row of (see bot.db.deliveries.claim). Rows whose subscriber has gone inactive
        or whose article was hidden since planning are failed here instead of being handed
        out.
        """
        if limit <= 0:
            return []
        with self._write() as c:
            return deliveries.claim(c, worker, limit, now, lease=lease, run_id=run_id)

    def claim_pair(
        self, subscriber_id: int, article_id: int, *, day: date, worker: str, now: datetime
    ) -> Claim | None:
        """Plan and claim one (subscriber, article) row now; None if it has gone or is held."""
        with self._write() as c:
            return deliveries.claim_pair(
                c, subscriber_id, article_id, day=day, worker=worker, now=now
            )

    def heartbeat(self, worker: str, now: datetime) -> int:
        """Renew the lease on every row `worker` holds; return how many."""
        with self._write() as c:
            return deliveries.heartbeat(c, worker, now)

    def release(self, worker: str) -> int:
        """Hand `worker`'s unsent claims back as pending (a clean shutdown); return how many."""
        with self._write() as c:
            return deliveries.release(c, worker)

    def record(self, outcomes: Outcomes, now: datetime, *, worker: str) -> None:
        """Write a batch of `worker`'s outcomes in one transaction (executemany per kind).

        Rows are only written while `worker` still holds them (see bot.db.deliveries.record);
        the chats to deactivate are gone whoever holds their rows now, so no claim check
        applies to them.
        """
        if not len(outcomes):
            return
        with self._write() as c:
            deliveries.record(c, outcomes, now, worker=worker)
            subscribers.deactivate(c, outcomes.deactivate, now)

    # -- what is left -----------------------------------------------------------------------

    def pending_count(self, run_id: int | None = None) -> int:
        """Return how many rows wait to be sent (pending, including delayed retries)."""
        with self._read.connect() as c:
            return deliveries.pending_count(c, run_id)

    def state_counts(self) -> dict[str, int]:
        """Return how many rows are in each state (pending, sending, sent, failed)."""
        with self._read.connect() as c:
            return deliveries.count_by_state(c)

    def outstanding(self, worker: str) -> tuple[int, datetime | None]:
        """Return rows not yet settled that are not `worker`'s own, and the next retry time.

        Counts pending rows and rows other workers are sending (live or dead: a dead
        worker's rows come back once their lease expires).
        """
        with self._read.connect() as c:
            return deliveries.outstanding(c, worker)

    def deliveries(self, subscriber_id: int) -> list[tuple[int, str, str | None]]:
        """Return a subscriber's (article_id, state, error) rows, oldest first (tests, /stats)."""
        with self._read.connect() as c:
            return deliveries.history(c, subscriber_id)
