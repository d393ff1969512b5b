"""Write the assertion-rewritten bytecode pytest would write, once, before its workers start.

pytest rewrites the asserts of every test module, conftest.py and pytest plugin it imports
(hypothesis and anyio whole), and keeps the result in
``__pycache__/<name>.<tag>-pytest-<version>.pyc``, but only where Python may write bytecode:
under PYTHONDONTWRITEBYTECODE (set on some CI machines) each pytest-xdist worker rewrote them
all again, 5 of the 10 s of CPU a worker took to start. This writes them in 3 s, where
collecting the whole suite to the same end took 10: the test modules with pytest's own
functions, one process per core, and the plugins by a pytest that loads them and collects
nothing.

pytest checks each file against its source's size and modification time, as it does the ones
it writes itself; so does this, and a run again rewrites only the modules that changed. The
functions are pytest's internals: if a later pytest moves them, this says so and changes
nothing, and the workers rewrite the modules themselves, only slower.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

try:
    from _pytest.assertion.rewrite import (
        PYC_TAIL,
        _read_pyc,
        _rewrite_test,
        _write_pyc_fp,
        get_cache_dir,
    )
except ImportError as exc:  # pragma: no cover - a pytest that moved them
    sys.stderr.write(f"rewrite_asserts: skipped ({exc})\n")
    sys.exit(0)


def rewrite(source: Path) -> None:
    """Rewrite one module and write its bytecode atomically where pytest reads it, unless the
    file there is up to date."""
    cache = get_cache_dir(source)  # __pycache__, or under PYTHONPYCACHEPREFIX
    target = cache / (source.name[:-3] + PYC_TAIL)
    if _read_pyc(source, target) is not None:
        return
    try:
        stat, code = _rewrite_test(source, None)  # type: ignore[arg-type]  # None: the defaults
    except (SyntaxError, ValueError, OSError):
        return  # pytest reports it, in the run, when it collects the module
    cache.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}")
    with partial.open("wb") as out:
        _write_pyc_fp(out, stat, code)
    partial.replace(target)


def main() -> None:
    """Rewrite the plugins, and every test module and conftest.py under tests/."""
    collect = ("--collect-only", "-q", "-p", "no:cacheprovider", "--noconftest")
    plugins = subprocess.Popen(  # noqa: S603 - this interpreter's pytest, fixed arguments
        [sys.executable, "-m", "pytest", *collect, str(Path(__file__).parent)],  # no tests there
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    modules = [
        path
        for path in sorted(Path("tests").absolute().rglob("*.py"))
        if path.name.startswith("test_") or path.name == "conftest.py"
    ]
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(rewrite, modules, chunksize=8))
    plugins.wait()


if __name__ == "__main__":
    main()
