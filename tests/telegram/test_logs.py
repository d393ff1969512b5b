"""The token filter: no logger, level or traceback may carry the bot token."""

from __future__ import annotations

import logging

import pytest

from bot.redaction import REDACTED
from bot.telegram.logs import protect_token

TOKEN = "987654321:AAH-secret-part-of-the-token-xyz0123456"  # noqa: S105 - a fake token
SECRET = TOKEN.split(":", 1)[1]


def reject() -> None:
    raise RuntimeError(f"The token `{TOKEN}` was rejected by the server.")


def test_messages_args_and_tracebacks_from_any_logger_are_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    protect_token(TOKEN)
    caplog.set_level(logging.DEBUG)
    for name in ("bot.telegram.some.child", "telegram.request._baserequest", "anything.else"):
        log = logging.getLogger(name)
        log.debug("calling https://api.telegram.org/bot%s/getMe", TOKEN)
        try:
            reject()
        except RuntimeError:
            log.exception("start-up failed")
    assert SECRET not in caplog.text
    assert caplog.text.count(REDACTED) >= 6  # every message and every traceback
    assert "RuntimeError" in caplog.text  # the traceback itself is kept


def test_protecting_the_same_token_twice_changes_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    protect_token(TOKEN)
    factory = logging.getLogRecordFactory()
    protect_token(TOKEN)
    assert logging.getLogRecordFactory() is factory
    caplog.set_level(logging.INFO)
    logging.getLogger("bot").info("token %s", TOKEN)
    assert caplog.records[-1].getMessage() == f"token {REDACTED}"
