"""A long full text in pages: which of its messages one /full (or 📖 press) sends.

A full text can run to thousands of messages; one request sends at most
``FULL_TEXT_MAX_MESSAGES`` of them, then a message saying how to read on (``/full <id> <page>``),
so nothing is dropped and nothing is unbounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.errors import UsageError


@dataclass(frozen=True, slots=True)
class FullPage:
    """One page of a full text: its messages, its 1-based number and the page count."""

    chunks: tuple[str, ...]
    number: int
    pages: int

    @property
    def next(self) -> int | None:
        """Return the number of the page after this one (None on the last page)."""
        return self.number + 1 if self.number < self.pages else None


def full_page(chunks: Sequence[str], number: int, size: int) -> FullPage:
    """Return page `number` of `chunks`, `size` messages a page; raise UsageError past the end."""
    if size < 1:
        raise ValueError("a page holds at least one message")
    pages = max(1, -(-len(chunks) // size))
    if not 1 <= number <= pages:
        raise UsageError(f"no page {number} (pages 1 to {pages})")
    start = (number - 1) * size
    return FullPage(tuple(chunks[start : start + size]), number, pages)
