"""Smoke test of the benchmarks: `python -m bench --quick` writes every row and the JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = (
    "push_ceiling",
    "paced_push",
    "commands",
    "command_cost",
    "flood",
    "import",
    "memory",
    "planning",
    "profile",
    "reader",
    "inline",
    "search",
    "cli_start",
)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_run_writes_a_row_per_benchmark_and_the_json(tmp_path: Path) -> None:
    """A --quick run exits 0, and BENCHMARKS.md and latest.json hold every benchmark's rows."""
    env = {**os.environ, "PTB_TIMEDELTA": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--repeats", "1", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]

    data = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    rows = data["rows"]
    assert {row["benchmark"] for row in rows} == set(BENCHMARKS)
    # A row without a value says why (the PostgreSQL planning run needs BENCH_PG).
    assert all(row["value"] is not None or row["note"].startswith("skipped") for row in rows), rows
    assert data["machine"]["nproc"]

    report = (tmp_path / "BENCHMARKS.md").read_text(encoding="utf-8")
    table = [line for line in report.splitlines() if line.startswith("| ")]
    for row in rows:
        assert any(f"| {row['benchmark']} | {row['metric']} |" in line for line in table), row
    for section in ("Machine:", "Date:", "Command: `python -m bench --quick", "## Profile"):
        assert section in report
