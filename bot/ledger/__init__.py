"""The delivery ledger: one row per (subscriber, article), pending → sending → sent | failed.

The ledger is what makes the push idempotent. Planning inserts rows under the unique
(subscriber_id, article_id) key, so re-running a tick or a second instance adds nothing.
Senders claim rows in batches (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: one
`BEGIN IMMEDIATE` write transaction), so two claimers never get the same row. A claim is a
lease: a worker refreshes `claimed_at` of its rows while it runs (heartbeat), and rows left
`sending` by a worker that died are claimed again once the lease has expired. Outcomes are
written back in batches (executemany), so per-message database cost stays small.

The modules: `tables` (tables and row states), `base` (engines and dialect), `runs` (push
runs and their counts), `planning` (who gets which rows), `claims` (leasing rows to workers,
what is left), `outcomes` (writing results back). `Ledger` joins them.
"""

from __future__ import annotations

from bot.ledger.claims import Claim, ClaimsMixin
from bot.ledger.outcomes import Outcomes, OutcomesMixin
from bot.ledger.planning import PAGE, PlanningMixin, PlanResult
from bot.ledger.runs import PushRun, RunsMixin, RunStats
from bot.ledger.tables import BLOCKED_PREFIX, FAILED, PENDING, SENDING, SENT


class Ledger(RunsMixin, PlanningMixin, ClaimsMixin, OutcomesMixin):
    """The delivery ledger on a store's database (SQLite or PostgreSQL)."""


__all__ = [
    "BLOCKED_PREFIX",
    "FAILED",
    "PAGE",
    "PENDING",
    "SENDING",
    "SENT",
    "Claim",
    "Ledger",
    "Outcomes",
    "PlanResult",
    "PushRun",
    "RunStats",
]
