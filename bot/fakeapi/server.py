"""The loopback Bot API: Telegram's HTTP Bot API on 127.0.0.1 for tests, console and benchmarks.

The bot side is real HTTP, shaped like api.telegram.org (PTB raises the same exceptions); the
user side is this object's methods (or the /_control HTTP API for other processes). The hot
path (sendMessage) does O(1) bookkeeping, no logging and no sleeping unless latency is set.

:class:`LoopbackBotApi` owns the aiohttp app and routes each Bot API method to the collaborator
that owns its state: :class:`~bot.fakeapi.chats.Chats`, :class:`~bot.fakeapi.messages.
MessageStore`, :class:`~bot.fakeapi.callbacks.CallbackQueries`, :class:`~bot.fakeapi.inline.
InlineQueries`, :class:`~bot.fakeapi.commands.CommandLists`, :class:`~bot.fakeapi.updates.
UpdateQueue`, :class:`~bot.fakeapi.webhook.WebhookDelivery`, :class:`~bot.fakeapi.faults.
FaultPlan` and the :class:`~bot.fakeapi.limits.RateMeter`.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from aiohttp import web

from bot.fakeapi import control
from bot.fakeapi.callbacks import CallbackQueries
from bot.fakeapi.chats import Chats
from bot.fakeapi.commands import CommandLists
from bot.fakeapi.faults import FaultPlan, drop
from bot.fakeapi.forums import FakeTopic, Forums
from bot.fakeapi.inline import InlineQueries
from bot.fakeapi.limits import RateMeter
from bot.fakeapi.members import Members, Role
from bot.fakeapi.messages import MessageStore
from bot.fakeapi.models import (
    AnsweredCallback,
    FakeChat,
    FakeUser,
    Fault,
    InlineAnswer,
    Limits,
    SentMessage,
    ServerStats,
)
from bot.fakeapi.params import ApiError, dumps, read_params
from bot.fakeapi.updates import QueuedUpdate, UpdateQueue, updates_json
from bot.fakeapi.webhook import WebhookDelivery
from bot.markup import utf16_len

DEFAULT_TOKEN = "123456789:TESTTOKEN-loopback-api-00000000000"  # noqa: S105 -- a fake token
DEFAULT_USERNAME = "digest_test_bot"

# The user Telegram puts in `from` of an anonymous administrator's message.
ANONYMOUS_ADMIN: dict[str, Any] = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}

_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")

Handler = Callable[[dict[str, Any]], str]


class Observer(Protocol):
    """Hooks that time the server's traffic (the benchmarks); called on its event loop."""

    def call_arrived(self) -> None:
        """Note that a Bot API call arrived (before the simulated latency)."""

    def updates_fetched(self, updates: Sequence[QueuedUpdate]) -> None:
        """Note the updates a getUpdates answer hands the bot."""

    def message_sent(self, chat_id: int) -> None:
        """Note a sendMessage the server accepted."""


def _error_response(
    status: int, description: str, parameters: dict[str, Any] | None = None
) -> web.Response:
    """Return an error shaped like Telegram's."""
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.Response(status=status, body=dumps(body).encode(), content_type="application/json")


class LoopbackBotApi:
    """A fake Telegram Bot API server speaking real HTTP on 127.0.0.1.

    Private chats with any positive id are accepted (as if that user had started the bot)
    unless ``strict_chats`` is set; groups must be registered with :meth:`group`. With
    ``limits`` the server enforces them with 429; without, ``stats`` still counts violations.
    With ``keep_text=False`` sent messages keep no text (for 100 000-message memory runs).
    The bot has inline mode on (BotFather's /setinline); with ``inline_feedback`` (BotFather's
    /setinlinefeedback) choosing an inline result also queues a ``chosen_inline_result``.
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = DEFAULT_USERNAME,
        limits: Limits | None = None,
        latency: float = 0.0,
        strict_chats: bool = False,
        keep_text: bool = True,
        observer: Observer | None = None,
        inline_feedback: bool = False,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.latency = latency
        self.stats = ServerStats()
        self._bot_user: dict[str, Any] = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": "Digest Test Bot",
            "username": bot_username,
        }
        self._chats = Chats(strict=strict_chats)
        self._forums = Forums()
        self._members = Members(self._chats, self._bot_user)
        self._messages = MessageStore(
            self._chats,
            RateMeter(limits, self.stats),
            self._bot_user,
            keep_text=keep_text,
            forums=self._forums,
            channel_gate=self._members.check_post,
        )
        self._callbacks = CallbackQueries()
        self._inline = InlineQueries()
        self.inline_feedback = inline_feedback
        self._commands = CommandLists()
        self._updates = UpdateQueue()
        self._webhook = WebhookDelivery(self._updates)
        self._faults = FaultPlan()
        self._observer = observer
        self._handlers: dict[str, tuple[str, Handler]] = {}
        for name, fn in (
            ("getMe", self._get_me),
            (
                "sendMessage",
                self._messages.send_message if observer is None else self._send_observed,
            ),
            ("editMessageText", self._messages.edit_message_text),
            ("editMessageReplyMarkup", self._messages.edit_message_reply_markup),
            ("deleteMessage", self._messages.delete_message),
            ("sendChatAction", self._messages.send_chat_action),
            ("answerCallbackQuery", self._callbacks.answer_callback_query),
            ("answerInlineQuery", self._inline.answer_inline_query),
            ("getChat", self._get_chat),
            ("getChatMember", self._members.get_chat_member),
            ("getChat", self._chats.get_chat_info),
            ("getChatAdministrators", self._members.get_chat_administrators),
            ("setMyCommands", self._commands.set_my_commands),
            ("getMyCommands", self._commands.get_my_commands),
            ("deleteMyCommands", self._commands.delete_my_commands),
            ("setWebhook", self._webhook.set_webhook),
            ("deleteWebhook", self._webhook.delete_webhook),
            ("getWebhookInfo", self._webhook.get_webhook_info),
            ("logOut", _true),
            ("close", _true),
        ):
            self._handlers[name.lower()] = (name, fn)
        self._runner: web.AppRunner | None = None
        self._host = ""
        self._port = 0
        self._in_flight = 0
        self._last_call = time.monotonic()

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
        self._updates.open()

    async def stop(self) -> None:
        """Stop serving; wake pending long polls so they end at once."""
        self._updates.close()
        await self._webhook.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

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

    # ----------------------------------------------------------------- the bot side (HTTP)

    async def _handle_bot(self, request: web.Request) -> web.StreamResponse:
        if self._observer is not None:
            self._observer.call_arrived()
        info = request.match_info
        if info["token"] != self.token:
            return _error_response(401, "Unauthorized")
        name = info["method"].lower()
        if name == "getupdates":
            return await self._poll(request)
        entry = self._handlers.get(name)
        if entry is None:
            return _error_response(404, "Not Found")
        self.stats.calls[entry[0]] += 1
        self._in_flight += 1
        try:
            params = await read_params(request)
            if self.latency:
                await asyncio.sleep(self.latency)
            if self._faults.armed and await self._faults.inject(name):
                return drop(request)
            result = entry[1](params)
        except ApiError as err:
            return self._refuse(err)
        finally:
            self._in_flight -= 1
            self._last_call = time.monotonic()
        return _ok(result)

    async def _poll(self, request: web.Request) -> web.StreamResponse:
        """Answer getUpdates; a long poll waiting for updates is not bot activity."""
        self.stats.calls["getUpdates"] += 1
        try:
            params = await read_params(request)
            if self.latency:
                await asyncio.sleep(self.latency)
            if self._faults.armed and await self._faults.inject("getupdates"):
                return drop(request)
            batch = await self._updates.get_updates(params)
        except ApiError as err:
            return self._refuse(err)
        if self._observer is not None:
            self._observer.updates_fetched(batch)
        return _ok(updates_json(batch))

    def _refuse(self, err: ApiError) -> web.Response:
        if err.status == 429:
            self.stats.too_many_requests += 1
        return _error_response(err.status, err.description, err.parameters)

    def _get_me(self, _params: dict[str, Any]) -> str:
        return dumps(
            {
                **self._bot_user,
                "can_join_groups": True,
                "can_read_all_group_messages": True,
                "supports_inline_queries": True,
                "can_connect_to_business": False,
                "has_main_web_app": False,
            }
        )

    def _get_chat(self, params: dict[str, Any]) -> str:
        """Answer getChat: the ChatFullInfo of a known chat (public ones also by @username)."""
        chat_id, _ = self._chats.resolve(params)
        chat = self._chats.get_chat(chat_id) or FakeChat(chat_id, "private", first_name="User")
        return dumps(
            {
                **self._chats.chat_dict(chat),
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": False,
                    "limited_gifts": False,
                    "unique_gifts": False,
                    "premium_subscription": False,
                    "gifts_from_channels": False,
                },
            }
        )

    def _send_observed(self, params: dict[str, Any]) -> str:
        result = self._messages.send_message(params)
        if self._observer is not None:
            # Accepted, so chat_id parsed as an int.
            self._observer.message_sent(int(params["chat_id"]))
        return result

    # ----------------------------------------------------------------- the user side

    def user(
        self,
        user_id: int,
        *,
        first_name: str = "Test",
        language_code: str | None = "en",
        username: str | None = None,
    ) -> FakeUser:
        """Register (or update) a user and return it."""
        return self._chats.user(
            user_id, first_name=first_name, language_code=language_code, username=username
        )

    def get_user(self, user_id: int) -> FakeUser | None:
        """Return a registered user."""
        return self._chats.get_user(user_id)

    def get_chat(self, chat_id: int) -> FakeChat | None:
        """Return a registered chat."""
        return self._chats.get_chat(chat_id)

    def private_chat(self, user: FakeUser) -> FakeChat:
        """Return the private chat between the bot and `user` (its id is the user's id)."""
        return self._chats.private_chat(user)

    def group(
        self, chat_id: int, title: str = "Group", *, supergroup: bool = False, forum: bool = False
    ) -> FakeChat:
        """Register a group (negative id) the bot is a member of; a forum is a supergroup."""
        return self._chats.group(chat_id, title, supergroup=supergroup, forum=forum)

    def channel(
        self, chat_id: int, title: str = "Channel", *, username: str | None = None
    ) -> FakeChat:
        """Register a channel (a -100… id); the bot is not in it until :meth:`change_member`."""
        return self._chats.channel(chat_id, title, username=username)

    def change_member(
        self,
        chat: FakeChat,
        user: FakeUser | None,
        by: FakeUser,
        status: str,
        *,
        rights: dict[str, bool] | None = None,
    ) -> int:
        """Let `by` change the role of `user` (None: the bot) in `chat`; return the update_id.

        Queues what Telegram sends: ``my_chat_member`` when the bot's role changed (added as
        an administrator, demoted, removed), ``chat_member`` for anyone else's.
        """
        self._chats.remember(by)
        if user is not None:
            self._chats.remember(user)
        user_id = self._members.bot_id if user is None else user.id
        update = self._members.change(
            chat, user_id, by.to_dict(), status, rights=rights, date=int(time.time())
        )
        return self._updates.put("my_chat_member" if user is None else "chat_member", update)

    def channel_post(self, chat: FakeChat, text: str) -> int:
        """Queue a post in a channel (a ``channel_post`` update); return its update_id.

        As on Telegram the post has no ``from``: it is signed by the channel (``sender_chat``).
        """
        if chat.type != "channel":
            raise ValueError(f"chat {chat.id} is not a channel")
        chat_json = self._chats.chat_dict(chat)
        post: dict[str, Any] = {
            "message_id": self._messages.next_id(chat.id),
            "sender_chat": chat_json,
            "chat": chat_json,
            "date": int(time.time()),
            "text": text,
        }
        match = _COMMAND.match(text)
        if match:
            post["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(match.group())}
            ]
        return self._updates.put("channel_post", post)

    def forward_channel_post(self, user: FakeUser, channel: FakeChat, text: str = "A post") -> int:
        """Queue a channel's post forwarded by `user` into their private chat with the bot."""
        chat = self.private_chat(user)
        self._chats.unblock(user.id)
        now = int(time.time())
        message = {
            "message_id": self._messages.next_id(chat.id),
            "from": user.to_dict(),
            "chat": self._chats.chat_dict(chat),
            "date": now,
            "forward_origin": {
                "type": "channel",
                "chat": self._chats.chat_dict(channel),
                "message_id": self._messages.next_id(channel.id),
                "date": now,
            },
            "text": text,
        }
        return self._updates.put("message", message)

    def set_role(
        self,
        chat: FakeChat,
        user: FakeUser | None,
        status: str,
        *,
        rights: dict[str, bool] | None = None,
        custom_title: str | None = None,
    ) -> Role:
        """Make `user` (None: the bot) creator, administrator, member, left or kicked in `chat`.

        An administrator gets the default rights of that kind of chat; `rights` overrides
        some (e.g. ``{"can_post_messages": False}`` in a channel).
        """
        if user is not None:
            self._chats.remember(user)
        user_id = self._members.bot_id if user is None else user.id
        return self._members.set_role(
            chat.id, user_id, status, rights=rights, custom_title=custom_title
        )

    def role(self, chat: FakeChat, user: FakeUser | None) -> Role:
        """Return the role of `user` (None: the bot) in `chat`."""
        return self._members.role(chat, self._members.bot_id if user is None else user.id)

    def send_message(
        self,
        chat: FakeChat,
        user: FakeUser,
        text: str,
        *,
        anonymous: bool = False,
        thread_id: int = 0,
    ) -> int:
        """Queue a message from `user` in `chat`; return its update_id.

        A leading /command (or /command@bot) gets a bot_command entity, like Telegram. A
        message in a private chat unblocks the bot, as restarting it does in a client. With
        `anonymous` an administrator writes as the group: ``sender_chat`` is the group and
        ``from`` is Telegram's GroupAnonymousBot. `thread_id` writes in that forum topic
        (0: the General topic, or a chat without topics).
        """
        topic = self._forums.topic(chat.id, thread_id) if thread_id else None
        new_id = self._chats.migrated_to(chat.id)
        if new_id is not None:
            raise ValueError(f"chat {chat.id} was migrated to {new_id}")
        if self._chats.get_chat(chat.id) is None:
            self._chats.register(chat)
        self._chats.remember(user)
        if chat.type == "private":
            self._chats.unblock(user.id)
        else:
            self._members.joined(chat.id, user.id)
        message: dict[str, Any] = {
            "message_id": self._messages.next_id(chat.id),
            "from": ANONYMOUS_ADMIN if anonymous else user.to_dict(),
            "chat": self._chats.chat_dict(chat),
            "date": int(time.time()),
            "text": text,
        }
        if anonymous:
            message["sender_chat"] = self._chats.chat_dict(chat)
        if topic is not None:
            # As Telegram sends a topic's message: in the thread, replying to its creation.
            message.update(
                message_thread_id=topic.thread_id,
                is_topic_message=True,
                reply_to_message=self._topic_created(chat, topic),
            )
        match = _COMMAND.match(text)
        if match:
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(match.group())}
            ]
        return self._updates.put("message", message)

    def press_button(self, chat: FakeChat, user: FakeUser, message_id: int, data: str) -> str:
        """Queue a callback_query for a button press on a bot message; return the query id."""
        query_id = self._callbacks.press(chat.id, message_id, user.id, data)
        self._chats.remember(user)
        msg = self._messages.find(chat.id, message_id)
        chat_json = self._chats.chat_dict(chat)
        if msg is None or msg.deleted:
            # Telegram sends an InaccessibleMessage (date 0) for messages it no longer has.
            message: dict[str, Any] = {"chat": chat_json, "message_id": message_id, "date": 0}
        else:
            message = self._messages.message_dict(msg, chat_json)
        payload = {
            "id": query_id,
            "from": user.to_dict(),
            "message": message,
            "chat_instance": str(chat.id),
            "data": data,
        }
        self._updates.put("callback_query", payload)
        return query_id

    def messages(
        self, chat_id: int, *, include_deleted: bool = False, thread_id: int | None = None
    ) -> list[SentMessage]:
        """Return what the bot sent to the chat (to one forum topic: `thread_id`), in order."""
        return self._messages.messages(
            chat_id, include_deleted=include_deleted, thread_id=thread_id
        )

    # ----------------------------------------------------------------- forum topics

    def forum(self, chat_id: int, title: str = "Forum") -> FakeChat:
        """Register a forum: a supergroup with topics (getChat says is_forum)."""
        return self._chats.group(chat_id, title, forum=True)

    def create_topic(self, chat: FakeChat, user: FakeUser, name: str) -> FakeTopic:
        """Create a topic in a forum as `user`; Telegram's forum_topic_created is queued.

        The topic's message_thread_id is its service message's id, as in Telegram.
        """
        if not chat.is_forum:
            raise ValueError(f"chat {chat.id} is not a forum")
        self._chats.remember(user)
        topic = self._forums.create(chat.id, self._messages.next_id(chat.id), name, user.id)
        self._updates.put("message", self._topic_created(chat, topic))
        return topic

    def close_topic(self, chat: FakeChat, user: FakeUser, thread_id: int) -> None:
        """Close a topic (sends into it get 400 TOPIC_CLOSED); forum_topic_closed is queued."""
        self._forums.topic(chat.id, thread_id).closed = True
        self._topic_event(chat, user, thread_id, "forum_topic_closed")

    def reopen_topic(self, chat: FakeChat, user: FakeUser, thread_id: int) -> None:
        """Reopen a closed topic; forum_topic_reopened is queued."""
        self._forums.topic(chat.id, thread_id).closed = False
        self._topic_event(chat, user, thread_id, "forum_topic_reopened")

    def delete_topic(self, chat: FakeChat, thread_id: int) -> None:
        """Delete a topic and its messages (sends into it get 400 message thread not found).

        Telegram sends bots no update for a deleted topic.
        """
        self._forums.topic(chat.id, thread_id).deleted = True

    def topics(self, chat_id: int) -> list[FakeTopic]:
        """Return every topic of a forum ever created, deleted ones flagged."""
        return self._forums.topics(chat_id)

    def _topic_created(self, chat: FakeChat, topic: FakeTopic) -> dict[str, Any]:
        """Return the forum_topic_created service message of `topic`."""
        creator = self._chats.get_user(topic.creator_id) or FakeUser(topic.creator_id)
        return {
            "message_id": topic.thread_id,
            "from": creator.to_dict(),
            "chat": self._chats.chat_dict(chat),
            "date": int(time.time()),
            "message_thread_id": topic.thread_id,
            "is_topic_message": True,
            "forum_topic_created": topic.created_dict(),
        }

    def _topic_event(self, chat: FakeChat, user: FakeUser, thread_id: int, event: str) -> None:
        """Queue a topic's service message (forum_topic_closed, forum_topic_reopened)."""
        self._chats.remember(user)
        topic = self._forums.topic(chat.id, thread_id)
        self._updates.put(
            "message",
            {
                "message_id": self._messages.next_id(chat.id),
                "from": user.to_dict(),
                "chat": self._chats.chat_dict(chat),
                "date": int(time.time()),
                "message_thread_id": thread_id,
                "is_topic_message": True,
                "reply_to_message": self._topic_created(chat, topic),
                event: {},
            },
        )

    def inline_query(
        self, user: FakeUser, query: str, *, offset: str = "", chat_type: str | None = "private"
    ) -> str:
        """Queue an inline query `@bot query` typed by `user`; return the query's id.

        `chat_type` is where it was typed ("sender", "private", "group", "supergroup",
        "channel"; None: unknown, as Telegram leaves it for secret chats). Telegram's clients
        cut the text at 256 characters; the fake sends what it is given.
        """
        self._chats.remember(user)
        sender = user.to_dict()
        query_id = self._inline.ask(sender, query, offset)
        payload: dict[str, Any] = {
            "id": query_id,
            "from": sender,
            "query": query,
            "offset": offset,
        }
        if chat_type is not None:
            payload["chat_type"] = chat_type
        self._updates.put("inline_query", payload)
        return query_id

    @property
    def inline_answers(self) -> dict[str, InlineAnswer]:
        """Return the bot's answerInlineQuery calls by query id."""
        return self._inline.answered

    def expire_inline_query(self, query_id: str) -> None:
        """Make a pending inline query too old to answer (the user waited past its lifetime)."""
        self._inline.expire(query_id)

    async def wait_inline_answer(
        self,
        query_id: str,
        timeout: float = 10.0,  # noqa: ASYNC109 -- the tests' API: a deadline in seconds
    ) -> InlineAnswer:
        """Wait until the bot answered the inline query; return its answer."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while query_id not in self._inline.answered:
            if loop.time() > deadline:
                raise TimeoutError(f"inline query {query_id} was not answered in {timeout}s")
            await asyncio.sleep(0.01)
        return self._inline.answered[query_id]

    def choose_inline_result(
        self, chat: FakeChat, user: FakeUser, query_id: str, result_id: str
    ) -> SentMessage:
        """Pick a result of an answered inline query: its message appears in `chat` via the bot.

        The message is the user's, with ``via_bot``; it carries the result's keyboard. With
        ``inline_feedback`` a ``chosen_inline_result`` update is queued for the bot.
        """
        answer = self._inline.answered.get(query_id)
        if answer is None:
            raise ValueError(f"inline query {query_id} has no answer")
        result = answer.result(result_id)
        content = result.get("input_message_content")
        if not isinstance(content, dict):
            raise TypeError(f"result {result_id!r} has no text message to send")
        if self._chats.get_chat(chat.id) is None:
            self._chats.register(chat)
        markup = result.get("reply_markup")
        msg = self._messages.post_via_bot(chat.id, user.id, content, markup)
        if self.inline_feedback:
            chosen: dict[str, Any] = {
                "result_id": result_id,
                "from": user.to_dict(),
                "query": answer.query,
            }
            if markup is not None:
                # Telegram identifies a message with an inline keyboard to the bot this way.
                chosen["inline_message_id"] = f"{chat.id}_{msg.message_id}"
            self._updates.put("chosen_inline_result", chosen)
        return msg

    def all_sent(self) -> list[SentMessage]:
        """Return every message the bot sent, in order (deleted ones flagged)."""
        return self._messages.all_sent()

    @property
    def answered_callbacks(self) -> dict[str, AnsweredCallback]:
        """Return the bot's answerCallbackQuery calls by query id."""
        return self._callbacks.answered

    def my_commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        """Return the commands setMyCommands stored for this scope and language."""
        return self._commands.get(scope, language_code)

    def command_lists(self) -> list[dict[str, Any]]:
        """Return every command list the bot stored, with its scope and language."""
        return self._commands.listing()

    def block(self, user_id: int) -> None:
        """Make the user block the bot: sends to them get 403."""
        self._chats.block(user_id)

    def unblock(self, user_id: int) -> None:
        """Undo :meth:`block`."""
        self._chats.unblock(user_id)

    def forget_chat(self, chat_id: int) -> None:
        """Make sends to this chat fail with 400 chat not found (a deleted account)."""
        self._chats.forget(chat_id)

    def migrate_group(self, chat_id: int, *, notify: bool = True) -> int:
        """Upgrade a group to a supergroup; return the new -100… id.

        Later calls on the old id get 400 with parameters.migrate_to_chat_id. With `notify`
        the two service messages Telegram sends are queued as updates.
        """
        old = self._chats.get_chat(chat_id)
        new_id = self._chats.migrate(chat_id)
        new = self._chats.get_chat(new_id)
        if notify and old is not None and new is not None:
            now = int(time.time())
            self._updates.put(
                "message",
                {
                    "message_id": self._messages.next_id(chat_id),
                    "chat": self._chats.chat_dict(old),
                    "date": now,
                    "migrate_to_chat_id": new_id,
                },
            )
            self._updates.put(
                "message",
                {
                    "message_id": self._messages.next_id(new_id),
                    "chat": self._chats.chat_dict(new),
                    "date": now,
                    "migrate_from_chat_id": chat_id,
                },
            )
        return new_id

    def fail_next(self, method: str, times: int = 1, *, fault: Fault) -> None:
        """Make the next `times` calls of `method` fail with `fault`."""
        self._faults.fail_next(method, times, fault=fault)

    def fail_randomly(
        self,
        method: str,
        probability: float,
        fault_factory: Callable[[], Fault],
        seed: int = 0,
    ) -> None:
        """Make each call of `method` fail with probability `probability` (0 turns it off)."""
        self._faults.fail_randomly(method, probability, fault_factory, seed)

    def clear_faults(self) -> None:
        """Drop every pending injected fault."""
        self._faults.clear()

    @property
    def pending_updates(self) -> int:
        """Return how many queued updates the bot has not confirmed yet."""
        return len(self._updates)

    async def wait_accepted(
        self,
        count: int,
        timeout: float = 60.0,  # noqa: ASYNC109 -- the tests' API: a deadline in seconds
    ) -> None:
        """Wait until the server has accepted at least `count` messages, all chats together."""
        async with asyncio.timeout(timeout):
            while self.stats.sent < count:  # noqa: ASYNC110 -- a counter, no event to wait on
                await asyncio.sleep(0.02)

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
            idle = time.monotonic() - max(self._last_call, self._updates.last_change)
            pending = len(self._updates)
            if not pending and not self._in_flight and idle >= quiet:
                return
            if loop.time() > deadline:
                raise TimeoutError(
                    f"not settled after {timeout}s: {pending} updates pending, "
                    f"{self._in_flight} calls in flight"
                )
            await asyncio.sleep(min(0.02, max(0.001, quiet - idle)))


def _true(_params: dict[str, Any]) -> str:
    return "true"


def _ok(result: str) -> web.Response:
    return web.Response(
        body=b'{"ok":true,"result":' + result.encode() + b"}", content_type="application/json"
    )


async def serve(
    api: LoopbackBotApi,
    host: str = "127.0.0.1",
    port: int = 8081,
    *,
    ready: Callable[[LoopbackBotApi], None] | None = None,
) -> None:
    """Serve `api` on host:port until SIGINT or SIGTERM; call `ready` once it listens."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    await api.start(host, port)
    try:
        for sig in signals:
            loop.add_signal_handler(sig, stop.set)
        if ready is not None:
            ready(api)
        await stop.wait()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await api.stop()
