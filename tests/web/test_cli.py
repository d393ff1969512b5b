"""`digestbot web`: serve the reader standalone; refuse a reader nobody could open."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import run_digestbot
from tests.warm_cli import start_forked


def test_without_a_token_or_web_public_it_says_what_to_set(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    result = run_digestbot(tmp_path, cli_env, "web")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "digestbot: the web reader needs TELEGRAM_BOT_TOKEN (to sign links) or WEB_PUBLIC=true"
    ]


@pytest.mark.slow
async def test_a_public_reader_serves_the_archive_and_stops_on_sigterm(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await start_forked(
        tmp_path, {**cli_env, "WEB_PUBLIC": "true"}, ("web", "--port", str(port))
    )
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/a/1") as response:
                        assert response.status == 200
                        assert "<article" in await response.text()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                raise AssertionError("digestbot web never answered")
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 20) == 0
