"""RoleCache: a role read from Telegram is trusted for a while, failures are not kept."""

from __future__ import annotations

import pytest

from bot.roles import MemberRole, RoleCache


async def test_a_role_is_read_once_per_ttl_and_forgotten_on_request() -> None:
    clock = [0.0]
    reads: list[tuple[int, int]] = []

    async def fetch(chat_id: int, user_id: int) -> MemberRole:
        reads.append((chat_id, user_id))
        return MemberRole("administrator")

    cache = RoleCache(ttl=60.0, clock=lambda: clock[0])
    assert (await cache.role(-1, 7, fetch)).is_admin
    await cache.role(-1, 7, fetch)
    assert reads == [(-1, 7)]
    clock[0] = 60.0
    await cache.role(-1, 7, fetch)
    cache.forget(-1)
    await cache.role(-1, 7, fetch)
    assert len(reads) == 3


async def test_a_failed_read_is_not_cached() -> None:
    calls = 0

    async def fetch(chat_id: int, user_id: int) -> MemberRole:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("telegram is down")
        return MemberRole("member")

    cache = RoleCache()
    with pytest.raises(RuntimeError):
        await cache.role(-1, 7, fetch)
    assert not (await cache.role(-1, 7, fetch)).is_admin
