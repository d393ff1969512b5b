"""Flood: one chat sends 1000 commands; how long do 50 other users wait for /help?

Issue 9 §2: one user must never stall the bot for everyone. The bot is the real Application
(``build_application``) long-polling the loopback server in another process, with its real
per-chat pace (1 message/s per chat, the cause of the stall: a handler that waited for it held
a concurrent-update slot) and its command budget. One chat queues ``flood`` × /latest, then 50
other users each send /help at once. The figure is the p99 over those 50 of the time from the
server handing out the /help update to the reply reaching it (``bench.server.Timings``).

The global rate is lifted, as in the command benchmark: at RATE_LIMIT=25 the 50 replies alone
need 2 s by Telegram's own limit, which measures Telegram, not the bot. One extra run at the
default rate shows that queueing.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from bench.common import Options, Row, bot_settings, median, percentile
from bench.server import ServerProcess
from bot.runtime import Runtime
from bot.telegram.app import build_application
from bot.telegram.pacer import DEFAULT_RATE
from bot.telegram.runner import started

FLOODER = 1
FIRST_USER = 10_000_001
LIFTED_RATE = 100_000.0
TARGET_S = 1.0


async def _repeat(server: ServerProcess, flood: int, users: int, rate: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-flood-") as tmp:
        settings = bot_settings(server.token, server.base_url, Path(tmp), rate)
        runtime = await asyncio.to_thread(Runtime.open, settings)
        try:
            await asyncio.to_thread(runtime.sync)
            application = build_application(settings, runtime=runtime)
            async with started(application, poll=True):
                await asyncio.to_thread(server.reset)
                helpers = list(range(FIRST_USER, FIRST_USER + users))
                await asyncio.to_thread(server.burst, [FLOODER] * flood, "/latest")
                await asyncio.to_thread(server.burst, helpers, "/help")
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 120
                while True:
                    timing = await asyncio.to_thread(server.timings)
                    per_chat = {int(c): s for c, s in timing["per_chat"].items()}
                    answered = [per_chat[u] for u in helpers if u in per_chat]
                    if len(answered) >= users or loop.time() > deadline:
                        break
                    await asyncio.sleep(0.05)
                outbox = application.bot_data.require_outbox()
                waiting = outbox.waiting()
                # Leave the flooder's paced replies behind: this measures the others.
                await outbox.close(0)
        finally:
            await asyncio.to_thread(runtime.close)
    return {"samples": answered, "flooder_waiting": waiting}


def run(opts: Options) -> list[Row]:
    """Measure /help p99 for 50 users while one chat floods; return the rows."""
    flood = opts.size(1000, 20)
    users = opts.size(50, 5)
    rows = []
    for rate, label, target in (
        (LIFTED_RATE, "global rate lifted", TARGET_S),
        (DEFAULT_RATE, f"RATE_LIMIT={DEFAULT_RATE:g}", None),
    ):
        repeats = opts.repeats if target is not None else 1
        with ServerProcess() as server:
            runs = [asyncio.run(_repeat(server, flood, users, rate)) for _ in range(repeats)]
        samples = [r["samples"] for r in runs]
        p99 = median([percentile(s, 99) for s in samples])
        p50 = median([percentile(s, 50) for s in samples])
        answered = min(len(s) for s in samples)
        note = (
            f"{flood} × /latest from one chat, then /help from {users} users;"
            f" answered {answered}/{users}; flooder replies still queued: "
            f"{max(r['flooder_waiting'] for r in runs)}"
        )
        rows.append(
            Row(
                "flood",
                f"/help p99 while one chat floods ({label})",
                round(p99, 3),
                "s",
                f"< {target:g}" if target is not None else "",
                (p99 < target and answered == users) if target is not None else None,
                f"p50 {p50:.3f} s",
                note + ("" if target is not None else f"; 1 run, {users} replies at {rate:g}/s"),
                {"samples_s": samples},
            )
        )
    return rows
