"""Push options from the settings, and the run key."""

from __future__ import annotations

from datetime import datetime, time

from bot.config import Settings
from bot.push.options import PushOptions, run_key
from bot.scheduling import PushDefaults
from tests.conftest import (
    DEFAULTS,
)


def test_options_follow_the_settings() -> None:
    settings = Settings(
        push_time=time(7, 30),
        timezone="Europe/London",
        push_policy="backlog",
        push_max_per_day=2,
        push_max_attempts=4,
        paid_broadcast=True,
        _env_file=None,  # type: ignore[call-arg]
    )
    opts = PushOptions.from_settings(settings, concurrency=3)
    assert opts.defaults == PushDefaults(
        push_time=time(7, 30),
        timezone="Europe/London",
        grace=settings.push_grace,
        policy="backlog",
        max_per_day=2,
    )
    assert (opts.max_attempts, opts.paid_broadcast, opts.concurrency) == (4, True, 3)


def test_run_keys_name_the_tick_minute_or_the_forced_day() -> None:
    at = datetime.fromisoformat("2026-06-01T17:45:10+00:00")
    assert run_key(at, DEFAULTS, force=False) == "2026-06-01T17:45"
    assert run_key(at, DEFAULTS, force=True) == "now:2026-06-02"  # already June 2 in Shanghai
