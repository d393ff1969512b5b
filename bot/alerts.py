"""Unhandled errors for ERROR_CHAT_ID: at most one report a minute, token-free, one message long.

``ErrorReports.report`` decides whether an error is sent now (the first in a minute) or only
counted (the next report says how many were held back), and returns the text to put in the
``error_report`` template: the error line and the tail of its traceback, with the token taken
out twice over (the log's record factory of ``bot.telegram.logs`` and the bot's own secret),
cut to fit one Telegram message.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from bot.markup import utf16_len
from bot.redaction import REDACTED, redact

INTERVAL: Final = 60.0  # seconds between two reports
# Telegram counts 4096 UTF-16 units after entity parsing; the template adds a title, the
# context line and the "held back" line around these.
SUMMARY_LIMIT: Final = 400
DETAILS_LIMIT: Final = 3200


@dataclass(frozen=True, slots=True)
class ErrorReport:
    """One report to send: what failed, where, its traceback's tail, and how many were held."""

    summary: str
    where: str
    details: str
    suppressed: int


def keep_head(text: str, limit: int) -> str:
    """Return `text` cut to `limit` UTF-16 units, with an ellipsis when cut."""
    if utf16_len(text) <= limit:
        return text
    while utf16_len(text) > limit - 1:
        text = text[: -max(1, (utf16_len(text) - limit + 1) // 2)]
    return text + "…"


def keep_tail(text: str, limit: int) -> str:
    """Return the last `limit` UTF-16 units of `text` (a traceback ends with what matters)."""
    if utf16_len(text) <= limit:
        return text
    while utf16_len(text) > limit - 2:
        text = text[max(1, (utf16_len(text) - limit + 2) // 2) :]
    return "…\n" + text


class ErrorReports:
    """Decide which unhandled errors go to the admin chat, and what each report says."""

    def __init__(
        self, *, interval: float = INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._last = -float("inf")
        self.suppressed = 0  # errors held back since the last report

    def report(
        self, error: BaseException, *, where: str = "", secret: str | None = None
    ) -> ErrorReport | None:
        """Return a report for `error`, or None (and count it) when one went out recently."""
        now = self._clock()
        if now - self._last < self._interval:
            self.suppressed += 1
            return None
        self._last = now
        held, self.suppressed = self.suppressed, 0

        def clean(text: str) -> str:
            text = redact(text)  # every protected secret, as the logs do
            if secret:
                text = text.replace(secret, REDACTED)
            return text

        summary = clean(f"{type(error).__name__}: {error}".strip().rstrip(":"))
        details = clean("".join(traceback.format_exception(error)).strip())
        return ErrorReport(
            summary=keep_head(summary, SUMMARY_LIMIT),
            where=keep_head(clean(where), SUMMARY_LIMIT),
            details=keep_tail(details, DETAILS_LIMIT),
            suppressed=held,
        )
