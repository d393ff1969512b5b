"""The bot token: unset or empty is one ConfigError; a refusal is another, without the token."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr
from telegram.error import InvalidToken

from bot.config import Settings
from bot.errors import ConfigError
from bot.telegram.credentials import NOT_SET, REFUSED, bot_token, refusal_is_config_error

TOKEN = "123456789:credentials-test-secret"  # noqa: S105 - a fake token


@pytest.mark.parametrize("token", [None, ""])
def test_an_unset_or_empty_token_names_the_variable_and_the_console(token: str | None) -> None:
    settings = Settings(telegram_bot_token=token, _env_file=None)
    with pytest.raises(ConfigError) as raised:
        bot_token(settings)
    assert str(raised.value) == NOT_SET
    assert "TELEGRAM_BOT_TOKEN" in NOT_SET
    assert "digestbot console" in NOT_SET


def test_the_token_is_returned_and_kept_out_of_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert bot_token(Settings(telegram_bot_token=SecretStr(TOKEN), _env_file=None)) == TOKEN
    caplog.set_level(logging.INFO)
    logging.getLogger("anything").info("calling /bot%s/getMe", TOKEN)
    assert TOKEN.split(":", 1)[1] not in caplog.text


def test_a_refused_token_becomes_a_config_error_without_the_token() -> None:
    with pytest.raises(ConfigError) as raised, refusal_is_config_error():
        raise InvalidToken(f"The token `{TOKEN}` was rejected by the server.")
    assert str(raised.value) == REFUSED
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


def test_other_errors_pass_through() -> None:
    with pytest.raises(ValueError, match="unrelated"), refusal_is_config_error():
        raise ValueError("unrelated")
