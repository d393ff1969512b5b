"""Several processes on one database at once: they migrate once and import without colliding.

Real processes (`python -m bot`, forked from a warm one: tests/warm_cli.py), as an operator
starts them: two webhook instances coming up together, or imports run side by side, on SQLite
and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import ROOT
from tests.warm_cli import start_together

PROCESSES = 3
# Enough that each import takes a while and the three write the same rows at once: each
# parses them all first, then writes them in one transaction that the others meet.
FILES = 600

ARTICLE = """---
title: "Article {i}"
date: 2025-06-01
---

## Summary

**One-line summary**
Article {i} in one line.
"""

_SUMMARY = re.compile(
    r"imported (\d+) new, (\d+) updated, (\d+) unchanged, (\d+) hidden, (\d+) failed"
)

# Each process, once it has imported everything, waits for the others at a barrier (one file
# per process in a folder) before it opens the database: their migrations overlap, not their
# Python start-up.
_OPEN_TOGETHER = """
import os, sys, time
from pathlib import Path
from bot.db.engine import open_database
url, barrier, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
(barrier / str(os.getpid())).touch()
while len(list(barrier.iterdir())) < count:
    time.sleep(0.005)
open_database(url).dispose()
"""


def _write_articles(folder: Path, count: int) -> None:
    for i in range(count):
        (folder / f"a{i:05d}.md").write_text(ARTICLE.format(i=i), encoding="utf-8")


def _run_together(
    runs: list[tuple[str, ...]], env: dict[str, str], cwd: Path
) -> list[tuple[int, str]]:
    """Start every `python -m bot ARGS` at once; return each one's exit code and output."""

    async def together() -> list[tuple[int, str]]:
        results = []
        for process in await start_together(cwd, env, runs):
            out, err = await process.communicate()
            results.append((await process.wait(), (out + err).decode("utf-8")))
        return results

    return asyncio.run(together())


def _spawn_together(commands: list[list[str]], env: dict[str, str]) -> list[tuple[int, str]]:
    """Start every command as a new interpreter at once; return each one's code and output."""
    procs = [
        subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
        )
        for command in commands
    ]
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    return [(proc.returncode, out) for proc, out in zip(procs, outputs, strict=True)]


def _count(url: str, query: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(query)).scalar_one())
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def many_seeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of FILES small articles, written once for every test here (they only read)."""
    folder = tmp_path_factory.mktemp("many")
    _write_articles(folder, FILES)
    return folder


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database nobody has opened yet: no SQLite file, or an empty PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh' / 'digestbot.sqlite3'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.mark.slow  # three processes parse 600 files each: 3-5 s on two busy cores
def test_processes_importing_the_same_files_at_once_store_each_article_once(
    fresh_url: str, many_seeds: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**cli_env, "DATABASE_URL": fresh_url, "SEEDS_DIR": str(many_seeds)}
    results = _run_together([("import",)] * PROCESSES, env, tmp_path)

    reports = []
    for code, out in results:
        assert code == 0, out
        found = _SUMMARY.search(out)
        assert found is not None, out
        reports.append([int(n) for n in found.groups()])
    assert _count(fresh_url, "SELECT count(*) FROM articles") == FILES
    # Truthful reports: every file is new in exactly one process, and no process calls a
    # file another one inserted first an error.
    assert sum(new for new, *_ in reports) == FILES
    for new, updated, unchanged, hidden, failed in reports:
        assert (new + updated + unchanged, hidden, failed) == (FILES, 0, 0)


@pytest.mark.slow
def test_processes_starting_on_an_empty_database_all_come_up(
    fresh_url: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**cli_env, "DATABASE_URL": fresh_url}
    results = _run_together([("list",)] * PROCESSES, env, tmp_path)

    for code, out in results:
        assert code == 0, out
    assert _count(fresh_url, "SELECT count(*) FROM alembic_version") == 1


@pytest.mark.slow
def test_processes_opening_an_empty_database_at_the_same_instant_migrate_once(
    fresh_url: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    count = PROCESSES + 1
    command = [sys.executable, "-c", _OPEN_TOGETHER, fresh_url, str(barrier), str(count)]

    results = _spawn_together([command] * count, cli_env)

    for code, out in results:
        assert code == 0, out
    assert _count(fresh_url, "SELECT count(*) FROM alembic_version") == 1
