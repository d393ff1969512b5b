"""The messages the bot sent, and the Bot API methods that send, edit and delete them.

sendMessage is the hot path: O(1) bookkeeping, responses spliced from pre-encoded JSON, and
Telegram HTML parsed once per distinct text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from bot.errors import MarkupError
from bot.fakeapi.chats import Chats
from bot.fakeapi.forums import Forums
from bot.fakeapi.limits import RateMeter
from bot.fakeapi.models import SentMessage, entity_dict
from bot.fakeapi.params import (
    ApiError,
    as_bool,
    as_int,
    as_json,
    as_str,
    bad_request,
    check_reply_markup,
    dumps,
)
from bot.markup import parse_html, utf16_len

_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)

_CACHE_SIZE = 256


class Text(NamedTuple):
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


class MessageStore:
    """Keep every message the bot sent, per chat and in order, and serve the methods on them.

    With ``keep_text=False`` sent messages keep no text (for 100 000-message memory runs), and
    edits skip the "message is not modified" check.
    """

    def __init__(
        self,
        chats: Chats,
        meter: RateMeter,
        bot_user: dict[str, Any],
        *,
        keep_text: bool = True,
        forums: Forums | None = None,
        channel_gate: Callable[[int], None] | None = None,
    ) -> None:
        self.keep_text = keep_text
        self._chats = chats
        self._forums = forums or Forums()
        # Refuses a channel the bot may not post in (bot.fakeapi.members.Members.check_post).
        self._channel_gate = channel_gate
        self._meter = meter
        self._bot_user = bot_user
        self._bot_str = dumps(bot_user)
        self._sent: dict[int, list[SentMessage]] = {}
        self._all: list[SentMessage] = []
        self._next_mid: dict[int, int] = {}
        self._html_cache: dict[str, Text] = {}
        self._valid_markup: set[str] = set()

    # ----------------------------------------------------------------- the user side

    def next_id(self, chat_id: int) -> int:
        """Return a new message id in the chat (the bot's and the users' messages share them)."""
        message_id = self._next_mid.get(chat_id, 0) + 1
        self._next_mid[chat_id] = message_id
        return message_id

    def find(self, chat_id: int, message_id: int) -> SentMessage | None:
        """Return the bot's message `message_id` in the chat, deleted or not."""
        for msg in reversed(self._sent.get(chat_id, ())):
            if msg.message_id == message_id:
                return msg
        return None

    def messages(
        self, chat_id: int, *, include_deleted: bool = False, thread_id: int | None = None
    ) -> list[SentMessage]:
        """Return what the bot sent to the chat (to one forum topic of it), in order."""
        sent = self._sent.get(chat_id, [])
        return [
            m
            for m in sent
            if (include_deleted or not m.deleted) and thread_id in (None, m.thread_id)
        ]

    def all_sent(self) -> list[SentMessage]:
        """Return every message the bot sent, in order (deleted ones flagged)."""
        return list(self._all)

    def message_dict(self, msg: SentMessage, chat: dict[str, Any]) -> dict[str, Any]:
        """Return the Bot API Message object of a sent message (for a callback_query)."""
        data: dict[str, Any] = {
            "message_id": msg.message_id,
            "from": self._bot_user,
            "chat": chat,
            "date": msg.date,
            "text": msg.text or "…",
        }
        if msg.thread_id:
            data.update(message_thread_id=msg.thread_id, is_topic_message=True)
        if msg.via_bot:
            data["from"] = {"id": msg.sender_id, "is_bot": False, "first_name": "User"}
            data["via_bot"] = self._bot_user
        if msg.entities:
            data["entities"] = msg.entities
        markup = msg.reply_markup
        if markup and "inline_keyboard" in markup:
            data["reply_markup"] = markup
        return data

    def post_via_bot(
        self, chat_id: int, sender_id: int, content: dict[str, Any], markup: Any
    ) -> SentMessage:
        """Post a chosen inline result's message into the chat, from `sender_id` via the bot."""
        parse_mode = as_str(content, "parse_mode") or None
        entities = content.get("entities")
        msg = SentMessage(
            chat_id,
            self.next_id(chat_id),
            str(content["message_text"]),
            parse_mode,
            int(time.time()),
            dumps(markup) if markup is not None else None,
            dumps(entities) if entities and not parse_mode else None,
            via_bot=True,
            sender_id=sender_id,
        )
        self._sent.setdefault(chat_id, []).append(msg)
        self._all.append(msg)
        return msg

    # ----------------------------------------------------------------- Bot API methods

    def _render(self, params: dict[str, Any]) -> Text:
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
        return Text(raw, parse_mode, raw, entities, entities_json, _fragment(raw, entities))

    def _parse_html(self, raw: str, parse_mode: str) -> Text:
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
        text = Text(raw, parse_mode, parsed.text, entities, None, _fragment(parsed.text, entities))
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

    def _message_json(self, msg: SentMessage, chat: str, fragment: str) -> str:
        """Return the Message object as JSON, assembled from pre-encoded parts."""
        edit = f',"edit_date":{int(time.time())}' if msg.edits else ""
        if msg.thread_id:
            edit += f',"message_thread_id":{msg.thread_id},"is_topic_message":true'
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

    def send_message(self, params: dict[str, Any]) -> str:
        """Send a message: sendMessage."""
        chat_id, chat = self._chats.resolve(params)
        thread_id = self._forums.thread_for_send(chat_id, params)
        if chat_id < 0 and self._channel_gate is not None and self._chats.is_channel(chat_id):
            self._channel_gate(chat_id)
        text = self._render(params)
        markup_json = self._markup(params)
        paid = as_bool(params, "allow_paid_broadcast")
        retry = self._meter.admit(chat_id, time.monotonic(), paid=paid)
        if retry:
            raise ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        msg = SentMessage(
            chat_id,
            self.next_id(chat_id),
            text.raw if self.keep_text else "",
            text.parse_mode,
            int(time.time()),
            markup_json,
            text.entities_json if self.keep_text else None,
            allow_paid_broadcast=paid,
            thread_id=thread_id,
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
        chat_id, chat = self._chats.resolve(params)
        msg = self.find(chat_id, as_int(params, "message_id"))
        if msg is None or msg.deleted:
            raise bad_request("message to edit not found")
        return msg, chat

    def edit_message_text(self, params: dict[str, Any]) -> str:
        """Change a message's text and keyboard: editMessageText."""
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

    def edit_message_reply_markup(self, params: dict[str, Any]) -> str:
        """Change a message's keyboard: editMessageReplyMarkup."""
        msg, chat = self._editable(params)
        markup_json = self._markup(params)
        if _same_markup(markup_json, msg.reply_markup_json):
            raise bad_request(_NOT_MODIFIED)
        msg.reply_markup_json = markup_json
        msg.edits += 1
        return self._message_json(msg, chat, _fragment(msg.text, msg.entities))

    def delete_message(self, params: dict[str, Any]) -> str:
        """Delete a message: deleteMessage."""
        chat_id, _ = self._chats.resolve(params)
        msg = self.find(chat_id, as_int(params, "message_id"))
        if msg is None or msg.deleted:
            raise bad_request("message to delete not found")
        msg.deleted = True
        return "true"

    def send_chat_action(self, params: dict[str, Any]) -> str:
        """Accept a chat action (typing…) in a chat the bot may write to: sendChatAction."""
        self._chats.resolve(params)
        if not as_str(params, "action"):
            raise bad_request("action is empty")
        return "true"


def _same_markup(new: str | None, old: str | None) -> bool:
    """Return True when two reply_markup JSON texts describe the same keyboard."""
    if new is None or old is None:
        return new is old
    return bool(new == old or json.loads(new) == json.loads(old))
