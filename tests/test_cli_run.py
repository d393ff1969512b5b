"""`digestbot run` refuses to start without what it needs (one line, exit 2), stops in time."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import run_digestbot


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


@pytest.mark.slow
def test_fake_api_serves_the_bot_api_until_sigterm(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """`digestbot fake-api` prints base_url and token; getMe works; SIGTERM stops it."""
    with subprocess.Popen(
        [sys.executable, "-m", "bot", "fake-api", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env,
        cwd=tmp_path,
    ) as proc:
        try:
            assert proc.stdout is not None
            printed = dict(proc.stdout.readline().split(" ", 1) for _ in range(3))
            base_url, token = printed["base_url"].strip(), printed["token"].strip()
            assert base_url.startswith("http://127.0.0.1:")
            url = f"{base_url}{token}/getMe"  # http://127.0.0.1 checked above
            with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310
                me = json.load(response)
            assert me["ok"] is True
            assert me["result"]["is_bot"] is True
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.returncode is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr


class FakeTelegram:
    """`digestbot fake-api` in a subprocess: act as users through its control API."""

    def __init__(self, base_url: str, control_url: str, token: str) -> None:
        self.base_url, self.control_url, self.token = base_url, control_url, token

    def say(self, text: str, user_id: int = 7) -> None:
        body = json.dumps({"user_id": user_id, "text": text}).encode()
        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 (fake-api)
            f"{self.control_url}/message", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30):  # noqa: S310 - as above
            pass

    def received(self, chat_id: int = 7) -> int:
        url = f"{self.control_url}/messages?chat_id={chat_id}"
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - as above
            return len(json.load(response)["result"])

    def wait_for(self, count: int, chat_id: int = 7, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.received(chat_id) < count:
            assert time.monotonic() < deadline, f"the bot sent fewer than {count} messages"
            time.sleep(0.1)


@contextlib.contextmanager
def fake_telegram(cwd: Path, env: dict[str, str]) -> Iterator[FakeTelegram]:
    with subprocess.Popen(
        [sys.executable, "-m", "bot", "fake-api", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=cwd,
    ) as proc:
        try:
            assert proc.stdout is not None
            printed = dict(proc.stdout.readline().strip().split(" ", 1) for _ in range(3))
            yield FakeTelegram(printed["base_url"], printed["control_url"], printed["token"])
        finally:
            proc.terminate()
            proc.communicate(timeout=30)


def stop_running_bot(
    cwd: Path, env: dict[str, str], load: Callable[[FakeTelegram], None]
) -> tuple[int, float, str]:
    """Run the bot on a fake Telegram, `load` it, SIGTERM it; return code, seconds, stderr."""
    with (
        fake_telegram(cwd, env) as telegram,
        subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={
                **env,
                "TELEGRAM_BASE_URL": telegram.base_url,
                "TELEGRAM_BOT_TOKEN": telegram.token,
                "SHUTDOWN_GRACE": "2s",
            },
            cwd=cwd,
        ) as bot,
    ):
        try:
            telegram.say("/help")
            telegram.wait_for(1)
            load(telegram)
            started = time.monotonic()
            bot.send_signal(signal.SIGTERM)
            _, stderr = bot.communicate(timeout=60)
            return bot.returncode, time.monotonic() - started, stderr
        finally:
            if bot.returncode is None:
                bot.kill()
                bot.communicate()


@pytest.mark.realtime(seconds=6)
@pytest.mark.slow
def test_sigterm_with_hundreds_of_queued_replies_exits_0_within_the_grace(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """300 /latest from one chat wait for its 1 message/s; SIGTERM drops them within
    SHUTDOWN_GRACE=2s (not minutes) and exits 0."""

    def flood(telegram: FakeTelegram) -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: telegram.say("/latest"), range(300)))
        telegram.wait_for(3)  # replies are going out at the chat's pace

    code, seconds, stderr = stop_running_bot(tmp_path, cli_env, flood)
    assert code == 0, stderr
    assert seconds < 8, stderr
    assert "Traceback" not in stderr


@pytest.mark.realtime(seconds=8)
@pytest.mark.slow
def test_sigterm_during_a_long_full_text_exits_0_within_the_grace(
    tmp_path: Path, cli_env: dict[str, str], seeds_dir: Path
) -> None:
    """/full of an article of hundreds of messages is cut short by SIGTERM within the grace."""
    reference = next(iter(sorted(seeds_dir.glob("*.txt")))).read_text(encoding="utf-8")
    date = reference.split("发布日期: ", 1)[1].split("\n", 1)[0]
    huge = reference.replace(f"发布日期: {date}", "发布日期: 2099-01-01", 1)
    body = "".join(f"第 {n} 段：" + "很长的正文。" * 300 + "\n\n" for n in range(200))
    huge = huge.replace("## 正文\n", f"## 正文\n\n{body}", 1)
    (seeds_dir / "zzz_huge.txt").write_text(huge, encoding="utf-8")

    def full_text(telegram: FakeTelegram) -> None:
        telegram.say("/full")
        telegram.wait_for(3)  # /help's reply, then the full text is under way

    code, seconds, stderr = stop_running_bot(tmp_path, cli_env, full_text)
    assert code == 0, stderr
    assert seconds < 8, stderr
    assert "Traceback" not in stderr
