"""`digestbot run` refuses to start without what it needs (one line, exit 2), stops in time.

Each command runs as a person runs it, in a process of its own that gets real signals and
exits with a real code; the process is a fork of a warm one (tests/warm_cli.py), so it skips
the interpreter's start. The fake Telegram the bot polls is the loopback Bot API in the test's
own event loop (the `loopback_api` fixture): the test acts as the users on that object.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from bot.fakeapi.server import LoopbackBotApi
from tests.conftest import run_digestbot
from tests.warm_cli import ForkedProcess, start_forked


def digestbot(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_digestbot(cwd, env, *args)


def test_run_without_token_names_the_variable_and_the_console(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    result = digestbot(tmp_path, cli_env, "run")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "TELEGRAM_BOT_TOKEN" in lines[0]
    assert "digestbot console" in lines[0]
    assert "Traceback" not in result.stderr


def test_run_webhook_without_url_is_a_one_line_config_error(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    env = {**cli_env, "TELEGRAM_BOT_TOKEN": "123:abc"}
    result = digestbot(tmp_path, env, "run", "--webhook")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "WEBHOOK_URL" in result.stderr


GRACE = 2  # SHUTDOWN_GRACE, seconds, for the bots these tests stop
# Past the grace: the abandoned sends unwind, the process exits; on a busy two-core machine.
MARGIN = 6


async def stopped(process: ForkedProcess, within: float) -> tuple[int, str]:
    """SIGTERM `process`; return its exit code and stderr, failing if it runs past `within` s."""
    process.send_signal(signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            await process.wait()
    if process.returncode is None:
        process.kill()
        _, err = await process.communicate()
        pytest.fail(f"still running {within} s after SIGTERM; stderr:\n{err.decode()}")
    _, err = await process.communicate()
    return process.returncode, err.decode()


async def killed(process: ForkedProcess) -> None:
    """Kill `process` if a failed test left it running."""
    if process.returncode is None:
        process.kill()
        await process.wait()


async def printed(process: ForkedProcess, count: int) -> list[str]:
    """Wait until the running `process` has printed `count` lines; return them."""
    async with asyncio.timeout(60):
        while True:
            assert process.returncode is None, "it ended before printing all it should"
            text = process.printed()
            lines = text[: text.rfind("\n") + 1].splitlines()  # whole lines only
            if len(lines) >= count:
                return lines
            await asyncio.sleep(0.02)


@pytest.mark.slow
async def test_fake_api_serves_the_bot_api_until_sigterm(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """`digestbot fake-api` prints base_url and token; getMe works; SIGTERM stops it, exit 0."""
    process = await start_forked(tmp_path, cli_env, ("fake-api", "--port", "0"))
    try:
        announced = dict(line.split(" ", 1) for line in await printed(process, 3))
        base_url, token = announced["base_url"], announced["token"]
        assert base_url.startswith("http://127.0.0.1:")
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
            session.get(f"{base_url}{token}/getMe") as response,
        ):
            me = json.loads(await response.text())
        assert me["ok"] is True
        assert me["result"]["is_bot"] is True
        code, stderr = await stopped(process, within=60)
    finally:
        await killed(process)
    assert code == 0, stderr
    assert "Traceback" not in stderr


CHAT = 7  # the user who starts the bot with /help; a private chat's id is its user's


def say(api: LoopbackBotApi, text: str, user_id: int = CHAT) -> None:
    """Have the user send `text` to the bot in their private chat."""
    user = api.get_user(user_id) or api.user(user_id)
    api.send_message(api.private_chat(user), user, text)


async def stop_running_bot(
    cwd: Path,
    env: dict[str, str],
    api: LoopbackBotApi,
    load: Callable[[LoopbackBotApi], Awaitable[None]],
) -> tuple[int, str]:
    """Run the bot on `api`, `load` it, SIGTERM it; return its exit code and stderr.

    It fails unless the bot ends within SHUTDOWN_GRACE and the margin after SIGTERM.
    """
    env = {
        **env,
        "TELEGRAM_BASE_URL": api.base_url,
        "TELEGRAM_BOT_TOKEN": api.token,
        "SHUTDOWN_GRACE": f"{GRACE}s",
    }
    bot = await start_forked(cwd, env, ("run",))
    try:
        say(api, "/help")
        await api.wait_accepted(1)  # polling, and handling updates
        await load(api)
        return await stopped(bot, within=GRACE + MARGIN)
    finally:
        await killed(bot)


@pytest.mark.realtime(seconds=3)
@pytest.mark.slow
async def test_sigterm_with_hundreds_of_queued_replies_exits_0_within_the_grace(
    tmp_path: Path, cli_env: dict[str, str], loopback_api: LoopbackBotApi
) -> None:
    """300 chats send /latest; their replies wait for RATE_LIMIT=2 messages/s (minutes of
    them); SIGTERM drops the rest within SHUTDOWN_GRACE=2s and exits 0.

    300 chats, not 300 /latest from one: the flood guard answers one chat's flood with a
    "slow down" and ignores the rest, which would leave no queue to drop.
    """
    chats = range(1000, 1300)

    async def flood(api: LoopbackBotApi) -> None:
        for chat in chats:
            say(api, "/latest", chat)
        await api.wait_accepted(3)  # /help's reply, then replies going out at RATE_LIMIT

    env = {**cli_env, "RATE_LIMIT": "2"}
    code, stderr = await stop_running_bot(tmp_path, env, loopback_api, flood)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    answered = sum(1 for chat in chats if loopback_api.messages(chat))
    assert answered < len(chats) // 2, "the replies were not queued at SIGTERM"


def add_huge_article(seeds_dir: Path) -> None:
    """Add the newest article: a seed with 200 long paragraphs, hundreds of messages in full."""
    reference = next(iter(sorted(seeds_dir.glob("*.txt")))).read_text(encoding="utf-8")
    date = reference.split("发布日期: ", 1)[1].split("\n", 1)[0]
    huge = reference.replace(f"发布日期: {date}", "发布日期: 2099-01-01", 1)
    body = "".join(f"第 {n} 段：" + "很长的正文。" * 300 + "\n\n" for n in range(200))
    huge = huge.replace("## 正文\n", f"## 正文\n\n{body}", 1)
    (seeds_dir / "zzz_huge.txt").write_text(huge, encoding="utf-8")


@pytest.mark.realtime(seconds=4)
@pytest.mark.slow
async def test_sigterm_during_a_long_full_text_exits_0_within_the_grace(
    tmp_path: Path, cli_env: dict[str, str], seeds_dir: Path, loopback_api: LoopbackBotApi
) -> None:
    """/full of an article of hundreds of messages, 100 of them a request
    (FULL_TEXT_MAX_MESSAGES=100) at the chat's 1 message/s, is cut short by SIGTERM within
    SHUTDOWN_GRACE=2s; the bot exits 0."""
    add_huge_article(seeds_dir)

    async def full_text(api: LoopbackBotApi) -> None:
        say(api, "/full")
        await api.wait_sent(CHAT, 3, timeout=60)  # /help's reply, then the full text is under way

    env = {**cli_env, "FULL_TEXT_MAX_MESSAGES": "100"}
    code, stderr = await stop_running_bot(tmp_path, env, loopback_api, full_text)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert len(loopback_api.messages(CHAT)) < 50, "the full text was not cut short"
