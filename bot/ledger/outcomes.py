"""Outcomes: write a worker's send results back to the rows it holds, in batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, update

from bot.ledger.base import LedgerBase
from bot.ledger.tables import FAILED, PENDING, SENDING, SENT, D, S


@dataclass(slots=True)
class Outcomes:
    """A batch of send outcomes to write back in one transaction."""

    sent: list[tuple[int, int | None]] = field(default_factory=list)  # (delivery_id, message_id)
    failed: list[tuple[int, str]] = field(default_factory=list)  # (delivery_id, reason)
    # (delivery_id, not_before, reason, counts_as_attempt)
    retries: list[tuple[int, datetime, str, bool]] = field(default_factory=list)
    deactivate: list[tuple[int, str]] = field(default_factory=list)  # (subscriber_id, reason)

    def __len__(self) -> int:
        """Return how many outcomes are waiting."""
        return len(self.sent) + len(self.failed) + len(self.retries) + len(self.deactivate)

    def take(self) -> Outcomes:
        """Move everything into a new batch and leave this one empty."""
        batch = Outcomes(self.sent, self.failed, self.retries, self.deactivate)
        self.sent, self.failed, self.retries, self.deactivate = [], [], [], []
        return batch

    def restore(self, batch: Outcomes) -> None:
        """Put a batch taken earlier (and not written) back in front of what came since."""
        self.sent[:0] = batch.sent
        self.failed[:0] = batch.failed
        self.retries[:0] = batch.retries
        self.deactivate[:0] = batch.deactivate


class OutcomesMixin(LedgerBase):
    """The Ledger's outcome writes."""

    def record(self, outcomes: Outcomes, now: datetime, *, worker: str) -> None:
        """Write a batch of `worker`'s outcomes in one transaction (executemany per kind).

        A row is only written while `worker` still holds it (`sending`, claimed by it): once
        its lease expired and another worker claimed it, a late outcome of the first (a
        retry putting a sent row back to pending) would otherwise undo the second's.
        """
        if not len(outcomes):
            return
        held = (D.c.id == bindparam("b_id"), D.c.state == SENDING, D.c.claimed_by == worker)
        with self._write.begin() as c:
            if outcomes.sent:
                c.execute(
                    update(D)
                    .where(*held)
                    .values(
                        state=SENT,
                        message_id=bindparam("b_message"),
                        sent_at=bindparam("b_now"),
                        error=None,
                    ),
                    [{"b_id": i, "b_message": m, "b_now": now} for i, m in outcomes.sent],
                )
            if outcomes.failed:
                c.execute(
                    update(D)
                    .where(*held)
                    .values(state=FAILED, error=bindparam("b_error"), attempts=D.c.attempts + 1),
                    [{"b_id": i, "b_error": reason[:1000]} for i, reason in outcomes.failed],
                )
            if outcomes.retries:
                c.execute(
                    update(D)
                    .where(*held)
                    .values(
                        state=PENDING,
                        not_before=bindparam("b_not_before"),
                        error=bindparam("b_error"),
                        attempts=D.c.attempts + bindparam("b_inc"),
                        claimed_by=None,
                        claimed_at=None,
                    ),
                    [
                        {
                            "b_id": i,
                            "b_not_before": nb,
                            "b_error": reason[:1000],
                            "b_inc": int(inc),
                        }
                        for i, nb, reason, inc in outcomes.retries
                    ],
                )
            if outcomes.deactivate:
                # The chat is gone whoever holds the row now: no claim check here.
                c.execute(
                    update(S)
                    .where(S.c.id == bindparam("b_id"), S.c.active.is_(True))
                    .values(
                        active=False,
                        unsubscribed_at=bindparam("b_now"),
                        inactive_reason=bindparam("b_reason"),
                    ),
                    [{"b_id": i, "b_now": now, "b_reason": r} for i, r in outcomes.deactivate],
                )

    def mark_sent(
        self, sent: Sequence[tuple[int, int | None]], now: datetime, *, worker: str
    ) -> None:
        """Mark `worker`'s rows sent with Telegram's message ids, in one transaction."""
        self.record(Outcomes(sent=list(sent)), now, worker=worker)

    def mark_failed(
        self, failed: Sequence[tuple[int, str]], now: datetime, *, worker: str
    ) -> None:
        """Mark `worker`'s rows failed with their reasons, in one transaction."""
        self.record(Outcomes(failed=list(failed)), now, worker=worker)

    def retry_later(
        self,
        delivery_id: int,
        not_before: datetime,
        reason: str,
        *,
        worker: str,
        count_attempt: bool = True,
    ) -> None:
        """Put `worker`'s row back to pending until `not_before` (attempts + 1 unless told not)."""
        self.record(
            Outcomes(retries=[(delivery_id, not_before, reason, count_attempt)]),
            not_before,
            worker=worker,
        )

    def deactivate(self, subscriber_ids: Sequence[int], reason: str, now: datetime) -> None:
        """Mark subscribers inactive (blocked, chat gone); a later /start reactivates them."""
        # No ledger row is touched, so no worker holds anything here.
        self.record(Outcomes(deactivate=[(i, reason) for i in subscriber_ids]), now, worker="")
