"""Profile the push-ceiling run with pyinstrument and summarise where each message's time goes.

The whole event-loop thread is sampled (``async_mode="disabled"``), so the figures are the
bot process's wall time spent in each frame, waiting on epoll included. Database calls that
run in ``asyncio.to_thread`` workers are not sampled (pyinstrument follows one thread); they
show up as the loop's idle time instead.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path
from typing import Any

from pyinstrument import Profiler
from pyinstrument.frame import Frame

from bench.common import Options, Row
from bench.pushpath import PUSH_PATH, run_path
from bench.server import ServerProcess

CONCURRENCY = 128
TOP = 15

# Where a frame's own time is charged, by the first matching fragment of its file path.
_AREAS = (
    ("bot/telegram/aiohttp_request", "bot: aiohttp transport"),
    ("bot/push", "bot: push engine"),
    ("bot/ledger", "bot: ledger (SQLAlchemy calls)"),
    ("bot/db/", "bot: database queries (SQLAlchemy calls)"),
    ("bot/", "bot: other"),
    ("telegram/", "PTB (objects, JSON, request wrapper)"),
    ("aiohttp/", "aiohttp client"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("urllib/", "urllib (form encoding)"),
    ("json/", "json"),
    ("asyncio/", "asyncio event loop"),
)


def _area(frame: Frame, parent: str) -> str:
    """Return the area a frame's own time is charged to; built-ins go to their caller's."""
    path = (frame.file_path or "").replace("\\", "/")
    if "poll" in frame.function and ("selectors" in path or path.startswith("<")):
        return "waiting on sockets (epoll)"
    if not path or path.startswith("<"):
        return parent
    for fragment, name in _AREAS:
        if fragment in path:
            return name
    return "other: " + (frame.file_path_short or "?").split("/")[0]


def _label(frame: Frame) -> str:
    where = frame.file_path_short or "?"
    return f"{frame.function}  {where}:{frame.line_no or 0}"


def summarise(root: Frame, messages: int) -> dict[str, Any]:
    """Return top frames by cumulative time, and own time per area, per message (µs)."""
    cumulative: dict[str, float] = defaultdict(float)
    areas: dict[str, float] = defaultdict(float)
    stack: list[tuple[Frame, frozenset[str], str]] = [(root, frozenset(), "other Python")]
    while stack:
        frame, above, parent = stack.pop()
        label = _label(frame)
        if label not in above:  # a recursive frame counts once
            cumulative[label] += frame.time
        area = _area(frame, parent)
        if not frame.is_synthetic:
            areas[area] += frame.total_self_time
        below = above | {label}
        stack.extend((child, below, area) for child in frame.children)
    total = root.time or 1.0
    top = sorted(cumulative.items(), key=lambda kv: kv[1], reverse=True)[:TOP]
    per = 1e6 / max(1, messages)
    return {
        "messages": messages,
        "seconds": root.time,
        "top": [
            {"frame": label, "seconds": t, "share": t / total, "us_per_msg": t * per}
            for label, t in top
        ],
        "areas": [
            {"area": name, "seconds": t, "share": t / total, "us_per_msg": t * per}
            for name, t in sorted(areas.items(), key=lambda kv: kv[1], reverse=True)
        ],
    }


async def _profiled(opts: Options) -> tuple[dict[str, Any], str]:
    count = opts.size(5_000, 30)
    with ServerProcess(latency_ms=0) as server:
        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
        result = await run_path("push", server.base_url, server.token, count, CONCURRENCY)
        profiler.stop()
    session = profiler.last_session
    root = session.root_frame() if session is not None else None
    if root is None:
        return {"messages": result.sent, "top": [], "areas": []}, ""
    summary = summarise(root, result.sent)
    summary["rate"] = result.rate
    text = profiler.output_text(color=False, show_all=False)
    return summary, text


def run(opts: Options) -> list[Row]:
    """Profile one push-ceiling run (0 ms latency) and return its row."""
    summary, text = asyncio.run(_profiled(opts))
    out = opts.workdir / "profile.txt"
    Path(out).write_text(text, encoding="utf-8")
    areas = summary["areas"]
    busy = [a for a in areas if not a["area"].startswith("waiting")]
    lead: dict[str, Any] = busy[0] if busy else {"area": "?", "share": 0.0, "us_per_msg": 0.0}
    return [
        Row(
            benchmark="profile",
            metric="push @0 ms: largest own-time area",
            value=round(lead["us_per_msg"], 1),
            unit="µs/msg",
            note=f"{lead['area']} ({lead['share']:.0%} of wall); path: {PUSH_PATH}",
            raw=summary,
        )
    ]
