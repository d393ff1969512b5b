"""Queries on `push_runs`: start, finish, discard and read a push run; the table's one writer."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import Connection, delete, select, update

from bot.db import deliveries
from bot.db.engine import insert_on_conflict
from bot.db.tables import PUSH_RUNS
from bot.model import FAILED, PENDING, SENDING, SENT, PushRun, RunStats


def start(c: Connection, key: str, now: datetime) -> PushRun:
    """Create the run `key`, or return the one another caller created (created=False)."""
    stmt = (
        insert_on_conflict(c, PUSH_RUNS)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(PUSH_RUNS.c.id)
    )
    values = {"key": key, "started_at": now, "due": 0, "sent": 0, "failed": 0}
    inserted = c.execute(stmt, {**values, "blocked": 0, "skipped": 0}).first()
    row = c.execute(
        select(PUSH_RUNS.c.id, PUSH_RUNS.c.started_at).where(PUSH_RUNS.c.key == key)
    ).one()
    return PushRun(id=row.id, key=key, started_at=row.started_at, created=inserted is not None)


def stats(c: Connection, run_id: int) -> RunStats | None:
    """Return a run's counts, read from its ledger rows (None for an unknown run)."""
    run = c.execute(select(PUSH_RUNS).where(PUSH_RUNS.c.id == run_id)).first()
    if run is None:
        return None
    counts = deliveries.run_counts(c, run_id)
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


def finish(c: Connection, stats: RunStats, *, finished_at: datetime | None, skipped: int) -> None:
    """Store a run's counts, its latest plan's `skipped` and when it finished (None: not yet)."""
    c.execute(
        update(PUSH_RUNS)
        .where(PUSH_RUNS.c.id == stats.run_id)
        .values(
            finished_at=finished_at,
            due=stats.due,
            sent=stats.sent,
            failed=stats.failed,
            blocked=stats.blocked,
            skipped=skipped,
        )
    )


def remove(c: Connection, run_id: int) -> None:
    """Delete a run."""
    c.execute(delete(PUSH_RUNS).where(PUSH_RUNS.c.id == run_id))


def latest_id(c: Connection) -> int | None:
    """Return the id of the most recently started run, None before the first push."""
    query = (
        select(PUSH_RUNS.c.id)
        .order_by(PUSH_RUNS.c.started_at.desc(), PUSH_RUNS.c.id.desc())
        .limit(1)
    )
    run_id = c.execute(query).scalar()
    return None if run_id is None else int(run_id)
