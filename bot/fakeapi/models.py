"""Plain records of the loopback Bot API: users, chats, sent messages, faults, limits, stats."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bot.markup import parse_html


@dataclass(frozen=True, slots=True)
class FakeUser:
    """A Telegram user driven by a test."""

    id: int
    first_name: str = "Test"
    language_code: str | None = "en"
    username: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the Bot API User object."""
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data


@dataclass(frozen=True, slots=True)
class FakeChat:
    """A private chat, group or supergroup (a forum: `is_forum`) known to the server."""

    id: int
    type: str
    title: str | None = None
    first_name: str | None = None
    username: str | None = None
    is_forum: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the Bot API Chat object."""
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.title is not None:
            data["title"] = self.title
        if self.first_name is not None:
            data["first_name"] = self.first_name
        if self.username:
            data["username"] = self.username
        if self.is_forum:
            data["is_forum"] = True
        return data


@dataclass(slots=True)
class SentMessage:
    """One message the bot sent, in its current state (after edits).

    Only the raw text is kept; ``text`` and ``entities`` are parsed from it on access, and the
    keyboard is kept as its JSON, so 100 000 messages stay small.
    """

    chat_id: int
    message_id: int
    html: str
    parse_mode: str | None
    date: int
    reply_markup_json: str | None = None
    entities_json: str | None = None
    edits: int = 0
    deleted: bool = False
    allow_paid_broadcast: bool = False
    thread_id: int = 0  # the forum topic it was sent into (message_thread_id); 0: none
    # Posted by user `sender_id` through the bot's inline mode (a chosen inline result).
    via_bot: bool = False
    sender_id: int | None = None

    @property
    def text(self) -> str:
        """Return the visible text, as a Telegram client shows it."""
        if self.parse_mode is not None and self.parse_mode.upper() == "HTML":
            return parse_html(self.html).text
        return self.html

    @property
    def entities(self) -> list[dict[str, Any]]:
        """Return the message entities as Bot API MessageEntity dicts."""
        if self.parse_mode is not None and self.parse_mode.upper() == "HTML":
            return [entity_dict(e) for e in parse_html(self.html).entities]
        if self.entities_json:
            loaded: list[dict[str, Any]] = json.loads(self.entities_json)
            return loaded
        return []

    @property
    def reply_markup(self) -> dict[str, Any] | None:
        """Return the reply markup as sent, or None."""
        if self.reply_markup_json is None:
            return None
        loaded: dict[str, Any] = json.loads(self.reply_markup_json)
        return loaded

    def buttons(self) -> list[list[dict[str, Any]]]:
        """Return the inline keyboard rows (empty when there is none)."""
        markup = self.reply_markup
        if not markup:
            return []
        rows: list[list[dict[str, Any]]] = markup.get("inline_keyboard", [])
        return rows

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view for the control API."""
        return {
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "html": self.html,
            "text": self.text,
            "entities": self.entities,
            "reply_markup": self.reply_markup,
            "parse_mode": self.parse_mode,
            "date": self.date,
            "edits": self.edits,
            "deleted": self.deleted,
            "allow_paid_broadcast": self.allow_paid_broadcast,
            "message_thread_id": self.thread_id,
            "via_bot": self.via_bot,
            "sender_id": self.sender_id,
        }


def entity_dict(entity: object) -> dict[str, Any]:
    """Return a Bot API MessageEntity dict from a parsed entity (object or mapping)."""
    if isinstance(entity, dict):
        return dict(entity)
    data: dict[str, Any] = {
        "type": getattr(entity, "type", ""),
        "offset": getattr(entity, "offset", 0),
        "length": getattr(entity, "length", 0),
    }
    for name in ("url", "language", "custom_emoji_id"):
        value = getattr(entity, name, None)
        if value:
            data[name] = value
    return data


@dataclass(frozen=True, slots=True)
class AnsweredCallback:
    """An answerCallbackQuery the bot made, with the press it answered."""

    id: str
    chat_id: int
    message_id: int
    user_id: int
    data: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view for the control API."""
        return {
            "id": self.id,
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "user_id": self.user_id,
            "data": self.data,
            "text": self.text,
            "show_alert": self.show_alert,
            "url": self.url,
            "cache_time": self.cache_time,
        }


@dataclass(frozen=True, slots=True)
class InlineAnswer:
    """An answerInlineQuery the bot made, with the query it answered."""

    id: str
    user_id: int
    query: str
    offset: str
    results: list[dict[str, Any]]
    cache_time: int | None
    is_personal: bool
    next_offset: str
    button: dict[str, Any] | None
    waited: float = 0.0  # seconds from the query being typed to this answer arriving

    def result(self, result_id: str) -> dict[str, Any]:
        """Return the result with this id; raise KeyError when the answer has none."""
        for result in self.results:
            if result.get("id") == result_id:
                return result
        raise KeyError(f"inline query {self.id} has no result {result_id!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view for the control API."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "query": self.query,
            "offset": self.offset,
            "results": self.results,
            "cache_time": self.cache_time,
            "is_personal": self.is_personal,
            "next_offset": self.next_offset,
            "button": self.button,
            "waited": self.waited,
        }


@dataclass(frozen=True, slots=True)
class Fault:
    """A failure to inject into a Bot API call instead of (or before) handling it."""

    kind: str
    status: int = 0
    description: str = ""
    seconds: float = 0.0

    @classmethod
    def retry_after(cls, seconds: int) -> Fault:
        """Fail with 429 Too Many Requests and parameters.retry_after."""
        return cls("retry_after", 429, f"Too Many Requests: retry after {seconds}", float(seconds))

    @classmethod
    def forbidden(cls, description: str = "Forbidden: bot was blocked by the user") -> Fault:
        """Fail with 403 Forbidden."""
        return cls("forbidden", 403, description)

    @classmethod
    def bad_request(cls, description: str = "Bad Request: injected fault") -> Fault:
        """Fail with 400 Bad Request and this description."""
        return cls("bad_request", 400, description)

    @classmethod
    def chat_not_found(cls) -> Fault:
        """Fail with 400 Bad Request: chat not found."""
        return cls("chat_not_found", 400, "Bad Request: chat not found")

    @classmethod
    def server_error(cls) -> Fault:
        """Fail with 502 Bad Gateway, as Telegram's front end does when the backend is down."""
        return cls("server_error", 502, "Bad Gateway")

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without any response."""
        return cls("drop")

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        """Delay the call by `seconds`, then handle it normally (the client may time out)."""
        return cls("hang", seconds=seconds)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        """Build a fault from its control-API form, e.g. {"kind": "retry_after", "seconds": 2}."""
        kind = str(data.get("kind", ""))
        if kind == "retry_after":
            return cls.retry_after(int(data.get("seconds", 1)))
        if kind == "forbidden":
            return cls.forbidden(
                str(data.get("description", "Forbidden: bot was blocked by the user"))
            )
        if kind == "bad_request":
            return cls.bad_request(str(data.get("description", "Bad Request: injected fault")))
        if kind == "hang":
            return cls.hang(float(data.get("seconds", 1.0)))
        simple = {
            "chat_not_found": cls.chat_not_found,
            "server_error": cls.server_error,
            "drop": cls.drop,
        }
        if kind not in simple:
            raise ValueError(f"unknown fault kind {kind!r}")
        return simple[kind]()

    def parameters(self) -> dict[str, Any] | None:
        """Return the ResponseParameters Telegram would attach, if any."""
        if self.kind == "retry_after":
            return {"retry_after": int(self.seconds)}
        return None


@dataclass(frozen=True, slots=True)
class Limits:
    """Telegram-like flood limits the server enforces (429 + retry_after) when given.

    A chat gets a token bucket: ``per_chat_per_second`` sustained with a burst of
    ``per_chat_burst`` (Telegram tolerates short bursts, so a command answered with three
    messages is fine, while a push sending faster than 1/s per chat is refused). Groups
    additionally get ``per_group_per_minute`` over a sliding 60-s window. All messages share
    ``global_per_second`` over a sliding 1-s window; a message with allow_paid_broadcast=true is
    held to ``paid_broadcast_per_second`` instead.
    """

    global_per_second: int = 30
    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3
    per_group_per_minute: int = 20
    paid_broadcast_per_second: int = 1000


@dataclass(slots=True)
class ServerStats:
    """What the server observed; message rates count sendMessage calls it accepted.

    ``violations`` counts, per chat, accepted messages that broke the limits (the configured
    ones, or the default ``Limits()`` when enforcement is off); with enforcement on such
    messages are refused instead and counted in ``rate_limited``.
    """

    calls: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    too_many_requests: int = 0
    rate_limited: int = 0
    max_per_second: int = 0
    max_per_chat_per_second: int = 0
    max_per_group_per_minute: int = 0
    global_violations: int = 0
    violations: dict[int, int] = field(default_factory=dict)

    def clean(self) -> bool:
        """Return True when no 429 was sent and no limit was broken."""
        return not (self.too_many_requests or self.global_violations or self.violations)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view for the control API and benchmark reports."""
        return {
            "calls": dict(self.calls),
            "sent": self.sent,
            "too_many_requests": self.too_many_requests,
            "rate_limited": self.rate_limited,
            "max_per_second": self.max_per_second,
            "max_per_chat_per_second": self.max_per_chat_per_second,
            "max_per_group_per_minute": self.max_per_group_per_minute,
            "global_violations": self.global_violations,
            "violations": {str(k): v for k, v in self.violations.items()},
        }
