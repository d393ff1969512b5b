"""`digestbot backup`: SQLite's online backup of a live database; PostgreSQL gets a pointer."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.backup import backup_sqlite
from bot.db.engine import open_database
from bot.errors import NotFoundError, UsageError
from tests.conftest import run_digestbot


def test_backup_copies_a_database_that_is_open_for_writing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    engine = open_database(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE note (x INTEGER)"))
    with engine.begin() as conn:  # a writer mid-transaction while the backup runs
        conn.execute(text("INSERT INTO note VALUES (42)"))
        pages = backup_sqlite(url, tmp_path / "copy" / "backup.sqlite3")
    engine.dispose()
    assert pages > 0
    with sqlite3.connect(tmp_path / "copy" / "backup.sqlite3") as copy:
        assert copy.execute("SELECT x FROM note").fetchall() == []  # the committed state only
        assert copy.execute("SELECT count(*) FROM articles").fetchone() == (0,)


def test_backup_refuses_to_overwrite_and_needs_a_database(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        backup_sqlite(f"sqlite:///{tmp_path / 'none.sqlite3'}", tmp_path / "b.sqlite3")
    url = f"sqlite:///{tmp_path / 'live.sqlite3'}"
    open_database(url).dispose()
    (tmp_path / "taken").write_text("", encoding="utf-8")
    with pytest.raises(UsageError, match="exists"):
        backup_sqlite(url, tmp_path / "taken")


def test_backup_on_postgresql_says_pg_dump_in_one_line_and_exits_2(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    env = {**cli_env, "DATABASE_URL": "postgresql+psycopg://user@127.0.0.1:1/db"}
    result = run_digestbot(tmp_path, env, "backup", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "pg_dump" in result.stderr
    assert not (tmp_path / "out").exists()


def test_backup_command_writes_the_copy(tmp_path: Path, cli_env: dict[str, str]) -> None:
    assert run_digestbot(tmp_path, cli_env, "import").returncode == 0
    result = run_digestbot(tmp_path, cli_env, "backup", "saved.sqlite3")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "saved.sqlite3") as copy:
        assert copy.execute("SELECT count(*) FROM articles").fetchone()[0] >= 1
