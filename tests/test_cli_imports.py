"""CLI start-up: `digestbot --version` and `digestbot health` load none of the heavy libraries.

A container runs `digestbot health` every 30 s; the bot, Jinja2 and aiohttp would triple what
each run costs. (SQLAlchemy is the one it needs: its parser checks DATABASE_URL.) The check
needs a fresh interpreter: this test process has them all.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from bot.config import Settings

HEAVY = ("sqlalchemy", "alembic", "telegram", "httpx", "jinja2", "aiohttp")

# Runs main() as the `digestbot` script does, once per argv, then prints the exit codes and
# which HEAVY libraries were imported after each.
PROGRAM = """
import json, sys
from bot.cli import main
codes, loaded = [], []
for argv in (["--version"], ["health"]):
    sys.argv = ["digestbot", *argv]
    try:
        main()
    except SystemExit as exc:
        codes.append(exc.code)
    loaded.append(sorted({name.partition(".")[0] for name in sys.modules} & set(HEAVY)))
print(json.dumps({"codes": codes, "loaded": loaded}), file=sys.__stdout__)
""".replace("HEAVY", repr(HEAVY))


def test_version_and_health_import_no_bot_template_or_http_library(
    tmp_path: Path,
) -> None:
    environ = {
        key: value for key, value in os.environ.items() if key.lower() not in Settings.model_fields
    }
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: the probe is refused
        port = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-c", PROGRAM],
            cwd=tmp_path,
            # As the Dockerfile sets them: a DATABASE_URL to check, a METRICS_PORT to ask.
            env={
                **environ,
                "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
                "METRICS_PORT": str(port),
            },
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["codes"] == [0, 1], result.stderr  # the version, then "nothing answers"
    assert "nothing answers" in result.stderr
    after_version, after_health = report["loaded"]
    assert after_version == []
    assert after_health == ["sqlalchemy"]  # DATABASE_URL checked, nothing else
