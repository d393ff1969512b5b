"""The push's Sender over a PTB Bot: a digest's messages out, one plain Outcome back.

``TelegramSender`` implements :class:`bot.push.sender.Sender`: it sends a digest's parts in
order, the keyboard under the last, and stops at the first failure, reporting how many parts
went out. Pacing is the :class:`Pacer`'s job: the bot is built with it as ``rate_limiter``, and
each part goes through :meth:`Pacer.send` in the push lane, so command replies go first. A 429
therefore never reaches this module (the pacer waits and re-sends the same part); without a
pacer it comes back as RETRY with ``retry_after``.

Bot API errors map to outcomes as Telegram means them:

- 403 Forbidden (blocked, kicked, deactivated), 400 "chat not found" and a channel's
  "need administrator rights" / CHAT_WRITE_FORBIDDEN → BLOCKED
- 400 "message thread not found" and "TOPIC_CLOSED" (a forum topic deleted or closed) →
  BLOCKED: only that topic's subscription goes inactive, the chat's other topics go on
- 400 with ``migrate_to_chat_id`` (PTB's ``ChatMigrated``) → MIGRATED with the new id
- timeouts, dropped connections and 5xx (PTB raises ``NetworkError`` for them) → RETRY
- any other 400 → FAILED with Telegram's description (resending would fail the same way)
- 401/404 (PTB's ``InvalidToken``: the token was revoked or is wrong) → raises
  :class:`bot.errors.ConfigError`, which stops the push: no message could go out
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from functools import partial
from typing import Any, Final

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import ExtBot
from telegram.request import RequestData

from bot.push.sender import Outcome, OutgoingMessage, SendResult
from bot.telegram.credentials import refusal_is_config_error
from bot.telegram.keyboards import markup
from bot.telegram.pacer import Pacer, retry_after_seconds

log = logging.getLogger(__name__)


# Telegram's 400 descriptions that mean the chat is gone for good, like a 403 does.
_GONE: Final = (
    "chat not found",
    "user not found",
    "peer_id_invalid",
    "user is deactivated",
    # A forum topic deleted or closed: reopening it and /start there subscribes it again.
    "message thread not found",
    "topic_closed",
    "topic_deleted",
    # A channel (or group) the bot may no longer post in: lost until it is promoted again.
    "need administrator rights",
    "chat_write_forbidden",
    "not enough rights to send",
)


def outcome_for(exc: TelegramError) -> SendResult:
    """Map a PTB exception from sendMessage to the push's outcome."""
    if isinstance(exc, RetryAfter):
        return SendResult(Outcome.RETRY, retry_after=retry_after_seconds(exc), error=str(exc))
    if isinstance(exc, ChatMigrated):
        return SendResult(Outcome.MIGRATED, new_chat_id=exc.new_chat_id, error=str(exc))
    # BadRequest subclasses NetworkError in PTB, so it must be told apart first.
    if isinstance(exc, Forbidden | BadRequest):
        text = exc.message.lower()
        gone = isinstance(exc, Forbidden) or any(marker in text for marker in _GONE)
        return SendResult(Outcome.BLOCKED if gone else Outcome.FAILED, error=exc.message)
    if isinstance(exc, NetworkError):  # TimedOut, dropped connections, 5xx
        return SendResult(Outcome.RETRY, error=exc.message or type(exc).__name__)
    return SendResult(Outcome.FAILED, error=str(exc) or type(exc).__name__)


class _Body:
    """One part of a push digest, shared by every chat that gets it, encoded once."""

    __slots__ = ("json_parameters", "parameters", "tail")

    def __init__(self, text: str, keyboard: dict[str, Any] | None, *, paid: bool) -> None:
        self.parameters: dict[str, Any] = {"text": text, "parse_mode": "HTML"}
        if keyboard is not None:
            self.parameters["reply_markup"] = keyboard
        if paid:
            self.parameters["allow_paid_broadcast"] = True
        # What PTB's RequestData would produce, minus chat_id, computed once per part.
        self.json_parameters = {
            k: v if isinstance(v, str) else json.dumps(v) for k, v in self.parameters.items()
        }
        self.tail = json.dumps(self.parameters, ensure_ascii=False)[1:].encode()


def _bodies(message: OutgoingMessage) -> tuple[_Body, ...]:
    """Encode the digest's parts, the keyboard under the last one (as /latest sends them)."""
    keyboard = markup([message.buttons])
    buttons = keyboard.to_dict() if keyboard is not None else None
    last = len(message.parts) - 1
    return tuple(
        _Body(text, buttons if index == last else None, paid=message.paid)
        for index, text in enumerate(message.parts)
    )


# PTB marks RequestData final, and offers no public way to build one from pre-encoded parts;
# transports read only the three properties overridden here (tested on both backends).
class _SendMessageData(RequestData):  # type: ignore[misc]
    """sendMessage's parameters for one chat: the shared part is encoded once per digest."""

    __slots__ = ("_body", "_chat_id", "_thread_id")

    def __init__(self, chat_id: int, body: _Body, thread_id: int = 0) -> None:
        super().__init__()
        self._chat_id = chat_id
        self._thread_id = thread_id
        self._body = body

    def _where(self) -> dict[str, int]:
        if self._thread_id:
            return {"chat_id": self._chat_id, "message_thread_id": self._thread_id}
        return {"chat_id": self._chat_id}

    @property
    def parameters(self) -> dict[str, Any]:
        """Return the parameters as values (the chat, and its topic, first)."""
        return {**self._where(), **self._body.parameters}

    @property
    def json_parameters(self) -> dict[str, str]:
        """Return the parameters as a form sends them (the httpx transport)."""
        where = {k: str(v) for k, v in self._where().items()}
        return {**where, **self._body.json_parameters}

    @property
    def json_payload(self) -> bytes:
        """Return the JSON body (the aiohttp transport): the chat (and topic) spliced in front."""
        if self._thread_id:
            head = b'{"chat_id": %d, "message_thread_id": %d, ' % (self._chat_id, self._thread_id)
            return head + self._body.tail
        return b'{"chat_id": %d, ' % self._chat_id + self._body.tail


# A push sends one digest per (article, language): a handful of distinct ones per run.
_PREPARED_LIMIT: Final = 64


class TelegramSender:
    """Send push digests through a PTB bot, part by part, paced by its Pacer.

    The push sends the same digest to thousands of chats, so it skips what PTB's send_message
    repeats per call (building the request from objects, and a Message object from the
    answer): each part's shared body is encoded once per digest, and the answer is read for
    its message_id only. It still goes through the bot's own transport, with PTB's status
    handling (``BaseRequest.post``), so every error is the exception PTB would raise. As it
    posts outside ``ExtBot._do_post``, where PTB would call the rate limiter, it asks the
    pacer itself through :meth:`Pacer.send` in the push lane.
    """

    def __init__(self, bot: ExtBot[Any], *, paced: bool = True) -> None:
        self.bot = bot
        limiter = bot.rate_limiter
        self._pacer = limiter if paced and isinstance(limiter, Pacer) else None
        self._url = f"{bot.base_url}/sendMessage"
        self._prepared: dict[tuple[tuple[str, ...], tuple[Any, ...], bool], tuple[_Body, ...]] = {}

    def _prepare(self, message: OutgoingMessage) -> tuple[_Body, ...]:
        key = (message.parts, message.buttons, message.paid)
        bodies = self._prepared.get(key)
        if bodies is None:
            if len(self._prepared) >= _PREPARED_LIMIT:
                self._prepared.clear()
            bodies = self._prepared[key] = _bodies(message)
        return bodies

    async def _post(self, data: _SendMessageData) -> Any:
        return await self.bot.request.post(self._url, request_data=data)

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Send the digest's window of parts in order; stop at the first failure, report it.

        Raise ConfigError when the Bot API refuses the token (no message can go out).
        """
        ids: list[int] = []
        bodies = self._prepare(message)[message.start : message.stop]
        for delivered, body in enumerate(bodies):
            data = _SendMessageData(message.chat_id, body, message.thread_id)
            try:
                # A refused token is a configuration error, not this row's: it stops the push
                # instead of failing every row.
                with refusal_is_config_error():
                    if self._pacer is None:
                        answer = await self._post(data)
                    else:
                        answer = await self._pacer.send(
                            partial(self._post, data),
                            chat_id=message.chat_id,
                            lane="push",
                            paid=message.paid,
                        )
            except TelegramError as exc:
                result = replace(outcome_for(exc), delivered=delivered, message_ids=tuple(ids))
                log.debug(
                    "push to %s: %s after %d of %d parts (%s)",
                    message.chat_id,
                    result.outcome.name,
                    delivered,
                    len(bodies),
                    result.error,
                )
                return result
            message_id = answer.get("message_id") if isinstance(answer, dict) else None
            if isinstance(message_id, int):
                ids.append(message_id)
        return SendResult(Outcome.SENT, delivered=len(bodies), message_ids=tuple(ids))
