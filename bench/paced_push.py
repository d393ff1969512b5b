"""Paced push: achieved messages/s against the configured rate, with Telegram's limits enforced.

The server runs with strict ``Limits()`` (30/s global, 1000/s with paid broadcast, 1/s per
chat), so any pacing mistake shows up as a 429. The achieved rate is the server's: accepted
sendMessage calls over the span from the first to the last (planning the ledger is not
sending). Two configurations: the default ``RATE_LIMIT`` (25/s, one run: 3 000 messages take
two minutes) and paid broadcast (970/s, every repeat).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from bench.common import Options, Row, median
from bench.pushpath import real_push, seed_database
from bench.server import ServerProcess
from bot.telegram.pacer import DEFAULT_RATE, PAID_RATE

TARGET_SHARE = 0.95


def _one(count: int, rate: float, *, paid: bool) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-paced-") as tmp,
        ServerProcess(strict=True) as server,
    ):
        url = f"sqlite:///{Path(tmp) / 'paced.sqlite3'}"
        seed_database(url, count)
        sent = asyncio.run(real_push(server.base_url, server.token, url, 32, rate=rate, paid=paid))
        timing = server.timings()
        stats = server.stats()
    span = timing["send_seconds"]
    accepted = timing["sends"]
    return {
        "subscribers": count,
        "configured": rate,
        "sent": sent,
        "achieved": (accepted - 1) / span if span > 0 else 0.0,
        "too_many_requests": stats["too_many_requests"],
        "max_per_chat_per_second": stats["max_per_chat_per_second"],
        "max_per_second": stats["max_per_second"],
    }


def _rows(name: str, runs: list[dict[str, Any]]) -> list[Row]:
    rate = runs[0]["configured"]
    achieved = median([r["achieved"] for r in runs])
    errors = max(r["too_many_requests"] for r in runs)
    per_chat = max(r["max_per_chat_per_second"] for r in runs)
    peak = max(r["max_per_second"] for r in runs)
    count = runs[0]["subscribers"]
    short = [r["sent"] for r in runs if r["sent"] != count]
    note = f"{count} subscribers, {len(runs)} run(s)" + (f"; SHORT {short}" if short else "")
    return [
        Row(
            "paced_push",
            f"{name}: achieved rate",
            round(achieved, 1),
            "msg/s",
            f"≥ {TARGET_SHARE:.0%} of {rate:g}",
            achieved >= TARGET_SHARE * rate,
            f"configured {rate:g} msg/s",
            f"{note}; busiest second at the server {peak}",
            {"runs": runs},
        ),
        Row(
            "paced_push",
            f"{name}: 429s",
            errors,
            "count",
            "0",
            errors == 0,
            note=f"highest per-chat rate the server saw: {per_chat}/s",
        ),
    ]


def run(opts: Options) -> list[Row]:
    """Push with the pacer on at the default rate and at the paid-broadcast rate."""
    default_runs = [_one(opts.size(3_000, 20), DEFAULT_RATE, paid=False)]
    paid_runs = [_one(opts.size(3_000, 30), PAID_RATE, paid=True) for _ in range(opts.repeats)]
    return _rows(f"RATE_LIMIT={DEFAULT_RATE:g}", default_runs) + _rows(
        f"paid broadcast {PAID_RATE:g}/s", paid_runs
    )
