"""The loopback Bot API: Telegram's HTTP Bot API on 127.0.0.1 for tests, console and benchmarks.

The bot side is real HTTP, shaped like api.telegram.org (PTB raises the same exceptions); the
user side is this object's methods (or the /_control HTTP API for other processes). The hot
path (sendMessage) does O(1) bookkeeping, no logging and no sleeping unless latency is set.

This module starts and stops the server and routes each call; the behaviour lives in one
mixin per concern (``users``, ``messages``, ``commands``, ``updates``, ``webhook``, ``faults``)
over the shared tables in ``state``, so a call reaches its handler as a bound method.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.telegram.loopback import control
from bot.telegram.loopback.commands import CommandsMixin
from bot.telegram.loopback.faults import FaultsMixin
from bot.telegram.loopback.models import Limits
from bot.telegram.loopback.params import ApiError, dumps, read_params
from bot.telegram.loopback.users import UsersMixin
from bot.telegram.loopback.webhook import WebhookMixin

DEFAULT_TOKEN = "123456789:TESTTOKEN-loopback-api-00000000000"  # noqa: S105 -- a fake token

Handler = Callable[[dict[str, Any]], str]
AsyncHandler = Callable[[dict[str, Any]], Awaitable[str]]


def _error_response(
    status: int, description: str, parameters: dict[str, Any] | None = None
) -> web.Response:
    """Return an error shaped like Telegram's."""
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.Response(status=status, body=dumps(body).encode(), content_type="application/json")


class LoopbackBotApi(UsersMixin, WebhookMixin, CommandsMixin, FaultsMixin):
    """A fake Telegram Bot API server speaking real HTTP on 127.0.0.1.

    Private chats with any positive id are accepted (as if that user had started the bot)
    unless ``strict_chats`` is set; groups must be registered with :meth:`group`. With
    ``keep_text=False`` sent messages keep no text (for 100 000-message memory runs), and
    edits skip the "message is not modified" check.
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "digest_test_bot",
        limits: Limits | None = None,
        latency: float = 0.0,
        strict_chats: bool = False,
        keep_text: bool = True,
    ) -> None:
        super().__init__(
            token=token,
            bot_username=bot_username,
            limits=limits,
            latency=latency,
            strict_chats=strict_chats,
            keep_text=keep_text,
        )
        self._handlers: dict[str, tuple[str, Handler]] = {}
        for name, fn in (
            ("getMe", self._get_me),
            ("sendMessage", self._send_message),
            ("editMessageText", self._edit_message_text),
            ("editMessageReplyMarkup", self._edit_message_reply_markup),
            ("deleteMessage", self._delete_message),
            ("answerCallbackQuery", self._answer_callback_query),
            ("sendChatAction", self._send_chat_action),
            ("setMyCommands", self._set_my_commands),
            ("getMyCommands", self._get_my_commands),
            ("deleteMyCommands", self._delete_my_commands),
            ("setWebhook", self._set_webhook),
            ("deleteWebhook", self._delete_webhook),
            ("getWebhookInfo", self._get_webhook_info),
            ("logOut", self._true),
            ("close", self._true),
        ):
            self._handlers[name.lower()] = (name, fn)
        self._async_handlers: dict[str, tuple[str, AsyncHandler]] = {
            "getupdates": ("getUpdates", self._get_updates),
        }

    # ----------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Start serving on host:port (0 picks a free port)."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle_bot)
        control.add_routes(app, self)
        # No access log: it would cost more than handling the request.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self._host, self._port = self._runner.addresses[0][:2]
        self._closing = False

    async def stop(self) -> None:
        """Stop serving; wake pending long polls so they end at once."""
        self._closing = True
        self._wake_updates()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def __aenter__(self) -> LoopbackBotApi:
        """Start on a free port."""
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop."""
        await self.stop()

    @property
    def base_url(self) -> str:
        """Return PTB's base_url for this server (PTB appends the token)."""
        return f"{self._root()}/bot"

    @property
    def control_url(self) -> str:
        """Return the root of the control API."""
        return f"{self._root()}/_control"

    def _root(self) -> str:
        if not self._port:
            raise RuntimeError("LoopbackBotApi is not started")
        return f"http://{self._host}:{self._port}"

    # ----------------------------------------------------------------- HTTP

    async def _handle_bot(self, request: web.Request) -> web.StreamResponse:
        info = request.match_info
        if info["token"] != self.token:
            return _error_response(401, "Unauthorized")
        name = info["method"].lower()
        entry = self._handlers.get(name)
        poll = None if entry is not None else self._async_handlers.get(name)
        if entry is None and poll is None:
            return _error_response(404, "Not Found")
        self.stats.calls[(entry or poll)[0]] += 1  # type: ignore[index]
        # A long poll waiting for updates is not bot activity (settle() would never return).
        if poll is None:
            self._in_flight += 1
        try:
            params = await read_params(request)
            if self.latency:
                await asyncio.sleep(self.latency)
            if (self._faults or self._random_faults) and await self._inject(name):
                return self._drop(request)
            result = entry[1](params) if entry is not None else await poll[1](params)  # type: ignore[index]
        except ApiError as err:
            if err.status == 429:
                self.stats.too_many_requests += 1
            return _error_response(err.status, err.description, err.parameters)
        finally:
            if poll is None:
                self._in_flight -= 1
                self._last_activity = time.monotonic()
        return web.Response(
            body=b'{"ok":true,"result":' + result.encode() + b"}",
            content_type="application/json",
        )
