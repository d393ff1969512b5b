"""Inline mode: inline queries a user types, the bot's answerInlineQuery, and a chosen result.

A query lives ``lifetime`` seconds (Telegram: about 10); answering later, twice, or an unknown
id is refused with Telegram's "query is too old…" text. An answer is validated the way
Telegram validates it: at most 50 results, each with a unique id of 1 to 64 bytes, a title,
and an input_message_content whose HTML parses and whose text fits 4096 UTF-16 units; a
next_offset of at most 64 bytes; a button's start_parameter of ``[A-Za-z0-9_-]{1,64}``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from bot.errors import MarkupError
from bot.fakeapi.models import InlineAnswer
from bot.fakeapi.params import (
    as_bool,
    as_json,
    as_opt_int,
    as_str,
    bad_request,
    check_reply_markup,
)
from bot.markup import parse_html, utf16_len

QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
MAX_RESULTS = 50
ID_MAX_BYTES = 64
OFFSET_MAX_BYTES = 64
TEXT_MAX = 4096
QUERY_LIFETIME = 10.0  # seconds Telegram waits for an answer
_START_PARAMETER = re.compile(r"[A-Za-z0-9_-]{1,64}")


class _Pending(NamedTuple):
    user: dict[str, Any]
    query: str
    offset: str
    asked_at: float


class InlineQueries:
    """Number the queries users type, and take the bot's one answer to each in time."""

    def __init__(
        self, *, lifetime: float = QUERY_LIFETIME, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lifetime = lifetime
        self.answered: dict[str, InlineAnswer] = {}
        self._clock = clock
        self._pending: dict[str, _Pending] = {}
        self._next = 1

    def ask(self, user: dict[str, Any], query: str, offset: str) -> str:
        """Record an inline query typed by `user`; return its new id."""
        query_id = str(7 * 10**17 + self._next)
        self._next += 1
        self._pending[query_id] = _Pending(user, query, offset, self._clock())
        return query_id

    def expire(self, query_id: str) -> None:
        """Make a pending query too old to answer."""
        pending = self._pending.get(query_id)
        if pending is None:
            raise ValueError(f"no pending inline query {query_id}")
        self._pending[query_id] = pending._replace(asked_at=-float("inf"))

    def answer_inline_query(self, params: dict[str, Any]) -> str:
        """Take the bot's answer to a pending query: answerInlineQuery."""
        query_id = as_str(params, "inline_query_id") or ""
        pending = self._pending.get(query_id)
        if pending is None or self._clock() - pending.asked_at > self.lifetime:
            self._pending.pop(query_id, None)
            raise bad_request(QUERY_TOO_OLD)
        results, _ = as_json(params, "results")
        if not isinstance(results, list):
            raise bad_request("can't parse inline query results JSON object")
        _check_results(results)
        next_offset = as_str(params, "next_offset") or ""
        if len(next_offset.encode("utf-8")) > OFFSET_MAX_BYTES:
            raise bad_request("NEXT_OFFSET_INVALID")
        button, _ = as_json(params, "button")
        if button is not None:
            _check_results_button(button)
        del self._pending[query_id]  # answered once: a second answer is refused
        self.answered[query_id] = InlineAnswer(
            id=query_id,
            user_id=int(pending.user["id"]),
            query=pending.query,
            offset=pending.offset,
            results=results,
            cache_time=as_opt_int(params, "cache_time"),
            is_personal=as_bool(params, "is_personal"),
            next_offset=next_offset,
            button=button,
            waited=self._clock() - pending.asked_at,
        )
        return "true"


def _check_results(results: list[Any]) -> None:
    """Refuse a result list Telegram refuses."""
    if len(results) > MAX_RESULTS:
        raise bad_request("RESULTS_TOO_MUCH")
    seen: set[str] = set()
    for result in results:
        if not isinstance(result, dict):
            raise bad_request(
                "can't parse inline query result: InlineQueryResult must be an Object"
            )
        ident = result.get("id")
        if not isinstance(ident, str) or not 1 <= len(ident.encode("utf-8")) <= ID_MAX_BYTES:
            raise bad_request("RESULT_ID_INVALID")
        if ident in seen:
            raise bad_request("RESULT_ID_DUPLICATE")
        seen.add(ident)
        if result.get("type") == "article" and not str(result.get("title") or "").strip():
            raise bad_request("RESULT_TITLE_EMPTY")
        content = result.get("input_message_content")
        if result.get("type") == "article" and not isinstance(content, dict):
            raise bad_request(
                'can\'t parse inline query result: Field "input_message_content" must be '
                "of type Object"
            )
        if isinstance(content, dict):
            _check_content(content)
        if "reply_markup" in result:
            check_reply_markup(result["reply_markup"])


def _check_content(content: dict[str, Any]) -> None:
    """Refuse an InputTextMessageContent Telegram refuses: empty, unparsable or too long."""
    text = content.get("message_text")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("MESSAGE_EMPTY")
    visible = text
    if str(content.get("parse_mode") or "").lower() == "html":
        try:
            visible = parse_html(text).text
        except MarkupError as exc:
            reason = str(exc)
            raise bad_request(reason[:1].lower() + reason[1:]) from exc
    if not visible.strip():
        raise bad_request("MESSAGE_EMPTY")
    if utf16_len(visible) > TEXT_MAX:
        raise bad_request("MESSAGE_TOO_LONG")


def _check_results_button(button: Any) -> None:
    """Refuse an InlineQueryResultsButton without text or with a bad start_parameter."""
    if not isinstance(button, dict) or not str(button.get("text") or "").strip():
        raise bad_request('can\'t parse InlineQueryResultsButton: field "text" is empty')
    start = button.get("start_parameter")
    if start is not None and not _START_PARAMETER.fullmatch(str(start)):
        raise bad_request("START_PARAM_INVALID")
    if start is None and "web_app" not in button:
        raise bad_request("START_PARAM_EMPTY")
