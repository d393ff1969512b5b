"""The test gate: a realtime test runs alone, once no ordinary test runs, before the next ones."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from tests.realtime_gate import Gate


def test_a_realtime_test_waits_until_no_ordinary_one_runs_then_holds_the_next_back(
    tmp_path: Path,
) -> None:
    """A runs; B (realtime) waits for it; C, coming while B waits, runs beside A (ordinary
    tests go first); B runs once A and C have ended; D, coming while B runs, waits for B."""
    gate = Gate(tmp_path, slots=1)
    order: list[str] = []
    a_running, a_may_end = threading.Event(), threading.Event()
    b_running, b_may_end = threading.Event(), threading.Event()

    def ordinary(name: str) -> None:
        with gate.beside_others():
            order.append(f"{name} in")
            if name == "A":
                a_running.set()
                assert a_may_end.wait(10)
            order.append(f"{name} out")

    def realtime() -> None:
        with gate.alone():
            order.append("B in")
            b_running.set()
            assert b_may_end.wait(10)
            order.append("B out")

    a = threading.Thread(target=ordinary, args=("A",))
    a.start()
    assert a_running.wait(10)
    b = threading.Thread(target=realtime)
    b.start()
    threading.Event().wait(0.2)  # B is at the gate, waiting for A
    c = threading.Thread(target=ordinary, args=("C",))
    c.start()
    c.join(10)
    assert order == ["A in", "C in", "C out"]  # B neither ran nor held C back
    a_may_end.set()
    assert b_running.wait(10)
    d = threading.Thread(target=ordinary, args=("D",))
    d.start()
    threading.Event().wait(0.2)  # time for D to start, were it let in
    b_may_end.set()
    for thread in (a, b, d):
        thread.join(10)
    assert order == ["A in", "C in", "C out", "A out", "B in", "B out", "D in", "D out"]


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
