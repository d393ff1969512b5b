"""`digestbot run` refuses to start without what it needs, in one line and exit 2."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
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
