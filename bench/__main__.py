"""``python -m bench``: run every benchmark against the loopback Bot API and write the report.

Options: ``--quick`` (tiny sizes, for the smoke test), ``--only NAME`` (repeatable),
``--repeats N`` (default 3; figures are medians), ``--out DIR`` (write ``DIR/BENCHMARKS.md``
and ``DIR/latest.json`` instead of ``BENCHMARKS.md`` and ``bench/results/latest.json``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

# PTB 22 warns about RetryAfter's int/timedelta unless told; the bot accepts both.
os.environ.setdefault("PTB_TIMEDELTA", "1")

from bench import (
    cli_start,
    command_cost,
    commands,
    flood,
    importing,
    inline,
    memory,
    paced_push,
    planning,
    profile,
    push_ceiling,
    reader,
    search,
)
from bench.common import ROOT, Options, Row
from bench.report import text_table, write

BENCHMARKS: dict[str, Callable[[Options], list[Row]]] = {
    "push_ceiling": push_ceiling.run,
    "paced_push": paced_push.run,
    "commands": commands.run,
    "command_cost": command_cost.run,
    "flood": flood.run,
    "import": importing.run,
    "planning": planning.run,
    "memory": memory.run,
    "profile": profile.run,
    "reader": reader.run,
    "inline": inline.run,
    "search": search.run,
    "cli_start": cli_start.run,
}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; return 1 when one of them crashed (its row says why)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--out", type=Path, help="folder for BENCHMARKS.md and latest.json")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    md_path = args.out / "BENCHMARKS.md" if args.out else ROOT / "BENCHMARKS.md"
    json_path = (
        args.out / "latest.json" if args.out else ROOT / "bench" / "results" / "latest.json"
    )
    command = "python -m bench" + (" " + " ".join(argv if argv is not None else sys.argv[1:]))
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    output: list[str] = []

    def say(line: str) -> None:
        print(line, flush=True)
        output.append(line)

    rows: list[Row] = []
    crashed = False
    begin = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        opts = Options(quick=args.quick, repeats=args.repeats, workdir=Path(tmp))
        for name, bench in BENCHMARKS.items():
            if args.only and name not in args.only:
                continue
            say(f"[{name}] running ...")
            start = time.perf_counter()
            try:
                new = bench(opts)
            except Exception as exc:
                crashed = True
                traceback.print_exc()
                new = [Row(name, "crashed", None, "", note=f"{type(exc).__name__}: {exc}")]
            rows += new
            say(f"[{name}] {time.perf_counter() - start:.1f} s")
            for row in new:
                say(f"  {row.metric}: {row.value} {row.unit}  target {row.target or '-'}  "
                    f"met {row.met}  baseline {row.baseline or '-'}  {row.note}")  # fmt: skip
    seconds = time.perf_counter() - begin
    say("")
    say(text_table(rows))
    say(f"total {seconds:.0f} s")
    write(
        rows,
        md_path,
        json_path,
        started=started,
        command=command.strip(),
        seconds=seconds,
        output="\n".join(output),
    )
    print(f"wrote {md_path} and {json_path}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
