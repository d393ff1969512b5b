"""Runtime: the opened database, store and renderer one process works with."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.config import Settings
from bot.db.engine import open_database
from bot.errors import ConfigError
from bot.rendering import Renderer
from bot.store import Store
from bot.sync import SyncReport, sync_articles

log = logging.getLogger(__name__)


def log_failure(failure: str) -> None:
    """Log a seed file that could not be imported."""
    log.warning("seed not imported: %s", failure)


@dataclass(frozen=True, slots=True)
class Runtime:
    """Settings plus the resources built from them; close() releases them."""

    settings: Settings
    store: Store
    renderer: Renderer

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        """Open the database (migrating it) and load the templates."""
        renderer = Renderer(settings.templates_dir)
        return cls(settings, Store(open_database(settings.database_url)), renderer)

    def sync(
        self,
        progress: Callable[[int, int], None] | None = None,
        *,
        report_failure: Callable[[str], None] = log_failure,
    ) -> SyncReport:
        """Sync SEEDS_DIR into the store and report each file that failed (logged by default).

        A missing SEEDS_DIR is a configuration error. Raise DatabaseError first if the SQLite
        file was deleted or replaced under us.
        """
        # The periodic re-sync is where an idle bot finds its SQLite file gone (DatabaseError).
        self.store.check_database()
        seeds = self.settings.seeds_dir
        if not seeds.is_dir():
            # Syncing an empty view of a mistyped folder would hide every article.
            raise ConfigError(f"SEEDS_DIR {seeds} is not a folder")
        report = sync_articles(self.store, [seeds], base=seeds, progress=progress)
        for failure in report.failures:
            report_failure(failure)
        return report

    def close(self) -> None:
        """Release the database connections."""
        self.store.close()
