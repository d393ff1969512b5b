"""The model's few behaviours: an outcome batch taken and put back, a run's duration."""

from __future__ import annotations

from datetime import timedelta

from bot.model import Outcomes, RunStats
from tests.conftest import NOW


def test_outcomes_taken_and_restored_keep_their_order_before_newer_ones() -> None:
    """A batch whose write failed goes back in front of the outcomes that came meanwhile."""
    outcomes = Outcomes(sent=[(1, 10)], failed=[(2, "boom")], deactivate=[(7, "blocked")])
    batch = outcomes.take()
    assert len(outcomes) == 0
    assert len(batch) == 3
    outcomes.sent.append((3, 30))
    outcomes.restore(batch)
    assert outcomes.sent == [(1, 10), (3, 30)]
    assert (outcomes.failed, outcomes.deactivate) == ([(2, "boom")], [(7, "blocked")])


def test_a_run_has_a_duration_only_once_finished() -> None:
    stats = RunStats(1, "k", 0, 0, 0, 0, 0, 0, 0, started_at=NOW, finished_at=None)
    assert stats.duration is None
    done = RunStats(1, "k", 0, 0, 0, 0, 0, 0, 0, started_at=NOW, finished_at=NOW + timedelta(5))
    assert done.duration == timedelta(days=5)
