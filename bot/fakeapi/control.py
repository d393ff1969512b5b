"""The /_control HTTP API: the loopback server's user side for other processes.

POST /_control/message   {chat_id, user_id, text, language_code?, chat_type?, first_name?, title?}
POST /_control/press     {chat_id, user_id, message_id, data}
GET  /_control/messages  ?chat_id=…&include_deleted=1   (all chats without chat_id)
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


def _participants(api: LoopbackBotApi, data: dict[str, Any]) -> tuple[FakeChat, FakeUser]:
    """Return the chat and user a control request speaks for, registering them if new."""
    user_id = int(data["user_id"])
    user = api.get_user(user_id)
    if user is None or "language_code" in data or "first_name" in data:
        user = api.user(
            user_id,
            first_name=str(data.get("first_name", user.first_name if user else "Test")),
            language_code=data.get("language_code", user.language_code if user else "en"),
            username=data.get("username", user.username if user else None),
        )
    chat_id = int(data.get("chat_id", user_id))
    chat = api.get_chat(chat_id)
    if chat is None:
        chat_type = str(data.get("chat_type", "private" if chat_id > 0 else "group"))
        if chat_type == "private":
            if chat_id != user_id:
                raise ValueError("a private chat's id is its user's id")
            chat = api.private_chat(user)
        else:
            title = str(data.get("title", "Group"))
            chat = api.group(chat_id, title, supergroup=chat_type == "supergroup")
    return chat, user


def _set_member(api: LoopbackBotApi, data: dict[str, Any]) -> dict[str, str]:
    """Give a user (no user_id: the bot) a role in a registered chat."""
    chat = api.get_chat(int(data["chat_id"]))
    if chat is None:
        raise ValueError(f"chat {data['chat_id']} is not registered")
    user = None
    if data.get("user_id") is not None:
        user = api.get_user(int(data["user_id"])) or api.user(int(data["user_id"]))
    rights = data.get("rights")
    if rights is not None and not isinstance(rights, dict):
        raise TypeError("rights must be an object of booleans")
    role = api.set_role(
        chat,
        user,
        str(data["status"]),
        rights={str(k): bool(v) for k, v in (rights or {}).items()},
        custom_title=data.get("custom_title"),
    )
    return {"status": role.status}


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
    user = None
    if data.get("user_id") is not None:
        user = api.get_user(int(data["user_id"])) or api.user(int(data["user_id"]))
    rights = data.get("rights")
    if rights is not None and not isinstance(rights, dict):
        raise TypeError("rights must be an object of booleans")
    update_id = api.change_member(
        chat,
        user,
        by,
        str(data["status"]),
        rights={str(k): bool(v) for k, v in (rights or {}).items()},
    )
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
        return {"update_id": api.send_message(chat, user, str(data["text"]))}

    async def press(request: web.Request) -> Any:
        data = await _body(request)
        chat, user = _participants(api, data)
        query_id = api.press_button(chat, user, int(data["message_id"]), str(data["data"]))
        return {"callback_query_id": query_id}

    async def messages(request: web.Request) -> Any:
        deleted = request.query.get("include_deleted", "") in ("1", "true")
        if "chat_id" in request.query:
            sent = api.messages(int(request.query["chat_id"]), include_deleted=deleted)
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
    app.router.add_post("/_control/block", _guard(block))
    app.router.add_post("/_control/member", _guard(member))
    app.router.add_post("/_control/migrate", _guard(migrate))
    app.router.add_post("/_control/settle", _guard(settle))
    app.router.add_post("/_control/channel", _guard(_posted(api, _channel)))
    app.router.add_post("/_control/change_member", _guard(_posted(api, _change_member)))
    app.router.add_post("/_control/channel_post", _guard(_posted(api, _channel_post)))
