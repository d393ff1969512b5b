"""Command arguments and payloads → values: times, timezones, archive pages, deep links.

Pure functions: a handler passes the text the user typed and gets a value back, or a
UsageError it answers with the command's usage line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import UsageError

PAGE_SIZE = 10  # articles on one page of /list

_HHMM = re.compile(r"^([01]?\d|2[0-3])[:：]([0-5]\d)$")


def parse_time(text: str) -> time:
    """Parse `HH:MM` (24-hour clock); raise UsageError otherwise."""
    match = _HHMM.match(text.strip())
    if match is None:
        raise UsageError(f"not a time: {text!r}")
    return time(int(match[1]), int(match[2]))


def parse_timezone(text: str) -> str:
    """Return `text` if it names an IANA timezone; raise UsageError otherwise."""
    name = text.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(f"not an IANA timezone: {text!r}") from exc
    return name


def parse_page(args: list[str]) -> int:
    """Parse /list's optional 1-based page number; raise UsageError otherwise."""
    if not args:
        return 1
    if len(args) > 1 or not args[0].isdigit() or int(args[0]) < 1:
        raise UsageError(f"not a page number: {' '.join(args)!r}")
    return int(args[0])


@dataclass(frozen=True, slots=True)
class Page:
    """One page of the archive: its 1-based number, the page count and the offset."""

    number: int
    pages: int
    total: int

    @property
    def offset(self) -> int:
        """Return how many articles come before this page."""
        return (self.number - 1) * PAGE_SIZE


def page_of(requested: int, total: int) -> Page:
    """Return the requested page, clamped to the pages that exist (at least one)."""
    pages = max(1, -(-total // PAGE_SIZE))
    return Page(number=min(max(requested, 1), pages), pages=pages, total=total)


def deep_link_article(payload: str) -> int | None:
    """Return the article id of a `/start a<id>` deep-link payload, or None."""
    if payload.startswith("a") and payload[1:].isdigit() and len(payload) < 20:
        return int(payload[1:])
    return None


def parse_full(args: list[str]) -> tuple[str, int]:
    """Parse /full's `[id] [page]`: the article ref ('' for the newest) and the 1-based page.

    A second word that is a number is the page (`/full 3 2`); otherwise the words are the ref
    as before (`/full some slug` is looked up and not found). Raise UsageError for page 0.
    """
    if len(args) == 2 and args[1].isascii() and args[1].isdigit():
        page = int(args[1]) if len(args[1]) <= 9 else 0
        if page < 1:
            raise UsageError(f"not a page number: {args[1]!r}")
        return args[0], page
    return " ".join(args), 1
