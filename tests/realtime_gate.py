"""A realtime test runs without ordinary tests beside it: at most one realtime test per core.

A realtime test checks a rate or a deadline in wall time. Beside CPU-hungry tests on a busy
two-core machine, a stall of its processes reads as the bot's slowness, so the suite could run
no more workers than cores. With the gate it can run more: the workers (xdist) share a folder,
named by the controller in ``DIGESTBOT_TEST_GATE``. Every ordinary test holds a shared lock on
a file there while it runs. A realtime test takes that lock exclusively, which it gets at a
moment no ordinary test runs; ordinary tests may still start while it waits (they go first:
realtime tests come last, tests/conftest.py, so few do, and a worker's short tests queued
behind it are not held back for the whole realtime phase). Holding the lock, it raises a flag
(a file) that keeps ordinary tests from starting until it has ended, and runs in one of
``slots`` places (a lock file each, one per core): realtime tests spend their time waiting on
rates and deadlines, so as many as there are cores run together.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV = "DIGESTBOT_TEST_GATE"
POLL = 0.05  # seconds between two looks at a raised flag


def core_slots() -> int:
    """Return how many realtime tests run together by default: one per core."""
    return len(os.sched_getaffinity(0))


class Gate:
    """A readers-first lock between the test processes of one session, kept in `folder`."""

    def __init__(self, folder: Path, *, slots: int | None = None) -> None:
        self._folder = folder
        self._lock = folder / "lock"
        self._slots = max(1, slots if slots is not None else core_slots())

    def _raised(self) -> bool:
        """Tell whether a live process raised a flag (a worker killed with one raised left it)."""
        for flag in self._folder.glob("raised-*"):
            try:
                os.kill(int(flag.name.split("-")[1]), 0)
            except ProcessLookupError:
                flag.unlink(missing_ok=True)
                continue
            return True
        return False

    @contextmanager
    def beside_others(self) -> Iterator[None]:
        """Run an ordinary test beside the other ordinary ones, never beside a realtime one."""
        with self._lock.open("a") as f:
            while True:
                while self._raised():
                    time.sleep(POLL)
                fcntl.flock(f, fcntl.LOCK_SH)
                # A flag raised between the look and the lock: step back, let it through.
                if not self._raised():
                    break
                fcntl.flock(f, fcntl.LOCK_UN)
            yield  # closing the file lets the lock go

    @contextmanager
    def alone(self) -> Iterator[None]:
        """Run a realtime test: once no ordinary test runs, hold them back and take a slot."""
        flag = self._folder / f"raised-{os.getpid()}-{threading.get_ident()}"
        with self._lock.open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # no ordinary test is running now
            flag.touch()  # and none starts until this test has ended
        try:
            with self._slot():
                yield
        finally:
            flag.unlink()

    @contextmanager
    def _slot(self) -> Iterator[None]:
        """Hold one of the slots for realtime tests, waiting for one when all are taken."""
        files = [(self._folder / f"slot-{i}").open("a") for i in range(self._slots)]
        try:
            for f in files:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                yield
                return
            fcntl.flock(files[os.getpid() % self._slots], fcntl.LOCK_EX)
            yield
        finally:
            for f in files:
                f.close()
