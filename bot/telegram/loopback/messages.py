"""Bot API methods on messages and chats: send, edit, delete, chat actions, callback answers.

sendMessage is the hot path: O(1) bookkeeping, responses spliced from pre-encoded JSON, and
Telegram HTML parsed once per distinct text.
"""

from __future__ import annotations

import json
import time
from typing import Any

from bot.errors import MarkupError
from bot.markup import parse_html, utf16_len
from bot.telegram.loopback.models import AnsweredCallback, SentMessage, entity_dict
from bot.telegram.loopback.params import (
    ApiError,
    as_bool,
    as_int,
    as_json,
    as_opt_int,
    as_str,
    bad_request,
    check_reply_markup,
    dumps,
)
from bot.telegram.loopback.state import ServerState, Text

_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"

_CACHE_SIZE = 256


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


class MessagesMixin(ServerState):
    """Handle the Bot API methods that send, change or answer messages."""

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


def _same_markup(new: str | None, old: str | None) -> bool:
    """Return True when two reply_markup JSON texts describe the same keyboard."""
    if new is None or old is None:
        return new is old
    return bool(new == old or json.loads(new) == json.loads(old))
