"""The loopback Bot API in its own process, with the timestamps the command benchmark needs.

``python -m bench.server --port 0 [--latency MS] [--strict] [--no-text]`` serves
:class:`TimedLoopbackBotApi` (the project's loopback server plus two clocks) and prints its
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
import signal
import subprocess
import sys
import time
import urllib.request
from types import TracebackType
from typing import Any

from aiohttp import web

from bot.telegram.loopback_api import Limits, LoopbackBotApi

# The moment the current request reached the server, before the simulated latency.
_ARRIVAL: contextvars.ContextVar[float] = contextvars.ContextVar("arrival", default=0.0)


class TimedLoopbackBotApi(LoopbackBotApi):
    """The loopback server, timing update fetches and the replies that follow them."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fetched: dict[int, float] = {}
        self.replied: dict[int, float] = {}
        self.sends = 0
        self.first_send = 0.0
        self.last_send = 0.0

    async def _handle_bot(self, request: web.Request) -> web.StreamResponse:
        _ARRIVAL.set(time.monotonic())
        return await super()._handle_bot(request)

    def _updates_json(self, batch: list[tuple[int, str, dict[str, Any]]]) -> str:  # type: ignore[override]
        now = time.monotonic()
        for _uid, _kind, payload in batch:
            chat = payload.get("chat")
            if isinstance(chat, dict):
                self.fetched.setdefault(int(chat["id"]), now)
        return super()._updates_json(batch)

    def _send_message(self, params: dict[str, Any]) -> str:
        result = super()._send_message(params)
        now = time.monotonic()
        if not self.sends:
            self.first_send = now
        self.sends += 1
        self.last_send = now
        # Only chats that wrote to the bot are timed: push recipients stay untracked (memory).
        if self.fetched:
            chat_id = int(params["chat_id"])
            if chat_id in self.fetched and chat_id not in self.replied:
                self.replied[chat_id] = _ARRIVAL.get() or now
        return result

    def timings(self) -> dict[str, Any]:
        """Return reply latencies (s) per timed chat, how many wait, and accepted sends' span."""
        samples = [self.replied[c] - t for c, t in self.fetched.items() if c in self.replied]
        return {
            "samples": samples,
            "waiting": len(self.fetched) - len(samples),
            "sends": self.sends,
            "send_seconds": self.last_send - self.first_send,
        }

    def burst(self, user_ids: list[int], text: str) -> int:
        """Queue `text` from each user in their private chat; return how many were queued."""
        for user_id in user_ids:
            user = self.user(user_id, language_code="zh")
            self.send_message(self.private_chat(user), user, text)
        return len(user_ids)

    def reset_timing(self) -> None:
        """Forget every timestamp."""
        self.fetched.clear()
        self.replied.clear()
        self.sends = 0
        self.first_send = self.last_send = 0.0


def _bench_app(api: TimedLoopbackBotApi) -> web.Application:
    async def burst(request: web.Request) -> web.Response:
        data = await request.json()
        return web.json_response(api.burst([int(u) for u in data["user_ids"]], data["text"]))

    async def timings(_request: web.Request) -> web.Response:
        return web.json_response(api.timings())

    async def reset(_request: web.Request) -> web.Response:
        api.reset_timing()
        return web.json_response(True)

    app = web.Application()
    app.router.add_post("/burst", burst)
    app.router.add_get("/timings", timings)
    app.router.add_post("/reset", reset)
    return app


async def _serve(args: argparse.Namespace) -> None:
    api = TimedLoopbackBotApi(
        limits=Limits() if args.strict else None,
        latency=args.latency / 1000,
        keep_text=not args.no_text,
    )
    await api.start("127.0.0.1", args.port)
    runner = web.AppRunner(_bench_app(api), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"base_url {api.base_url}", flush=True)
    print(f"control_url {api.control_url}", flush=True)
    print(f"bench_url http://{host}:{port}", flush=True)
    print(f"token {api.token}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await api.stop()


def main(argv: list[str] | None = None) -> None:
    """Serve the timed loopback Bot API until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="ms added to every call")
    parser.add_argument("--strict", action="store_true", help="enforce Telegram's limits")
    parser.add_argument("--no-text", action="store_true", help="keep no message text")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


class ServerProcess:
    """Run ``python -m bench.server`` as a child process (a context manager)."""

    def __init__(self, *, latency_ms: float = 0.0, strict: bool = False, keep_text: bool = False):
        self.args = [sys.executable, "-m", "bench.server", "--latency", str(latency_ms)]
        if strict:
            self.args.append("--strict")
        if not keep_text:
            self.args.append("--no-text")
        self.proc: subprocess.Popen[str] | None = None
        self.urls: dict[str, str] = {}

    def __enter__(self) -> ServerProcess:
        """Start the server and wait until it prints its URLs."""
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        while len(self.urls) < 4:
            # Blocking reads: the child prints its four lines at once, or dies (EOF).
            line = self.proc.stdout.readline()
            if not line:
                self.close()
                raise RuntimeError("bench.server did not start")
            key, _, value = line.strip().partition(" ")
            self.urls[key] = value
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
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
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
