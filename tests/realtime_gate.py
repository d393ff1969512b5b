"""A realtime test runs alone: no other test of the session runs beside it.

A realtime test checks a rate or a deadline in wall time. Beside CPU-hungry tests on a busy
two-core machine, a stall of its processes reads as the bot's slowness, so the suite could run
no more workers than cores. With the gate it can run more: the workers (xdist) share a folder,
named by the controller in ``DIGESTBOT_TEST_GATE``. Every other test holds a shared lock on
a file there while it runs. A realtime test first raises a flag (a file) that keeps the next
tests from starting, then takes the lock exclusively, which waits for the ones in flight.
Realtime tests run last (tests/conftest.py), so the others rarely wait.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV = "DIGESTBOT_TEST_GATE"
POLL = 0.05  # seconds between two looks at a raised flag


class Gate:
    """A writer-first lock between the test processes of one session, kept in `folder`."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._lock = folder / "lock"

    def _raised(self) -> bool:
        """Tell whether a live process raised a flag (a worker killed with one raised left it)."""
        for flag in self._folder.glob("raised-*"):
            try:
                os.kill(int(flag.name.removeprefix("raised-")), 0)
            except ProcessLookupError:
                flag.unlink(missing_ok=True)
                continue
            return True
        return False

    @contextmanager
    def beside_others(self) -> Iterator[None]:
        """Run a test beside the other ordinary ones, once no realtime test waits or runs."""
        while self._raised():
            time.sleep(POLL)
        with self._lock.open("a") as f:
            fcntl.flock(f, fcntl.LOCK_SH)  # closing the file lets it go
            yield

    @contextmanager
    def alone(self) -> Iterator[None]:
        """Run a test alone: hold the next tests back, wait for the ones running."""
        flag = self._folder / f"raised-{os.getpid()}"
        flag.touch()
        try:
            with self._lock.open("a") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                yield
        finally:
            flag.unlink()
