"""Keep the bot token out of the log, at every level, from every logger.

The token is part of every Bot API URL. httpx logs request URLs at INFO, PTB logs "Set Bot API
URL: …/bot<token>" at DEBUG, and PTB's InvalidToken message quotes the token; none of it may
reach a log. :mod:`bot.redaction` redacts every record as it is made; this module adds
Telegram's part of the policy: the HTTP libraries stay at WARNING.
"""

from __future__ import annotations

import logging

from bot.redaction import protect


def protect_token(token: str) -> None:
    """Keep `token` (and its secret half, which alone identifies it) out of every log record."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
    protect(token)
