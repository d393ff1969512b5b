"""Keep the bot token out of the log, at every level.

The token is part of every Bot API URL. httpx logs request URLs at INFO, and PTB itself logs
"Set Bot API URL: …/bot<token>" at DEBUG when a Bot is built; neither may reach a log file.
"""

from __future__ import annotations

import logging
from functools import cache

REDACTED = "<token>"

# Loggers that see Bot API URLs. Filters apply where a record is created, so each PTB logger
# that may log a URL is named here (PTB's logger names: telegram.<Class>, telegram.ext.<Class>).
_URL_LOGGERS = (
    "telegram",
    "telegram.Bot",
    "telegram.ext",
    "telegram.ext.ExtBot",
    "telegram.ext.Application",
    "telegram.ext.Updater",
    "telegram.request",
    "bot",
)


class TokenFilter(logging.Filter):
    """Replace the token (or its secret half) in a record's message."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.secret = token.split(":", 1)[-1]

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place; never drop it."""
        message = record.getMessage()
        if self.secret and self.secret in message:
            record.msg = message.replace(self.secret, REDACTED)
            record.args = None
        return True


@cache
def _filter_for(token: str) -> TokenFilter:
    # One filter per token, so building many applications never stacks duplicates.
    return TokenFilter(token)


def protect_token(token: str) -> None:
    """Keep `token` out of every log record (httpx and httpcore stay at WARNING)."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
    token_filter = _filter_for(token)
    for name in _URL_LOGGERS:
        logging.getLogger(name).addFilter(token_filter)
