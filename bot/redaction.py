"""Keep secrets (the bot token, the webhook secret) out of everything the process prints or logs.

A secret can reach the outside in many ways: PTB logs "Set Bot API URL: …/bot<token>" at DEBUG,
httpx logs request URLs, an HTTP library's exception quotes the URL it could not reach, PTB's
InvalidToken quotes the token, a traceback shows any of these, and typer echoes bad arguments.
Rather than guard each, redaction sits where all of them end up:

- a log record factory sees every record as it is made, whatever logger or handler it goes to
  (a stream, a file, a chat), and redacts its message, its traceback and its stack;
- :func:`redact_streams` wraps ``sys.stdout`` and ``sys.stderr`` of the CLI, so whatever is
  printed there (typer's errors, rich, the interpreter's last traceback, warnings) is redacted.

A token is ``<bot id>:<secret>``; the secret half alone identifies it, so it is redacted on its
own too (and the whole token, also URL-encoded, is redacted as one piece, for readable output).
"""

from __future__ import annotations

import io
import logging
import sys
from typing import Any, Final, TextIO, cast
from urllib.parse import quote

REDACTED: Final = "<token>"
# Shorter "secrets" would redact ordinary words; Telegram's token secrets are 35 characters.
MIN_SECRET: Final = 6

# Longest first: a whole token is replaced before its secret half.
_secrets: list[str] = []
_formatter = logging.Formatter()


def redact(text: str) -> str:
    """Return `text` with every protected secret replaced by <token>."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def protect(secret: str) -> None:
    """Keep `secret` (a bot token or another secret) out of every log record and printed line."""
    forms = {secret, quote(secret, safe="")}
    _, colon, half = secret.partition(":")
    if colon:
        forms.add(half)  # the token's secret half, which alone identifies the bot
    new = [form for form in forms if len(form) >= MIN_SECRET and form not in _secrets]
    if not new:
        return
    if not _secrets:
        logging.setLogRecordFactory(_make_record_factory(logging.getLogRecordFactory()))
    _secrets.extend(new)
    _secrets.sort(key=len, reverse=True)


def _make_record_factory(make: Any) -> Any:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = make(*args, **kwargs)
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            # Handlers reuse exc_text once it is set, so the traceback (with its chained
            # causes) is formatted once, redacted.
            record.exc_text = redact(_formatter.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    return factory


class _RedactingStream(io.TextIOBase):
    """A text stream that redacts each write before passing it on."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream

    def write(self, text: str) -> int:
        """Write `text` redacted; return the length given (callers count what they passed)."""
        self._stream.write(redact(text))
        return len(text)

    def flush(self) -> None:
        """Flush the wrapped stream."""
        self._stream.flush()

    def isatty(self) -> bool:
        """Tell whether the wrapped stream is a terminal (rich and click ask)."""
        return self._stream.isatty()

    def fileno(self) -> int:
        """Return the wrapped stream's file descriptor."""
        return self._stream.fileno()

    def writable(self) -> bool:
        """A stream to write to."""
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override] # TextIOBase types it loosely
        """Return the wrapped stream's encoding."""
        return self._stream.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override] # TextIOBase types it loosely
        """Return the wrapped stream's error handler."""
        return self._stream.errors

    def __getattr__(self, name: str) -> Any:
        # `buffer`, `reconfigure`, `line_buffering` and the like: whatever the real stream has.
        return getattr(self._stream, name)


def redact_streams() -> None:
    """Redact everything written to sys.stdout and sys.stderr from now on (once per process)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _RedactingStream):
            setattr(sys, name, cast("TextIO", _RedactingStream(stream)))
