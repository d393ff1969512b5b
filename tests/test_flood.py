"""The per-chat command budget: a token bucket with a warning, then silence until calm."""

from __future__ import annotations

import pytest

from bot.flood import CommandBudget, Verdict, request_key


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_chat_may_burst_then_gets_one_warning_then_is_ignored() -> None:
    budget = CommandBudget(burst=3, rate=1.0, clock=Clock())
    verdicts = [budget.check(1) for _ in range(6)]
    assert verdicts == [Verdict.ALLOW] * 3 + [Verdict.WARN] + [Verdict.IGNORE] * 2


def test_chats_have_their_own_budgets() -> None:
    budget = CommandBudget(burst=1, rate=1.0, clock=Clock())
    assert budget.check(1) is Verdict.ALLOW
    assert budget.check(1) is Verdict.WARN
    assert budget.check(2) is Verdict.ALLOW


def test_a_chat_that_keeps_flooding_stays_ignored_and_one_that_pauses_is_heard_again() -> None:
    clock = Clock()
    budget = CommandBudget(burst=4, rate=1.0, clock=clock)
    for _ in range(4):
        budget.check(1)
    assert budget.check(1) is Verdict.WARN
    # Two commands a second is over the refill rate (one a second): still ignored.
    for _ in range(20):
        clock.now += 0.5
        assert budget.check(1) is Verdict.IGNORE
    clock.now += 4.0  # quiet for burst / rate seconds: the bucket is full again
    assert budget.check(1) is Verdict.ALLOW


def test_within_the_rate_a_chat_is_never_warned() -> None:
    clock = Clock()
    budget = CommandBudget(burst=2, rate=0.5, clock=clock)
    for _ in range(100):
        assert budget.check(1) is Verdict.ALLOW
        clock.now += 2.0


def test_full_buckets_are_forgotten_so_memory_stays_bounded() -> None:
    clock = Clock()
    budget = CommandBudget(burst=2, rate=1.0, clock=clock, max_chats=10)
    for chat in range(100):
        budget.check(chat)
        clock.now += 2.0  # every earlier bucket has refilled
    assert len(budget._buckets) <= 10


def test_a_muted_chat_is_kept_when_pruning() -> None:
    clock = Clock()
    budget = CommandBudget(burst=1, rate=0.001, clock=clock, max_chats=2)
    budget.check(1)
    assert budget.check(1) is Verdict.WARN
    for chat in range(2, 10):
        budget.check(chat)
    assert budget.check(1) is Verdict.IGNORE


def test_budget_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="burst"):
        CommandBudget(burst=0)
    with pytest.raises(ValueError, match="rate"):
        CommandBudget(rate=0)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("/latest", "/latest"),
        ("/Latest@DigestBot", "/latest"),
        ("  /full   3  2 ", "/full 3 2"),
        ("hello  there", "hello there"),
        ("", ""),
    ],
)
def test_request_key_is_the_command_and_its_words(text: str, key: str) -> None:
    assert request_key(text) == key
