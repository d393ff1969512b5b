"""Split a rendered Telegram HTML message into chunks Telegram accepts.

Telegram limits a message to 4096 UTF-16 code units of visible text (after entity parsing).
A longer text is cut, in order of preference, at a paragraph break ("\\n\\n"), a line break,
after a sentence end (。！？ always; .!? when followed by a space), at a space, and only as a
last resort between any two characters. A cut never falls inside a tag, an HTML entity or a
character (astral characters are one ``str`` item), and tags open at a cut are closed at the
end of the chunk and reopened, with the same attributes, at the start of the next one; a
``<pre>`` longer than the limit is split likewise.

Whitespace contract, when a text is split: every chunk's visible text is stripped (Telegram
strips each message anyway), and only whitespace is dropped, namely the whole whitespace run at
each cut plus leading and trailing whitespace of the text. Formally, with ``V`` the input's
visible text and ``c0..cn`` the chunks' visible texts, ``V.strip() == c0 + w0 + c1 + ... + cn``
where every ``wi`` is whitespace only (empty for a cut between two non-space characters), and
no ``ci`` is empty or starts or ends with whitespace.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from typing import Final

from bot.markup import CHAR, CLOSE, OPEN, Mark, tokenize

__all__ = ["TELEGRAM_LIMIT", "split_html"]

TELEGRAM_LIMIT: Final = 4096

_ASTRAL: Final = re.compile("[\U00010000-\U0010ffff]")
_NON_SPACE: Final = re.compile(r"\S")
_CJK_SENTENCE_ENDS: Final = "。！？"
_SENTENCE_ENDS: Final = (". ", "! ", "? ", ".\u00a0", "!\u00a0", "?\u00a0")
_SPACES: Final = (" ", "\t", "\u3000", "\u00a0")
# Closing quotes and brackets stay with the sentence they end.
_CLOSERS: Final = "\"')]}”’」』）】》〉"
# Characters that attach to the one before them: a hard cut must not separate them.
_JOINERS: Final = re.compile(
    "[\u200c\u200d\ufe00-\ufe0f\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f]"
)


class _Measure:
    """UTF-16 positions of a text, from the positions of its astral characters."""

    def __init__(self, text: str) -> None:
        self.astral = [] if text.isascii() else [m.start() for m in _ASTRAL.finditer(text)]

    def units(self, start: int, end: int) -> int:
        """Return the UTF-16 length of text[start:end]."""
        if not self.astral:
            return end - start
        return end - start + bisect_left(self.astral, end) - bisect_left(self.astral, start)

    def window_end(self, start: int, size: int, limit: int) -> int:
        """Return the largest end <= size with units(start, end) <= limit."""
        high = min(size, start + limit)
        if self.units(start, high) <= limit:
            return high
        low = start  # units(start, low) <= limit < units(start, high)
        while high - low > 1:
            mid = (low + high) // 2
            if self.units(start, mid) <= limit:
                low = mid
            else:
                high = mid
        return low


def _hard_cut(text: str, start: int, end: int) -> int:
    """Return a cut at or before end that keeps combining marks and joined emoji whole."""
    cut = end
    while cut > start + 1 and (
        _JOINERS.match(text, cut) or text[cut - 1] == "\u200d" or unicodedata.combining(text[cut])
    ):
        cut -= 1
    return cut if cut > start + 1 else end


def _cut_point(text: str, start: int, end: int) -> int:
    """Return where to cut text[start:] so that the chunk fits in text[start:end].

    text[start] is not whitespace and end < len(text); the result r has start < r <= end.
    """
    cut = text.rfind("\n\n", start, end + 2)
    if cut > start:
        return cut
    cut = text.rfind("\n", start, end + 1)
    if cut > start:
        return cut
    best = max(text.rfind(mark, start, end) for mark in _CJK_SENTENCE_ENDS)
    best = max(best, *(text.rfind(mark, start, end + 1) for mark in _SENTENCE_ENDS))
    if best >= start:
        cut = best + 1
        while cut < end and text[cut] in _CLOSERS:
            cut += 1
        return cut
    cut = max(text.rfind(space, start, end + 1) for space in _SPACES)
    if cut > start:
        return cut
    return _hard_cut(text, start, end)


def _plan(text: str, limit: int) -> tuple[int, list[tuple[int, int | None]]]:
    """Return where the first chunk starts and each chunk's (end, next chunk's start)."""
    measure = _Measure(text)
    size = len(text)
    first = _NON_SPACE.search(text)
    start = first_start = 0 if first is None else first.start()
    last = len(text.rstrip())
    cuts: list[tuple[int, int | None]] = []
    while measure.units(start, last) > limit:
        cut = _cut_point(text, start, measure.window_end(start, size, limit))
        end = start + len(text[start:cut].rstrip())
        after = _NON_SPACE.search(text, cut)
        start = last if after is None else after.start()  # never None: cut < last
        cuts.append((end, start))
    cuts.append((last, None))
    return first_start, cuts


class _Assembler:
    """Rebuild the HTML chunk by chunk from the visible text and its marks.

    Between chunks ("skipping"), tags only update the stack of open elements; the stack is
    closed at each chunk's end and reopened, from the original start tags, at the next start.
    """

    def __init__(self, text: str, cuts: list[tuple[int, int | None]], resume: int) -> None:
        self.text = text
        self.cuts = iter(cuts)
        self.end, self.resume_next = next(self.cuts)
        self.resume: int | None = resume  # where the next chunk starts; None: no next chunk
        self.skipping = True
        self.out: list[str] = []
        self.stack: list[tuple[str, str]] = []  # (tag name, start tag as written)
        self.chunks: list[str] = []

    def _begin(self) -> None:
        self.out = [raw for _, raw in self.stack]
        self.skipping = False

    def _finish(self) -> None:
        self.out.extend(f"</{tag}>" for tag, _ in reversed(self.stack))
        self.chunks.append("".join(self.out))
        self.out = []
        self.skipping = True
        self.resume = self.resume_next
        if self.resume is not None:
            self.end, self.resume_next = next(self.cuts)

    def visible(self, start: int, stop: int, raw: str | None) -> None:
        """Handle text[start:stop]; raw is its HTML when it is one encoded character."""
        while True:
            if self.skipping:
                if self.resume is None or stop <= self.resume:
                    return
                start = max(start, self.resume)
                self._begin()
            if stop <= self.end:
                self._emit(start, stop, raw)
                return
            if start < self.end:
                self._emit(start, self.end, raw)
            self._finish()

    def _emit(self, start: int, stop: int, raw: str | None) -> None:
        if raw is not None:
            self.out.append(raw)
            return
        piece = self.text[start:stop]
        # A literal '&' is re-escaped so that a cut can never turn "&lt" + "x" into "<".
        self.out.append(piece.replace("&", "&amp;") if "&" in piece else piece)

    def open(self, pos: int, raw: str, tag: str) -> None:
        """Handle a start tag at visible position pos."""
        while True:
            if self.skipping:
                if self.resume is None or pos < self.resume:
                    self.stack.append((tag, raw))
                    return
                self._begin()
            if pos < self.end:
                self.out.append(raw)
                self.stack.append((tag, raw))
                return
            self._finish()

    def close(self, pos: int, raw: str) -> None:
        """Handle an end tag at visible position pos."""
        while True:
            if self.skipping:
                if self.resume is None or pos <= self.resume:
                    self.stack.pop()
                    return
                self._begin()
            if pos <= self.end:
                self.out.append(raw)
                self.stack.pop()
                return
            self._finish()

    def run(self, marks: list[Mark]) -> list[str]:
        """Feed every mark and the text between them; return the chunks."""
        cursor = 0
        for mark in marks:
            if mark.pos > cursor:
                self.visible(cursor, mark.pos, None)
                cursor = mark.pos
            if mark.kind == CHAR:
                self.visible(mark.pos, mark.pos + 1, mark.raw)
                cursor = mark.pos + 1
            elif mark.kind == OPEN:
                self.open(mark.pos, mark.raw, mark.tag)
            elif mark.kind == CLOSE:
                self.close(mark.pos, mark.raw)
        if len(self.text) > cursor:
            self.visible(cursor, len(self.text), None)
        if not self.skipping:
            self._finish()
        return self.chunks


def split_html(html: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split valid Telegram HTML into chunks of at most limit UTF-16 units of visible text.

    Text within the limit (or with no visible non-space character) is returned unchanged as
    the only chunk. Raises MarkupError for invalid HTML and ValueError for a limit below 2
    (an astral character needs 2 units).
    """
    if limit < 2:
        raise ValueError(f"limit must be at least 2 UTF-16 units, not {limit}")
    text, marks = tokenize(html)
    if len(text) <= limit // 2 or _Measure(text).units(0, len(text)) <= limit:
        return [html]
    if _NON_SPACE.search(text) is None:
        return [html]
    resume, cuts = _plan(text, limit)
    return _Assembler(text, cuts, resume).run(marks)
