"""CLI start-up: the CPU of `digestbot health` and `digestbot --version`, each a new process.

A container's HEALTHCHECK runs `digestbot health` every 30 s, for as long as the bot runs. Each
command here runs as a new interpreter (``python -m bot``, what the `digestbot` script runs);
its user + system CPU is read from the finished child's rusage. `health` asks a port where
nothing listens (the "unhealthy" path: the answer itself costs nothing next to start-up), with
a DATABASE_URL set as the Dockerfile sets one. Baselines, in the same run: a bare interpreter,
and one importing the running bot (``bot.telegram.app``), which every command imported before
the CLI imported each command's modules in its body.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.common import Options, Row, median

TARGET_SHARE = 0.5  # of importing the bot


def _cpu(argv: Sequence[str], env: dict[str, str], cwd: Path) -> float:
    """Run `argv` to its end; return the CPU seconds it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False, timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _commands(port: int) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "bare": [python, "-c", "pass"],
        "bot": [python, "-c", "import bot.telegram.app"],
        "version": [python, "-m", "bot", "--version"],
        "health": [python, "-m", "bot", "health", "--port", str(port)],
    }


def run(opts: Options) -> list[Row]:
    """Time each command in fresh processes, in turns; return the rows."""
    runs = 1 if opts.quick else max(opts.repeats, 7)
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp, socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: the probe is refused
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TELEGRAM_", "DATABASE_", "METRICS_"))
        }
        env["DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'digestbot.sqlite3'}"
        commands = _commands(closed.getsockname()[1])
        for _ in range(runs):  # in turns: a slow spell of the machine hits every command
            for name, argv in commands.items():
                times.setdefault(name, []).append(_cpu(argv, env, Path(tmp)))
    ms = {name: median(values) * 1000 for name, values in times.items()}
    baseline = f"bare python {ms['bare']:.0f} ms; importing the bot {ms['bot']:.0f} ms"
    note = f"median of {runs} fresh processes each, user + system CPU"
    return [
        Row(
            "cli_start",
            f"`digestbot {name}` CPU",
            round(ms[name]),
            "ms",
            target=f"< {TARGET_SHARE:.0%} of importing the bot",
            met=ms[name] < TARGET_SHARE * ms["bot"],
            baseline=baseline,
            note=note,
            raw={"seconds": times[name]},
        )
        for name in ("health", "version")
    ]
