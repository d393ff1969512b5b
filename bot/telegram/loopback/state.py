"""The loopback server's state: the tables its bot side and user side share.

Every concern module is a mixin over :class:`ServerState`; :class:`LoopbackBotApi` combines
them, so a request handler reaches the tables as plain attributes (no indirection on the hot
path).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import aiohttp
from aiohttp import web

from bot.telegram.loopback.limits import RateMeter
from bot.telegram.loopback.models import (
    AnsweredCallback,
    FakeChat,
    FakeUser,
    Fault,
    Limits,
    SentMessage,
    ServerStats,
)
from bot.telegram.loopback.params import dumps


class Text(NamedTuple):
    """A message text as sent, as shown, and pre-encoded for the response."""

    raw: str
    parse_mode: str | None
    visible: str
    entities: list[dict[str, Any]]
    entities_json: str | None
    fragment: str  # '"text":…,"entities":[…]' ready to splice into the Message JSON


@dataclass(slots=True)
class Webhook:
    """The webhook the bot set, with Telegram's delivery bookkeeping."""

    url: str
    secret: str | None
    max_connections: int
    last_error_date: int | None = None
    last_error_message: str | None = None


class ServerState:
    """Everything the server knows: bot, users, chats, sent messages, updates, faults."""

    def __init__(
        self,
        *,
        token: str,
        bot_username: str,
        limits: Limits | None,
        latency: float,
        strict_chats: bool,
        keep_text: bool,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.bot_id = int(token.split(":", 1)[0])
        self.limits = limits
        self.latency = latency
        self.strict_chats = strict_chats
        self.keep_text = keep_text
        self.stats = ServerStats()
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.answered_callbacks: dict[str, AnsweredCallback] = {}
        self._meter = RateMeter(limits, self.stats)
        self._bot_user: dict[str, Any] = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Digest Test Bot",
            "username": bot_username,
        }
        self._bot_str = dumps(self._bot_user)
        self._users: dict[int, FakeUser] = {}
        self._chats: dict[int, FakeChat] = {}
        self._chat_json: dict[int, dict[str, Any]] = {}
        self._chat_str: dict[int, str] = {}
        self._sent: dict[int, list[SentMessage]] = {}
        self._all: list[SentMessage] = []
        self._next_mid: dict[int, int] = {}
        self._blocked: set[int] = set()
        self._forgotten: set[int] = set()
        self._migrated: dict[int, int] = {}
        self._next_supergroup = 1
        self._updates: deque[tuple[int, str, dict[str, Any]]] = deque()
        self._next_update_id = 1
        self._update_event = asyncio.Event()
        self._poll_generation = 0
        self._allowed_updates: frozenset[str] | None = None
        self._callbacks: dict[str, tuple[int, int, int, str]] = {}
        self._next_callback = 1
        self._faults: dict[str, deque[Fault]] = {}
        self._random_faults: dict[str, tuple[float, Callable[[], Fault], random.Random]] = {}
        self._webhook: Webhook | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._client: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._host = ""
        self._port = 0
        self._in_flight = 0
        self._last_activity = time.monotonic()
        self._closing = False
        self._html_cache: dict[str, Text] = {}
        self._valid_markup: set[str] = set()
