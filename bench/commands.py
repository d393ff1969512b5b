"""Commands: 200 users send /latest at once to the real Application; bot-side latency.

The bot is ``bot.telegram.app.build_application`` long-polling the loopback server (another
process). Bot-side latency of one command = the moment its reply's sendMessage reached the
server minus the moment the getUpdates answer carrying the command left it, both on the
server's clock (``bench.server``). That covers the bot's whole handling (DB reads, rendering,
PTB, HTTP) and the loopback transit, and no simulated latency of the reply itself.

Each repeat builds a fresh database and Application: first an idle burst, then a push starts
in the same process and database (paid-broadcast rate, 970/s, the heaviest load production
sees) and, once it is sending, a second burst from other users.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from bench.common import Options, Row, bot_settings, median, percentile, seed_subscribers
from bench.pushpath import real_push
from bench.server import ServerProcess
from bot.runtime import Runtime
from bot.telegram.app import build_application
from bot.telegram.pacer import DEFAULT_RATE, PAID_RATE
from bot.telegram.runner import started

LATENCIES = (0, 80)
# The app's pacer holds command replies to RATE_LIMIT msg/s overall (Telegram's ~30/s), so
# 200 replies at once take 200 / 25 = 8 s by design. Lifting the global rate measures what
# the bot itself costs; one extra run at the default rate shows the pacer's queueing.
LIFTED_RATE = 100_000.0
TARGET_IDLE_MS = 50.0
TARGET_PUSH_MS = 100.0


async def _burst(
    server: ServerProcess, first_user: int, users: int, text: str = "/latest"
) -> list[float]:
    """Send `text` from `users` users at once; return their bot-side latencies (s)."""
    await asyncio.to_thread(server.burst, list(range(first_user, first_user + users)), text)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while True:
        timing = await asyncio.to_thread(server.timings)
        done: list[float] = timing["samples"]
        if len(done) >= users or loop.time() > deadline:
            return done
        await asyncio.sleep(0.05)


async def _finish(push: asyncio.Task[int]) -> None:
    """Let the push end by itself; cancel it only if it overruns, insisting if need be.

    On Python 3.11 a cancellation can be swallowed by ``asyncio.timeout`` inside the push's
    helper loops (seen here: run_push then never returns), so one cancel() is not enough.
    """
    done, _ = await asyncio.wait({push}, timeout=120)
    for _ in range(10):
        if done:
            break
        push.cancel()
        done, _ = await asyncio.wait({push}, timeout=2)
    if done and not push.cancelled():
        push.exception()  # retrieve it: a failed push shows in the sent count, not as noise


async def _repeat(
    server: ServerProcess, users: int, push_size: int, rate_limit: float
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-commands-") as tmp:
        settings = bot_settings(server.token, server.base_url, Path(tmp), rate_limit)
        runtime = await asyncio.to_thread(Runtime.open, settings)
        try:
            await asyncio.to_thread(runtime.sync)
            rows = [
                {"chat_id": i, "chat_type": "private", "language": "zh"}
                for i in range(1, push_size + 1)
            ]
            await asyncio.to_thread(seed_subscribers, runtime.store, rows)
            application = build_application(settings, runtime=runtime)
            async with started(application, poll=True):
                # One /latest first: a running bot has its templates compiled and pools open.
                await _burst(server, 1_000_001, 1)
                await asyncio.to_thread(server.reset)
                idle = await _burst(server, 10_000_001, users)
                if not push_size:
                    return {"idle": idle, "during_push": [], "push_still_running": False}
                await asyncio.to_thread(server.reset)
                push = asyncio.create_task(
                    real_push(
                        server.base_url, server.token, settings.database_url, 32, rate=PAID_RATE
                    )
                )
                deadline = asyncio.get_running_loop().time() + 60
                while (await asyncio.to_thread(server.timings))["sends"] < 20:
                    if push.done() or asyncio.get_running_loop().time() > deadline:
                        break
                    await asyncio.sleep(0.05)
                during = await _burst(server, 20_000_001, users)
                push_running = not push.done()
                await _finish(push)
        finally:
            await asyncio.to_thread(runtime.close)
    return {"idle": idle, "during_push": during, "push_still_running": push_running}


def run(opts: Options) -> list[Row]:
    """Measure /latest latency idle and during a push at each latency; return the rows."""
    users = opts.size(200, 10)
    push_size = opts.size(3_000, 30)
    rows = []
    # The smoke test (--quick) checks the rows are made, not the figures: one latency does.
    for latency in LATENCIES[:1] if opts.quick else LATENCIES:
        with ServerProcess(latency_ms=latency) as server:
            repeats = [
                asyncio.run(_repeat(server, users, push_size, LIFTED_RATE))
                for _ in range(opts.repeats)
            ]
        for phase, target in (("idle", TARGET_IDLE_MS), ("during_push", TARGET_PUSH_MS)):
            samples = [[s * 1000 for s in r[phase]] for r in repeats]
            p50 = median([percentile(s, 50) for s in samples])
            p99 = median([percentile(s, 99) for s in samples])
            answered = min(len(s) for s in samples)
            label = "idle" if phase == "idle" else "while a push runs"
            note = f"{users} users at once; answered {answered}/{users}"
            if phase == "during_push" and not all(r["push_still_running"] for r in repeats):
                note += "; the push ended before the last reply"
            rows.append(
                Row(
                    "commands",
                    f"/latest p99 {label} @{latency} ms (global rate lifted)",
                    round(p99, 1),
                    "ms",
                    f"< {target:.0f}",
                    p99 < target and answered == users,
                    f"p50 {p50:.1f} ms",
                    note,
                    {"latency_ms": latency, "samples_ms": samples},
                )
            )
    with ServerProcess() as server:
        paced = asyncio.run(_repeat(server, users, 0, DEFAULT_RATE))
    samples_ms = [s * 1000 for s in paced["idle"]]
    rows.append(
        Row(
            "commands",
            f"/latest p99 idle @0 ms, RATE_LIMIT={DEFAULT_RATE:g}",
            round(percentile(samples_ms, 99), 1),
            "ms",
            baseline=f"p50 {percentile(samples_ms, 50):.1f} ms",
            note=f"1 run; {users} replies at {DEFAULT_RATE:g}/s need {users / DEFAULT_RATE:.1f} s"
            f"; answered {len(samples_ms)}/{users}",
            raw={"samples_ms": samples_ms},
        )
    )
    return rows
