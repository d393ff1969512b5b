"""The rate budget's arithmetic: grants from a bucket's next free instant, sizes and spacing."""

from __future__ import annotations

import itertools
import math

from bot.ratebudget import (
    HEADROOM,
    budget_key,
    grant,
    lease_size,
    send_step,
)


def test_an_unused_bucket_grants_from_now() -> None:
    granted = grant(None, 100.0, step=0.05, count=4, horizon=0.2)
    assert (granted.start, granted.count, granted.next_at) == (100.0, 4, 100.2)
    assert [granted.slot(i) for i in range(4)] == [100.0, 100.05, 100.1, 100.15000000000001]


def test_idle_time_is_not_saved_up_a_past_slot_starts_now() -> None:
    granted = grant(90.0, 100.0, step=0.05, count=4, horizon=0.2)
    assert granted.start == 100.0
    assert math.isclose(granted.next_at, 100.2)


def test_a_bucket_booked_ahead_grants_after_the_booking_within_the_horizon() -> None:
    granted = grant(100.15, 100.0, step=0.05, count=4, horizon=0.2)
    assert granted.start == 100.15
    assert math.isclose(granted.next_at, 100.35)


def test_a_bucket_booked_beyond_the_horizon_refuses_and_stays_unchanged() -> None:
    granted = grant(100.3, 100.0, step=0.05, count=4, horizon=0.2)
    assert granted.count == 0
    assert granted.start == granted.next_at == 100.3


def test_successive_grants_never_overlap_and_never_exceed_the_rate() -> None:
    """Leasing as fast as allowed for 10 s at 20/s gives ≤ 20 slots in any sliding second."""
    step, count, now, bucket = send_step(20), lease_size(20), 0.0, None
    slots: list[float] = []
    while now < 10.0:
        granted = grant(bucket, now, step=step, count=count, horizon=0.2)
        if granted.count:
            bucket = granted.next_at
            slots.extend(granted.slot(i) for i in range(granted.count))
        now += 0.01
    assert slots == sorted(slots)
    assert all(b - a >= step - 1e-9 for a, b in itertools.pairwise(slots))
    assert max(sum(1 for s in slots if t <= s < t + 1.0) for t in slots) <= 20
    assert len(slots) >= 10 * 20 * (1 - HEADROOM) - count


def test_sizes_and_spacing_follow_the_rate() -> None:
    assert lease_size(20) == 3  # 20/s x 95 % x 0.2 s
    assert lease_size(900) == 171
    assert lease_size(1) == 1
    assert math.isclose(send_step(20), 1 / 19)


def test_the_key_is_a_hash_that_never_contains_the_token() -> None:
    token = "123456:ABC-secret"  # noqa: S105 - a made-up token
    key = budget_key(token)
    assert key == budget_key(token)
    assert key != budget_key("123456:other")
    assert "123456" not in key
    assert len(key) == 32
