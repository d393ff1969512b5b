"""The loopback Bot API: Telegram's HTTP Bot API on 127.0.0.1 for tests, console and benchmarks.

The bot side is real HTTP, shaped like api.telegram.org (PTB raises the same exceptions); the
user side is this object's methods (or the /_control HTTP API for other processes). The hot
path (sendMessage) does O(1) bookkeeping, no logging and no sleeping unless latency is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import aiohttp
from aiohttp import web

from bot.errors import MarkupError
from bot.markup import parse_html, utf16_len
from bot.telegram.loopback import control
from bot.telegram.loopback.limits import RateMeter
from bot.telegram.loopback.models import (
    AnsweredCallback,
    FakeChat,
    FakeUser,
    Fault,
    Limits,
    SentMessage,
    ServerStats,
    entity_dict,
)
from bot.telegram.loopback.params import (
    ApiError,
    as_bool,
    as_float,
    as_int,
    as_json,
    as_opt_int,
    as_str,
    bad_request,
    check_reply_markup,
    dumps,
    read_params,
)

DEFAULT_TOKEN = "123456789:TESTTOKEN-loopback-api-00000000000"  # noqa: S105 -- a fake token

_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_BOT_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
_POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
_WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)

_CACHE_SIZE = 256

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


class _Text(NamedTuple):
    """A message text as sent, as shown, and pre-encoded for the response."""

    raw: str
    parse_mode: str | None
    visible: str
    entities: list[dict[str, Any]]
    entities_json: str | None
    fragment: str  # '"text":…,"entities":[…]' ready to splice into the Message JSON


def _fragment(visible: str, entities: list[dict[str, Any]]) -> str:
    """Return the text and entities members of a Message object as JSON."""
    body: dict[str, Any] = {"text": visible}
    if entities:
        body["entities"] = entities
    return dumps(body)[1:-1]


def _check_length(visible: str) -> None:
    """Refuse empty text and text over Telegram's 4096 UTF-16 units."""
    if not visible.strip():
        raise bad_request("message text is empty")
    if utf16_len(visible) > 4096:
        raise bad_request("message is too long")


@dataclass(slots=True)
class _Webhook:
    """The webhook the bot set, with Telegram's delivery bookkeeping."""

    url: str
    secret: str | None
    max_connections: int
    last_error_date: int | None = None
    last_error_message: str | None = None


class LoopbackBotApi:
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
        self._webhook: _Webhook | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._client: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._host = ""
        self._port = 0
        self._in_flight = 0
        self._last_activity = time.monotonic()
        self._closing = False
        self._html_cache: dict[str, _Text] = {}
        self._valid_markup: set[str] = set()
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

    # ----------------------------------------------------------------- user side

    def user(
        self,
        user_id: int,
        *,
        first_name: str = "Test",
        language_code: str | None = "en",
        username: str | None = None,
    ) -> FakeUser:
        """Register (or update) a user and return it."""
        if user_id <= 0:
            raise ValueError("user ids are positive")
        user = FakeUser(user_id, first_name, language_code, username)
        self._users[user_id] = user
        return user

    def get_user(self, user_id: int) -> FakeUser | None:
        """Return a registered user."""
        return self._users.get(user_id)

    def get_chat(self, chat_id: int) -> FakeChat | None:
        """Return a registered chat."""
        return self._chats.get(chat_id)

    def private_chat(self, user: FakeUser) -> FakeChat:
        """Return the private chat between the bot and `user` (its id is the user's id)."""
        self._users.setdefault(user.id, user)
        chat = FakeChat(user.id, "private", first_name=user.first_name, username=user.username)
        self._register(chat)
        return chat

    def group(self, chat_id: int, title: str = "Group", *, supergroup: bool = False) -> FakeChat:
        """Register a group (negative id) the bot is a member of."""
        if chat_id >= 0:
            raise ValueError("group ids are negative")
        chat = FakeChat(chat_id, "supergroup" if supergroup else "group", title=title)
        self._register(chat)
        return chat

    def _register(self, chat: FakeChat) -> None:
        self._chats[chat.id] = chat
        self._chat_json[chat.id] = chat.to_dict()
        self._chat_str[chat.id] = dumps(self._chat_json[chat.id])
        self._forgotten.discard(chat.id)

    def send_message(self, chat: FakeChat, user: FakeUser, text: str) -> int:
        """Queue a message from `user` in `chat`; return its update_id.

        A leading /command (or /command@bot) gets a bot_command entity, like Telegram. A
        message in a private chat unblocks the bot, as restarting it does in a client.
        """
        if chat.id in self._migrated:
            raise ValueError(f"chat {chat.id} was migrated to {self._migrated[chat.id]}")
        if chat.id not in self._chats:
            self._register(chat)
        self._users.setdefault(user.id, user)
        if chat.type == "private":
            self._blocked.discard(user.id)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat.id),
            "from": user.to_dict(),
            "chat": self._chat_json[chat.id],
            "date": int(time.time()),
            "text": text,
        }
        match = _COMMAND.match(text)
        if match:
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(match.group())}
            ]
        return self._queue_update("message", message)

    def press_button(self, chat: FakeChat, user: FakeUser, message_id: int, data: str) -> str:
        """Queue a callback_query for a button press on a bot message; return the query id."""
        query_id = str(10**17 + self._next_callback)
        self._next_callback += 1
        self._users.setdefault(user.id, user)
        msg = self._find(chat.id, message_id)
        chat_json = self._chat_json.get(chat.id) or chat.to_dict()
        if msg is None or msg.deleted:
            # Telegram sends an InaccessibleMessage (date 0) for messages it no longer has.
            message: dict[str, Any] = {"chat": chat_json, "message_id": message_id, "date": 0}
        else:
            message = self._message_dict(msg, chat_json)
        payload = {
            "id": query_id,
            "from": user.to_dict(),
            "message": message,
            "chat_instance": str(chat.id),
            "data": data,
        }
        self._callbacks[query_id] = (chat.id, message_id, user.id, data)
        self._queue_update("callback_query", payload)
        return query_id

    def messages(self, chat_id: int, *, include_deleted: bool = False) -> list[SentMessage]:
        """Return what the bot sent to the chat, in order, after edits."""
        sent = self._sent.get(chat_id, [])
        return list(sent) if include_deleted else [m for m in sent if not m.deleted]

    def all_sent(self) -> list[SentMessage]:
        """Return every message the bot sent, in order (deleted ones flagged)."""
        return list(self._all)

    def my_commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        """Return the commands setMyCommands stored for this scope and language."""
        return self.commands.get((_scope_key(scope), language_code), [])

    def block(self, user_id: int) -> None:
        """Make the user block the bot: sends to them get 403."""
        self._blocked.add(user_id)

    def unblock(self, user_id: int) -> None:
        """Undo :meth:`block`."""
        self._blocked.discard(user_id)

    def forget_chat(self, chat_id: int) -> None:
        """Make sends to this chat fail with 400 chat not found (a deleted account)."""
        self._forgotten.add(chat_id)

    def migrate_group(self, chat_id: int, *, notify: bool = True) -> int:
        """Upgrade a group to a supergroup; return the new -100… id.

        Later calls on the old id get 400 with parameters.migrate_to_chat_id. With `notify`
        the two service messages Telegram sends are queued as updates.
        """
        old = self._chats.get(chat_id)
        if old is None or old.type != "group":
            raise ValueError(f"chat {chat_id} is not a registered basic group")
        new_id = -(10**12 + self._next_supergroup)
        self._next_supergroup += 1
        new = FakeChat(new_id, "supergroup", title=old.title)
        self._register(new)
        self._migrated[chat_id] = new_id
        if notify:
            now = int(time.time())
            self._queue_update(
                "message",
                {
                    "message_id": self._next_message_id(chat_id),
                    "chat": self._chat_json[chat_id],
                    "date": now,
                    "migrate_to_chat_id": new_id,
                },
            )
            self._queue_update(
                "message",
                {
                    "message_id": self._next_message_id(new_id),
                    "chat": self._chat_json[new_id],
                    "date": now,
                    "migrate_from_chat_id": chat_id,
                },
            )
        return new_id

    def fail_next(self, method: str, times: int = 1, *, fault: Fault) -> None:
        """Make the next `times` calls of `method` fail with `fault`."""
        self._faults.setdefault(method.lower(), deque()).extend([fault] * times)

    def fail_randomly(
        self,
        method: str,
        probability: float,
        fault_factory: Callable[[], Fault],
        seed: int = 0,
    ) -> None:
        """Make each call of `method` fail with probability `probability` (0 turns it off)."""
        if probability <= 0:
            self._random_faults.pop(method.lower(), None)
            return
        self._random_faults[method.lower()] = (probability, fault_factory, random.Random(seed))  # noqa: S311 -- test faults, not cryptography

    def clear_faults(self) -> None:
        """Drop every pending injected fault."""
        self._faults.clear()
        self._random_faults.clear()

    @property
    def pending_updates(self) -> int:
        """Return how many queued updates the bot has not confirmed yet."""
        return len(self._updates)

    async def wait_sent(
        self,
        chat_id: int,
        count: int,
        timeout: float = 10.0,  # noqa: ASYNC109 -- the tests' API: a deadline in seconds
    ) -> list[SentMessage]:
        """Wait until the chat has at least `count` messages; return them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            sent = self.messages(chat_id)
            if len(sent) >= count:
                return sent
            if loop.time() > deadline:
                raise TimeoutError(
                    f"chat {chat_id} has {len(sent)} of {count} messages after {timeout}s"
                )
            await asyncio.sleep(0.01)

    async def settle(
        self,
        quiet: float = 0.3,
        timeout: float = 15.0,  # noqa: ASYNC109 -- the tests' API: a deadline in seconds
    ) -> None:
        """Wait until the bot confirmed every update and made no API call for `quiet` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            idle = time.monotonic() - self._last_activity
            if not self._updates and not self._in_flight and idle >= quiet:
                return
            if loop.time() > deadline:
                raise TimeoutError(
                    f"not settled after {timeout}s: {len(self._updates)} updates pending, "
                    f"{self._in_flight} calls in flight"
                )
            await asyncio.sleep(min(0.02, max(0.001, quiet - idle)))

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

    def _drop(self, request: web.Request) -> web.StreamResponse:
        """Close the connection without answering (the client sees a dropped connection)."""
        transport = request.transport
        if transport is not None:
            transport.abort()
        # aiohttp does not write to an aborted transport; this response goes nowhere.
        return web.Response(status=502)

    async def _inject(self, name: str) -> bool:
        """Apply the next fault planned for `name`; return True to drop the connection."""
        fault = self._next_fault(name)
        if fault is None:
            return False
        if fault.kind == "drop":
            return True
        if fault.kind == "hang":
            await asyncio.sleep(fault.seconds)
            return False
        raise ApiError(fault.status, fault.description, fault.parameters())

    def _next_fault(self, name: str) -> Fault | None:
        queue = self._faults.get(name)
        if queue:
            fault = queue.popleft()
            if not queue:
                del self._faults[name]
            return fault
        chance = self._random_faults.get(name)
        if chance is not None and chance[2].random() < chance[0]:
            return chance[1]()
        return None

    # ----------------------------------------------------------------- updates

    def _queue_update(self, kind: str, payload: dict[str, Any]) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append((update_id, kind, payload))
        self._last_activity = time.monotonic()
        self._wake_updates()
        return update_id

    def _wake_updates(self) -> None:
        # A fresh event per generation: waiters never race a clear().
        self._update_event.set()
        self._update_event = asyncio.Event()

    def _confirm(self, offset: int | None) -> None:
        updates = self._updates
        if not offset:
            return
        if offset > 0:
            while updates and updates[0][0] < offset:
                updates.popleft()
        else:
            while len(updates) > -offset:
                updates.popleft()

    def _batch(self, limit: int) -> list[tuple[int, str, dict[str, Any]]]:
        allowed = self._allowed_updates
        if allowed is not None and any(u[1] not in allowed for u in self._updates):
            # Telegram never creates updates of types the bot did not ask for.
            self._updates = deque(u for u in self._updates if u[1] in allowed)
        out = []
        for update in self._updates:
            out.append(update)
            if len(out) >= limit:
                break
        return out

    @staticmethod
    def _updates_json(batch: list[tuple[int, str, dict[str, Any]]]) -> str:
        return dumps([{"update_id": uid, kind: payload} for uid, kind, payload in batch])

    async def _get_updates(self, params: dict[str, Any]) -> str:
        if self._webhook is not None:
            raise ApiError(409, _WEBHOOK_CONFLICT)
        offset = as_opt_int(params, "offset")
        limit = min(100, max(1, as_int(params, "limit", 100)))
        timeout = max(0.0, as_float(params, "timeout", 0.0))
        allowed, _ = as_json(params, "allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(map(str, allowed)) or None
        self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_updates()  # an older poll still waiting ends with 409, as on Telegram
        batch = self._batch(limit)
        if not batch and timeout:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not batch and not self._closing:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                event = self._update_event
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await event.wait()
                if self._closing:
                    break
                if generation != self._poll_generation:
                    raise ApiError(409, _POLL_CONFLICT)
                if self._webhook is not None:
                    raise ApiError(409, _WEBHOOK_CONFLICT)
                batch = self._batch(limit)
        if batch:
            self._last_activity = time.monotonic()
        return self._updates_json(batch)

    # ----------------------------------------------------------------- bot methods

    def _true(self, _params: dict[str, Any]) -> str:
        return "true"

    def _get_me(self, _params: dict[str, Any]) -> str:
        return dumps(
            {
                **self._bot_user,
                "can_join_groups": True,
                "can_read_all_group_messages": True,
                "supports_inline_queries": False,
                "can_connect_to_business": False,
                "has_main_web_app": False,
            }
        )

    def _resolve_chat(self, params: dict[str, Any]) -> tuple[int, str]:
        """Return the chat id and the chat's JSON, or refuse the chat."""
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError) as exc:
            raise bad_request("chat not found") from exc
        if chat_id in self._migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self._migrated[chat_id]},
            )
        chat = self._chat_str.get(chat_id)
        if chat is None:
            if chat_id <= 0 or self.strict_chats:
                raise bad_request("chat not found")
            chat = f'{{"id":{chat_id},"type":"private","first_name":"User"}}'
        if self._forgotten and chat_id in self._forgotten:
            raise bad_request("chat not found")
        if self._blocked and chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id, chat

    def _render(self, params: dict[str, Any]) -> _Text:
        """Return the message text parsed and checked, or refuse it."""
        raw = as_str(params, "text")
        if not raw:
            raise bad_request("message text is empty")
        parse_mode = as_str(params, "parse_mode") or None
        if parse_mode is not None:
            mode = parse_mode.lower()
            if mode == "html":
                return self._parse_html(raw, parse_mode)
            if mode not in ("markdown", "markdownv2"):
                raise bad_request(f"unsupported parse_mode {parse_mode!r}")
            # Markdown is not parsed: the loopback server only understands HTML.
        entities: list[dict[str, Any]] = []
        given, entities_json = (None, None) if parse_mode else as_json(params, "entities")
        if isinstance(given, list):
            entities = given
        _check_length(raw)
        return _Text(raw, parse_mode, raw, entities, entities_json, _fragment(raw, entities))

    def _parse_html(self, raw: str, parse_mode: str) -> _Text:
        """Return Telegram HTML parsed and checked; a push's one text is parsed once."""
        cached = self._html_cache.get(raw)
        if cached is not None:
            return (
                cached
                if cached.parse_mode == parse_mode
                else cached._replace(parse_mode=parse_mode)
            )
        try:
            parsed = parse_html(raw)
        except MarkupError as exc:
            reason = str(exc)
            raise bad_request(reason[:1].lower() + reason[1:]) from exc
        _check_length(parsed.text)
        entities = [entity_dict(e) for e in parsed.entities]
        text = _Text(
            raw, parse_mode, parsed.text, entities, None, _fragment(parsed.text, entities)
        )
        # Bounded, and keyed by the raw text, so never stale.
        if len(self._html_cache) >= _CACHE_SIZE:
            self._html_cache.clear()
        self._html_cache[raw] = text
        return text

    def _markup(self, params: dict[str, Any]) -> str | None:
        value = params.get("reply_markup")
        if isinstance(value, str) and value in self._valid_markup:
            return value
        markup, markup_json = as_json(params, "reply_markup")
        if markup is not None:
            check_reply_markup(markup)
            if isinstance(value, str):
                if len(self._valid_markup) >= _CACHE_SIZE:
                    self._valid_markup.clear()
                self._valid_markup.add(value)
        return markup_json

    def _next_message_id(self, chat_id: int) -> int:
        message_id = self._next_mid.get(chat_id, 0) + 1
        self._next_mid[chat_id] = message_id
        return message_id

    def _find(self, chat_id: int, message_id: int) -> SentMessage | None:
        for msg in reversed(self._sent.get(chat_id, ())):
            if msg.message_id == message_id:
                return msg
        return None

    def _message_json(self, msg: SentMessage, chat: str, fragment: str) -> str:
        """Return the Message object as JSON, assembled from pre-encoded parts."""
        edit = f',"edit_date":{int(time.time())}' if msg.edits else ""
        markup = msg.reply_markup_json
        # Messages carry only inline keyboards; splice the JSON as received, no re-encoding.
        tail = (
            f',"reply_markup":{markup}}}'
            if markup is not None and '"inline_keyboard"' in markup
            else "}"
        )
        return (
            f'{{"message_id":{msg.message_id},"from":{self._bot_str},"chat":{chat},'
            f'"date":{msg.date}{edit},{fragment}{tail}'
        )

    def _message_dict(self, msg: SentMessage, chat: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": msg.message_id,
            "from": self._bot_user,
            "chat": chat,
            "date": msg.date,
            "text": msg.text or "…",
        }
        if msg.entities:
            data["entities"] = msg.entities
        markup = msg.reply_markup
        if markup and "inline_keyboard" in markup:
            data["reply_markup"] = markup
        return data

    def _send_message(self, params: dict[str, Any]) -> str:
        chat_id, chat = self._resolve_chat(params)
        text = self._render(params)
        markup_json = self._markup(params)
        paid = as_bool(params, "allow_paid_broadcast")
        retry = self._meter.admit(chat_id, time.monotonic(), paid=paid)
        if retry:
            raise ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        msg = SentMessage(
            chat_id,
            self._next_message_id(chat_id),
            text.raw if self.keep_text else "",
            text.parse_mode,
            int(time.time()),
            markup_json,
            text.entities_json if self.keep_text else None,
            allow_paid_broadcast=paid,
        )
        sent = self._sent.get(chat_id)
        if sent is None:
            self._sent[chat_id] = [msg]
        else:
            sent.append(msg)
        self._all.append(msg)
        return self._message_json(msg, chat, text.fragment)

    def _editable(self, params: dict[str, Any]) -> tuple[SentMessage, str]:
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat_id, chat = self._resolve_chat(params)
        msg = self._find(chat_id, as_int(params, "message_id"))
        if msg is None or msg.deleted:
            raise bad_request("message to edit not found")
        return msg, chat

    def _edit_message_text(self, params: dict[str, Any]) -> str:
        msg, chat = self._editable(params)
        text = self._render(params)
        markup_json = self._markup(params)
        if (
            self.keep_text
            and text.visible == msg.text
            and text.entities == msg.entities
            and _same_markup(markup_json, msg.reply_markup_json)
        ):
            raise bad_request(_NOT_MODIFIED)
        msg.html = text.raw if self.keep_text else ""
        msg.parse_mode = text.parse_mode
        msg.entities_json = text.entities_json if self.keep_text else None
        msg.reply_markup_json = markup_json
        msg.edits += 1
        return self._message_json(msg, chat, text.fragment)

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> str:
        msg, chat = self._editable(params)
        markup_json = self._markup(params)
        if _same_markup(markup_json, msg.reply_markup_json):
            raise bad_request(_NOT_MODIFIED)
        msg.reply_markup_json = markup_json
        msg.edits += 1
        return self._message_json(msg, chat, _fragment(msg.text, msg.entities))

    def _delete_message(self, params: dict[str, Any]) -> str:
        chat_id, _ = self._resolve_chat(params)
        msg = self._find(chat_id, as_int(params, "message_id"))
        if msg is None or msg.deleted:
            raise bad_request("message to delete not found")
        msg.deleted = True
        return "true"

    def _answer_callback_query(self, params: dict[str, Any]) -> str:
        query_id = as_str(params, "callback_query_id") or ""
        press = self._callbacks.pop(query_id, None)
        if press is None:
            raise bad_request(_QUERY_TOO_OLD)
        chat_id, message_id, user_id, data = press
        self.answered_callbacks[query_id] = AnsweredCallback(
            id=query_id,
            chat_id=chat_id,
            message_id=message_id,
            user_id=user_id,
            data=data,
            text=as_str(params, "text"),
            show_alert=as_bool(params, "show_alert"),
            url=as_str(params, "url"),
            cache_time=as_opt_int(params, "cache_time"),
        )
        return "true"

    def _send_chat_action(self, params: dict[str, Any]) -> str:
        self._resolve_chat(params)
        if not as_str(params, "action"):
            raise bad_request("action is empty")
        return "true"

    def _commands_key(self, params: dict[str, Any]) -> tuple[str, str]:
        scope, _ = as_json(params, "scope")
        return _scope_key(scope), as_str(params, "language_code") or ""

    def _set_my_commands(self, params: dict[str, Any]) -> str:
        commands, _ = as_json(params, "commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict) or not _BOT_COMMAND.fullmatch(
                str(command.get("command", ""))
            ):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params)
        if commands:
            self.commands[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        else:
            self.commands.pop(key, None)
        return "true"

    def _get_my_commands(self, params: dict[str, Any]) -> str:
        return dumps(self.commands.get(self._commands_key(params), []))

    def _delete_my_commands(self, params: dict[str, Any]) -> str:
        self.commands.pop(self._commands_key(params), None)
        return "true"

    # ----------------------------------------------------------------- webhook

    def _set_webhook(self, params: dict[str, Any]) -> str:
        url = as_str(params, "url") or ""
        if as_bool(params, "drop_pending_updates"):
            self._updates.clear()
        if not url:
            self._remove_webhook()
            return "true"
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = as_str(params, "secret_token")
        if secret is not None and not _SECRET.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        allowed, _ = as_json(params, "allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(map(str, allowed)) or None
        self._webhook = _Webhook(url, secret, as_int(params, "max_connections", 40))
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._deliver())
        self._wake_updates()  # a poll still waiting must end with 409
        return "true"

    def _remove_webhook(self) -> None:
        self._webhook = None
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            self._webhook_task = None

    def _delete_webhook(self, params: dict[str, Any]) -> str:
        if as_bool(params, "drop_pending_updates"):
            self._updates.clear()
        self._remove_webhook()
        return "true"

    def _get_webhook_info(self, _params: dict[str, Any]) -> str:
        hook = self._webhook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            info["ip_address"] = "127.0.0.1"
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
            if self._allowed_updates is not None:
                info["allowed_updates"] = sorted(self._allowed_updates)
        return dumps(info)

    async def _deliver(self) -> None:
        """POST queued updates to the webhook one by one, retrying failures with backoff."""
        if self._client is None:
            self._client = aiohttp.ClientSession()
        backoff = 0.05
        while self._webhook is not None and not self._closing:
            hook = self._webhook
            batch = self._batch(1)
            if not batch:
                event = self._update_event
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await event.wait()
                continue
            update_id, kind, payload = batch[0]
            headers = {"Content-Type": "application/json"}
            if hook.secret:
                headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret
            error = None
            try:
                async with self._client.post(
                    hook.url,
                    data=dumps({"update_id": update_id, kind: payload}).encode(),
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as resp:
                    await resp.read()
                    if not 200 <= resp.status < 300:
                        error = f"Wrong response from the webhook: {resp.status} {resp.reason}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"Connection failed: {exc.__class__.__name__}"
            if error is None:
                if self._updates and self._updates[0][0] == update_id:
                    self._updates.popleft()
                self._last_activity = time.monotonic()
                backoff = 0.05
            else:
                hook.last_error_date = int(time.time())
                hook.last_error_message = error
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)


def _scope_key(scope: Any) -> str:
    """Return the canonical JSON of a BotCommandScope (default when absent)."""
    if not scope:
        scope = {"type": "default"}
    return str(json.dumps(scope, sort_keys=True, separators=(",", ":")))


def _same_markup(new: str | None, old: str | None) -> bool:
    """Return True when two reply_markup JSON texts describe the same keyboard."""
    if new is None or old is None:
        return new is old
    return bool(new == old or json.loads(new) == json.loads(old))
