"""Button presses: callback queries waiting for the bot's answerCallbackQuery, and the answers."""

from __future__ import annotations

from typing import Any, NamedTuple

from bot.fakeapi.models import AnsweredCallback
from bot.fakeapi.params import as_bool, as_opt_int, as_str, bad_request

_QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"


class _Press(NamedTuple):
    chat_id: int
    message_id: int
    user_id: int
    data: str


class CallbackQueries:
    """Number the presses, and let the bot answer each once."""

    def __init__(self) -> None:
        self.answered: dict[str, AnsweredCallback] = {}
        self._pending: dict[str, _Press] = {}
        self._next = 1

    def press(self, chat_id: int, message_id: int, user_id: int, data: str) -> str:
        """Record a press of a button with `data`; return its new callback query id."""
        query_id = str(10**17 + self._next)
        self._next += 1
        self._pending[query_id] = _Press(chat_id, message_id, user_id, data)
        return query_id

    def answer_callback_query(self, params: dict[str, Any]) -> str:
        """Answer a press once: answerCallbackQuery."""
        query_id = as_str(params, "callback_query_id") or ""
        press = self._pending.pop(query_id, None)
        if press is None:
            raise bad_request(_QUERY_TOO_OLD)
        self.answered[query_id] = AnsweredCallback(
            id=query_id,
            chat_id=press.chat_id,
            message_id=press.message_id,
            user_id=press.user_id,
            data=press.data,
            text=as_str(params, "text"),
            show_alert=as_bool(params, "show_alert"),
            url=as_str(params, "url"),
            cache_time=as_opt_int(params, "cache_time"),
        )
        return "true"
