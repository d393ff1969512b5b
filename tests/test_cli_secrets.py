"""No CLI command prints or logs the bot token, however the Bot API fails (issue 9 §5).

Every command of the typer app (new ones included) runs at LOG_LEVEL=DEBUG against failing and
malformed TELEGRAM_BASE_URLs on both HTTP backends, including a server that echoes the request
path (the token) in its errors; all stdout and stderr is searched for the token and its secret
half.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import typer

from bot.cli import app
from tests.warm_cli import run_forked

TOKEN = "123456789:AAEsecretHALFofTHEtoken_0123456789-xyz"  # noqa: S105 - a fake token
SECRET = TOKEN.split(":", 1)[1]
BACKENDS = ("aiohttp", "httpx")
# Commands that never reach the Bot API run once per backend; every other command (run, push,
# and any command added later) runs against every URL on both backends.
OFFLINE = frozenset(
    {"import", "list", "preview", "backup", "health", "fake-api", "console", "subscribers", "web"}
)
# Arguments that make each command do its real work (default: none).
ARGS: dict[str, tuple[str, ...]] = {
    "list": ("--json",),
    "push": ("--now",),
    "health": ("--port", "1"),
    "fake-api": ("--port", "0"),
}
# Commands that serve until stopped: they have logged their start and first failures well
# within SERVE_FOR, and are then stopped with SIGTERM as an operator would. Every other command
# ends by itself (TIMEOUT only bounds a hang).
SERVERS = frozenset({"run", "web", "fake-api", "console"})
SERVE_FOR = 8.0
TIMEOUT = 60.0


class _EchoHandler(BaseHTTPRequestHandler):
    """Answer every request with an error that quotes the path (and so the token)."""

    def do_POST(self) -> None:
        if "json" in self.path:
            status, kind = 400, "application/json"
            body = json.dumps({"ok": False, "description": f"no route {self.path}"})
        else:
            status, kind, body = 502, "text/html", f"<h1>Bad gateway for {self.path}</h1>"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test's output quiet."""


@pytest.fixture(scope="module")
def echo_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def base_urls(echo: str) -> list[str]:
    """Return failing base URLs; the first four are tried with every command that goes online."""
    return [
        "http://127.0.0.1:1/bot",  # connection refused
        "http://256.256.256.256/bot",  # the HTTP libraries refuse the URL
        f"{echo}/json/bot",  # a server quoting the token in a JSON error
        f"{echo}/html/bot",  # a server quoting the token in an HTML error page
        "http://nonexistent.invalid/bot",  # no such host
        "http://127.0.0.1:1/b%s%x",  # format specifiers in the path
        "notaurl",  # the configuration refuses it
    ]


@dataclass(frozen=True)
class Case:
    command: str
    args: tuple[str, ...]
    backend: str
    base_url: str

    def __str__(self) -> str:
        return f"{self.command} {' '.join(self.args)} [{self.backend} {self.base_url}]"


def cases(echo: str) -> list[Case]:
    commands = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    urls = base_urls(echo)
    found: list[Case] = []
    for number, command in enumerate(commands):
        args = ARGS.get(command, ())
        if command == "backup":
            args = ("copy.sqlite3",)
        if command in OFFLINE:
            for offset, backend in enumerate(BACKENDS):
                url = urls[(number + offset) % len(urls)]
                found.append(Case(command, args, backend, url))
        else:
            found.extend(Case(command, args, b, u) for b in BACKENDS for u in urls[:4])
            rest = zip(BACKENDS, urls[4:], strict=False)
            found.extend(Case(command, args, backend, url) for backend, url in rest)
    # typer's own errors: an unknown command, a bad option value, an argument echoed back.
    found.append(Case(TOKEN, (), "aiohttp", urls[-1]))
    found.append(Case("health", ("--port", TOKEN), "httpx", urls[-1]))
    found.append(Case("preview", (TOKEN,), "aiohttp", urls[-1]))
    return found


def run_case(case: Case, tmp_path: Path, env: dict[str, str]) -> str:
    """Run one command to its end (or stop it after a while); return all it wrote."""
    cwd = tmp_path / str(abs(hash(case)))
    cwd.mkdir()
    env = {
        **env,
        "DATABASE_URL": f"sqlite:///{cwd / 'db.sqlite3'}",
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_BASE_URL": case.base_url,
        "HTTP_BACKEND": case.backend,
        "LOG_LEVEL": "DEBUG",
        "WEBHOOK_SECRET": "webhook_secret_value_42",
    }
    # A server (fake-api, web) or a bot that keeps retrying is stopped as an operator would.
    serving = case.command in SERVERS
    result = run_forked(
        cwd,
        env,
        (case.command, *case.args),
        "/start\n/latest\n",
        TIMEOUT,
        terminate_after=SERVE_FOR if serving else None,
        errors="replace",
    )
    return result.stdout + result.stderr


@pytest.mark.slow
def test_no_command_prints_the_token_at_debug_on_any_failure(
    tmp_path: Path, cli_env: dict[str, str], echo_server: str
) -> None:
    every = cases(echo_server)
    workers = min(6, (os.cpu_count() or 2) * 2)
    with ThreadPoolExecutor(workers) as pool:
        outputs = list(pool.map(lambda case: run_case(case, tmp_path, cli_env), every))
    leaks = [
        f"$ digestbot {case}\n{out}"
        for case, out in zip(every, outputs, strict=True)
        if SECRET in out or "webhook_secret_value_42" in out
    ]
    assert not leaks, "\n\n".join(leaks)[:5000]
    # The sweep did reach the failures it is about.
    text = "\n".join(outputs)
    assert "cannot reach the Bot API" in text
    assert "Set Bot API URL" in text
    assert "<token>" in text
