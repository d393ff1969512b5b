"""SharedBudget on a real SQLite file, with injected clocks and sleep (nothing really waits).

Two stores on one file stand for two processes sharing a token's budget. A database that fails
(its file removed, a transaction that raises or hangs) puts a process on its fallback share,
logged once per outage, until it answers again after ``retry``.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from bot.db.engine import open_database
from bot.ratebudget import FALLBACK_SHARE, WINDOW, send_step
from bot.sharedbudget import SharedBudget, Writing
from bot.store import Store

KEY = "k" * 32
RATE = 20.0
STEP = send_step(RATE)
EPS = 1e-6  # wall-clock instants near 1.7e9 s carry about 2e-7 s of rounding


class Clocks:
    """A wall clock and a monotonic clock that move together only when told (or slept on)."""

    def __init__(self, wall: float = 1_700_000_000.0, monotonic: float = 500.0) -> None:
        self.now = wall
        self.offset = wall - monotonic
        self.slept: list[float] = []

    def wall(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now - self.offset

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)


class Switchable:
    """A store's writing() that can be made to fail (raise) or hang (block until released)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.down = False
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        self.calls += 1
        self.gate.wait()
        if self.down:
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("disk I/O error"))
        with self.store.writing() as c:
            yield c


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two stores on one SQLite file: two processes sending with one token."""
    url = f"sqlite:///{tmp_path / 'budget.sqlite3'}"
    first = Store(open_database(url))
    second = Store(open_database(url))
    yield first, second
    first.close()
    second.close()


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


def budget_on(
    writing: Writing,
    clocks: Clocks,
    *,
    timeout: float = 5.0,
    retry: float = 5.0,
) -> SharedBudget:
    """A 20/s budget on `writing` (a store's writing method) with the fake clocks."""
    return SharedBudget(
        writing,
        KEY,
        RATE,
        paid_rate=RATE,
        timeout=timeout,
        retry=retry,
        wall=clocks.wall,
        clock=clocks.monotonic,
        sleep=clocks.sleep,
    )


# -- degrading ----------------------------------------------------------------------------


async def test_a_removed_database_file_gives_the_fallback_share_never_the_full_rate(
    stores: tuple[Store, Store], clocks: Clocks, tmp_path: Path
) -> None:
    """With its SQLite file gone the process sends at FALLBACK_SHARE of the rate, both lanes
    drawing from one local bucket: slots 1/(share x rate) apart while the clock stands still."""
    store = stores[0]
    budget = budget_on(store.writing, clocks)
    (tmp_path / "budget.sqlite3").unlink()
    try:
        slots = [await budget.slot("push") for _ in range(6)]
        slots.append(await budget.slot("command"))
        slots += [await budget.slot("push") for _ in range(3)]
    finally:
        budget.close()
    assert budget.degraded
    assert budget.leases == 0
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= STEP / FALLBACK_SHARE - EPS
    # Ten slots over 9 gaps of 4 steps: far from the 20/s a lone process would take.
    assert slots[-1] - slots[0] >= 9 * STEP / FALLBACK_SHARE - EPS


async def test_a_database_slower_than_the_timeout_gives_the_fallback_share(
    stores: tuple[Store, Store], clocks: Clocks
) -> None:
    """A transaction that hangs past `timeout` is not waited for: the process falls back."""
    switch = Switchable(stores[0])
    switch.gate.clear()
    budget = budget_on(switch.writing, clocks, timeout=0.01)
    try:
        first = await budget.slot("push")
        second = await budget.slot("push")
        command = await budget.slot("command")
    finally:
        switch.gate.set()
        budget.close()
    assert budget.degraded
    assert switch.calls == 1  # later slots did not ask the hanging database again
    assert second - first >= STEP / FALLBACK_SHARE - EPS
    assert command - second >= STEP / FALLBACK_SHARE - EPS


async def test_an_outage_is_logged_once_and_the_database_is_asked_again_after_retry(
    stores: tuple[Store, Store], clocks: Clocks, caplog: pytest.LogCaptureFixture
) -> None:
    """One warning when the database stops answering, none while the outage lasts, one when it
    answers again (after `retry`); the next outage is logged again."""
    caplog.set_level(logging.WARNING, logger="bot.sharedbudget")
    switch = Switchable(stores[0])
    budget = budget_on(switch.writing, clocks, retry=5.0)
    try:
        switch.down = True
        for _ in range(4):
            await budget.slot("command")
            clocks.advance(1.0)
        assert switch.calls == 1  # within `retry` the database is left alone
        clocks.advance(1.5)  # 5.5 s after the failure: asked again, still down
        await budget.slot("command")
        assert switch.calls == 2
        assert budget.degraded
        assert len(caplog.records) == 1
        assert "did not answer" in caplog.records[0].getMessage()

        switch.down = False
        clocks.advance(5.5)
        at = await budget.slot("command")
        assert not budget.degraded
        assert budget.leases == 1
        assert abs(at - clocks.monotonic()) < EPS  # an idle bucket: the slot is now
        assert [r.getMessage() for r in caplog.records][1:] == [
            "rate budget: the database answers again; sharing the budget"
        ]

        switch.down = True
        clocks.advance(1.0)
        await budget.slot("command")
    finally:
        budget.close()
    assert sum("did not answer" in r.getMessage() for r in caplog.records) == 2


async def test_after_recovery_the_process_shares_the_database_budget_again(
    stores: tuple[Store, Store], clocks: Clocks
) -> None:
    """Back from an outage, the process's slots come from the bucket another process uses:
    they fall after that process's booked slots, not on them."""
    switch = Switchable(stores[0])
    recovering = budget_on(switch.writing, clocks, retry=2.0)
    other = budget_on(stores[1].writing, clocks)
    try:
        switch.down = True
        await recovering.slot("push")
        assert recovering.degraded
        switch.down = False
        clocks.advance(2.5)
        booked = [await other.slot("command") for _ in range(3)]
        mine = await recovering.slot("command")
    finally:
        recovering.close()
        other.close()
    assert not recovering.degraded
    assert mine >= booked[-1] + STEP - EPS


# -- lanes --------------------------------------------------------------------------------


async def test_a_command_slot_waits_behind_at_most_two_push_windows_not_the_push(
    stores: tuple[Store, Store], clocks: Clocks
) -> None:
    """While one process works through a push of 200 messages (10 s at 20/s), a command reply
    asked in another process gets a slot within two lease windows of now, and no slot of either
    lane is closer than one step to another."""
    push = budget_on(stores[0].writing, clocks)
    bot = budget_on(stores[1].writing, clocks)
    try:
        pushed = [await push.slot("push") for _ in range(40)]
        asked = clocks.monotonic()
        command = await bot.slot("command")
        pushed += [await push.slot("push") for _ in range(160)]
    finally:
        push.close()
        bot.close()
    assert pushed[-1] - pushed[0] >= 199 * STEP - EPS  # the push really spans ~10 s
    assert command - asked <= 2 * WINDOW + STEP
    slots = sorted([*pushed, command])
    assert min(b - a for a, b in itertools.pairwise(slots)) >= STEP - EPS
    # The push waited for its turn through the injected sleep only, a window at a time.
    assert clocks.slept
    assert max(clocks.slept) <= 2 * WINDOW


async def test_a_slice_outliving_its_window_gives_up_its_past_slots(
    stores: tuple[Store, Store], clocks: Clocks
) -> None:
    """At a rate where one slice holds thousands of slots, a push idle past the slice's window
    gets a slot at now, not the slice's next (stale) one: stale slots would each be too late to
    send and stall the push until the slice ran out."""
    budget = SharedBudget(
        stores[0].writing,
        KEY,
        100_000.0,
        paid_rate=100_000.0,
        wall=clocks.wall,
        clock=clocks.monotonic,
        sleep=clocks.sleep,
    )
    try:
        first = await budget.slot("push")
        clocks.advance(0.15)  # inside the slice's 0.2 s, far past its second slot
        later = await budget.slot("push")
    finally:
        budget.close()
    assert first == pytest.approx(500.0, abs=EPS)
    assert later >= clocks.monotonic() - 0.02 - EPS  # at most LATE/2 in the past
    assert budget.leases == 1  # still the same slice
