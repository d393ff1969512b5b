"""`digestbot run` refuses to start without what it needs, in one line and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def digestbot(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


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
