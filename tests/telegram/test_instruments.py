"""Metrics, /healthz and quiet logs of the running bot, scraped over the loopback API."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.fakeapi.models import Fault
from bot.fakeapi.server import LoopbackBotApi
from bot.logging_setup import NOISY, quiet_libraries
from bot.status import PUSH_TICK, UPDATES, Bounds, status_served
from bot.telegram import jobs
from bot.telegram.runner import status_of
from tests.telegram.conftest import DEFAULT_BACKEND, bot_settings, running_bot

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_and_healthz_scraped_during_an_end_to_end_run(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> None:
    api = loopback_api
    settings = bot_settings(api, tmp_path, seeds_dir, DEFAULT_BACKEND)
    async with running_bot(api, settings) as bot:
        status = status_of(bot.app, webhook=False)
        async with (
            status_served(status, "127.0.0.1", 0) as port,
            aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http,
        ):
            user = api.user(7, language_code="en")
            chat = api.private_chat(user)
            await bot.say(chat, user, "/start")
            api.fail_next("sendMessage", fault=Fault.retry_after(1))
            await bot.say(chat, user, "/latest")
            group = api.group(-5)
            await bot.say(group, user, "/start")
            api.block(user.id)
            report = await jobs.start_push(bot.app, force=True)
            assert report is not None
            assert report.sent == 1
            assert report.blocked == 1

            async with http.get("/healthz") as answer:
                assert answer.status == 200
                body = await answer.json()
            assert body["status"] == "ok"
            assert body["age_seconds"][UPDATES] < 5  # getUpdates answered just now
            async with http.get("/metrics") as answer:
                assert answer.status == 200
                scraped = parse(await answer.text())

    assert scraped["digestbot_messages_sent_total", (("lane", "command"),)] >= 3
    assert scraped["digestbot_messages_sent_total", (("lane", "push"),)] == 1
    failed = ("digestbot_messages_failed_total", (("lane", "push"), ("reason", "forbidden")))
    assert scraped[failed] == 1
    assert scraped["digestbot_flood_waits_total", ()] == 1
    assert scraped["digestbot_flood_wait_seconds_total", ()] >= 0.9
    assert scraped["digestbot_command_seconds_count", (("command", "start"),)] == 2
    assert scraped["digestbot_command_seconds_count", (("command", "latest"),)] == 1
    assert scraped["digestbot_push_runs_total", (("result", "ok"),)] == 1
    assert scraped["digestbot_push_run_duration_seconds_count", ()] == 1
    assert scraped["digestbot_push_deliveries_total", (("outcome", "blocked"),)] == 1
    assert scraped["digestbot_ledger_rows", (("state", "sent"),)] == 1
    assert scraped["digestbot_ledger_rows", (("state", "failed"),)] == 1
    assert scraped["digestbot_subscribers", (("kind", "group"), ("status", "active"))] == 1
    assert scraped["digestbot_subscribers", (("kind", "private"), ("status", "inactive"))] == 1
    assert scraped["digestbot_syncs_total", (("result", "ok"),)] == 1
    assert scraped["digestbot_sync_files_total", (("result", "new"),)] >= 1


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while not await check():  # noqa: ASYNC110 - polls the bot's state, nothing to wait on
            await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_healthz_names_a_failing_getupdates_and_a_dead_database(
    loopback_api: LoopbackBotApi, tmp_path: Path, seeds_dir: Path
) -> None:
    settings = bot_settings(loopback_api, tmp_path, seeds_dir, DEFAULT_BACKEND)
    async with running_bot(loopback_api, settings) as bot:
        liveness = bot.app.bot_data.liveness

        async def polled() -> bool:
            return liveness.seen(UPDATES)

        await until(polled)
        # The harness long-polls for 1 s: a bound of 1.5 s is missed only when polls fail.
        status = replace(status_of(bot.app, webhook=False), bounds=Bounds(1.5, 3600))
        assert (await status.health()).ok
        loopback_api.fail_next("getUpdates", 1000, fault=Fault.server_error())

        async def stale() -> bool:
            return not (await status.health()).ok

        await until(stale)
        assert (await status.health()).body["stale"] == [UPDATES]

        def unreachable() -> None:
            raise ConnectionRefusedError("database down")

        dead = replace(status, ping=unreachable)
        assert (await dead.health()).body["stale"] == ["database", UPDATES]
        loopback_api.clear_faults()

        async def healthy() -> bool:
            return (await status.health()).ok

        await until(healthy)


@pytest.fixture
def info_records(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every record at INFO with the CLI's quieting applied; restore levels after."""
    levels = {name: logging.getLogger(name).level for name in NOISY}
    caplog.set_level(logging.INFO)
    quiet_libraries()
    try:
        yield caplog
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


async def test_an_idle_bot_logs_nothing_at_info_over_many_ticks(
    loopback_api: LoopbackBotApi,
    tmp_path: Path,
    seeds_dir: Path,
    info_records: pytest.LogCaptureFixture,
) -> None:
    tick = 0.05
    settings = bot_settings(loopback_api, tmp_path, seeds_dir, DEFAULT_BACKEND).model_copy(
        update={"push_tick": tick}
    )
    async with running_bot(loopback_api, settings) as bot:
        info_records.clear()  # start-up says what it synced, once
        ticks = 0
        for _ in range(40):
            await asyncio.sleep(tick)
            ticks += bot.app.bot_data.liveness.age(PUSH_TICK) < tick * 2
        assert ticks >= 10, "the push tick did not run"
        loud = [r for r in info_records.records if r.levelno >= logging.INFO]
        assert loud == [], [f"{r.name}: {r.getMessage()}" for r in loud]
