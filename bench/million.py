"""`push --now` to 1 000 000 subscribers, limits lifted: peak RSS and throughput vs raw aiohttp.

Issue 10 §3's figure, run by hand (about a quarter of an hour on two cores, most of it the
push): ``python -m bench.million [COUNT]``. The push runs in a fresh child process on a SQLite
database seeded beforehand (bench.memory.measure: plan and send, the pacer off, 32 in
flight as `digestbot push` sends); its peak RSS is the child's VmHWM. The baseline is the raw
aiohttp client sending 100 000 messages, as many at once, to the same server process in the
same run. Prints the rows for BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import sys

from bench.memory import CONCURRENCY, measure
from bench.pushpath import run_path
from bench.server import ServerProcess

TARGET_MB = 200.0
TARGET_RATIO = 0.8
RAW_COUNT = 100_000


def main(argv: list[str]) -> int:
    """Measure and print the rows; exit 0."""
    count = int(argv[0]) if argv else 1_000_000
    with ServerProcess() as server:
        raw = asyncio.run(
            run_path("raw", server.base_url, server.token, min(count, RAW_COUNT), CONCURRENCY)
        )
        pushed = measure(server, count)
    rate = pushed["sent"] / pushed["seconds"]
    ratio = rate / raw.rate
    print(
        f"| million | peak RSS, push --now to {pushed['sent']:,} | {pushed['peak_mb']:.1f} MB"
        f" | < {TARGET_MB:g} MB | {'yes' if pushed['peak_mb'] < TARGET_MB else '**no**'}"
        f" | before the push {pushed['before_mb']:.1f} MB | pacer off, {CONCURRENCY} in flight |"
    )
    print(
        f"| million | push / raw aiohttp, {pushed['sent']:,} | {ratio:.2f} ×"
        f" | ≥ {TARGET_RATIO} | {'yes' if ratio >= TARGET_RATIO else '**no**'}"
        f" | raw aiohttp {raw.rate:.0f} msg/s ({raw.sent:,} msgs)"
        f" | push {rate:.0f} msg/s over {pushed['seconds']:.0f} s, planning included |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
