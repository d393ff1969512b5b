"""A fake Telegram Bot API server on 127.0.0.1 for tests, the console and the benchmarks.

Run it alone with ``python -m bot.telegram.loopback_api --port 8081``; it prints the base_url
to give PTB (``ApplicationBuilder().base_url(...)``) and the control API's URL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from bot.telegram.loopback.models import (
    AnsweredCallback,
    FakeChat,
    FakeUser,
    Fault,
    Limits,
    SentMessage,
    ServerStats,
)
from bot.telegram.loopback.server import DEFAULT_TOKEN, LoopbackBotApi

__all__ = [
    "DEFAULT_TOKEN",
    "AnsweredCallback",
    "FakeChat",
    "FakeUser",
    "Fault",
    "Limits",
    "LoopbackBotApi",
    "SentMessage",
    "ServerStats",
    "main",
]


async def _serve(args: argparse.Namespace) -> None:
    """Serve until SIGINT or SIGTERM."""
    api = LoopbackBotApi(
        token=args.token,
        bot_username=args.username,
        limits=Limits() if args.strict else None,
        latency=args.latency / 1000,
        keep_text=not args.no_text,
    )
    await api.start(args.host, args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sys.stdout.write(f"base_url {api.base_url}\ncontrol_url {api.control_url}\n")
    sys.stdout.write(f"token {api.token}\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await api.stop()


def main(argv: list[str] | None = None) -> None:
    """Run the loopback Bot API server from the command line."""
    parser = argparse.ArgumentParser(prog="python -m bot.telegram.loopback_api")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--username", default="digest_test_bot")
    parser.add_argument("--strict", action="store_true", help="enforce Telegram's flood limits")
    parser.add_argument("--latency", type=float, default=0.0, help="ms added to every call")
    parser.add_argument("--no-text", action="store_true", help="keep no message text (memory)")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
