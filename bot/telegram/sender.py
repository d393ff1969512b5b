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
"""

from __future__ import annotations

import logging
from typing import Any, Final

from telegram import InlineKeyboardMarkup
from telegram.constants import ParseMode
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

from bot.delivery import Outcome, OutgoingMessage, SendResult
from bot.telegram.keyboards import markup
from bot.telegram.pacer import PUSH_ARGS, retry_after_seconds

log = logging.getLogger(__name__)

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


class TelegramSender:
    """Send push messages through a PTB bot whose rate limiter is the Pacer."""

    def __init__(self, bot: ExtBot[Any], *, paced: bool = True) -> None:
        self.bot = bot
        # rate_limit_args may only be passed when the bot has a rate limiter.
        self._rl_args = PUSH_ARGS if paced and bot.rate_limiter is not None else None

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Send one push message; return what happened as a plain SendResult."""
        reply_markup: InlineKeyboardMarkup | None = markup([message.buttons])
        try:
            sent = await self.bot.send_message(
                message.chat_id,
                message.html,
                parse_mode=ParseMode.HTML,
                reply_markup=reply_markup,
                allow_paid_broadcast=message.paid or None,
                rate_limit_args=self._rl_args,
            )
        except InvalidToken:
            raise  # a configuration error: stop the push instead of failing every row
        except TelegramError as exc:
            result = outcome_for(exc)
            log.debug("push to %s: %s (%s)", message.chat_id, result.outcome.name, result.error)
            return result
        return SendResult(Outcome.SENT, message_id=sent.message_id)
