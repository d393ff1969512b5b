"""Keep the bot token out of the log, at every level, from every logger.

The token is part of every Bot API URL. httpx logs request URLs at INFO, PTB logs "Set Bot API
URL: …/bot<token>" at DEBUG, and PTB's InvalidToken message quotes the token; none of it may
reach a log. A log record factory sees every record as it is made, whatever logger or handler
it goes to, so it redacts the message and, for exceptions, the formatted traceback.
"""

from __future__ import annotations

import logging
from typing import Any

REDACTED = "<token>"

_secrets: set[str] = set()
_formatter = logging.Formatter()


def _redact(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, REDACTED)
    return text


def _make_record_factory(make: Any) -> Any:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = make(*args, **kwargs)
        message = record.getMessage()
        clean = _redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            # Handlers reuse exc_text once it is set, so the traceback is formatted redacted.
            record.exc_text = _redact(_formatter.formatException(record.exc_info))
        return record

    return factory


def protect_token(token: str) -> None:
    """Keep `token` (its secret half, which is what identifies it) out of every log record."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
    secret = token.split(":", 1)[-1]
    if not secret or secret in _secrets:
        return
    if not _secrets:
        logging.setLogRecordFactory(_make_record_factory(logging.getLogRecordFactory()))
    _secrets.add(secret)
