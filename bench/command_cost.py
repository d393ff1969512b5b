"""Command cost: /latest and /search against a bare PTB handler, 200 users at once, same run.

One Application (``build_application``, long-polling the loopback server in another process,
the global rate lifted as in ``bench.commands``) gets one extra handler ahead of every other
group: ``/bare`` replies a fixed string through the same bot, HTTP client and pacer. Its
latency is the framework's floor (PTB's dispatch, the reply's HTTP round trip); each
command's latency beside it shows what the command itself costs: the database read, the
rendering, the buttons. Bursts alternate between the commands, each from 200 new users, and
latency is measured as in ``bench.commands`` (the server's clock, getUpdates answer → reply).

The 200 users of a burst send the same text, so identical /search share one read
(``SharedReads``); the "unshared" burst switches that off, each user's search its own read,
as if every user had asked something different.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import CommandHandler

from bench.commands import LIFTED_RATE, _burst
from bench.common import Options, Row, bot_settings, median, percentile
from bench.server import ServerProcess
from bot.runtime import Runtime
from bot.telegram.app import build_application
from bot.telegram.context import DigestContext, SharedReads
from bot.telegram.runner import started

SEARCH = "/search AI 焦虑"
UNSHARED = SEARCH + " (unshared)"
COMMANDS = ("/bare", "/latest", SEARCH, UNSHARED)
TARGET_RATIO = 1.5
_BARE_GROUP = -100  # ahead of the flood guard and every command handler


async def _bare(update: Update, _context: DigestContext) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text("pong")


class _Unshared(SharedReads[Any, Any]):
    """Every caller reads for itself: a burst of searches no two of which are the same."""

    async def get(self, key: Any, read: Callable[[], Awaitable[Any]]) -> Any:  # noqa: ARG002 (SharedReads.get's signature)
        return await read()


async def _burst_of(
    server: ServerProcess, application: Any, first: int, users: int, command: str
) -> list[float]:
    """Send one command's burst; the unshared search with SharedReads off for its length."""
    if command != UNSHARED:
        return await _burst(server, first, users, command)
    state = application.bot_data
    shared, state.searches = state.searches, _Unshared()
    try:
        return await _burst(server, first, users, SEARCH)
    finally:
        state.searches = shared


async def _measure(server: ServerProcess, users: int, repeats: int) -> dict[str, list[Any]]:
    samples: dict[str, list[list[float]]] = {command: [] for command in COMMANDS}
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as tmp:
        settings = bot_settings(server.token, server.base_url, Path(tmp), LIFTED_RATE)
        runtime = await asyncio.to_thread(Runtime.open, settings)
        try:
            await asyncio.to_thread(runtime.sync)
            application = build_application(settings, runtime=runtime)
            application.add_handler(CommandHandler("bare", _bare), group=_BARE_GROUP)
            async with started(application, poll=True):
                first = 1_000_000
                for command in COMMANDS:  # warm: templates compiled, pools open
                    await asyncio.to_thread(server.reset)
                    await _burst_of(server, application, first, 1, command)
                    first += 1
                for _ in range(repeats):
                    for command in COMMANDS:
                        first += users
                        await asyncio.to_thread(server.reset)
                        samples[command].append(
                            await _burst_of(server, application, first, users, command)
                        )
        finally:
            await asyncio.to_thread(runtime.close)
    return dict(samples)


def run(opts: Options) -> list[Row]:
    """Measure each command's p50/p99 under a 200-user burst beside the bare handler's."""
    users = opts.size(200, 5)
    with ServerProcess() as server:
        samples = asyncio.run(_measure(server, users, opts.repeats))
    p50 = {c: median([percentile(s, 50) * 1000 for s in runs]) for c, runs in samples.items()}
    p99 = {c: median([percentile(s, 99) * 1000 for s in runs]) for c, runs in samples.items()}
    answered = {c: min(len(s) for s in runs) for c, runs in samples.items()}
    bare = COMMANDS[0]
    rows = [
        Row(
            "command_cost",
            "bare PTB handler p99 (fixed string)",
            round(p99[bare], 1),
            "ms",
            note=f"p50 {p50[bare]:.1f} ms; {users} users at once; "
            f"answered {answered[bare]}/{users}",
            raw={"samples_s": samples[bare]},
        )
    ]
    for command in COMMANDS[1:]:
        ratio = p99[command] / p99[bare] if p99[bare] else 0.0
        label = command.split()[0] + (" (unshared)" if command == UNSHARED else "")
        rows.append(
            Row(
                "command_cost",
                f"{label} p99 / bare p99",
                round(ratio, 2),
                "×",
                target=f"≤ {TARGET_RATIO:g}",
                met=ratio <= TARGET_RATIO and answered[command] == users,
                baseline=f"bare p99 {p99[bare]:.1f} ms",
                note=f"{command}: p99 {p99[command]:.1f} ms, p50 {p50[command]:.1f} ms "
                f"(bare {p50[bare]:.1f}; p50 ratio {p50[command] / (p50[bare] or 1):.2f} ×); "
                f"answered {answered[command]}/{users}",
                raw={"samples_s": samples[command]},
            )
        )
    return rows
