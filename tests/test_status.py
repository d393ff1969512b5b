"""/healthz: beats against bounds, the database ping, and the aiohttp routes."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics
from bot.status import (
    PUSH_TICK,
    UPDATES,
    WEBHOOK,
    Bounds,
    Liveness,
    Status,
    add_status_routes,
    bounds_for,
    check_health,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bounds_come_from_the_push_tick_and_the_poll_timeout() -> None:
    polling = bounds_for(push_tick=30, poll_timeout=10, webhook=False)
    assert polling.updates is not None
    assert polling.updates > 10
    assert polling.push_tick > 30
    # An idle webhook is called by nobody: its age is not a sign of trouble.
    assert bounds_for(push_tick=30, poll_timeout=10, webhook=True).updates is None


def test_a_fresh_bot_is_healthy_until_a_bound_passes_without_a_beat() -> None:
    clock = Clock()
    liveness = Liveness(clock)
    bounds = Bounds(updates=20, push_tick=60)
    assert check_health(liveness, bounds, database=None).ok
    clock.now += 30
    report = check_health(liveness, bounds, database=None)
    assert not report.ok
    assert report.body["stale"] == [UPDATES]
    liveness.beat(UPDATES)
    assert check_health(liveness, bounds, database=None).ok
    clock.now += 45
    liveness.beat(UPDATES)
    report = check_health(liveness, bounds, database=None)
    assert report.body["stale"] == [PUSH_TICK]
    assert report.body["age_seconds"] == {UPDATES: 0.0, PUSH_TICK: 75.0}


def test_an_unreachable_database_is_named() -> None:
    report = check_health(Liveness(Clock()), Bounds(None, 60), database="OperationalError")
    assert not report.ok
    assert report.body["stale"] == ["database"]
    assert report.body["database"] == "OperationalError"


def test_a_webhook_call_is_shown_but_not_judged() -> None:
    clock = Clock()
    liveness = Liveness(clock)
    liveness.beat(WEBHOOK)
    clock.now += 10_000
    liveness.beat(PUSH_TICK)
    report = check_health(liveness, Bounds(None, 60), database=None)
    assert report.ok
    assert report.body["age_seconds"][WEBHOOK] == 10_000.0  # type: ignore[index]


async def test_routes_answer_200_then_503_naming_what_is_stale_and_serve_metrics() -> None:
    clock = Clock()
    database_up = True

    def ping() -> None:
        if not database_up:
            raise ConnectionError("down")

    metrics = Metrics()
    metrics.sent("command")
    status = Status(Liveness(clock), Bounds(updates=20, push_tick=60), metrics, ping)
    app = web.Application()
    add_status_routes(app, status)
    async with TestClient(TestServer(app)) as client:
        ok = await client.get("/healthz")
        assert ok.status == 200
        assert (await ok.json())["status"] == "ok"
        clock.now += 25
        database_up = False
        stale = await client.get("/healthz")
        assert stale.status == 503
        assert (await stale.json())["stale"] == ["database", UPDATES]
        scraped = await client.get("/metrics")
        assert scraped.status == 200
        assert scraped.headers["Content-Type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(await scraped.text())}
    sent = families["digestbot_messages_sent"].samples
    [sample] = [s for s in sent if s.name.endswith("_total")]
    assert sample.labels == {"lane": "command"}
    assert sample.value == 1
