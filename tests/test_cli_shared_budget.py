"""Several `digestbot` processes on one token share one Telegram rate budget (real subprocesses).

`digestbot run` and two `digestbot push --now` push to the same subscribers against a loopback
Bot API that refuses (429) any second over RATE_LIMIT: together they stay under it, use most of
it, and /latest is still answered mid-push; a push killed -9 gives its share back at once.
Each test takes 10-15 s (a push of a few hundred messages at 25/s), hence `slow`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.db.engine import open_database
from bot.fakeapi.models import Limits
from bot.fakeapi.server import LoopbackBotApi
from bot.store import Store
from bot.sync import sync_articles
from tests.test_cli_push import ROOT, env_for, subscribe
from tests.warm_cli import ForkedProcess, start_forked

pytestmark = pytest.mark.slow

RATE = 25
CHATS = 200
CLIENT = 900_001  # a user who is not subscribed: the push sends them nothing


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_url(request: pytest.FixtureRequest, cli_env: dict[str, str]) -> str:
    """cli_env's SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return cli_env["DATABASE_URL"]
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def shared_store(shared_url: str, seeds_dir: Path) -> Iterator[Store]:
    """The migrated store at shared_url with the seeds imported and CHATS due subscribers."""
    store = Store(open_database(shared_url))
    sync_articles(store, [seeds_dir])
    subscribe(store, list(range(1000, 1000 + CHATS)))
    yield store
    store.close()


@pytest.fixture
async def strict_api() -> AsyncIterator[LoopbackBotApi]:
    """A loopback Bot API answering 429 to any message beyond RATE in a sliding second."""
    async with LoopbackBotApi(limits=Limits(global_per_second=RATE)) as api:
        yield api


async def start(env: dict[str, str], *args: str) -> ForkedProcess:
    """Start `digestbot <args>` (forked from a warm process, its output kept)."""
    return await start_forked(ROOT, env, args)


async def stop(process: ForkedProcess, sig: int = signal.SIGTERM) -> str:
    """Stop a process (if still running) and return its stderr."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return err.decode()


class Meter:
    """Samples how many messages the server accepted, to read rates from."""

    def __init__(self, api: LoopbackBotApi) -> None:
        self.api = api
        self.samples: list[tuple[float, int]] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.samples.append((loop.time(), self.api.stats.sent))
            await asyncio.sleep(0.05)

    def when(self, sent: int) -> float:
        """Return when the server had accepted `sent` messages."""
        return next(t for t, n in self.samples if n >= sent)

    def count_at(self, at: float) -> int:
        """Return how many messages the server had accepted at `at`."""
        return max((n for t, n in self.samples if t <= at), default=0)


async def wait_for_claimers(store: Store, pids: set[int], timeout: float = 60) -> None:  # noqa: ASYNC109
    """Wait until a ledger row is claimed by each of the processes `pids`."""
    query = text("SELECT DISTINCT claimed_by FROM deliveries WHERE claimed_by IS NOT NULL")
    async with asyncio.timeout(timeout):
        while True:
            with store.engine.connect() as c:
                workers = [str(w) for (w,) in c.execute(query)]
            if {int(w.split(":")[1]) for w in workers} >= pids:
                return
            await asyncio.sleep(0.05)


@pytest.mark.realtime(seconds=10)
async def test_run_and_two_pushes_together_stay_within_one_budget_and_use_it(
    cli_env: dict[str, str], shared_url: str, shared_store: Store, strict_api: LoopbackBotApi
) -> None:
    """`digestbot run` plus two `digestbot push --now` at RATE_LIMIT=25 each: the server sees
    no second over 25 and no 429, at least 90 % of 25/s while messages remain, every
    subscriber gets one digest, and /latest is answered while the push goes on."""
    env = env_for(
        cli_env, strict_api, DATABASE_URL=shared_url, RATE_LIMIT=str(RATE), PUSH_TICK="1"
    )
    meter = Meter(strict_api)
    sampling = asyncio.ensure_future(meter.run())
    bot = await start(env, "run")
    pushes: list[ForkedProcess] = []
    try:
        pushes = [await start(env, "push", "--now") for _ in range(2)]
        await strict_api.wait_accepted(60)
        user = strict_api.user(CLIENT)
        strict_api.send_message(strict_api.private_chat(user), user, "/latest")
        await strict_api.wait_sent(CLIENT, 1, timeout=10)
        answered_at = strict_api.stats.sent
        await strict_api.wait_accepted(CHATS + 1)
        errors = [await stop(push, 0) for push in pushes]
        assert all(push.returncode == 0 for push in pushes), errors
    finally:
        sampling.cancel()
        for push in pushes:
            await stop(push, signal.SIGKILL)
        bot_errors = await stop(bot)
    errors = [] if not pushes else errors
    stats = strict_api.stats
    assert stats.too_many_requests == 0, (bot_errors, errors)
    assert stats.max_per_second <= RATE
    assert answered_at < CHATS  # /latest was answered mid-push, not after it
    assert all(len(strict_api.messages(c)) == 1 for c in range(1000, 1000 + CHATS))
    # While messages remain (from the 20th to the 180th), the three use >= 90 % of the budget.
    first, last = meter.when(20), meter.when(CHATS - 20)
    used = (CHATS - 40) / (last - first)
    assert used >= 0.9 * RATE, used


@pytest.mark.realtime(seconds=7)
async def test_a_push_killed_mid_push_gives_its_share_back_within_seconds(
    cli_env: dict[str, str], shared_url: str, shared_store: Store, strict_api: LoopbackBotApi
) -> None:
    """Two pushes share 25/s; one is killed -9: within 2 s the other sends at >= 90 % of the
    whole budget (the dead one's leases were only ever a fraction of a second ahead)."""
    # A push keeps up to 200 rows claimed and tops them up as it sends: 2000 chats leave rows
    # for the second process however late it starts (both are stopped after the window).
    subscribe(shared_store, list(range(2000, 2000 + 10 * CHATS)))
    env = env_for(cli_env, strict_api, DATABASE_URL=shared_url, RATE_LIMIT=str(RATE))
    meter = Meter(strict_api)
    sampling = asyncio.ensure_future(meter.run())
    pushes = [await start(env, "push", "--now") for _ in range(2)]
    try:
        # Both have claimed their queues (start-up takes seconds on a loaded machine), and
        # both are sending, before one is killed.
        await wait_for_claimers(shared_store, {push.pid for push in pushes})
        await strict_api.wait_accepted(60)
        pushes[0].kill()
        await pushes[0].wait()
        loop = asyncio.get_running_loop()
        killed = loop.time()
        await asyncio.sleep(4.0)
        after = meter.count_at(killed + 4.0) - meter.count_at(killed + 2.0)
    finally:
        sampling.cancel()
        for push in pushes:
            await stop(push, signal.SIGKILL)
    assert strict_api.stats.too_many_requests == 0, after
    assert strict_api.stats.max_per_second <= RATE
    assert after / 2.0 >= 0.9 * RATE, after
