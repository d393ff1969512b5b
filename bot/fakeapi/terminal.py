"""Show the bot's Telegram messages in a terminal: entities become rich styles.

The loopback Bot API parses every HTML message it receives into visible text and
MessageEntity objects, exactly as Telegram does; a terminal client works from those, like a
real client, rather than from the HTML. Entity offsets count UTF-16 code units, so an emoji
outside the Basic Multilingual Plane shifts every later offset by one against Python's indices.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.style import Style
from rich.text import Text

from bot.markup import Entity

__all__ = ["Shown", "button_lines", "button_urls", "to_rich", "utf16_to_index"]

# Entity type → terminal style; types not listed (mention, hashtag, custom_emoji) stay plain.
# A text_link gets LINK plus a hyperlink to its URL (rich's Style(link=...), OSC 8).
STYLES: dict[str, Style] = {
    "bold": Style(bold=True),
    "italic": Style(italic=True),
    "underline": Style(underline=True),
    "strikethrough": Style(strike=True),
    "spoiler": Style(reverse=True),
    "code": Style(color="cyan"),
    "pre": Style(color="cyan"),
    "blockquote": Style(italic=True),
    "expandable_blockquote": Style(italic=True),
}
LINK = Style(color="blue", underline=True)
QUOTE_PREFIX = "│ "
QUOTES = frozenset({"blockquote", "expandable_blockquote"})


def utf16_to_index(text: str) -> list[int]:
    """Return a table from each UTF-16 offset in text (0..length) to a Python str index."""
    table: list[int] = []
    for index, char in enumerate(text):
        table.append(index)
        if ord(char) > 0xFFFF:
            # The low surrogate has no index of its own; an entity never starts inside a pair.
            table.append(index + 1)
    table.append(len(text))
    return table


@dataclass(frozen=True, slots=True)
class _Span:
    """One entity in Python string indices."""

    type: str
    start: int
    end: int
    url: str | None


def _spans(text: str, entities: Iterable[Mapping[str, Any] | Entity]) -> list[_Span]:
    table = utf16_to_index(text)
    last = len(table) - 1
    spans: list[_Span] = []
    for entity in entities:
        if isinstance(entity, Entity):
            kind, offset, length, url = entity.type, entity.offset, entity.length, entity.url
        else:
            kind = str(entity.get("type", ""))
            offset, length = int(entity.get("offset", 0)), int(entity.get("length", 0))
            url = entity.get("url")
        start, end = table[min(offset, last)], table[min(offset + length, last)]
        if end > start:
            spans.append(_Span(kind, start, end, url if isinstance(url, str) else None))
    return spans


def _spelled(text: str, span: _Span, known_urls: Collection[str]) -> bool:
    """Tell whether a link's URL must follow its text: it says something not shown already."""
    return (
        span.type == "text_link"
        and bool(span.url)
        and span.url != text[span.start : span.end]
        and span.url not in known_urls
    )


def _insertions(
    text: str, spans: Sequence[_Span], spell: Collection[_Span]
) -> dict[int, list[tuple[str, Style]]]:
    """Return the extra text a terminal needs, keyed by the index it goes before."""
    extra: dict[int, list[tuple[str, Style]]] = {}
    dim = Style(dim=True)
    for span in spans:
        if span.type in QUOTES:
            # A quote is a block of its own: start and end it on a line of its own.
            at_start = extra.get(span.start, [])
            fresh = span.start == 0 or text[span.start - 1] == "\n"
            lead = "" if fresh or any(p.endswith("\n") for p, _ in at_start) else "\n"
            extra.setdefault(span.start, []).append((lead + QUOTE_PREFIX, dim))
            for index in range(span.start, span.end - 1):
                if text[index] == "\n":
                    extra.setdefault(index + 1, []).append((QUOTE_PREFIX, dim))
            if span.end < len(text) and text[span.end] != "\n":
                extra.setdefault(span.end, []).insert(0, ("\n", Style()))
        elif span in spell and span.url:
            style = Style(underline=True, link=span.url)
            # Inserted before any quote prefix at the same index: the URL ends the link's line.
            extra.setdefault(span.end, []).insert(0, (f" ({span.url})", style))
    return extra


def to_rich(
    text: str,
    entities: Iterable[Mapping[str, Any] | Entity],
    *,
    spell_urls: bool = True,
    known_urls: Collection[str] = (),
) -> Text:
    """Return text styled by its MessageEntities (offsets in UTF-16 code units).

    A link's text is a terminal hyperlink. With `spell_urls` (plain output, where a hyperlink
    is lost) the URL follows the text in brackets, unless the text is the URL or the URL is
    in `known_urls` (already on the message's buttons): a long URL is printed once. Quotes
    are indented with a bar, so the plain rendering still carries everything.
    """
    spans = _spans(text, entities)
    spell = [s for s in spans if spell_urls and _spelled(text, s, known_urls)]
    extra = _insertions(text, spans, spell)
    parts: list[str] = []
    styled: list[tuple[int, int, Style]] = []
    before = [0] * (len(text) + 1)  # output index of text[i], before the insertions at i
    after = [0] * (len(text) + 1)  # ... and after them
    size = 0
    cursor = 0
    done = -1  # the last index whose before/after are final
    for index in sorted({*extra, len(text)}):
        for i in range(done + 1, index + 1):
            before[i] = after[i] = size + i - cursor
        parts.append(text[cursor:index])
        size += index - cursor
        for piece, piece_style in extra.get(index, []):
            parts.append(piece)
            styled.append((size, size + len(piece), piece_style))
            size += len(piece)
        after[index] = size
        cursor = done = index
    result = Text("".join(parts))
    for span in spans:
        style = STYLES.get(span.type)
        if span.type == "text_link" and span.url:
            style = LINK + Style(link=span.url)
        if style is not None:
            result.stylize(style, after[span.start], before[span.end])
    for start, stop, style in styled:
        result.stylize(style, start, stop)
    return result


@dataclass(frozen=True, slots=True)
class Shown:
    """One inline button as listed in the terminal: its number and what pressing does."""

    number: int
    label: str
    callback_data: str | None
    url: str | None
    message_id: int


def button_urls(rows: Sequence[Sequence[Mapping[str, Any]]]) -> set[str]:
    """Return the URLs of a message's URL buttons (the listing shows them)."""
    return {url for row in rows for b in row if isinstance(url := b.get("url"), str)}


def button_lines(
    rows: Sequence[Sequence[Mapping[str, Any]]], message_id: int, first: int
) -> tuple[list[Shown], Text]:
    """Number a message's inline keyboard from `first`; return the buttons and their listing."""
    shown: list[Shown] = []
    listing = Text()
    for row in rows:
        line = Text()
        for button in row:
            number = first + len(shown)
            url = button.get("url")
            data = button.get("callback_data")
            item = Shown(
                number,
                str(button.get("text", "")),
                data if isinstance(data, str) else None,
                url if isinstance(url, str) else None,
                message_id,
            )
            shown.append(item)
            if line:
                line.append("  ")
            line.append(f"[{number}]", Style(bold=True, color="magenta"))
            line.append(f" {item.label}")
            if item.url:
                line.append(f" {item.url}", Style(underline=True, link=item.url))
        if line:
            if listing:
                listing.append("\n")
            listing.append_text(line)
    return shown, listing
