"""Periodic jobs of the bot's JobQueue (the seed re-sync; the push tick lives in delivery)."""

from __future__ import annotations

import asyncio
import logging

from bot.telegram.context import DigestContext

log = logging.getLogger(__name__)


async def sync_seeds(context: DigestContext) -> None:
    """Re-sync SEEDS_DIR into the store (in a worker thread: it reads and hashes files)."""
    report = await asyncio.to_thread(context.runtime.sync)
    for failure in report.failures:
        log.warning("seed not imported: %s", failure)
    if report.new or report.updated or report.hidden:
        log.info("seeds re-synced: %s", report.summary())
    else:
        log.debug("seeds re-synced: %s", report.summary())
