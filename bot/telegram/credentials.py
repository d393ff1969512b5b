"""The bot token: whether it is set, kept out of the log, and a refusal as a ConfigError.

Every way the bot reaches Telegram (``digestbot run``, ``digestbot push``, the console) asks
:func:`bot_token` for the token and wraps its first call in :func:`refusal_is_config_error`
(or :func:`reaching_bot_api`, which also turns an unreachable Bot API into one line), so a
missing, refused or unreachable token reads the same everywhere and never shows the token.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from telegram.error import InvalidToken, NetworkError, TelegramError

from bot.config import Settings
from bot.errors import ConfigError, DeliveryError
from bot.telegram.logs import protect_token

NOT_SET: Final = (
    "TELEGRAM_BOT_TOKEN is not set; get one from @BotFather, "
    "or try the bot offline with `digestbot console`"
)
REFUSED: Final = "the Bot API refused TELEGRAM_BOT_TOKEN (revoked or wrong?)"


def bot_token(settings: Settings) -> str:
    """Return TELEGRAM_BOT_TOKEN, kept out of every log; raise ConfigError when it is unset."""
    token = settings.telegram_bot_token
    if token is None or not token.get_secret_value():
        raise ConfigError(NOT_SET)
    protect_token(token.get_secret_value())
    return token.get_secret_value()


@contextmanager
def refusal_is_config_error() -> Iterator[None]:
    """Turn PTB's InvalidToken (401/404 from the Bot API) into a ConfigError."""
    try:
        yield
    except InvalidToken:
        # `from None`: PTB's message quotes the token, which must not reach a log or a terminal.
        raise ConfigError(REFUSED) from None


@contextmanager
def reaching_bot_api() -> Iterator[None]:
    """Turn a refused token into a ConfigError, any other Bot API failure into a DeliveryError."""
    try:
        with refusal_is_config_error():
            yield
    except NetworkError as exc:
        raise DeliveryError(f"cannot reach the Bot API: {exc}") from exc
    except TelegramError as exc:
        # Not Telegram, maybe (TELEGRAM_BASE_URL pointing at some other server): one line.
        raise DeliveryError(f"the Bot API failed: {exc}") from exc
