"""Claims: lease rows to a worker, renew or hand back the lease, and count what is left."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, func, or_, select, update

from bot.ledger.base import LedgerBase
from bot.ledger.tables import FAILED, PENDING, SENDING, A, D, S


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


class ClaimsMixin(LedgerBase):
    """The Ledger's claims, and what is left to send."""

    def _lock(self, query: Select[Any]) -> Select[Any]:
        return query.with_for_update(skip_locked=True) if self.is_postgres else query

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

        Rows whose subscriber has gone inactive or whose article was hidden since planning
        are failed here instead of being handed out.
        """
        if limit <= 0:
            return []
        with self._write.begin() as c:
            # Never our own rows: a worker whose heartbeat lagged would resend what it has
            # in flight. Its rows go to others once it is gone (or back with release()).
            stale = select(D.c.id).where(
                D.c.state == SENDING,
                D.c.claimed_at < now - lease,
                or_(D.c.claimed_by.is_(None), D.c.claimed_by != worker),
            )
            pending = select(D.c.id).where(
                D.c.state == PENDING, or_(D.c.not_before.is_(None), D.c.not_before <= now)
            )
            if run_id is not None:
                stale = stale.where(D.c.run_id == run_id)
                pending = pending.where(D.c.run_id == run_id)
            ids = list(c.scalars(self._lock(stale.order_by(D.c.id).limit(limit))))
            if len(ids) < limit:
                more = pending.order_by(D.c.id).limit(limit - len(ids))
                ids.extend(c.scalars(self._lock(more)))
            if not ids:
                return []
            rows = c.execute(
                select(
                    D.c.id,
                    D.c.subscriber_id,
                    S.c.chat_id,
                    S.c.chat_type,
                    S.c.language,
                    D.c.article_id,
                    D.c.attempts,
                    S.c.active,
                    A.c.hidden,
                )
                .join(S, S.c.id == D.c.subscriber_id)
                .join(A, A.c.id == D.c.article_id)
                .where(D.c.id.in_(ids))
                .order_by(D.c.id)
            ).all()
            claims: list[Claim] = []
            dropped: list[dict[str, Any]] = []
            for r in rows:
                if not r.active or r.hidden:
                    reason = "subscriber inactive" if not r.active else "article hidden"
                    dropped.append({"b_id": r.id, "b_error": reason})
                    continue
                claims.append(
                    Claim(
                        r.id,
                        r.subscriber_id,
                        r.chat_id,
                        r.chat_type,
                        r.language,
                        r.article_id,
                        r.attempts,
                    )
                )
            if claims:
                c.execute(
                    update(D)
                    .where(D.c.id.in_([cl.delivery_id for cl in claims]))
                    .values(state=SENDING, claimed_by=worker, claimed_at=now)
                )
            if dropped:
                c.execute(
                    update(D)
                    .where(D.c.id == bindparam("b_id"))
                    .values(state=FAILED, error=bindparam("b_error"), claimed_by=None),
                    dropped,
                )
        return claims

    def heartbeat(self, worker: str, now: datetime) -> int:
        """Renew the lease on every row `worker` holds; return how many."""
        with self._write.begin() as c:
            result = c.execute(
                update(D)
                .where(D.c.state == SENDING, D.c.claimed_by == worker)
                .values(claimed_at=now)
            )
            return int(result.rowcount)

    def release(self, worker: str) -> int:
        """Hand `worker`'s unsent claims back as pending (a clean shutdown); return how many."""
        with self._write.begin() as c:
            result = c.execute(
                update(D)
                .where(D.c.state == SENDING, D.c.claimed_by == worker)
                .values(state=PENDING, claimed_by=None, claimed_at=None)
            )
            return int(result.rowcount)

    def pending_count(self, run_id: int | None = None) -> int:
        """Return how many rows wait to be sent (pending, including delayed retries)."""
        query = select(func.count()).select_from(D).where(D.c.state == PENDING)
        if run_id is not None:
            query = query.where(D.c.run_id == run_id)
        with self._read.connect() as c:
            return int(c.scalar(query) or 0)

    def outstanding(self, worker: str) -> tuple[int, datetime | None]:
        """Return rows not yet settled that are not `worker`'s own, and the next retry time.

        Counts pending rows and rows other workers are sending (live or dead: a dead
        worker's rows come back once their lease expires).
        """
        with self._read.connect() as c:
            pending, next_retry = c.execute(
                select(func.count(), func.min(D.c.not_before)).where(D.c.state == PENDING)
            ).one()
            others = c.scalar(
                select(func.count()).where(
                    D.c.state == SENDING,
                    or_(D.c.claimed_by.is_(None), D.c.claimed_by != worker),
                )
            )
        if next_retry is not None and not isinstance(next_retry, datetime):
            next_retry = None  # pragma: no cover - aggregate lost the column type
        return int(pending or 0) + int(others or 0), next_retry

    def deliveries(self, subscriber_id: int) -> list[tuple[int, str, str | None]]:
        """Return a subscriber's (article_id, state, error) rows, oldest first (tests, /stats)."""
        with self._read.connect() as c:
            return [
                (r.article_id, r.state, r.error)
                for r in c.execute(
                    select(D.c.article_id, D.c.state, D.c.error)
                    .where(D.c.subscriber_id == subscriber_id)
                    .order_by(D.c.id)
                )
            ]
