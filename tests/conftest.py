"""Shared fixtures: real SQLite files, real PostgreSQL (when CI provides it), templates."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.db.engine import open_database
from bot.rendering import Renderer
from bot.store import Store
from bot.telegram.loopback_api import LoopbackBotApi

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
REFERENCE = SEEDS / "000_d1b123459f6495d4.txt"
PG_URL = os.environ.get("DIGESTBOT_TEST_PG")
# PTB 22 warns on every RetryAfter unless retry_after is a timedelta; we opt in, as PTB asks.
os.environ["PTB_TIMEDELTA"] = "1"


def run_digestbot(
    cwd: Path, env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot ARGS` as a person would, in `cwd` with `env`; never raise on failure."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A database URL for a fresh SQLite file."""
    return f"sqlite:///{tmp_path / 'digestbot.sqlite3'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A database URL on the CI PostgreSQL server, in a schema of its own (dropped after)."""
    if not PG_URL:
        pytest.skip("DIGESTBOT_TEST_PG is not set (CI starts PostgreSQL and sets it)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh database URL, once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated store on a fresh database (SQLite and PostgreSQL)."""
    s = Store(open_database(database_url))
    yield s
    s.close()


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Store]:
    """A migrated store on a fresh SQLite file only."""
    s = Store(open_database(sqlite_url))
    yield s
    s.close()


@pytest.fixture(scope="session")
def renderer() -> Renderer:
    """The bundled templates."""
    return Renderer()


@pytest.fixture
def seeds_dir(tmp_path: Path) -> Path:
    """A copy of the bundled seeds folder that a test may change."""
    target = tmp_path / "seeds"
    shutil.copytree(SEEDS, target)
    return target


@pytest.fixture
async def loopback_api() -> AsyncIterator[LoopbackBotApi]:
    """A started loopback Bot API server on 127.0.0.1 (no rate enforcement), stopped after."""
    api = LoopbackBotApi()
    await api.start()
    try:
        yield api
    finally:
        await api.stop()


@pytest.fixture
def cli_env(tmp_path: Path, seeds_dir: Path) -> dict[str, str]:
    """Environment for `python -m bot` in tmp_path: SQLite there, the seeds copy, no Telegram."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TELEGRAM_", "WEBHOOK_", "DIGESTBOT_"))
        and key not in {"DATABASE_URL", "SEEDS_DIR", "PORT", "LOG_LEVEL", "ADMIN_IDS"}
    }
    return {
        **inherited,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'digestbot.sqlite3'}",
        "SEEDS_DIR": str(seeds_dir),
        "PYTHONIOENCODING": "utf-8",
    }
