"""Section contents: the lines of one part → one-line summary, points, body or topics."""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.model import Point

# A list item: "*", "-", "+", "•", "1.", "1)" followed by a space (or nothing), or "1、".
_ITEM_RE = re.compile(r"[ \t]*(?:(?:[*+•-]|\d{1,3}[.)）])(?=[ \t]|$)|\d{1,3}、)[ \t]*(.*)$")
# "**label**: text", "**label:** text", with a half- or full-width colon.
_LABEL_RE = re.compile(r"\*\*([^*]+)(?:[:：]\*\*|\*\*[ \t]*[:：])[ \t]*(.*)$")
# [[path/to/topic]], [[path|alias]], [[path#heading]]; the classes do not overlap: no backtracking.
_WIKILINK_RE = re.compile(r"\[\[([^\[\]|#]*)(?:[|#][^\[\]]*)?\]\]")
_BLANK_LINES_RE = re.compile(r"\n\n\n+")
_LABEL_TRIM = " \t:："  # "**label: **" keeps no colon in the label


def one_line(lines: Iterable[str]) -> str:
    """Join the lines of the one-line summary with spaces, dropping a leading list marker."""
    words: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        item = _ITEM_RE.match(line) if not words else None
        text = (item[1] if item is not None else line).strip()
        if text:
            words.append(text)
    return " ".join(words)


def points(lines: Iterable[str]) -> tuple[Point, ...]:
    """Parse list items (continuation lines joined with a space) into labelled points."""
    items: list[list[str]] = []
    current: list[str] | None = None
    marked = False  # the current item started with a list marker
    gap = False  # a blank line came after the current item's last line
    for line in lines:
        stripped = line.strip()
        if not stripped:
            gap = True
            continue
        item = _ITEM_RE.match(line)
        if item is not None:
            current = [item[1].strip()]
            items.append(current)
            marked = True
        elif current is not None and (line[0] in " \t" or (marked and not gap)):
            current.append(stripped)
        else:  # unmarked lines: each one is a point of its own
            current = [stripped]
            items.append(current)
            marked = False
        gap = False
    found = (_point(" ".join(word for word in item if word)) for item in items)
    return tuple(point for point in found if point.text or point.label)


def paragraphs(text: str) -> str:
    """Strip trailing spaces and leave exactly one blank line between paragraphs."""
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_LINES_RE.sub("\n\n", text).strip("\n")


def topics(lines: Iterable[str]) -> list[str]:
    """Return the last path segment of every [[wikilink]] in the related-topics section."""
    found: list[str] = []
    for line in lines:
        if "[[" in line:
            found.extend(m[1].rsplit("/", 1)[-1] for m in _WIKILINK_RE.finditer(line))
    return found


def _point(text: str) -> Point:
    match = _LABEL_RE.match(text)
    if match is not None and (label := match[1].strip(_LABEL_TRIM)):
        return Point(label=label, text=match[2].strip())
    return Point(label="", text=text)
