"""Push runs: start, finish or discard a run, and read its counts from its ledger rows."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update

from bot.ledger.base import LedgerBase
from bot.ledger.tables import BLOCKED_PREFIX, FAILED, PENDING, SENDING, SENT, D, R


@dataclass(frozen=True, slots=True)
class PushRun:
    """A push run row; `created` is False when another caller had already started it."""

    id: int
    key: str
    started_at: datetime
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
    started_at: datetime
    finished_at: datetime | None

    @property
    def duration(self) -> timedelta | None:
        """Return how long the run took, None while it is unfinished."""
        return None if self.finished_at is None else self.finished_at - self.started_at


class RunsMixin(LedgerBase):
    """The Ledger's push runs."""

    def start_run(self, key: str, now: datetime) -> PushRun:
        """Create the run `key`, or return the one another caller created (created=False)."""
        with self._write.begin() as c:
            stmt = self._insert(R).on_conflict_do_nothing(index_elements=["key"]).returning(R.c.id)
            values = {"key": key, "started_at": now, "due": 0, "sent": 0, "failed": 0}
            inserted = c.execute(stmt, {**values, "blocked": 0, "skipped": 0}).first()
            row = c.execute(select(R.c.id, R.c.started_at).where(R.c.key == key)).one()
        return PushRun(id=row.id, key=key, started_at=row.started_at, created=inserted is not None)

    def finish_run(self, run_id: int, now: datetime, *, skipped: int = 0) -> RunStats | None:
        """Store the run's counts and its latest plan's `skipped`; return its stats.

        The run is finished (finished_at) only once none of its rows is pending or sending.
        Finishing it again keeps the first finish time unless rows were planned into it
        since, so a no-op rerun of `push --now` does not stretch the run's duration.
        """
        stats = self.run_stats(run_id)
        if stats is None:
            return None
        finished_at = stats.finished_at
        if stats.pending or stats.sending:
            finished_at = None
        elif finished_at is None or self._planned_since(run_id, finished_at):
            finished_at = now
        with self._write.begin() as c:
            c.execute(
                update(R)
                .where(R.c.id == run_id)
                .values(
                    finished_at=finished_at,
                    due=stats.due,
                    sent=stats.sent,
                    failed=stats.failed,
                    blocked=stats.blocked,
                    skipped=skipped,
                )
            )
        return self.run_stats(run_id)

    def _planned_since(self, run_id: int, when: datetime) -> bool:
        """Tell whether rows were added to the run after `when`."""
        with self._read.connect() as c:
            query = select(D.c.id).where(D.c.run_id == run_id, D.c.created_at > when).limit(1)
            return c.execute(query).first() is not None

    def discard_run(self, run_id: int) -> bool:
        """Delete a run that planned nothing (a tick where nobody was due); True if deleted."""
        with self._write.begin() as c:
            used = c.execute(select(D.c.id).where(D.c.run_id == run_id).limit(1)).first()
            if used is not None:
                return False
            c.execute(delete(R).where(R.c.id == run_id))
            return True

    def run_stats(self, run_id: int) -> RunStats | None:
        """Return a run's counts, read from its ledger rows."""
        with self._read.connect() as c:
            run = c.execute(select(R).where(R.c.id == run_id)).first()
            if run is None:
                return None
            blocked = D.c.error.like(f"{BLOCKED_PREFIX}%")
            counts: dict[tuple[str, bool], int] = {
                (state, bool(is_blocked)): n
                for state, is_blocked, n in c.execute(
                    select(D.c.state, blocked, func.count())
                    .where(D.c.run_id == run_id)
                    .group_by(D.c.state, blocked)
                )
            }
        by_state: dict[str, int] = defaultdict(int)
        for (state, _), n in counts.items():
            by_state[state] += n
        return RunStats(
            run_id=run.id,
            key=run.key,
            due=sum(by_state.values()),
            sent=by_state[SENT],
            pending=by_state[PENDING],
            sending=by_state[SENDING],
            failed=counts.get((FAILED, False), 0),
            blocked=counts.get((FAILED, True), 0),
            skipped=run.skipped,
            started_at=run.started_at,
            finished_at=run.finished_at,
        )

    def last_run_stats(self) -> RunStats | None:
        """Return the stats of the most recently started run, None before the first push."""
        with self._read.connect() as c:
            run_id = c.execute(
                select(R.c.id).order_by(R.c.started_at.desc(), R.c.id.desc()).limit(1)
            ).scalar()
        return None if run_id is None else self.run_stats(run_id)
