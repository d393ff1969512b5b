"""The warm CLI process: one per test process, serving runs that overlap, reporting each end.

`digestbot fake-api --port 0` stands for a command that runs until stopped: it serves the
loopback Bot API until a signal ends it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.warm_cli import ForkedProcess, run_forked, start_forked, start_together

SERVES = ("fake-api", "--port", "0")


def parent(pid: int) -> int:
    """Return the parent pid of the running process `pid`."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    return int(stat.rsplit(")", 1)[1].split()[1])


def children(pid: int) -> set[int]:
    """Return the pids of the processes whose parent is `pid`."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if parent(int(entry.name)) == pid:
                    found.add(int(entry.name))
            except (OSError, IndexError):
                continue  # ended while we looked
    return found


def gone(pid: int) -> bool:
    """Return whether `pid` has ended (a zombie has: only its parent's wait is missing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


async def until(condition: Callable[[], bool]) -> None:
    """Wait until `condition()` holds (at most 30 s)."""
    async with asyncio.timeout(30):
        while not condition():  # noqa: ASYNC110 - polls /proc, nothing to wait on
            await asyncio.sleep(0.01)


async def stop(*processes: ForkedProcess) -> None:
    for process in processes:
        process.kill()
        await process.wait()


async def test_runs_overlapping_in_time_are_children_of_one_warm_process(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """Two runs started together and a third started while they serve: one parent."""
    together = await start_together(tmp_path, cli_env, [SERVES, SERVES])
    try:
        later = await start_forked(tmp_path, cli_env, SERVES)
        try:
            running = [*together, later]
            parents = {parent(process.pid) for process in running}
            assert all(process.returncode is None for process in running)
        finally:
            await stop(later)
    finally:
        await stop(*together)
    assert len(parents) == 1
    assert parents != {os.getpid()}


def test_runs_from_several_threads_at_once_each_get_their_own_result(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """Eight threads run commands at once; each gets its own command's exit code and output."""
    commands = [("--help",), ("run",)] * 4

    def run(args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
        return run_forked(tmp_path, cli_env, args, None, 120)

    with ThreadPoolExecutor(len(commands)) as pool:
        results = list(pool.map(run, commands))
    for args, result in zip(commands, results, strict=True):
        if args == ("--help",):
            assert result.returncode == 0, result.stderr
            assert "fake-api" in result.stdout
        else:
            assert result.returncode == 2, result.stderr
            assert "TELEGRAM_BOT_TOKEN" in result.stderr


async def test_a_run_that_ended_before_anyone_waits_still_reports_its_code(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    process = await start_forked(tmp_path, cli_env, ("run",))
    await until(lambda: gone(process.pid))
    _, err = await process.communicate()
    assert await process.wait() == 2
    assert b"TELEGRAM_BOT_TOKEN" in err


async def test_a_run_ended_by_a_signal_reports_minus_the_signal(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    process = await start_forked(tmp_path, cli_env, SERVES)
    process.send_signal(signal.SIGKILL)
    assert await process.wait() == -signal.SIGKILL
    assert process.returncode == -signal.SIGKILL


async def test_a_run_past_its_timeout_is_killed_and_raises_timeout_expired(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        await asyncio.to_thread(run_forked, tmp_path, cli_env, SERVES, None, 1)
    probe = await start_forked(tmp_path, cli_env, SERVES)
    try:
        # The timed-out run is gone: the probe is the warm process's only child.
        assert children(parent(probe.pid)) == {probe.pid}
    finally:
        await stop(probe)


async def test_a_dead_warm_process_is_replaced(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """A run whose warm process dies is told so; the next run gets a new warm process."""
    orphan = await start_forked(tmp_path, cli_env, SERVES)
    dead = parent(orphan.pid)
    os.kill(dead, signal.SIGKILL)
    try:
        with pytest.raises(RuntimeError, match="warm CLI process has ended"):
            await orphan.wait()
    finally:
        os.kill(orphan.pid, signal.SIGKILL)
    await until(lambda: gone(dead))
    result = await asyncio.to_thread(run_forked, tmp_path, cli_env, ("--help",), None, 120)
    assert result.returncode == 0, result.stderr
    probe = await start_forked(tmp_path, cli_env, SERVES)
    try:
        assert parent(probe.pid) not in {dead, os.getpid()}
    finally:
        await stop(probe)
