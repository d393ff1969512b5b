"""Database engine: SQLite (WAL) or PostgreSQL, migrated to the newest schema on open.

Several processes may open one database at once (two webhook instances, a CLI import beside
the bot): migrations run under a lock, so exactly one process migrates and the others wait
for it and then find the schema at head.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from sqlalchemy import (
    ARRAY,
    BindParameter,
    ColumnElement,
    Connection,
    Engine,
    Integer,
    String,
    Table,
    any_,
    bindparam,
    cast,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, SQLAlchemyError

from bot.errors import ConfigError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent.parent / "migrations"

BUSY_TIMEOUT: Final = 10.0  # seconds a SQLite writer waits for another one's lock
# How long a starting process waits for another one's migration: a migration that rebuilds
# a big table takes minutes, and a process that gives up early would not start at all.
MIGRATION_WAIT: Final = 600.0
# pg_advisory_lock's first key ("dgbt"); the second is the schema, which holds alembic_version.
_PG_MIGRATION_LOCK: Final = 0x64676274
_PG_LOCK = "CAST(:key AS integer), hashtext(current_schema())"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, busy_timeout: float) -> None:
    # WAL lets the bot read while a push worker writes; busy_timeout rides out short write locks.
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    _journal_mode_wal(cursor, busy_timeout)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _journal_mode_wal(cursor: Any, within: float) -> None:
    """Switch a connection's database to WAL, retrying for up to `within` seconds.

    Processes that open a new database at the same instant all make the switch, and SQLite
    may refuse one of them at once (SQLITE_BUSY without waiting, where waiting could deadlock)
    however long busy_timeout is.
    """
    deadline = time.monotonic() + within
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # extended codes too
            if not busy or time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
        else:
            return


def _sqlite_autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite would emit its own deferred BEGIN lazily; hand transaction control to SQLAlchemy.
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection: Connection) -> None:
    # Take the write lock up front: a deferred transaction that reads and then writes can fail
    # with SQLITE_BUSY when another writer committed in between (WAL snapshot upgrade).
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_db_engine(
    url: str, *, immediate: bool = False, busy_timeout: float = BUSY_TIMEOUT
) -> Engine:
    """Create an engine for `url`, creating a SQLite file's folder on demand.

    `immediate=True` (SQLite only) makes every transaction on the engine `BEGIN IMMEDIATE`,
    serializing writers such as the delivery ledger's claims; PostgreSQL ignores it, and
    `busy_timeout` (how long a SQLite writer waits for the write lock).
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"DATABASE_URL is not a database URL: {url!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"DATABASE_URL: cannot create the folder {folder.resolve()} for the SQLite "
                    f"file ({exc.strerror or type(exc).__name__}); "
                    "e.g. DATABASE_URL=sqlite:///data/digestbot.sqlite3"
                ) from exc
        engine = create_engine(parsed, connect_args={"timeout": busy_timeout})
        event.listen(
            engine, "connect", functools.partial(_sqlite_pragmas, busy_timeout=busy_timeout)
        )
        if immediate:
            event.listen(engine, "connect", _sqlite_autocommit_driver)
            event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=10)


_REVISION = re.compile(r'^(down_revision|revision)\b[^=]*=\s*"([^"]+)"', re.MULTILINE)


@functools.cache
def head_revision() -> str:
    """Return the newest migration's revision: the one no other migration revises.

    Read from the migration files' headers, so a process whose database is already at head
    opens it without importing Alembic (half a second of every command's start).
    """
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for key, value in _REVISION.findall(path.read_text(encoding="utf-8")):
            (revisions if key == "revision" else revised).add(value)
    heads = revisions - revised
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def _at_head(engine: Engine) -> bool:
    # Anything unexpected (no table yet, an old revision, a database that cannot be read)
    # takes the locked path, which migrates or reports the error.
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version"))
            return [row[0] for row in versions] == [head_revision()]
    except SQLAlchemyError:
        return False


def _upgrade(connection: Connection) -> None:
    from alembic import command  # noqa: PLC0415 - only a database behind head pays for it
    from alembic.config import Config  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _migrate_sqlite(engine: Engine) -> None:
    # BEGIN IMMEDIATE takes the write lock before Alembic reads the version, and SQLite runs
    # the DDL inside that transaction: a second process waits here, then finds head.
    url = engine.url.render_as_string(hide_password=False)
    locked = create_db_engine(url, immediate=True, busy_timeout=MIGRATION_WAIT)
    try:
        with locked.begin() as connection:
            _upgrade(connection)
    finally:
        locked.dispose()


def _migrate_postgresql(engine: Engine) -> None:
    # A session-level advisory lock on a connection of its own, held around the whole
    # upgrade: concurrent CREATE TABLEs otherwise race in the catalog (pg_type's unique
    # index). A process that dies mid-migration drops its session and so the lock.
    key = {"key": _PG_MIGRATION_LOCK}
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lock:
        lock.execute(text(f"SELECT pg_advisory_lock({_PG_LOCK})"), key)
        try:
            with engine.begin() as connection:
                _upgrade(connection)
        finally:
            lock.execute(text(f"SELECT pg_advisory_unlock({_PG_LOCK})"), key)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (creating it on an empty database).

    One process migrates at a time; the others wait for it (see the module docstring). A
    database already at head is only read.
    """
    if _at_head(engine):
        return
    try:
        if engine.dialect.name == "sqlite":
            _migrate_sqlite(engine)
        else:
            _migrate_postgresql(engine)
    except DatabaseError as exc:  # OperationalError, and "file is not a database"
        # One line: psycopg's messages run over several, and the password stays hidden.
        reason = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        raise ConfigError(f"cannot open the database {_shown(engine.url)}: {reason}") from exc


def _shown(url: URL) -> str:
    """Return a database URL for a message: a SQLite file as a resolved path, no password."""
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return str(Path(url.database).resolve())
    return url.render_as_string(hide_password=True)


def open_database(url: str) -> Engine:
    """Create the engine and migrate the schema; the one way the app opens its database."""
    engine = create_db_engine(url)
    migrate(engine)
    return engine


def insert_on_conflict(c: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """Return an INSERT into `table` that takes ON CONFLICT, in the connection's dialect."""
    if c.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def among(c: Connection, column: ColumnElement[int], ids: Sequence[int]) -> ColumnElement[bool]:
    """Return `column IN ids` with the ids as one parameter, however many there are.

    PostgreSQL takes an integer array, SQLite a JSON array (json_each): an IN list would be
    one parameter per id for the driver to parse, and SQLite caps a statement's parameters.
    """
    dialect = c.dialect.name
    return _among(dialect, column, bindparam(None, id_list(dialect, ids), type_=String()))


def among_bound(dialect: str, column: ColumnElement[int], name: str) -> ColumnElement[bool]:
    """Return `column IN :name` for a statement built once; bind `name` to id_list(ids)."""
    return _among(dialect, column, bindparam(name, type_=String()))


def id_list(dialect: str, ids: Sequence[int]) -> str:
    """Return ids as the one parameter `among` binds: an array literal, or a JSON array."""
    if dialect == "postgresql":
        # An array literal as text: psycopg dumps a list of ints element by element in Python.
        return "{" + ",".join(map(str, ids)) + "}"
    return json.dumps(list(ids))


def _among(
    dialect: str, column: ColumnElement[int], listed: BindParameter[str]
) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return column == any_(cast(listed, ARRAY(Integer())))
    return column.in_(select(func.json_each(listed).table_valued("value").c.value))
