"""The bot's Prometheus metrics, in a registry of its own (one per Application).

Counters and histograms are updated where things happen (the pacer, the push job, the
command wrapper, the sync job); the database totals (ledger rows by state, subscribers by
chat type) are read on scrape, at most once per ``db_ttl`` seconds, by a collector, so a
scraper polling every second costs one pair of GROUP BY queries per ``db_ttl``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.sync import SyncReport

log = logging.getLogger(__name__)

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
DB_TTL: Final = 5.0  # seconds a database read answers every scrape
# Command handling: from a few ms (/help) to seconds (a long /full under pacing).
COMMAND_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PUSH_BUCKETS: Final = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)
SYNC_RESULTS: Final = ("new", "updated", "unchanged", "hidden", "failed")


@dataclass(frozen=True, slots=True)
class DatabaseTotals:
    """What the collector reads from the database on scrape."""

    ledger: dict[str, int] = field(default_factory=dict)  # state → rows
    subscribers: dict[tuple[str, bool], int] = field(default_factory=dict)  # (kind, active) → n


class _DatabaseCollector(Collector):
    """Gauges read from the database on scrape, cached for `ttl` seconds."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self.source: Callable[[], DatabaseTotals] | None = None
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()  # scrapes run in worker threads
        self._totals: DatabaseTotals | None = None
        self._read_at = -float("inf")

    def describe(self) -> list[Metric]:
        """Name the gauges without reading the database (registration calls this)."""
        return list(self._families(DatabaseTotals()))

    def collect(self) -> Iterator[Metric]:
        """Yield the gauges, reading the database when the cached totals are too old."""
        totals = self._read()
        if totals is not None:
            yield from self._families(totals)

    def _read(self) -> DatabaseTotals | None:
        with self._lock:
            if self.source is None:
                return None
            if self._clock() - self._read_at >= self._ttl:
                try:
                    self._totals = self.source()
                except Exception:  # a scrape must answer even when the database does not
                    log.warning("metrics: cannot read the database totals", exc_info=True)
                    self._totals = None
                self._read_at = self._clock()
            return self._totals

    @staticmethod
    def _families(totals: DatabaseTotals) -> Iterator[Metric]:
        ledger = GaugeMetricFamily(
            "digestbot_ledger_rows", "Delivery ledger rows by state.", labels=["state"]
        )
        for state, rows in sorted(totals.ledger.items()):
            ledger.add_metric([state], rows)
        yield ledger
        subscribers = GaugeMetricFamily(
            "digestbot_subscribers",
            "Subscribers by chat type and status.",
            labels=["kind", "status"],
        )
        for (kind, active), count in sorted(totals.subscribers.items()):
            subscribers.add_metric([kind, "active" if active else "inactive"], count)
        yield subscribers


class Metrics:
    """Every metric of one bot; ``render()`` is what GET /metrics answers."""

    def __init__(self, *, db_ttl: float = DB_TTL, clock: Callable[[], float] = time.monotonic):
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages_sent = Counter(
            "digestbot_messages_sent",
            "Messages the Bot API accepted, by lane.",
            ["lane"],
            registry=r,
        )
        self.messages_failed = Counter(
            "digestbot_messages_failed",
            "Messages the Bot API refused or that never got an answer, by lane and reason.",
            ["lane", "reason"],
            registry=r,
        )
        self.flood_waits = Counter(
            "digestbot_flood_waits", "429 answers (flood control) from the Bot API.", registry=r
        )
        self.flood_wait_seconds = Counter(
            "digestbot_flood_wait_seconds",
            "Seconds every send was paused by 429 answers.",
            registry=r,
        )
        self.push_runs = Counter(
            "digestbot_push_runs",
            "Push runs by result (ok, error, interrupted).",
            ["result"],
            registry=r,
        )
        self.push_duration = Histogram(
            "digestbot_push_run_duration_seconds",
            "How long push runs took.",
            buckets=PUSH_BUCKETS,
            registry=r,
        )
        self.push_deliveries = Counter(
            "digestbot_push_deliveries",
            "Push deliveries settled, by outcome (sent, failed, blocked, retried).",
            ["outcome"],
            registry=r,
        )
        self.command_seconds = Histogram(
            "digestbot_command_seconds",
            "Time to handle a command or button, by command.",
            ["command"],
            buckets=COMMAND_BUCKETS,
            registry=r,
        )
        self.syncs = Counter(
            "digestbot_syncs", "Seed syncs by result (ok, failures).", ["result"], registry=r
        )
        self.sync_files = Counter(
            "digestbot_sync_files",
            "Article files seen by syncs, by result (new, updated, unchanged, hidden, failed).",
            ["result"],
            registry=r,
        )
        self._database = _DatabaseCollector(db_ttl, clock)
        r.register(self._database)

    def read_database_with(self, source: Callable[[], DatabaseTotals] | None) -> None:
        """Read the ledger and subscriber gauges from `source` on scrape (None: leave them out)."""
        self._database.source = source

    # -- events ------------------------------------------------------------------------

    def sent(self, lane: str) -> None:
        """Count a message the Bot API accepted."""
        self.messages_sent.labels(lane).inc()

    def failed(self, lane: str, reason: str) -> None:
        """Count a message that did not go out, and why (a short snake_case word)."""
        self.messages_failed.labels(lane, reason).inc()

    def flood_wait(self, seconds: float) -> None:
        """Count a 429 and the pause it asked for."""
        self.flood_waits.inc()
        self.flood_wait_seconds.inc(max(0.0, seconds))

    def push_finished(
        self, result: str, seconds: float, outcomes: dict[str, int] | None = None
    ) -> None:
        """Count a push run (`result`: ok, error or interrupted), its duration and outcomes."""
        self.push_runs.labels(result).inc()
        self.push_duration.observe(seconds)
        for outcome, count in (outcomes or {}).items():
            if count:
                self.push_deliveries.labels(outcome).inc(count)

    def command_handled(self, command: str, seconds: float) -> None:
        """Record how long a command (or button) took to handle."""
        self.command_seconds.labels(command).observe(seconds)

    def synced(self, report: SyncReport) -> None:
        """Count a sync and its files by result (new, updated, unchanged, hidden, failed)."""
        self.syncs.labels("failures" if report.failed else "ok").inc()
        for result in SYNC_RESULTS:
            count = int(getattr(report, result))
            if count:
                self.sync_files.labels(result).inc(count)

    def render(self) -> bytes:
        """Return every metric in Prometheus' text format (may read the database: use a thread)."""
        return generate_latest(self.registry)
