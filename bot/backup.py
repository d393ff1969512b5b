"""`digestbot backup`: a consistent copy of a SQLite database while the bot keeps running."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.errors import ConfigError, NotFoundError, UsageError

PG_DUMP_HINT = "DATABASE_URL is PostgreSQL: back it up with pg_dump (backup is for SQLite)"


def sqlite_path(database_url: str) -> Path:
    """Return the file of a SQLite DATABASE_URL; PostgreSQL and in-memory are usage errors."""
    try:
        url = make_url(database_url)
    except ArgumentError as exc:
        raise ConfigError(f"DATABASE_URL is not a database URL: {database_url!r}") from exc
    if url.get_backend_name() != "sqlite":
        raise UsageError(PG_DUMP_HINT)
    if not url.database or url.database == ":memory:":
        raise UsageError("DATABASE_URL is an in-memory SQLite database: nothing to back up")
    return Path(url.database)


def backup_sqlite(database_url: str, target: Path) -> int:
    """Copy the SQLite database to `target` with SQLite's online backup; return its pages.

    The backup API copies a consistent snapshot even while `digestbot run` writes (WAL), which
    copying the file (and its -wal sidecar) would not.
    """
    source = sqlite_path(database_url)
    if not source.is_file():
        raise NotFoundError(f"no SQLite database at {source}")
    if target.exists():
        raise UsageError(f"{target} exists; choose a new file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    # mode=ro: a backup never creates or changes the source.
    with (
        contextlib.closing(
            sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        ) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
        pages: int = dst.execute("PRAGMA page_count").fetchone()[0]
    return pages
