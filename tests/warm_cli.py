"""Run `python -m bot` in a process forked from a warm one: the CLI as a person runs it, faster.

Every CLI test used to start a new interpreter that imported digestbot and its libraries
(1.5-2 s of CPU each, hundreds of times per suite). A warm process imports them once; each run
is a fork of it that then does what a fresh `python -m bot ARGS` does: its own environment,
working folder, stdin, stdout and stderr (files), `sys.argv`, the `bot.__main__` module run as
`__main__`, the exit code `SystemExit` gives (a traceback and 1 for anything else).

Each test process has one warm process, started on first use and again if it has died. It
serves any number of runs at once (threads of one test, runs started together, a run still
going while the test runs another command): it forks on request and reports each child's end
as it happens, so runs really overlap without paying for another warm process's imports. The
few tests about the interpreter itself (the installed wheel, signals to a running bot) still
start `python -m bot` or `digestbot` directly.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

# The warm process: imports what the commands use, then serves request lines
# ({"id", "jobs": [{"args", "argv0", "env", "cwd", "stdin", "stdout", "stderr"}: paths]}):
# it forks one child per job, back to back, answering "started <id> <pid>..." at once and
# "ended <pid> <exit code>" whenever a child ends. It stays single-threaded (a fork of a
# process with other threads can inherit a lock one of them held): one select() loop waits
# on its stdin and on a self-pipe that SIGCHLD writes to (the signal module's wakeup fd).
_WARM = r"""
import importlib, json, os, select, signal, sys
for name in ("bot.cli", "bot.telegram.app", "bot.telegram.runner", "bot.telegram.push_run",
             "bot.fakeapi.console", "bot.fakeapi.server", "bot.web.app", "alembic.command",
             "alembic.config", "sqlalchemy.dialects.postgresql.psycopg"):
    try:
        importlib.import_module(name)
    except ImportError:
        pass

wake_r, wake_w = os.pipe()
os.set_blocking(wake_r, False)
os.set_blocking(wake_w, False)
# A Python-level handler (not SIG_IGN, which would reap children unseen) makes the
# interpreter write each SIGCHLD to the wakeup fd, waking select() even between checks.
signal.signal(signal.SIGCHLD, lambda signum, frame: None)
signal.set_wakeup_fd(wake_w)


def child(job):
    # A fresh `python -m bot` has none of the loop's set-up (asyncio uses the wakeup fd).
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.close(wake_r)
    os.close(wake_w)
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


def answer(text):
    # os.write, not print: nothing stays in sys.stdout's buffer for a child to inherit.
    data = (text + "\n").encode()
    while data:
        data = data[os.write(1, data):]


pending = b""
while True:
    ready, _, _ = select.select([0, wake_r], [], [])
    if wake_r in ready:
        try:
            while os.read(wake_r, 4096):
                pass
        except BlockingIOError:
            pass
    if 0 in ready:
        data = os.read(0, 65536)
        if not data:
            break  # the test process has gone
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            request = json.loads(line)
            pids = []
            for job in request["jobs"]:
                pid = os.fork()
                if pid == 0:
                    child(job)
                pids.append(pid)
            answer(" ".join(["started", str(request["id"]), *map(str, pids)]))
    # Reaped only after every "started" above is written: a child's end always follows it.
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        answer(f"ended {pid} {os.waitstatus_to_exitcode(status)}")
"""

_ROOT = Path(__file__).resolve().parent.parent


class _Run:
    """One child of the warm process: its pid and its exit code once it ends."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.code: Future[int] = Future()


class _Warm:
    """The warm process and the thread that reads its answers and hands each to its waiter."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", _WARM],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            cwd=_ROOT,
        )
        atexit.register(self._process.kill)
        self._lock = threading.Lock()  # the two tables below
        # Writers queue on a lock of their own: one blocked on a full stdin pipe must not
        # hold up the reader thread, which the warm process may be waiting on to answer.
        self._writing = threading.Lock()
        self._next_id = 0
        self._starting: dict[int, Future[list[_Run]]] = {}
        self._running: dict[int, _Run] = {}
        self._gone = False
        threading.Thread(target=self._read, name="warm-cli", daemon=True).start()

    def alive(self) -> bool:
        """Return whether the warm process can still take requests."""
        return not self._gone and self._process.poll() is None

    def fork(self, jobs: list[dict[str, object]]) -> list[_Run]:
        """Have the warm process fork one child per job, back to back; return them."""
        started: Future[list[_Run]] = Future()
        with self._lock:
            if self._gone:
                raise RuntimeError("the warm CLI process has ended")
            request = self._next_id
            self._next_id += 1
            self._starting[request] = started
        stdin = self._process.stdin
        assert stdin is not None
        with self._writing:
            stdin.write(json.dumps({"id": request, "jobs": jobs}) + "\n")
            stdin.flush()
        return started.result(60)

    def _read(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        try:
            for line in stdout:
                kind, *fields = line.split()
                if kind == "started":
                    runs = [_Run(int(pid)) for pid in fields[1:]]
                    with self._lock:
                        self._running.update((run.pid, run) for run in runs)
                        started = self._starting.pop(int(fields[0]))
                    started.set_result(runs)
                else:
                    with self._lock:
                        run = self._running.pop(int(fields[0]))
                    run.code.set_result(int(fields[1]))
        finally:
            self._end()

    def _end(self) -> None:
        # Whoever still waits learns the warm process has gone, instead of waiting forever.
        with self._lock:
            self._gone = True
            waiting: list[Future[Any]] = [*self._starting.values()]
            waiting += (run.code for run in self._running.values())
            self._starting.clear()
            self._running.clear()
        for future in waiting:
            future.set_exception(RuntimeError("the warm CLI process has ended"))


_lock = threading.Lock()
_warm: dict[int, _Warm] = {}  # by the pid of the test process it serves (a fork needs its own)


def _fork(cwd: Path, env: dict[str, str], runs: list[tuple[tuple[str, ...], Path]]) -> list[_Run]:
    """Fork one child per (ARGS, io) running `python -m bot ARGS` on io/in, io/out, io/err."""
    with _lock:
        warm = _warm.get(os.getpid())
        if warm is None or not warm.alive():
            warm = _warm[os.getpid()] = _Warm()
    jobs: list[dict[str, object]] = [
        {
            "args": list(args),
            "argv0": str(_ROOT / "bot" / "__main__.py"),
            "env": env,
            "cwd": str(cwd),
            "stdin": str(io / "in"),
            "stdout": str(io / "out"),
            "stderr": str(io / "err"),
        }
        for args, io in runs
    ]
    return warm.fork(jobs)


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
    with tempfile.TemporaryDirectory(prefix="digestbot-cli-") as scratch:
        folder = Path(scratch)
        (folder / "in").write_text(stdin or "", encoding="utf-8")
        (folder / "out").touch()
        (folder / "err").touch()
        [run] = _fork(cwd, env, [(args, folder)])
        try:
            if terminate_after is not None:
                try:
                    code = run.code.result(terminate_after)
                except TimeoutError:
                    os.kill(run.pid, signal.SIGTERM)
                    code = run.code.result(timeout)
            else:
                code = run.code.result(timeout)
        except TimeoutError:
            os.kill(run.pid, signal.SIGKILL)
            run.code.result(60)
            raise subprocess.TimeoutExpired(["python", "-m", "bot", *args], timeout) from None
        out = (folder / "out").read_text(encoding="utf-8", errors=errors)
        err = (folder / "err").read_text(encoding="utf-8", errors=errors)
    return subprocess.CompletedProcess(["python", "-m", "bot", *args], code, out, err)


class ForkedProcess:
    """A running `python -m bot` forked from a warm process; shaped like asyncio's Process."""

    def __init__(self, run: _Run, scratch: Path) -> None:
        self.pid = run.pid
        self.returncode: int | None = None
        self._code = run.code
        self._scratch = scratch
        self._code.add_done_callback(self._ended)

    def _ended(self, code: Future[int]) -> None:
        if code.exception() is None:
            self.returncode = code.result()

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
        # Shielded: a cancelled wait must not cancel the future the reader thread will set.
        self.returncode = await asyncio.shield(asyncio.wrap_future(self._code))
        return self.returncode

    def printed(self) -> str:
        """Return what the process has written to stdout so far, while it runs."""
        return (self._scratch / "out").read_text(encoding="utf-8", errors="replace")

    async def communicate(self) -> tuple[bytes, bytes]:
        """Wait for the process to end; return what it wrote to stdout and stderr."""
        await self.wait()
        return (self._scratch / "out").read_bytes(), (self._scratch / "err").read_bytes()


@functools.cache
def _scratch_root() -> Path:
    """Return this test process's folder of run folders, removed when the process exits.

    A test may still read a finished run's output, so no run's folder goes sooner.
    """
    root = Path(tempfile.mkdtemp(prefix="digestbot-cli-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


def _scratch() -> Path:
    """Return a new folder for one run's stdin, stdout and stderr files."""
    scratch = Path(tempfile.mkdtemp(dir=_scratch_root()))
    for name in ("in", "out", "err"):
        (scratch / name).touch()
    return scratch


async def start_forked(cwd: Path, env: dict[str, str], args: tuple[str, ...]) -> ForkedProcess:
    """Start `python -m bot ARGS` in a fork of a warm process; empty stdin, output kept."""
    [process] = await start_together(cwd, env, [args])
    return process


async def start_together(
    cwd: Path, env: dict[str, str], runs: list[tuple[str, ...]]
) -> list[ForkedProcess]:
    """Start one `python -m bot ARGS` per entry of `runs` at once, each in its own fork.

    The warm process forks them back to back on one request, so the runs start within
    milliseconds of each other, as processes an operator starts together would.
    """
    scratches = [_scratch() for _ in runs]
    started = await asyncio.to_thread(_fork, cwd, env, list(zip(runs, scratches, strict=True)))
    return [ForkedProcess(run, scratch) for run, scratch in zip(started, scratches, strict=True)]
