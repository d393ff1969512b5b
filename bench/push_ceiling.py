"""Push ceiling (pacer off): messages/s and CPU per message, next to a raw aiohttp client.

Per latency (0 and 80 ms, simulated by the server), each repeat runs the raw baseline and the
real push back to back against the same server process, so both see the same noise; the
ratio is taken per repeat, then the median. PTB's httpx transport is measured once per
latency on fewer messages (it is several times slower; the full size would not fit the run).

At 0 ms the push also runs through the pacer with its limits lifted, in-process only and then
drawing from the rate budget shared through the database (one claim per message for its chat),
on fewer messages, each repeat beside the raw client: what sharing the budget costs.
"""

from __future__ import annotations

import asyncio

from bench.common import Options, Row, median
from bench.pushpath import PUSH_PATH, PushRun, run_path
from bench.server import ServerProcess

LATENCIES = (0, 80)
# In flight at once; at 80 ms a push needs ≥ 80 to reach 1000 msg/s at all.
CONCURRENCY = 128
TARGET_RATE = 1000.0
TARGET_RATIO = 0.7
TARGET_SHARED = 0.9  # the shared budget may cost the push at most 10 % of its throughput
TARGET_SHARED_RAW = 0.8  # issue 10 §3: `push --now` at ≥ 0.8x the raw aiohttp client


def _measure(opts: Options, latency: int) -> dict[str, list[PushRun]]:
    count = opts.size(20_000, 30)
    httpx_count = opts.size(1_000, 20)
    runs: dict[str, list[PushRun]] = {"raw": [], "push": [], "ptb-httpx": []}
    with ServerProcess(latency_ms=latency) as server:
        args = (server.base_url, server.token)
        for _ in range(opts.repeats):
            runs["raw"].append(asyncio.run(run_path("raw", *args, count, CONCURRENCY)))
            runs["push"].append(asyncio.run(run_path("push", *args, count, CONCURRENCY)))
        runs["ptb-httpx"].append(asyncio.run(run_path("ptb-httpx", *args, httpx_count, 32)))
    return runs


def _measure_shared(opts: Options) -> dict[str, list[PushRun]]:
    count = opts.size(5_000, 20)
    runs: dict[str, list[PushRun]] = {"raw": [], "paced": [], "shared": []}
    with ServerProcess(latency_ms=0) as server:
        args = (server.base_url, server.token)
        for _ in range(opts.repeats):
            for path, done in runs.items():
                done.append(asyncio.run(run_path(path, *args, count, CONCURRENCY)))
    return runs


def _shared_rows(runs: dict[str, list[PushRun]]) -> list[Row]:
    raw, paced, shared = runs["raw"], runs["paced"], runs["shared"]
    by_pacer = median([s.rate / p.rate for s, p in zip(shared, paced, strict=True) if p.rate])
    by_raw = median([s.rate / r.rate for s, r in zip(shared, raw, strict=True) if r.rate])
    note = f"{raw[0].sent if raw else 0} msgs, {CONCURRENCY} in flight, limits lifted; " + (
        f"shared {median([s.rate for s in shared]):.0f} msg/s, "
        f"{median([s.cpu_ms for s in shared]):.3f} ms CPU/msg"
    )
    data = {k: [vars(r) for r in v] for k, v in runs.items()}
    return [
        Row(
            "push_ceiling",
            "shared budget / local pacer @0 ms",
            round(by_pacer, 2),
            "×",
            f"≥ {TARGET_SHARED}",
            by_pacer >= TARGET_SHARED,
            f"local pacer {median([p.rate for p in paced]):.0f} msg/s, "
            f"{median([p.cpu_ms for p in paced]):.3f} ms CPU/msg",
            note,
            data,
        ),
        Row(
            "push_ceiling",
            "shared budget / raw @0 ms",
            round(by_raw, 2),
            "×",
            f"≥ {TARGET_SHARED_RAW}",
            by_raw >= TARGET_SHARED_RAW,
            f"raw aiohttp {median([r.rate for r in raw]):.0f} msg/s",
            "per-repeat ratio, median; SQLite",
        ),
    ]


def run(opts: Options) -> list[Row]:
    """Measure the push ceiling at each latency; return its rows."""
    rows = []
    # The smoke test (--quick) checks the rows are made, not the figures: one latency does.
    for latency in LATENCIES[:1] if opts.quick else LATENCIES:
        runs = _measure(opts, latency)
        raw, push, httpx = runs["raw"], runs["push"], runs["ptb-httpx"]
        raw_rate = median([r.rate for r in raw])
        push_rate = median([r.rate for r in push])
        ratio = median([p.rate / r.rate for p, r in zip(push, raw, strict=True) if r.rate])
        raw_cpu = median([r.cpu_ms for r in raw])
        push_cpu = median([r.cpu_ms for r in push])
        httpx_rate = median([r.rate for r in httpx])
        count = push[0].sent if push else 0
        short = [r.sent for r in push + raw if r.sent != raw[0].sent]
        data = {
            "latency_ms": latency,
            "concurrency": CONCURRENCY,
            "path": PUSH_PATH,
            **{k: [vars(r) for r in v] for k, v in runs.items()},
        }
        note = f"{count} msgs, {CONCURRENCY} in flight" + (
            f"; SHORT sends {short}" if short else ""
        )
        at = f"@{latency} ms"
        rows += [
            Row(
                "push_ceiling",
                f"push msg/s {at}",
                round(push_rate),
                "msg/s",
                f"≥ {TARGET_RATE:.0f}",
                push_rate >= TARGET_RATE,
                f"raw aiohttp {raw_rate:.0f} msg/s",
                note,
                data,
            ),
            Row(
                "push_ceiling",
                f"push / raw {at}",
                round(ratio, 2),
                "×",
                f"≥ {TARGET_RATIO}",
                ratio >= TARGET_RATIO,
                "per-repeat ratio, median",
            ),
            Row(
                "push_ceiling",
                f"push CPU {at}",
                round(push_cpu, 3),
                "ms/msg",
                baseline=f"raw aiohttp {raw_cpu:.3f} ms/msg",
                note="bot process only (server is another process)",
            ),
            Row(
                "push_ceiling",
                f"PTB httpx Bot.send_message {at}",
                round(httpx_rate),
                "msg/s",
                baseline=f"raw aiohttp {raw_rate:.0f} msg/s",
                note=f"{httpx[0].sent if httpx else 0} msgs, 32 in flight, 1 run (for comparison)",
            ),
        ]
        if latency == 0:
            rows += _shared_rows(_measure_shared(opts))
    return rows
