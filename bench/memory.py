"""Memory: peak RSS of a push to 100 000 subscribers vs 1 000 (pacer off).

Each size runs in a fresh child process (``python -m bench.memory --child ...``) against a
database seeded beforehand by the parent, and reports its peak RSS after the push
(``VmHWM``; ``ru_maxrss`` is recorded too, but a child started by vfork + exec can inherit the
parent's figure); the child's peak before the push (interpreter and imports) is shown too.
The server runs in its own process and keeps no message text.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Options, Row
from bench.pushpath import real_push, seed_database
from bench.server import ServerProcess

TARGET_MB = 150.0
TARGET_GROWTH = 0.20
CONCURRENCY = 32  # the push's default pool


def _peak_mb() -> float:
    """Return this process's peak RSS in MiB.

    VmHWM belongs to the process's own address space. ru_maxrss can carry the parent's peak
    into a child started by (v)fork + exec, so it is only the fallback.
    """
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory")
    parser.add_argument("--child", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args(argv)
    before = _peak_mb()
    start = time.perf_counter()
    sent = asyncio.run(real_push(args.base_url, args.token, args.child, CONCURRENCY))
    seconds = time.perf_counter() - start
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "sent": sent,
                "seconds": seconds,
                "before_mb": before,
                "peak_mb": _peak_mb(),
                "ru_maxrss_mb": maxrss,
            }
        )
    )


def measure(server: ServerProcess, count: int) -> dict[str, Any]:
    """Seed `count` subscribers, push to them from a fresh child; return its figures."""
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'memory.sqlite3'}"
        seed_database(url, count)
        args = ["--child", url, "--base-url", server.base_url, "--token", server.token]
        out = subprocess.run(
            [sys.executable, "-m", "bench.memory", *args],
            capture_output=True,
            text=True,
            check=True,
        )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["subscribers"] = count
    return result


def run(opts: Options) -> list[Row]:
    """Measure peak RSS for a small and a large push; return the rows."""
    with ServerProcess() as server:
        small = measure(server, opts.size(1_000, 20))
        large = measure(server, opts.size(100_000, 200))
    growth = large["peak_mb"] / small["peak_mb"] - 1 if small["peak_mb"] else 0.0
    data = {"small": small, "large": large}
    return [
        Row(
            "memory",
            f"peak RSS, push to {large['subscribers']}",
            round(large["peak_mb"], 1),
            "MB",
            f"< {TARGET_MB:g}",
            large["peak_mb"] < TARGET_MB,
            f"{small['subscribers']}: {small['peak_mb']:.1f} MB",
            f"before the push {large['before_mb']:.1f} MB; sent {large['sent']}",
            data,
        ),
        Row(
            "memory",
            f"growth {small['subscribers']} → {large['subscribers']}",
            round(100 * growth, 1),
            "%",
            f"≤ {TARGET_GROWTH:.0%}",
            growth <= TARGET_GROWTH,
            f"{small['subscribers']}: {small['peak_mb']:.1f} MB",
        ),
    ]


if __name__ == "__main__":
    _child(sys.argv[1:])
