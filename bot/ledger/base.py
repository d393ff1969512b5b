"""What every part of the ledger shares: the store's read and write engines and the dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.store import Store


class LedgerBase:
    """The database a Ledger works on; the ledger's mixins build on it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._read = store.engine
        # On SQLite the store's write engine begins with BEGIN IMMEDIATE (see bot.db).
        self._write = store.write_engine
        self.is_postgres = store.engine.dialect.name == "postgresql"

    def _insert(self, table: Any) -> Any:
        return pg_insert(table) if self.is_postgres else sqlite_insert(table)
