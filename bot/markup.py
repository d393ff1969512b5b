"""Parse and validate Telegram's HTML parse mode the way the Bot API does.

Telegram accepts a small HTML dialect (https://core.telegram.org/bots/api#html-style). This
module follows Telegram's own parser (tdlib's ``parse_html``) closely, so that the loopback Bot
API refuses exactly what Telegram refuses, with error texts close to Telegram's. It is a
hand-written linear scanner: every message the loopback server receives goes through it.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from typing import Final, NamedTuple

from bot.errors import MarkupError

__all__ = [
    "CHAR",
    "CLOSE",
    "OPEN",
    "Entity",
    "Mark",
    "ParsedText",
    "parse_html",
    "tokenize",
    "utf16_len",
    "visible_length",
]

_PREFIX: Final = "Can't parse entities: "

# Tags that become one entity type with no argument.
_SIMPLE_TYPES: Final = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_SUPPORTED: Final = frozenset(_SIMPLE_TYPES) | {"a", "code", "pre", "blockquote", "tg-emoji"}

_SPECIAL: Final = re.compile(r"[<&]")
# Telegram's decoder: the semicolon is optional and only four names are known.
_HTML_ENTITY: Final = re.compile(r"&(?:#x([0-9a-fA-F]+)|#([0-9]+)|([a-zA-Z]+));?")
_NAMED: Final = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACE_CHARS: Final = " \t\r\n\v\f"
_SPACES: Final = re.compile(r"[ \t\r\n\v\f]*")
_TAG_NAME: Final = re.compile(r"[^ \t\r\n\v\f>]*")
_ATTR_NAME: Final = re.compile(r"[^ \t\r\n\v\f=>]*")
_NAME_TOKEN: Final = re.compile(r"[A-Za-z0-9.\-]*")
_ASTRAL: Final = re.compile("[\U00010000-\U0010ffff]")
_MAX_EMOJI_ID: Final = 2**63 - 1
_BARE_TAG: Final = re.compile(r"<(/?)([A-Za-z][A-Za-z-]*)>")
_BARE_OK: Final = _SUPPORTED - {"span", "tg-emoji"}  # these two need an attribute

OPEN: Final = 0
"""Mark kind: a start tag; ``raw`` is the tag as written, ``tag`` its lower-case name."""
CLOSE: Final = 1
"""Mark kind: an end tag; ``tag`` is the name of the tag it closes."""
CHAR: Final = 2
"""Mark kind: one visible character written as an HTML entity (``raw`` is e.g. ``&amp;``)."""


def utf16_len(text: str) -> int:
    """Return the length of text in UTF-16 code units (an astral character counts 2)."""
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True, slots=True)
class Entity:
    """One Bot API MessageEntity; offset and length are in UTF-16 code units."""

    type: str
    offset: int
    length: int
    url: str | None = None
    language: str | None = None
    custom_emoji_id: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedText:
    """The visible text of an HTML message and the entities Telegram would attach to it."""

    text: str
    entities: tuple[Entity, ...]


class Mark(NamedTuple):
    """A zero-width tag or an entity-encoded character at a visible (code point) position."""

    pos: int
    kind: int
    raw: str
    tag: str


# An open element: (tag, visible start, index into the output pieces, argument, expandable).
_Frame = tuple[str, int, int, str | None, bool]


def _decode_entity(html: str, pos: int) -> tuple[str, int] | None:
    """Decode the HTML entity at pos the way Telegram does; None when it is not one."""
    m = _HTML_ENTITY.match(html, pos)
    if m is None:
        return None
    hexa, dec, name = m.group(1, 2, 3)
    if name is not None:
        char = _NAMED.get(name)
        return None if char is None else (char, m.end())
    if hexa is not None:
        digits_end, value = m.end(1), int(hexa, 16)
    else:
        digits_end, value = m.end(2), int(dec)
    # Telegram ignores references of 10+ bytes and code points it cannot encode.
    if digits_end - pos >= 10 or not 0 < value < 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        return None
    return chr(value), m.end()


def _decode_all(value: str) -> str:
    """Decode every entity in an attribute value; unknown ones stay literal."""
    out: list[str] = []
    pos = 0
    while (amp := value.find("&", pos)) >= 0:
        decoded = _decode_entity(value, amp)
        if decoded is None:
            out.append(value[pos : amp + 1])
            pos = amp + 1
        else:
            out.append(value[pos:amp])
            out.append(decoded[0])
            pos = decoded[1]
    out.append(value[pos:])
    return "".join(out)


def _error(reason: str) -> MarkupError:
    """Build the error Telegram gives for unparsable text."""
    return MarkupError(_PREFIX + reason)


def _at(html: str, index: int) -> int:
    """Return the UTF-8 byte offset of a str index, as Telegram reports positions."""
    return len(html[:index].encode("utf-8", "surrogatepass"))


def _skip(pattern: re.Pattern[str], html: str, pos: int) -> int:
    """Return where a match of an always-matching pattern at pos ends."""
    m = pattern.match(html, pos)
    return pos if m is None else m.end()


def _attribute_value(html: str, i: int, j: int) -> tuple[str, int]:
    """Parse the attribute value at html[j] of the tag at i; return (value, end)."""
    quote = html[j]
    if quote in "\"'":
        close = html.find(quote, j + 1)
        if close < 0:
            raise _error(f"Unclosed start tag at byte offset {_at(html, i)}")
        value = html[j + 1 : close]
        return (_decode_all(value) if "&" in value else value), close + 1
    # A name token: letters, digits, periods, hyphens; case-insensitive.
    token_end = _skip(_NAME_TOKEN, html, j)
    if token_end >= len(html):
        raise _error(f"Unclosed start tag at byte offset {_at(html, i)}")
    if html[token_end] != ">" and html[token_end] not in _SPACE_CHARS:
        raise _error(f"Unexpected end of name token at byte offset {_at(html, j)}")
    return html[j:token_end].lower(), token_end


def _argument(tag: str, attribute: str, value: str) -> str | None:
    """Return what an attribute contributes to its tag's entity, or None if it is ignored."""
    if tag == "a" and attribute == "href":
        return value
    if tag == "code" and attribute == "class" and value.startswith("language-"):
        return value[9:]
    if tag == "span" and attribute == "class" and value.startswith("tg-"):
        return value[3:]
    if tag == "tg-emoji" and attribute == "emoji-id":
        if not (value.isascii() and value.isdigit() and 0 < int(value) <= _MAX_EMOJI_ID):
            raise _error("Invalid custom emoji identifier specified")
        return value
    return None


def _start_tag(html: str, i: int) -> tuple[int, str, str | None, bool]:
    """Parse the start tag at html[i] == '<'; return (end, tag, argument, expandable)."""
    n = len(html)
    j = _skip(_TAG_NAME, html, i + 1)
    if j >= n:
        raise _error(f"Unclosed start tag at byte offset {_at(html, i)}")
    tag = html[i + 1 : j].lower()
    if tag not in _SUPPORTED:
        raise _error(f'Unsupported start tag "{tag}" at byte offset {_at(html, i)}')
    argument: str | None = None
    expandable = False
    while True:
        j = _skip(_SPACES, html, j)
        if j >= n:
            raise _error(f"Unclosed start tag at byte offset {_at(html, i)}")
        if html[j] == ">":
            break
        name_end = _skip(_ATTR_NAME, html, j)
        attribute = html[j:name_end].lower()
        if not attribute:
            raise _error(f'Empty attribute name in the tag "{tag}" at byte offset {_at(html, i)}')
        j = _skip(_SPACES, html, name_end)
        if j >= n or html[j] != "=":
            if tag == "blockquote" and attribute == "expandable":
                expandable = True
                continue
            raise _error(
                "Expected equal sign in declaration of an attribute of the tag "
                f'"{tag}" at byte offset {_at(html, i)}'
            )
        j = _skip(_SPACES, html, j + 1)
        if j >= n:
            raise _error(f'Unclosed start tag "{tag}" at byte offset {_at(html, i)}')
        value, j = _attribute_value(html, i, j)
        argument = _argument(tag, attribute, value) or argument
    if tag == "span" and argument != "spoiler":
        raise _error(f'Tag "span" must have class "tg-spoiler" at byte offset {_at(html, i)}')
    if tag == "tg-emoji" and argument is None:
        raise _error(
            f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {_at(html, i)}'
        )
    return j + 1, tag, argument, expandable


def _end_tag(html: str, i: int, expected: str | None) -> int:
    """Check the end tag at html[i:i+2] == '</' closes `expected`; return its end."""
    if expected is None:
        raise _error(f"Unexpected end tag at byte offset {_at(html, i)}")
    name_end = _skip(_TAG_NAME, html, i + 2)
    j = _skip(_SPACES, html, name_end)
    if j >= len(html) or html[j] != ">":
        raise _error(f"Unclosed end tag at byte offset {_at(html, i)}")
    name = html[i + 2 : name_end]
    # "</>" closes whatever is open, as in Telegram.
    if name and name.lower() != expected:
        raise _error(
            f'Unmatched end tag at byte offset {_at(html, i)}, expected "</{expected}>", '
            f'found "</{name}>"'
        )
    return j + 1


_Found = tuple[str, int, int, str | None, str | None]  # type, start, end, url/id, language


def _entity_for(frame: _Frame, end: int, pieces: list[str], found: list[_Found]) -> None:
    """Append the entity a closed element produces (nothing for an empty one)."""
    tag, start, piece, argument, expandable = frame
    if end <= start:
        return
    simple = _SIMPLE_TYPES.get(tag)
    if simple is not None:
        found.append((simple, start, end, None, None))
    elif tag == "a":
        # Without href Telegram links the element's own text.
        url = argument or "".join(pieces[piece:])
        if url:
            found.append(("text_link", start, end, url, None))
    elif tag == "code":
        found.append(("code", start, end, None, argument))
    elif tag == "pre":
        if found and found[-1][0] == "code" and found[-1][1:3] == (start, end):
            # <pre><code class="language-x"> is one pre entity with a language.
            found[-1] = ("pre", start, end, None, found[-1][4] or None)
        else:
            found.append(("pre", start, end, None, None))
    elif tag == "blockquote":
        kind = "expandable_blockquote" if expandable else "blockquote"
        found.append((kind, start, end, None, None))
    else:  # tg-emoji
        found.append(("custom_emoji", start, end, argument, None))


def _ampersand(
    html: str, i: int, visible: int, pieces: list[str], marks: list[Mark] | None
) -> int:
    """Append the character the '&' at html[i] stands for; return where scanning resumes."""
    decoded = _decode_entity(html, i)
    if decoded is None:
        # Telegram keeps an '&' that starts no known entity as it is.
        pieces.append("&")
        return i + 1
    char, end = decoded
    if marks is not None:
        marks.append(Mark(visible, CHAR, html[i:end], ""))
    pieces.append(char)
    return end


def _scan(html: str, marks: list[Mark] | None) -> tuple[str, list[_Found]]:
    """Parse html into visible text and raw entities; record tag marks when asked."""
    pieces: list[str] = []
    visible = 0  # code points appended to pieces so far
    stack: list[_Frame] = []
    found: list[_Found] = []
    search = _SPECIAL.search
    bare_tag = _BARE_TAG.match
    pos = 0
    while (m := search(html, pos)) is not None:
        i = m.start()
        if i > pos:
            pieces.append(html[pos:i])
            visible += i - pos
        if html[i] == "&":
            pos = _ampersand(html, i, visible, pieces, marks)
            visible += 1
            continue
        # Fast path for the common attribute-less "<b>" and "</b>"; anything else, and every
        # error, goes through the full parsers below.
        bare = bare_tag(html, i)
        name = "" if bare is None else bare.group(2).lower()
        if html.startswith("/", i + 1):
            if bare is not None and stack and stack[-1][0] == name:
                pos = bare.end()
            else:
                pos = _end_tag(html, i, stack[-1][0] if stack else None)
            frame = stack.pop()
            _entity_for(frame, visible, pieces, found)
            if marks is not None:
                marks.append(Mark(visible, CLOSE, html[i:pos], frame[0]))
            continue
        if bare is not None and name in _BARE_OK:
            pos, tag, argument, expandable = bare.end(), name, None, False
        else:
            pos, tag, argument, expandable = _start_tag(html, i)
        stack.append((tag, visible, len(pieces), argument, expandable))
        if marks is not None:
            marks.append(Mark(visible, OPEN, html[i:pos], tag))
    if stack:
        raise _error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    pieces.append(html[pos:])
    return "".join(pieces), found


def tokenize(html: str) -> tuple[str, list[Mark]]:
    """Return the visible text of html and its tags and encoded characters, in order."""
    marks: list[Mark] = []
    text, _ = _scan(html, marks)
    return text, marks


def parse_html(html: str) -> ParsedText:
    """Parse Telegram HTML into text and entities; raise MarkupError where Telegram would."""
    text, found = _scan(html, None)
    if not found:
        return ParsedText(text, ())
    astral = [m.start() for m in _ASTRAL.finditer(text)] if not text.isascii() else []
    entities: list[Entity] = []
    for kind, first, last, argument, language in found:
        start, end = first, last
        if astral:
            # UTF-16 offset = code points before + astral characters before.
            start, end = first + bisect_left(astral, first), last + bisect_left(astral, last)
        if kind == "custom_emoji":
            entity = Entity(kind, start, end - start, custom_emoji_id=argument)
        elif kind == "code":
            entity = Entity(kind, start, end - start)
        else:
            entity = Entity(kind, start, end - start, argument, language)
        entities.append(entity)
    entities.sort(key=lambda e: (e.offset, -e.length))
    return ParsedText(text, tuple(entities))


def visible_length(html: str) -> int:
    """Return the UTF-16 length of html's visible text after entity parsing."""
    return utf16_len(_scan(html, None)[0])
