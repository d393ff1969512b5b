"""Run `python -m bot` in a process forked from a warm one: the CLI as a person runs it, faster.

Every CLI test used to start a new interpreter that imported digestbot and its libraries
(1.5-2 s of CPU each, hundreds of times per suite). A warm process imports them once; each run
is a fork of it that then does what a fresh `python -m bot ARGS` does: its own environment,
working folder, stdin, stdout and stderr (files), `sys.argv`, the `bot.__main__` module run as
`__main__`, the exit code `SystemExit` gives (a traceback and 1 for anything else).

Runs made at the same time (threads of one test) each get a warm process of their own, so
they really overlap. The few tests about the interpreter itself (the installed wheel,
signals to a running bot) still start `python -m bot` or `digestbot` directly.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

# The warm process: imports what the commands use, then forks one child per request line
# ({"args", "env", "cwd", "stdin", "stdout", "stderr"}: paths), answering "<pid>" at once and
# "<exit code>" when the child ends.
_WARM = r"""
import importlib, json, os, sys
for name in ("bot.cli", "bot.telegram.app", "bot.telegram.runner", "bot.telegram.push_run",
             "bot.fakeapi.console", "bot.fakeapi.server", "bot.web.app", "alembic.command",
             "alembic.config", "sqlalchemy.dialects.postgresql.psycopg"):
    try:
        importlib.import_module(name)
    except ImportError:
        pass
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.chdir(job["cwd"])
            os.environ.clear()
            os.environ.update(job["env"])
            for fd, path, mode in ((0, job["stdin"], os.O_RDONLY),
                                   (1, job["stdout"], os.O_WRONLY),
                                   (2, job["stderr"], os.O_WRONLY)):
                opened = os.open(path, mode)
                os.dup2(opened, fd)
                os.close(opened)
            # The warm process read its jobs from its stdin: a fresh one, as at start-up.
            sys.stdin = sys.__stdin__ = open(0, encoding=sys.stdin.encoding,
                                             errors=sys.stdin.errors, closefd=False)
            sys.argv = [job["argv0"], *job["args"]]
            import runpy
            try:
                runpy.run_module("bot", run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as exc:
                if exc.code is None:
                    code = 0
                elif isinstance(exc.code, int):
                    code = exc.code
                else:
                    print(exc.code, file=sys.stderr)
                    code = 1
            except BaseException:
                import traceback
                traceback.print_exc()
                code = 1
            import logging
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    print(pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
"""

_lock = threading.Lock()
_idle: list[subprocess.Popen[str]] = []  # warm processes no run is using


def _start() -> subprocess.Popen[str]:
    """Start a warm process (each thread running the CLI at the same time gets its own)."""
    warm = subprocess.Popen(
        [sys.executable, "-c", _WARM],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        cwd=Path(__file__).resolve().parent.parent,
    )
    atexit.register(warm.kill)
    return warm


def _take() -> subprocess.Popen[str]:
    with _lock:
        while _idle:
            warm = _idle.pop()
            if warm.poll() is None:
                return warm
    return _start()


def _line(warm: subprocess.Popen[str], timeout: float | None) -> str:
    assert warm.stdout is not None
    ready, _, _ = select.select([warm.stdout], [], [], timeout)
    if not ready:
        raise TimeoutError
    return warm.stdout.readline().strip()


def _fork(
    warm: subprocess.Popen[str], cwd: Path, env: dict[str, str], args: tuple[str, ...], io: Path
) -> int:
    """Have `warm` fork a child running `python -m bot ARGS` on io/in, io/out, io/err."""
    job = {
        "args": list(args),
        "argv0": str(Path(__file__).resolve().parent.parent / "bot" / "__main__.py"),
        "env": env,
        "cwd": str(cwd),
        "stdin": str(io / "in"),
        "stdout": str(io / "out"),
        "stderr": str(io / "err"),
    }
    assert warm.stdin is not None
    warm.stdin.write(json.dumps(job) + "\n")
    warm.stdin.flush()
    return int(_line(warm, 60))


def run_forked(
    cwd: Path,
    env: dict[str, str],
    args: tuple[str, ...],
    stdin: str | None,
    timeout: float,
    *,
    terminate_after: float | None = None,
    errors: str = "strict",
) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot ARGS` in a fork of a warm process; as subprocess.run would.

    `terminate_after`: a command that serves until stopped gets SIGTERM after that many
    seconds, as an operator would stop it, and its output is returned; past `timeout` it is
    killed and TimeoutExpired raised. `errors`: how undecodable output bytes are read.
    """
    warm = _take()
    with tempfile.TemporaryDirectory(prefix="digestbot-cli-") as scratch:
        folder = Path(scratch)
        (folder / "in").write_text(stdin or "", encoding="utf-8")
        (folder / "out").touch()
        (folder / "err").touch()
        pid = _fork(warm, cwd, env, args, folder)
        try:
            if terminate_after is not None:
                try:
                    code = int(_line(warm, terminate_after))
                except TimeoutError:
                    os.kill(pid, signal.SIGTERM)
                    code = int(_line(warm, timeout))
            else:
                code = int(_line(warm, timeout))
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            _line(warm, 60)
            raise subprocess.TimeoutExpired(["python", "-m", "bot", *args], timeout) from None
        finally:
            with _lock:
                _idle.append(warm)
        out = (folder / "out").read_text(encoding="utf-8", errors=errors)
        err = (folder / "err").read_text(encoding="utf-8", errors=errors)
    return subprocess.CompletedProcess(["python", "-m", "bot", *args], code, out, err)


class ForkedProcess:
    """A running `python -m bot` forked from a warm process; shaped like asyncio's Process."""

    def __init__(self, warm: subprocess.Popen[str], pid: int, scratch: Path) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._warm = warm
        self._scratch = scratch
        self._ended = threading.Event()
        threading.Thread(target=self._reap, daemon=True).start()

    def _reap(self) -> None:
        # The warm process answers with the exit code when the child ends.
        self.returncode = int(_line(self._warm, None))
        with _lock:
            _idle.append(self._warm)
        self._ended.set()

    def send_signal(self, sig: int) -> None:
        """Send `sig` to the process, unless it has ended."""
        if self.returncode is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL the process, unless it has ended."""
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """SIGTERM the process, unless it has ended."""
        self.send_signal(signal.SIGTERM)

    async def wait(self) -> int:
        """Wait for the process to end; return its exit code (negative: the signal)."""
        await asyncio.to_thread(self._ended.wait)
        assert self.returncode is not None
        return self.returncode

    async def communicate(self) -> tuple[bytes, bytes]:
        """Wait for the process to end; return what it wrote to stdout and stderr."""
        await self.wait()
        return (self._scratch / "out").read_bytes(), (self._scratch / "err").read_bytes()


async def start_forked(cwd: Path, env: dict[str, str], args: tuple[str, ...]) -> ForkedProcess:
    """Start `python -m bot ARGS` in a fork of a warm process; empty stdin, output kept."""
    warm = await asyncio.to_thread(_take)
    scratch = Path(tempfile.mkdtemp(prefix="digestbot-cli-"))
    for name in ("in", "out", "err"):
        (scratch / name).touch()
    pid = await asyncio.to_thread(_fork, warm, cwd, env, args, scratch)
    return ForkedProcess(warm, pid, scratch)


async def start_together(
    cwd: Path, env: dict[str, str], runs: list[tuple[str, ...]]
) -> list[ForkedProcess]:
    """Start one `python -m bot ARGS` per entry of `runs` at once, each in its own fork.

    Every warm process is ready before the first fork, so the runs start within
    milliseconds of each other, as processes an operator starts together would.
    """
    warm = [await asyncio.to_thread(_take) for _ in runs]
    started = []
    for process, args in zip(warm, runs, strict=True):
        scratch = Path(tempfile.mkdtemp(prefix="digestbot-cli-"))
        for name in ("in", "out", "err"):
            (scratch / name).touch()
        pid = _fork(process, cwd, env, args, scratch)
        started.append(ForkedProcess(process, pid, scratch))
    return started
