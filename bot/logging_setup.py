"""Where log lines go and what they look like: text (default) or one JSON object per line.

``configure_logging`` is called once by the CLI. It also keeps the idle bot quiet at INFO:
libraries that log every request or every scheduler run (httpx, APScheduler, aiohttp's access
log, alembic's migration context) are raised to WARNING, so a bot with nothing to do writes
nothing per tick. The token redaction (``bot.telegram.logs``) works on the records themselves
and applies to both formats.

``log_context(push=..., command=...)`` binds values to the current task (a contextvar, so the
tasks a push or a handler starts inherit them); each line logged inside carries them: as
``key=value`` after a text line, as fields of a JSON line.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Final, Literal

LogFormat = Literal["text", "json"]

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s"
# Libraries that log at INFO for every request, job run or migration step.
NOISY: Final = (
    "httpx",  # every request URL, and a URL holds the token
    "httpcore",
    "apscheduler",  # "Running job ..." / "... executed successfully" every tick
    "aiohttp.access",
    "alembic",  # "Context impl SQLiteImpl." / "Will assume transactional DDL." every command
)

_context: contextvars.ContextVar[dict[str, object] | None] = contextvars.ContextVar(
    "digestbot_log_context", default=None
)


@contextlib.contextmanager
def log_context(**values: object) -> Iterator[None]:
    """Add `values` to every log line of this task (and tasks it starts) inside the block."""
    token = _context.set({**(_context.get() or {}), **values})
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, object]:
    """Return the values bound by the enclosing log_context blocks."""
    return dict(_context.get() or {})


class _ContextFilter(logging.Filter):
    """Put the bound context on each record (``record.context`` as text, ``ctx`` as a dict)."""

    def filter(self, record: logging.LogRecord) -> bool:
        values = current_context()
        record.ctx = values
        record.context = "".join(f" {key}={value}" for key, value in values.items())
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, context, exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one line of JSON."""
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "ctx", None) or current_context())
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str, fmt: LogFormat = "text") -> None:
    """Log to stderr at `level` as text or JSON lines; keep per-request library logs out."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    quiet_libraries(debug=level.upper() == "DEBUG")


def quiet_libraries(*, debug: bool = False) -> None:
    """Raise the chatty libraries to WARNING (APScheduler and alembic stay verbose at DEBUG)."""
    for name in NOISY:
        if debug and name in {"apscheduler", "alembic"}:
            continue  # httpx stays at WARNING even at DEBUG: its lines carry the token
        logging.getLogger(name).setLevel(logging.WARNING)
