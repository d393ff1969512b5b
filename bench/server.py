"""The loopback Bot API in its own process, with the timestamps the command benchmark needs.

``python -m bench.server --port 0 [--latency MS] [--strict] [--no-text]`` serves the
project's loopback server with :class:`Timings` as its observer (two clocks) and prints its
URLs. The bot's CPU and the server's CPU then live in different processes, so the bot's
``time.process_time`` counts the bot only and the two do not share one event loop.

A second small HTTP app (``bench_url``) answers the benchmark's own questions:
``POST /burst {user_ids, text}`` queues one message per user in one go (200 users "at once");
``GET /timings`` returns, per chat, seconds from the update leaving the server in a
getUpdates answer to the bot's first sendMessage to that chat arriving, plus how many
sendMessage calls were accepted and the seconds from the first to the last; ``POST /reset``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import json
import multiprocessing
import multiprocessing.process
import signal
import time
import urllib.request
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

from aiohttp import web

from bot.fakeapi.models import Limits
from bot.fakeapi.server import LoopbackBotApi
from bot.fakeapi.updates import QueuedUpdate

# The moment the current request reached the server, before the simulated latency.
_ARRIVAL: contextvars.ContextVar[float] = contextvars.ContextVar("arrival", default=0.0)


class Timings:
    """The loopback server's observer: update fetches and the replies that follow them."""

    def __init__(self) -> None:
        self.fetched: dict[int, float] = {}
        self.replied: dict[int, float] = {}
        self.sends = 0
        self.first_send = 0.0
        self.last_send = 0.0

    def call_arrived(self) -> None:
        """Stamp the request being handled (a context variable: one per request task)."""
        _ARRIVAL.set(time.monotonic())

    def updates_fetched(self, updates: Sequence[QueuedUpdate]) -> None:
        """Stamp the first fetch of an update from each chat."""
        now = time.monotonic()
        for update in updates:
            chat = update.payload.get("chat")
            if isinstance(chat, dict):
                self.fetched.setdefault(int(chat["id"]), now)

    def message_sent(self, chat_id: int) -> None:
        """Count an accepted send; stamp the first reply to a timed chat."""
        now = time.monotonic()
        if not self.sends:
            self.first_send = now
        self.sends += 1
        self.last_send = now
        # Only chats that wrote to the bot are timed: push recipients stay untracked (memory).
        if self.fetched and chat_id in self.fetched and chat_id not in self.replied:
            self.replied[chat_id] = _ARRIVAL.get() or now

    def summary(self) -> dict[str, Any]:
        """Return reply latencies (s) per timed chat, how many wait, and accepted sends' span."""
        per_chat = {c: self.replied[c] - t for c, t in self.fetched.items() if c in self.replied}
        return {
            "samples": list(per_chat.values()),
            "per_chat": per_chat,
            "waiting": len(self.fetched) - len(per_chat),
            "sends": self.sends,
            "send_seconds": self.last_send - self.first_send,
        }

    def reset(self) -> None:
        """Forget every timestamp."""
        self.fetched.clear()
        self.replied.clear()
        self.sends = 0
        self.first_send = self.last_send = 0.0


def burst(api: LoopbackBotApi, user_ids: list[int], text: str) -> int:
    """Queue `text` from each user in their private chat; return how many were queued."""
    for user_id in user_ids:
        user = api.user(user_id, language_code="zh")
        api.send_message(api.private_chat(user), user, text)
    return len(user_ids)


def _bench_app(api: LoopbackBotApi, clock: Timings) -> web.Application:
    async def burst_route(request: web.Request) -> web.Response:
        data = await request.json()
        return web.json_response(burst(api, [int(u) for u in data["user_ids"]], data["text"]))

    async def timings_route(_request: web.Request) -> web.Response:
        return web.json_response(clock.summary())

    async def reset_route(_request: web.Request) -> web.Response:
        clock.reset()
        return web.json_response(True)

    app = web.Application()
    app.router.add_post("/burst", burst_route)
    app.router.add_get("/timings", timings_route)
    app.router.add_post("/reset", reset_route)
    return app


async def _serve(args: argparse.Namespace, report: Callable[[dict[str, str]], None]) -> None:
    clock = Timings()
    api = LoopbackBotApi(
        limits=Limits() if args.strict else None,
        latency=args.latency / 1000,
        keep_text=not args.no_text,
        observer=clock,
    )
    await api.start("127.0.0.1", args.port)
    runner = web.AppRunner(_bench_app(api, clock), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    report(
        {
            "base_url": api.base_url,
            "control_url": api.control_url,
            "bench_url": f"http://{host}:{port}",
            "token": api.token,
        }
    )
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await api.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="ms added to every call")
    parser.add_argument("--strict", action="store_true", help="enforce Telegram's limits")
    parser.add_argument("--no-text", action="store_true", help="keep no message text")
    return parser


def _print_urls(urls: dict[str, str]) -> None:
    for key, value in urls.items():
        print(f"{key} {value}", flush=True)


def _run(argv: list[str] | None, report: Callable[[dict[str, str]], None]) -> None:
    args = _parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args, report))


def main(argv: list[str] | None = None) -> None:
    """Serve the timed loopback Bot API until SIGTERM, printing its URLs."""
    _run(argv, _print_urls)


def _forked(argv: list[str], urls: Connection) -> None:
    """Serve in a forked child, sending the URLs to the parent (multiprocessing target)."""
    _run(argv, urls.send)


class ServerProcess:
    """Run the timed loopback Bot API in a child process (a context manager).

    The child is forked from the benchmark's process, which has imported the server already:
    it serves within milliseconds instead of the seconds a new interpreter takes to import
    aiohttp and the bot. It is still its own process, so its CPU is not the bot's.
    """

    def __init__(self, *, latency_ms: float = 0.0, strict: bool = False, keep_text: bool = False):
        self.args = ["--latency", str(latency_ms)]
        if strict:
            self.args.append("--strict")
        if not keep_text:
            self.args.append("--no-text")
        self.proc: multiprocessing.process.BaseProcess | None = None
        self.urls: dict[str, str] = {}

    def __enter__(self) -> ServerProcess:
        """Start the server and wait until it sends its URLs."""
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        self.proc = context.Process(target=_forked, args=(self.args, send), daemon=True)
        self.proc.start()
        send.close()
        try:
            self.urls = receive.recv()  # EOFError: the child died before serving
        except EOFError:
            self.close()
            raise RuntimeError("bench.server did not start") from None
        finally:
            receive.close()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop the server."""
        self.close()

    def close(self) -> None:
        """Terminate the child and wait for it."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.join(10)
            if self.proc.exitcode is None:
                self.proc.kill()
                self.proc.join()
            self.proc = None

    @property
    def base_url(self) -> str:
        """Return PTB's base_url."""
        return self.urls["base_url"]

    @property
    def token(self) -> str:
        """Return the bot token the server accepts."""
        return self.urls["token"]

    @property
    def send_url(self) -> str:
        """Return the sendMessage URL."""
        return f"{self.base_url}{self.token}/sendMessage"

    def _call(self, url: str, data: object | None = None) -> Any:
        body = None if data is None else json.dumps(data).encode()
        request = urllib.request.Request(url, data=body, method="GET" if body is None else "POST")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        """Return the server's ServerStats as a dict."""
        answer: dict[str, Any] = self._call(self.urls["control_url"] + "/stats")["result"]
        return answer

    def burst(self, user_ids: list[int], text: str) -> None:
        """Queue `text` from every user at once."""
        self._call(self.urls["bench_url"] + "/burst", {"user_ids": user_ids, "text": text})

    def timings(self) -> dict[str, Any]:
        """Return the bot-side latencies and send counts recorded since the last reset."""
        answer: dict[str, Any] = self._call(self.urls["bench_url"] + "/timings")
        return answer

    def reset(self) -> None:
        """Forget recorded latencies."""
        self._call(self.urls["bench_url"] + "/reset", {})


if __name__ == "__main__":
    main()
