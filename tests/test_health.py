"""`digestbot health`: /healthz's answer becomes an exit code and one line."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from bot.health import probe


class Healthz(BaseHTTPRequestHandler):
    status = 200
    body = b'{"ok": true}'

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    httpd = HTTPServer(("127.0.0.1", 0), Healthz)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def url(httpd: HTTPServer) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}/healthz"


def test_a_200_is_healthy_and_shows_the_body(server: HTTPServer) -> None:
    result = probe(url(server))
    assert result.ok
    assert '{"ok": true}' in result.detail


def test_a_503_is_unhealthy_and_names_what_is_stale(
    server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Healthz, "status", 503)
    monkeypatch.setattr(Healthz, "body", b'{"stale": ["push_tick"]}')
    result = probe(url(server))
    assert not result.ok
    assert "503" in result.detail
    assert "push_tick" in result.detail


def test_nothing_listening_says_so_clearly() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        result = probe(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert not result.ok
    assert "nothing answers" in result.detail
    assert "METRICS_PORT" in result.detail
