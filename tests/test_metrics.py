"""The metrics registry: one per bot, database gauges read on scrape and cached."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import DatabaseTotals, Metrics
from bot.sync import SyncReport


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_two_bots_in_one_process_count_apart() -> None:
    first, second = Metrics(), Metrics()
    first.sent("push")
    assert samples(first)["digestbot_messages_sent_total", (("lane", "push"),)] == 1
    assert ("digestbot_messages_sent_total", (("lane", "push"),)) not in samples(second)


def test_database_gauges_are_read_on_scrape_at_most_once_per_ttl() -> None:
    now = [0.0]
    reads = []

    def read() -> DatabaseTotals:
        reads.append(now[0])
        return DatabaseTotals(
            ledger={"sent": 3, "pending": 1},
            subscribers={("private", True): 2, ("group", False): 1},
        )

    metrics = Metrics(db_ttl=5, clock=lambda: now[0])
    assert not any(name == "digestbot_ledger_rows" for name, _ in samples(metrics))
    metrics.read_database_with(read)
    scraped = samples(metrics)
    assert scraped["digestbot_ledger_rows", (("state", "sent"),)] == 3
    assert scraped["digestbot_subscribers", (("kind", "private"), ("status", "active"))] == 2
    assert scraped["digestbot_subscribers", (("kind", "group"), ("status", "inactive"))] == 1
    samples(metrics)
    now[0] = 6
    samples(metrics)
    assert reads == [0.0, 6]


def test_a_failing_database_read_leaves_the_gauges_out_but_the_scrape_answers() -> None:
    def broken() -> DatabaseTotals:
        raise ConnectionError("down")

    metrics = Metrics()
    metrics.read_database_with(broken)
    metrics.command_handled("start", 0.01)
    scraped = samples(metrics)
    assert scraped["digestbot_command_seconds_count", (("command", "start"),)] == 1


def test_sync_push_and_flood_counters() -> None:
    metrics = Metrics()
    metrics.synced(SyncReport(new=2, unchanged=1, failures=("a.md: bad",)))
    metrics.push_finished("ok", 1.5, {"sent": 4, "blocked": 1, "failed": 0})
    metrics.flood_wait(3)
    metrics.flood_wait(2)
    scraped = samples(metrics)
    assert scraped["digestbot_syncs_total", (("result", "failures"),)] == 1
    assert scraped["digestbot_sync_files_total", (("result", "new"),)] == 2
    assert scraped["digestbot_sync_files_total", (("result", "failed"),)] == 1
    assert scraped["digestbot_push_runs_total", (("result", "ok"),)] == 1
    assert scraped["digestbot_push_run_duration_seconds_sum", ()] == 1.5
    assert scraped["digestbot_push_deliveries_total", (("outcome", "sent"),)] == 4
    assert ("digestbot_push_deliveries_total", (("outcome", "failed"),)) not in scraped
    assert scraped["digestbot_flood_waits_total", ()] == 2
    assert scraped["digestbot_flood_wait_seconds_total", ()] == 5
