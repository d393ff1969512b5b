"""The test gate: a realtime test runs alone, after the tests in flight, before the next ones."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from tests.realtime_gate import Gate


def test_a_realtime_test_waits_for_the_running_ones_and_holds_back_the_next(
    tmp_path: Path,
) -> None:
    """A runs; B (realtime) raises its flag and waits for A; C, started after the flag, waits
    for B: the order is A, B, C whichever thread the scheduler favours."""
    gate = Gate(tmp_path, slots=1)
    order: list[str] = []
    a_running, a_may_end = threading.Event(), threading.Event()

    def ordinary(name: str, hold: threading.Event | None = None) -> None:
        with gate.beside_others():
            order.append(f"{name} in")
            if hold is not None:
                a_running.set()
                assert a_may_end.wait(10)
            order.append(f"{name} out")

    def realtime() -> None:
        with gate.alone():
            order.append("B in")
            order.append("B out")

    a = threading.Thread(target=ordinary, args=("A", a_may_end))
    a.start()
    assert a_running.wait(10)
    b = threading.Thread(target=realtime)
    b.start()
    while not list(tmp_path.glob("raised-*")):  # B has raised its flag
        threading.Event().wait(0.01)
    c = threading.Thread(target=ordinary, args=("C",))
    c.start()
    a_may_end.set()
    for thread in (a, b, c):
        thread.join(10)
    assert order == ["A in", "A out", "B in", "B out", "C in", "C out"]


def test_a_flag_left_by_a_dead_process_holds_nothing_back(tmp_path: Path) -> None:
    """A worker killed while its realtime test waited leaves its flag: the others go on."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f"raised-{dead.pid}-1").touch()
    ran = threading.Event()

    def ordinary() -> None:
        with Gate(tmp_path).beside_others():
            ran.set()

    thread = threading.Thread(target=ordinary, daemon=True)
    thread.start()
    assert ran.wait(10)
    assert not list(tmp_path.glob("raised-*"))


def test_realtime_tests_share_the_slots_and_a_third_waits_for_one(tmp_path: Path) -> None:
    """With two slots, two realtime tests run together (each sees the other inside); a third
    starts only once one of them has left."""
    gate = Gate(tmp_path, slots=2)
    inside: list[threading.Event] = [threading.Event(), threading.Event()]
    leave = threading.Event()
    order: list[str] = []

    def first_two(me: int) -> None:
        with gate.alone():
            inside[me].set()
            assert inside[1 - me].wait(10)  # the other one is inside at the same time
            assert leave.wait(10)
            order.append(f"R{me} out")

    def third() -> None:
        with gate.alone():
            order.append("R2 in")

    pair = [threading.Thread(target=first_two, args=(i,)) for i in (0, 1)]
    for thread in pair:
        thread.start()
    assert all(event.wait(10) for event in inside)
    late = threading.Thread(target=third)
    late.start()
    while len(list(tmp_path.glob("raised-*"))) < 3:  # the third has come to the gate
        threading.Event().wait(0.01)
    threading.Event().wait(0.3)  # time to take a slot, were one free
    leave.set()
    for thread in (*pair, late):
        thread.join(10)
    assert sorted(order) == ["R0 out", "R1 out", "R2 in"]
    assert order.index("R2 in") > 0  # after one of the two left its slot
