"""The /_control HTTP API: the loopback server's user side for other processes.

POST /_control/message   {chat_id, user_id, text, language_code?, chat_type?, first_name?, title?,
                          message_thread_id?}   (chat_type "forum": a supergroup with topics)
POST /_control/press     {chat_id, user_id, message_id, data}
GET  /_control/messages  ?chat_id=…&include_deleted=1&thread_id=…   (all chats without chat_id)
POST /_control/topic     {chat_id, user_id, action: create|close|reopen|delete, name?,
                          message_thread_id?}   → the topic, with its message_thread_id
GET  /_control/topics    ?chat_id=…
GET  /_control/stats
GET  /_control/callbacks
GET  /_control/commands
POST /_control/fail      {method, times?, fault: {kind, seconds?, description?}}
                         or {method, probability, fault, seed?}
POST /_control/block     {user_id, blocked?: true}
POST /_control/member    {chat_id, user_id?, status, rights?, custom_title?}
                         (no user_id: the bot's own role)   → the ChatMember's status
POST /_control/migrate   {chat_id}                     → {"migrate_to_chat_id": …}
POST /_control/channel   {chat_id, title?, username?}  (register a channel)
POST /_control/change_member {chat_id, by_user_id, status, user_id?, rights?}
                         (no user_id: the bot → my_chat_member)   → {"update_id": …}
POST /_control/channel_post {chat_id, text}            → {"update_id": …}
POST /_control/settle    {quiet?, timeout?}
POST /_control/inline    {user_id, query, offset?, chat_type?, language_code?}
                         → {"inline_query_id": …}
GET  /_control/inline_answers   ?inline_query_id=…   (every answer without it)
POST /_control/choose    {chat_id, user_id, inline_query_id, result_id} → the posted message
Answers are {"ok": true, "result": …} or {"ok": false, "description": …} with status 400.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.fakeapi.models import FakeChat, FakeUser, Fault
from bot.fakeapi.params import dumps

if TYPE_CHECKING:
    from bot.fakeapi.server import LoopbackBotApi

_Route = Callable[[web.Request], Awaitable[web.Response]]


def _ok(result: Any) -> web.Response:
    return web.Response(
        body=dumps({"ok": True, "result": result}).encode(), content_type="application/json"
    )


def _fail(status: int, description: str) -> web.Response:
    return web.Response(
        status=status,
        body=dumps({"ok": False, "description": description}).encode(),
        content_type="application/json",
    )


def _guard(route: Callable[[web.Request], Awaitable[Any]]) -> _Route:
    """Wrap a route so bad input answers 400 with the reason instead of 500."""

    async def wrapped(request: web.Request) -> web.Response:
        try:
            return _ok(await route(request))
        except (KeyError, ValueError, TypeError) as exc:
            return _fail(400, f"{exc.__class__.__name__}: {exc}")
        except TimeoutError as exc:
            return _fail(504, str(exc))

    return wrapped


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    data = json.loads(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise TypeError("body must be a JSON object")
    return data


def _sender(api: LoopbackBotApi, data: dict[str, Any]) -> FakeUser:
    """Return the user a control request speaks for, registering (or updating) them."""
    user_id = int(data["user_id"])
    user = api.get_user(user_id)
    if user is None or "language_code" in data or "first_name" in data:
        user = api.user(
            user_id,
            first_name=str(data.get("first_name", user.first_name if user else "Test")),
            language_code=data.get("language_code", user.language_code if user else "en"),
            username=data.get("username", user.username if user else None),
        )
    return user


def _participants(api: LoopbackBotApi, data: dict[str, Any]) -> tuple[FakeChat, FakeUser]:
    """Return the chat and user a control request speaks for, registering them if new."""
    user = _sender(api, data)
    user_id = user.id
    chat_id = int(data.get("chat_id", user_id))
    chat = api.get_chat(chat_id)
    if chat is None:
        chat_type = str(data.get("chat_type", "private" if chat_id > 0 else "group"))
        if chat_type == "private":
            if chat_id != user_id:
                raise ValueError("a private chat's id is its user's id")
            chat = api.private_chat(user)
        elif chat_type == "forum":
            chat = api.forum(chat_id, str(data.get("title", "Forum")))
        else:
            title = str(data.get("title", "Group"))
            chat = api.group(chat_id, title, supergroup=chat_type == "supergroup")
    return chat, user


def _member(api: LoopbackBotApi, data: dict[str, Any]) -> tuple[FakeUser | None, dict[str, bool]]:
    """Return the user a role change is about (None: the bot) and the rights it gives."""
    user = None
    if data.get("user_id") is not None:
        user = api.get_user(int(data["user_id"])) or api.user(int(data["user_id"]))
    rights = data.get("rights")
    if rights is not None and not isinstance(rights, dict):
        raise TypeError("rights must be an object of booleans")
    return user, {str(k): bool(v) for k, v in (rights or {}).items()}


def _set_member(api: LoopbackBotApi, data: dict[str, Any]) -> dict[str, str]:
    """Give a user (no user_id: the bot) a role in a registered chat."""
    chat = _registered(api, data)
    user, rights = _member(api, data)
    role = api.set_role(
        chat,
        user,
        str(data["status"]),
        rights=rights,
        custom_title=data.get("custom_title"),
    )
    return {"status": role.status}


def _topic(api: LoopbackBotApi, data: dict[str, Any]) -> dict[str, Any]:
    """Create, close, reopen or delete a forum topic as a user."""
    chat, user = _participants(api, {"chat_type": "forum", **data})
    action = str(data["action"])
    if action == "create":
        return api.create_topic(chat, user, str(data.get("name", "Topic"))).to_dict()
    thread = int(data["message_thread_id"])
    if action == "close":
        api.close_topic(chat, user, thread)
    elif action == "reopen":
        api.reopen_topic(chat, user, thread)
    elif action == "delete":
        api.delete_topic(chat, thread)
    else:
        raise ValueError(f"unknown topic action {action!r}")
    [found] = [t for t in api.topics(chat.id) if t.thread_id == thread]
    return found.to_dict()


def _channel(api: LoopbackBotApi, data: dict[str, Any]) -> dict[str, Any]:
    """Register a channel."""
    username = data.get("username")
    chat = api.channel(
        int(data["chat_id"]),
        str(data.get("title", "Channel")),
        username=None if username is None else str(username),
    )
    return chat.to_dict()


def _registered(api: LoopbackBotApi, data: dict[str, Any]) -> FakeChat:
    chat = api.get_chat(int(data["chat_id"]))
    if chat is None:
        raise ValueError(f"chat {data['chat_id']} is not registered")
    return chat


def _change_member(api: LoopbackBotApi, data: dict[str, Any]) -> dict[str, int]:
    """Let a user change someone's role (no user_id: the bot's) and queue the update."""
    chat = _registered(api, data)
    by = api.get_user(int(data["by_user_id"])) or api.user(int(data["by_user_id"]))
    user, rights = _member(api, data)
    update_id = api.change_member(chat, user, by, str(data["status"]), rights=rights)
    return {"update_id": update_id}


def _channel_post(api: LoopbackBotApi, data: dict[str, Any]) -> dict[str, int]:
    """Queue a post in a channel."""
    return {"update_id": api.channel_post(_registered(api, data), str(data["text"]))}


def _posted(
    api: LoopbackBotApi, action: Callable[[LoopbackBotApi, dict[str, Any]], Any]
) -> Callable[[web.Request], Awaitable[Any]]:
    """Return a route that calls `action` with the request's JSON body."""

    async def route(request: web.Request) -> Any:
        return action(api, await _body(request))

    return route


def add_routes(app: web.Application, api: LoopbackBotApi) -> None:
    """Add the /_control routes for `api` to `app`."""

    async def message(request: web.Request) -> Any:
        data = await _body(request)
        chat, user = _participants(api, data)
        thread = int(data.get("message_thread_id", 0))
        return {"update_id": api.send_message(chat, user, str(data["text"]), thread_id=thread)}

    async def press(request: web.Request) -> Any:
        data = await _body(request)
        chat, user = _participants(api, data)
        query_id = api.press_button(chat, user, int(data["message_id"]), str(data["data"]))
        return {"callback_query_id": query_id}

    async def messages(request: web.Request) -> Any:
        deleted = request.query.get("include_deleted", "") in ("1", "true")
        if "chat_id" in request.query:
            thread = request.query.get("thread_id")
            sent = api.messages(
                int(request.query["chat_id"]),
                include_deleted=deleted,
                thread_id=None if thread is None else int(thread),
            )
        else:
            sent = [m for m in api.all_sent() if deleted or not m.deleted]
        return [m.to_dict() for m in sent]

    async def stats(_request: web.Request) -> Any:
        return api.stats.to_dict()

    async def callbacks(_request: web.Request) -> Any:
        return [c.to_dict() for c in api.answered_callbacks.values()]

    async def commands(_request: web.Request) -> Any:
        return api.command_lists()

    async def fail(request: web.Request) -> Any:
        data = await _body(request)
        fault = Fault.from_dict(data["fault"])
        if "probability" in data:
            api.fail_randomly(
                str(data["method"]),
                float(data["probability"]),
                lambda: fault,
                int(data.get("seed", 0)),
            )
        else:
            api.fail_next(str(data["method"]), int(data.get("times", 1)), fault=fault)
        return True

    async def settle(request: web.Request) -> Any:
        data = await _body(request)
        await api.settle(float(data.get("quiet", 0.3)), float(data.get("timeout", 15.0)))
        return True

    app.router.add_post("/_control/message", _guard(message))
    app.router.add_post("/_control/press", _guard(press))
    app.router.add_get("/_control/messages", _guard(messages))
    app.router.add_get("/_control/stats", _guard(stats))
    app.router.add_get("/_control/callbacks", _guard(callbacks))
    app.router.add_get("/_control/commands", _guard(commands))
    app.router.add_post("/_control/fail", _guard(fail))
    app.router.add_post("/_control/settle", _guard(settle))
    _add_chat_routes(app, api)
    _add_topic_routes(app, api)
    _add_inline_routes(app, api)


def _add_chat_routes(app: web.Application, api: LoopbackBotApi) -> None:
    """Add the routes that change chats: a user blocks the bot, a member's role, a migration."""

    async def block(request: web.Request) -> Any:
        data = await _body(request)
        if data.get("blocked", True):
            api.block(int(data["user_id"]))
        else:
            api.unblock(int(data["user_id"]))
        return True

    async def member(request: web.Request) -> Any:
        return _set_member(api, await _body(request))

    async def migrate(request: web.Request) -> Any:
        data = await _body(request)
        return {"migrate_to_chat_id": api.migrate_group(int(data["chat_id"]))}

    app.router.add_post("/_control/block", _guard(block))
    app.router.add_post("/_control/member", _guard(member))
    app.router.add_post("/_control/migrate", _guard(migrate))
    app.router.add_post("/_control/channel", _guard(_posted(api, _channel)))
    app.router.add_post("/_control/change_member", _guard(_posted(api, _change_member)))
    app.router.add_post("/_control/channel_post", _guard(_posted(api, _channel_post)))


def _add_topic_routes(app: web.Application, api: LoopbackBotApi) -> None:
    """Add the routes of forum topics: act on one, list a forum's."""

    async def topic(request: web.Request) -> Any:
        return _topic(api, await _body(request))

    async def topics(request: web.Request) -> Any:
        return [t.to_dict() for t in api.topics(int(request.query["chat_id"]))]

    app.router.add_post("/_control/topic", _guard(topic))
    app.router.add_get("/_control/topics", _guard(topics))


def _add_inline_routes(app: web.Application, api: LoopbackBotApi) -> None:
    """Add the inline-mode routes: type a query, read the answers, choose a result."""

    async def inline(request: web.Request) -> Any:
        data = await _body(request)
        user = _sender(api, data)
        chat_type = data.get("chat_type", "private")
        query_id = api.inline_query(
            user,
            str(data["query"]),
            offset=str(data.get("offset", "")),
            chat_type=None if chat_type is None else str(chat_type),
        )
        return {"inline_query_id": query_id}

    async def inline_answers(request: web.Request) -> Any:
        answers = api.inline_answers
        if "inline_query_id" in request.query:
            return [answers[request.query["inline_query_id"]].to_dict()]
        return [a.to_dict() for a in answers.values()]

    async def choose(request: web.Request) -> Any:
        data = await _body(request)
        chat, user = _participants(api, data)
        query_id, result_id = str(data["inline_query_id"]), str(data["result_id"])
        return api.choose_inline_result(chat, user, query_id, result_id).to_dict()

    app.router.add_post("/_control/inline", _guard(inline))
    app.router.add_get("/_control/inline_answers", _guard(inline_answers))
    app.router.add_post("/_control/choose", _guard(choose))
