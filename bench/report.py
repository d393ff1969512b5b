"""Write the results: a Markdown report (BENCHMARKS.md) and the raw figures as JSON."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import Row


def machine() -> dict[str, Any]:
    """Describe the machine: cores, CPU model, Python, OS."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _value(row: Row) -> str:
    if row.value is None:
        return "n/a"
    return f"{row.value:g} {row.unit}".strip()


def _met(row: Row) -> str:
    if row.met is None:
        return "–"
    return "yes" if row.met else "**no**"


def table(rows: Sequence[Row]) -> str:
    """Return the results as a Markdown table."""
    lines = [
        "| Benchmark | Metric | Value | Target | Met | Baseline (same run) | Notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            row.benchmark,
            row.metric,
            _value(row),
            row.target or "–",
            _met(row),
            row.baseline or "–",
            row.note,
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def text_table(rows: Sequence[Row]) -> str:
    """Return the results as a plain-text table for the terminal."""
    header = ("benchmark", "metric", "value", "target", "met", "baseline")
    body = [
        (r.benchmark, r.metric, _value(r), r.target or "-", _met(r).strip("*"), r.baseline)
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in [header, *body]
    )


def _profile_section(rows: Sequence[Row]) -> str:
    profile = next((r for r in rows if r.benchmark == "profile" and r.raw), None)
    if profile is None:
        return "_No profile in this run._"
    raw = profile.raw
    parts = [
        f"pyinstrument, push ceiling path at 0 ms, {raw.get('messages', 0)} messages, "
        f"{raw.get('seconds', 0.0):.2f} s sampled on the event-loop thread "
        f"({raw.get('rate', 0.0):.0f} msg/s under the profiler).",
        "",
        "Own time by area (what each message costs):",
        "",
        "| Area | Share of wall | µs per message |",
        "|---|---|---|",
    ]
    parts += [
        f"| {a['area']} | {a['share']:.1%} | {a['us_per_msg']:.0f} |" for a in raw["areas"][:10]
    ]
    parts += [
        "",
        "Top frames by cumulative time:",
        "",
        "| Frame | Cumulative share | µs per message |",
        "|---|---|---|",
    ]
    parts += [f"| `{t['frame']}` | {t['share']:.1%} | {t['us_per_msg']:.0f} |" for t in raw["top"]]
    return "\n".join(parts)


def markdown(
    rows: Sequence[Row],
    *,
    started: str,
    command: str,
    seconds: float,
    output: str,
    summary: str = "",
) -> str:
    """Return BENCHMARKS.md: machine, date, command, table, profile, the run's output."""
    info = machine()
    missed = [f"{r.benchmark}: {r.metric}" for r in rows if r.met is False]
    return "\n".join(
        [
            "# Benchmarks",
            "",
            "Written by `python -m bench` (see the README). Every figure is a median over the",
            "repeats, next to a baseline measured in the same run; the machine is shared and",
            "noisy, so compare ratios, not absolute numbers across runs.",
            "",
            f"- Machine: {info['nproc']} cores, {info['cpu']}, Python {info['python']}, "
            f"{info['platform']}",
            f"- Date: {started}",
            f"- Command: `{command}`",
            f"- Wall time of the run: {seconds:.0f} s",
            "",
            *([summary, ""] if summary else []),
            "## Results",
            "",
            table(rows),
            "",
            "Targets missed: " + ("; ".join(missed) if missed else "none"),
            "",
            "## Profile of the push",
            "",
            _profile_section(rows),
            "",
            "## Output of the run",
            "",
            "```text",
            output.rstrip(),
            "```",
            "",
        ]
    )


def write(
    rows: Sequence[Row],
    markdown_path: Path,
    json_path: Path,
    *,
    started: str,
    command: str,
    seconds: float,
    output: str,
    summary: str = "",
) -> None:
    """Write BENCHMARKS.md and the JSON figures."""
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text(
        markdown(
            rows,
            started=started,
            command=command,
            seconds=seconds,
            output=output,
            summary=summary,
        ),
        encoding="utf-8",
    )
    data = {
        "started": started,
        "command": command,
        "seconds": seconds,
        "machine": machine(),
        "rows": [r.to_dict() for r in rows],
    }
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
