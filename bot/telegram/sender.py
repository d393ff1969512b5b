"""The push's Sender over a PTB Bot: one message out, one plain Outcome back.

``TelegramSender`` implements :class:`bot.delivery.Sender`. Pacing is the :class:`Pacer`'s job:
the bot is built with it as ``rate_limiter``, and push sends pass ``rate_limit_args={"lane":
"push"}`` so command replies go first. A 429 therefore never reaches this module (the pacer waits
and re-sends the same call); without a pacer it comes back as RETRY with ``retry_after``.

Bot API errors map to outcomes as Telegram means them:

- 403 Forbidden (blocked, kicked, deactivated) and 400 "chat not found" → BLOCKED
- 400 with ``migrate_to_chat_id`` (PTB's ``ChatMigrated``) → MIGRATED with the new id
- timeouts, dropped connections and 5xx (PTB raises ``NetworkError`` for them) → RETRY
- any other 400 → FAILED with Telegram's description (resending would fail the same way)
- 401/404 (PTB's ``InvalidToken``: the token was revoked or is wrong) → raises
  :class:`bot.errors.ConfigError`, which stops the push: no message could go out
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import ExtBot
from telegram.request import RequestData

from bot.delivery import Outcome, OutgoingMessage, SendResult
from bot.errors import ConfigError
from bot.telegram.keyboards import markup
from bot.telegram.pacer import PUSH_ARGS, Pacer, retry_after_seconds

log = logging.getLogger(__name__)

REFUSED_MESSAGE: Final = "the Bot API refused TELEGRAM_BOT_TOKEN (revoked or wrong?)"

# Telegram's 400 descriptions that mean the chat is gone for good, like a 403 does.
_GONE: Final = ("chat not found", "user not found", "peer_id_invalid", "user is deactivated")


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


class _Prepared:
    """The parts of a push message shared by every chat that gets it, encoded once."""

    __slots__ = ("json_parameters", "parameters", "tail")

    def __init__(self, message: OutgoingMessage) -> None:
        keyboard = markup([message.buttons])
        self.parameters: dict[str, Any] = {"text": message.html, "parse_mode": "HTML"}
        if keyboard is not None:
            self.parameters["reply_markup"] = keyboard.to_dict()
        if message.paid:
            self.parameters["allow_paid_broadcast"] = True
        # What PTB's RequestData would produce, minus chat_id, computed once per article.
        self.json_parameters = {
            k: v if isinstance(v, str) else json.dumps(v) for k, v in self.parameters.items()
        }
        self.tail = json.dumps(self.parameters, ensure_ascii=False)[1:].encode()


# PTB marks RequestData final, and offers no public way to build one from pre-encoded parts;
# transports read only the three properties overridden here (tested on both backends).
class _SendMessageData(RequestData):  # type: ignore[misc]
    """sendMessage's parameters for one chat: the shared part is encoded once per article."""

    __slots__ = ("_chat_id", "_prepared")

    def __init__(self, chat_id: int, prepared: _Prepared) -> None:
        super().__init__()
        self._chat_id = chat_id
        self._prepared = prepared

    @property
    def parameters(self) -> dict[str, Any]:
        """Return the parameters as values (the chat first)."""
        return {"chat_id": self._chat_id, **self._prepared.parameters}

    @property
    def json_parameters(self) -> dict[str, str]:
        """Return the parameters as a form sends them (the httpx transport)."""
        return {"chat_id": str(self._chat_id), **self._prepared.json_parameters}

    @property
    def json_payload(self) -> bytes:
        """Return the JSON body (the aiohttp transport): the chat id spliced in front."""
        return b'{"chat_id": %d, ' % self._chat_id + self._prepared.tail


# A push sends one message per (article, language): a handful of distinct bodies per run.
_PREPARED_LIMIT: Final = 64


class TelegramSender:
    """Send push messages through a PTB bot, paced by its Pacer.

    The push sends the same text to thousands of chats, so it skips what PTB's send_message
    repeats per call (building the request from objects, and a Message object from the
    answer): the shared part of the body is encoded once per article, and the answer is read
    for its message_id only. It still goes through the bot's own transport, with PTB's status
    handling (``BaseRequest.post``), so every error is the exception PTB would raise.
    """

    def __init__(self, bot: ExtBot[Any], *, paced: bool = True) -> None:
        self.bot = bot
        limiter = bot.rate_limiter
        self._pacer = limiter if paced and isinstance(limiter, Pacer) else None
        self._url = f"{bot.base_url}/sendMessage"
        self._prepared: dict[tuple[str, tuple[Any, ...], bool], _Prepared] = {}

    def _prepare(self, message: OutgoingMessage) -> _Prepared:
        key = (message.html, message.buttons, message.paid)
        prepared = self._prepared.get(key)
        if prepared is None:
            if len(self._prepared) >= _PREPARED_LIMIT:
                self._prepared.clear()
            prepared = self._prepared[key] = _Prepared(message)
        return prepared

    async def _post(self, data: _SendMessageData) -> Any:
        return await self.bot.request.post(self._url, request_data=data)

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Send one push message; return what happened as a plain SendResult.

        Raise ConfigError when the Bot API refuses the token (no message can go out).
        """
        data = _SendMessageData(message.chat_id, self._prepare(message))
        try:
            if self._pacer is None:
                sent = await self._post(data)
            else:
                sent = await self._pacer.process_request(
                    self._post,
                    (data,),
                    {},
                    "sendMessage",
                    {"chat_id": message.chat_id, "allow_paid_broadcast": message.paid},
                    PUSH_ARGS,
                )
        except InvalidToken:
            # A configuration error, not this row's: stop the push instead of failing every
            # row. `from None`: PTB's message may carry the token, which must not be logged.
            raise ConfigError(REFUSED_MESSAGE) from None
        except TelegramError as exc:
            result = outcome_for(exc)
            log.debug("push to %s: %s (%s)", message.chat_id, result.outcome.name, result.error)
            return result
        message_id = sent.get("message_id") if isinstance(sent, dict) else None
        return SendResult(Outcome.SENT, message_id=message_id)
