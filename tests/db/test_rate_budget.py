"""The rate_budget table under concurrent grants, on SQLite and PostgreSQL.

Several threads, each with a store of its own (as separate processes would have), lease slices
of one bucket at once: the granted slots never overlap, so no window holds more than the rate.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator

import pytest

from bot.db import rate_budget
from bot.db.engine import open_database
from bot.ratebudget import GLOBAL_CHAT, Grant, lease_size, send_step
from bot.store import Store

KEY = "k" * 32


@pytest.fixture
def stores(database_url: str) -> Iterator[list[Store]]:
    """Four stores on one fresh database (SQLite or PostgreSQL), one per worker."""
    opened = [Store(open_database(database_url)) for _ in range(4)]
    yield opened
    for store in opened:
        store.close()


def _take(store: Store, now: float, *, step: float, count: int, horizon: float) -> Grant:
    with store.writing() as c:
        return rate_budget.take(c, KEY, GLOBAL_CHAT, now, step=step, count=count, horizon=horizon)


def test_concurrent_leases_never_overlap_so_no_second_exceeds_the_rate(
    stores: list[Store],
) -> None:
    """Four workers lease slices of a 200/s bucket as fast as they can until they hold twelve
    slices: every granted slot is at least one step after the previous one, and any sliding
    second holds at most 200 slots."""
    rate = 200.0
    step, count = send_step(rate), lease_size(rate)
    grants: list[Grant] = []
    lock = threading.Lock()
    wanted = 12  # about 1.2 s of slices: the horizon (0.2 s) makes the workers wait their turn
    # A bound, not a timing: on a starved machine the workers take longer, never fewer slices.
    deadline = time.time() + 30.0

    def work(store: Store) -> None:
        while time.time() < deadline:
            with lock:
                if len(grants) >= wanted:
                    return
            granted = _take(store, time.time(), step=step, count=count, horizon=0.2)
            if granted.count:
                with lock:
                    grants.append(granted)

    threads = [threading.Thread(target=work, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(grants) >= wanted
    slots = sorted(g.slot(i) for g in grants for i in range(g.count))
    # Wall-clock instants near 1.8e9 s carry about 2e-7 s of rounding.
    assert min(b - a for a, b in itertools.pairwise(slots)) >= step - 1e-6
    assert max(sum(1 for s in slots if t <= s < t + 1.0) for t in slots) <= rate


def test_a_dead_workers_lease_returns_once_its_slice_is_past(stores: list[Store]) -> None:
    """A worker that leased a slice and died holds nothing once the slice's time is past:
    the next grant starts at its own now, not after the dead one's slots."""
    first, second = stores[0], stores[1]
    dead = _take(first, 100.0, step=0.05, count=4, horizon=0.2)
    assert dead.next_at == pytest.approx(100.2)
    meanwhile = _take(second, 100.1, step=0.05, count=4, horizon=0.2)
    assert meanwhile.start == pytest.approx(100.2)  # behind the slice still running
    later = _take(second, 100.5, step=0.05, count=4, horizon=0.2)
    assert later.start == 100.5


def test_a_bucket_booked_beyond_the_horizon_is_refused_and_left_as_is(
    stores: list[Store],
) -> None:
    store = stores[0]
    _take(store, 100.0, step=0.05, count=10, horizon=0.2)  # booked until 100.5
    refused = _take(store, 100.0, step=0.05, count=4, horizon=0.2)
    assert refused.count == 0
    assert refused.start == pytest.approx(100.5)
    command = _take(store, 100.0, step=0.05, count=1, horizon=float("inf"))
    assert command.start == pytest.approx(100.5)


def test_buckets_of_one_budget_are_separate(stores: list[Store]) -> None:
    store = stores[0]
    with store.writing() as c:
        assert rate_budget.take(c, KEY, 7, 100.0, step=1.0, count=1, horizon=0).count == 1
        busy = rate_budget.take(c, KEY, 7, 100.5, step=1.0, count=1, horizon=0)
        assert (busy.count, busy.start) == (0, 101.0)
        assert rate_budget.take(c, KEY, 8, 100.5, step=1.0, count=1, horizon=0).count == 1
        global_slot = rate_budget.take(c, KEY, GLOBAL_CHAT, 100.5, step=0.05, count=1, horizon=0)
        assert global_slot.count == 1
