"""Log output: text by default, JSON lines with context on request, chatty libraries quiet."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from bot.logging_setup import NOISY, configure_logging, log_context


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in NOISY}
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)


def test_json_lines_parse_and_carry_level_logger_message_context_and_traceback(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "json")
    log = logging.getLogger("bot.example")
    with log_context(push="2024-01-01T08:00"):
        log.info("push %s: sent %d", "run", 3)
        with log_context(command="latest", chat=7):
            try:
                raise ValueError("boom")  # noqa: TRY301 - a logged traceback
            except ValueError:
                log.exception("handler failed")
    log.warning("outside")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["message"] for line in lines] == ["push run: sent 3", "handler failed", "outside"]
    first, failed, outside = lines
    assert first["level"] == "INFO"
    assert first["logger"] == "bot.example"
    assert first["push"] == "2024-01-01T08:00"
    assert "time" in first
    assert "exc_info" not in first
    assert failed["command"] == "latest"
    assert failed["chat"] == 7
    assert failed["push"] == "2024-01-01T08:00"
    assert "ValueError: boom" in failed["exc_info"]
    assert "push" not in outside


def test_text_is_the_default_and_shows_the_context_as_key_value(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO")
    with log_context(command="start"):
        logging.getLogger("bot.example").info("hello")
    [line] = capsys.readouterr().err.splitlines()
    assert line.endswith("INFO bot.example: hello command=start")


def test_per_request_and_per_job_library_logs_are_quiet_at_info(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO")
    logging.getLogger("apscheduler.executors.default").info('Running job "push_tick"')
    logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot1:x/getMe")
    logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
    assert capsys.readouterr().err == ""
