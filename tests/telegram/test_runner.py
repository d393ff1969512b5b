"""`digestbot run` against the loopback Bot API: polling, webhook with its secret, SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from bot.config import Settings
from bot.fakeapi.server import LoopbackBotApi
from bot.telegram.app import build_application
from bot.telegram.credentials import REFUSED
from bot.telegram.runner import SECRET_HEADER, Webhook, started, webhook_app, webhook_for
from tests.warm_cli import ForkedProcess, start_forked

WAIT = 90.0  # generous: the bot process imports PTB and syncs the seeds on two shared cores


@asynccontextmanager
async def digestbot_run(
    tmp_path: Path, env: dict[str, str], *args: str
) -> AsyncIterator[ForkedProcess]:
    """Start `python -m bot run ...` (forked from a warm process); on exit make sure it is gone."""
    proc = await start_forked(tmp_path, env, ("run", *args))
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()


async def terminate(proc: ForkedProcess) -> tuple[int, str]:
    """Send SIGTERM; return the exit code and stderr."""
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(WAIT):
        _, stderr = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, stderr.decode()


def bot_env(cli_env: dict[str, str], api: LoopbackBotApi, **extra: str) -> dict[str, str]:
    return {
        **cli_env,
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_BASE_URL": api.base_url,
        "LOG_LEVEL": "INFO",
        **extra,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
async def test_run_polls_answers_start_and_stops_cleanly_on_sigterm(
    tmp_path: Path, cli_env: dict[str, str], loopback_api: LoopbackBotApi
) -> None:
    user = loopback_api.user(501, language_code="en")
    chat = loopback_api.private_chat(user)
    async with digestbot_run(tmp_path, bot_env(cli_env, loopback_api)) as proc:
        loopback_api.send_message(chat, user, "/start")
        sent = await loopback_api.wait_sent(chat.id, 1, timeout=WAIT)
        await loopback_api.settle()
        code, stderr = await terminate(proc)
    assert sent[0].text
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert loopback_api.stats.calls["getUpdates"] > 0
    # The token never reaches the log (httpx would print it in request URLs at INFO).
    assert loopback_api.token not in stderr


@pytest.mark.slow
async def test_run_webhook_answers_updates_and_refuses_a_wrong_secret(
    tmp_path: Path, cli_env: dict[str, str], loopback_api: LoopbackBotApi
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram"
    env = bot_env(cli_env, loopback_api, WEBHOOK_URL=url, PORT=str(port))
    user = loopback_api.user(502, language_code="zh-hans")
    chat = loopback_api.private_chat(user)
    async with digestbot_run(tmp_path, env, "--webhook", "--listen", "127.0.0.1") as proc:
        # Queued until the bot sets its webhook; then the loopback POSTs it with the secret.
        loopback_api.send_message(chat, user, "/start")
        sent = await loopback_api.wait_sent(chat.id, 1, timeout=WAIT)
        update = {"update_id": 99, "message": {"message_id": 1, "date": 0, "text": "/start"}}
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json=update) as missing:
                assert missing.status == 403
            async with session.post(url, json=update, headers={SECRET_HEADER: "x"}) as wrong:
                assert wrong.status == 403
        code, stderr = await terminate(proc)
    assert sent[0].text
    assert loopback_api.stats.calls["getUpdates"] == 0
    assert loopback_api.stats.calls["setWebhook"] == 1
    assert code == 0, stderr
    assert "Traceback" not in stderr


@pytest.mark.slow
async def test_run_with_a_refused_token_is_one_line_without_the_token(
    tmp_path: Path, cli_env: dict[str, str], loopback_api: LoopbackBotApi
) -> None:
    wrong = "987654321:not-the-loopback-token"
    env = {**cli_env, "TELEGRAM_BOT_TOKEN": wrong, "TELEGRAM_BASE_URL": loopback_api.base_url}
    async with digestbot_run(tmp_path, env) as proc, asyncio.timeout(WAIT):
        _, stderr_bytes = await proc.communicate()
    stderr = stderr_bytes.decode()
    assert proc.returncode == 2, stderr
    assert stderr.strip().splitlines() == [f"digestbot: {REFUSED}"]
    assert wrong not in stderr


@pytest.mark.slow
async def test_run_against_an_unreachable_api_is_one_line_and_closes_its_sessions(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    port = free_port()  # nothing listens there
    env = {
        **cli_env,
        "TELEGRAM_BOT_TOKEN": "123:abc",
        "TELEGRAM_BASE_URL": f"http://127.0.0.1:{port}/bot",
    }
    async with digestbot_run(tmp_path, env) as proc, asyncio.timeout(WAIT):
        _, stderr_bytes = await proc.communicate()
    stderr = stderr_bytes.decode()
    assert proc.returncode == 1, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "cannot reach the Bot API" in stderr
    assert "Unclosed" not in stderr


def test_webhook_secret_is_random_per_start_without_webhook_secret(tmp_path: Path) -> None:
    settings = Settings(webhook_url="https://example.org/hook", port=8443, _env_file=None)
    first, second = webhook_for(settings, "127.0.0.1"), webhook_for(settings, "127.0.0.1")
    assert first.secret != second.secret
    assert len(first.secret) >= 32
    assert first.path == "/hook"
    chosen = SecretStr("chosen-by-the-operator")
    fixed = Settings(webhook_url="https://example.org/", webhook_secret=chosen, _env_file=None)
    assert webhook_for(fixed, "127.0.0.1").secret == chosen.get_secret_value()


async def test_webhook_app_queues_updates_with_the_right_secret_only(tmp_path: Path) -> None:
    settings = Settings(
        telegram_bot_token=SecretStr("123:abc"),
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        _env_file=None,
    )
    application = build_application(settings)
    hook = Webhook("https://example.org/tg", "127.0.0.1", 0, "right-secret")
    update = {
        "update_id": 7,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 5, "type": "private"},
            "text": "hi",
        },
    }
    async with TestClient(TestServer(webhook_app(application, hook))) as client:
        for headers in ({}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: "right-secret-2"}):
            refused = await client.post("/tg", json=update, headers=headers)
            assert refused.status == 403
        assert application.update_queue.empty()
        garbage = await client.post("/tg", data=b"[1, 2", headers={SECRET_HEADER: "right-secret"})
        assert garbage.status == 400
        accepted = await client.post("/tg", json=update, headers={SECRET_HEADER: "right-secret"})
        assert accepted.status == 200
    queued = application.update_queue.get_nowait()
    assert getattr(queued, "update_id", None) == 7


async def test_started_runs_post_init_and_post_shutdown_around_polling(
    tmp_path: Path, seeds_dir: Path, loopback_api: LoopbackBotApi
) -> None:
    settings = Settings(
        telegram_bot_token=SecretStr(loopback_api.token),
        telegram_base_url=loopback_api.base_url,
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        seeds_dir=seeds_dir,
        _env_file=None,
    )
    application = build_application(settings)
    user = loopback_api.user(503)
    chat = loopback_api.private_chat(user)
    async with started(application, poll=True):
        assert application.bot_data.runtime is not None
        loopback_api.send_message(chat, user, "/latest")
        await loopback_api.wait_sent(chat.id, 1, timeout=WAIT)
    assert not application.running
    assert application.bot_data.runtime is None
