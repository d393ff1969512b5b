"""The engine: migrations build exactly the schema the tables describe; SQLite files and WAL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from bot.db.engine import MIGRATIONS, head_revision, open_database
from bot.db.tables import Base

# PostgreSQL-only indexes: newest-first reads (migration 0002), trigram search (0011).
MIGRATION_ONLY_INDEXES = {"ix_articles_newest", "ix_articles_id_search_trgm"}


def _include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    if type_ == "table" and name is not None and name.startswith("articles_fts"):
        return False  # SQLite's FTS5 search table and its shadow tables (migration 0007)
    return not (type_ == "index" and name in MIGRATION_ONLY_INDEXES)


def test_migrations_match_the_models(empty_database_url: str) -> None:
    engine = open_database(empty_database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"include_object": _include, "compare_type": True}
            )
            assert compare_metadata(context, Base.metadata) == []
            tables = set(inspect(conn).get_table_names())
        assert tables >= {"articles", "subscribers", "deliveries", "push_runs", "alembic_version"}
    finally:
        engine.dispose()


def test_opening_twice_migrates_once_and_keeps_data(sqlite_url: str) -> None:
    first = open_database(sqlite_url)
    with first.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO push_runs (key, started_at, due, sent, failed, blocked, skipped) "
            "VALUES ('k', '2026-01-01 00:00:00', 0, 0, 0, 0, 0)"
        )
    first.dispose()
    second = open_database(sqlite_url)
    try:
        with second.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM push_runs").scalar() == 1
            version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        assert version == head_revision()
    finally:
        second.dispose()


def test_sqlite_file_is_created_with_its_folder(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'deep' / 'er' / 'db.sqlite3'}")
    try:
        assert (tmp_path / "deep" / "er" / "db.sqlite3").exists()
        with engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        assert mode == "wal"
    finally:
        engine.dispose()


def test_the_head_read_from_the_files_is_alembics_head() -> None:
    """The fast path of opening a database (no Alembic import) compares with the real head."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert [head_revision()] == ScriptDirectory.from_config(config).get_heads()


def test_a_database_behind_head_is_migrated_on_open(tmp_path: Path) -> None:
    """A database one migration behind is brought to head, not taken as current."""
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    engine = open_database(url)
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.downgrade(config, "-1")
            behind = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    finally:
        engine.dispose()
    assert behind != head_revision()
    engine = open_database(url)
    try:
        with engine.connect() as conn:
            version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    finally:
        engine.dispose()
    assert version == head_revision()
