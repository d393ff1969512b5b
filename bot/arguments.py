"""Command arguments and payloads → values: the one place user input is validated.

Pure functions: a handler (or the CLI, or the console) passes the text a person typed, a
button's callback data or a deep-link payload, and gets a value back, or a UsageError it
answers with the command's usage line. Every rule here is about what the rest of the bot can
safely be handed:

- numbers are ASCII digits only (``str.isdigit()`` also accepts ², ① and ٣, which ``int()``
  refuses) and lie in the range of the column they are looked up in: article ids and the
  other id columns are INTEGER (PostgreSQL refuses 2^31 and more, SQLite past 2^63);
- text never carries control characters (PostgreSQL cannot store NUL) and is bounded, so a
  reply that echoes it stays far below Telegram's 4096 characters;
- timezone names are checked against the IANA list, never by opening a file named by a user.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import time

from bot.errors import UsageError
from bot.scheduling import zone

PAGE_SIZE = 10  # articles on one page of /list
ID_MAX = 2**31 - 1  # the INTEGER id columns (articles, subscribers): PostgreSQL's int4
PAGE_MAX = 1_000_000  # a page number beyond any article or list: refused as usage
CHAT_ID_MAX = 2**63 - 1  # subscribers.chat_id is BIGINT
SLUG_MAX = 400  # articles.slug is VARCHAR(400)
SEARCH_MAX_WORDS = 20  # each word is one LIKE; SQLite refuses ~1000 ("too large")
SEARCH_MAX_CHARS = 200
TITLE_MAX = 255  # Telegram allows 128 characters
TIMEZONE_MAX = 64  # the longest IANA name is ~32 characters
CALLBACK_MAX_ARGS = 3  # action:arg:arg:arg (Telegram allows 64 bytes of callback data)
# Deep-link payloads that deliver one part of an article (a channel post's 📖 and ⚠️).
DEEP_LINK_PARTS = {"f": "full", "r": "risks"}

_DIGITS = re.compile(r"[0-9]+")  # ASCII only; \d would take any script's digits
_MAX_DIGITS = 20  # more is out of every range here; int() refuses 4300 and more digits
# A public chat's username: 5 to 32 letters, digits and underscores, starting with a letter.
_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
_HHMM = re.compile(r"([01]?[0-9]|2[0-3])[:：]([0-5][0-9])")  # the fullwidth colon of CJK input


def parse_number(text: str, *, low: int = 0, high: int = ID_MAX) -> int:
    """Parse ASCII digits into an int in [low, high]; raise UsageError otherwise."""
    digits = _DIGITS.fullmatch(text) is not None and len(text) <= _MAX_DIGITS
    if not digits or not low <= (value := int(text)) <= high:
        raise UsageError(f"not a number from {low} to {high}: {_shown(text)}")
    return value


def is_number(text: str) -> bool:
    """Tell whether `text` is ASCII digits (of any value); ², ① and ٣ are not."""
    return _DIGITS.fullmatch(text) is not None


def parse_id(text: str) -> int:
    """Parse an article (or other row) id: ASCII digits, 1 to 2^31-1."""
    return parse_number(text, low=1, high=ID_MAX)


def parse_chat_id(text: str) -> int:
    """Parse a Telegram chat id: an optional minus sign and ASCII digits, within BIGINT."""
    digits = text.removeprefix("-")
    value = parse_number(digits, low=0, high=CHAT_ID_MAX)
    if value == 0:
        raise UsageError(f"not a chat id: {_shown(text)}")
    return -value if text.startswith("-") else value


def parse_text(text: str, *, limit: int, what: str = "text") -> str:
    """Return `text` stripped, if it has no control characters and at most `limit` of them."""
    text = text.strip()
    if len(text) > limit or any(unicodedata.category(c) in {"Cc", "Cs"} for c in text):
        raise UsageError(f"not a usable {what}: {_shown(text)}")
    return text


def chat_title(text: str) -> str:
    """Return a chat's title as it is stored: no control characters, at most 255 of them."""
    # Not refused like typed text: the title comes from Telegram, the chat must still subscribe.
    return "".join(c for c in text if unicodedata.category(c) not in {"Cc", "Cs"})[:TITLE_MAX]


@dataclass(frozen=True, slots=True)
class ArticleRef:
    """What `/article REF` or `digestbot preview REF` names: an id, a slug, or the newest."""

    id: int | None = None
    slug: str | None = None

    @property
    def latest(self) -> bool:
        """Tell whether the reference is `latest` (the newest visible article)."""
        return self.id is None and self.slug is None


def parse_article_ref(text: str) -> ArticleRef:
    """Parse an article reference: `latest`, an id (1 to 2^31-1) or a slug."""
    ref = parse_text(text, limit=SLUG_MAX, what="article reference")
    if not ref:
        raise UsageError("no article reference")
    if ref.lower() == "latest":
        return ArticleRef()
    if is_number(ref):
        try:
            return ArticleRef(id=parse_id(ref))
        except UsageError:
            raise UsageError(
                f"not an article id: {_shown(ref)} (ids run from 1 to {ID_MAX})"
            ) from None
    return ArticleRef(slug=ref)


def parse_time(text: str) -> time:
    """Parse `HH:MM` or `H:MM` (24-hour clock, ASCII digits); raise UsageError otherwise."""
    match = _HHMM.fullmatch(text.strip())
    if match is None:
        raise UsageError(f"not a time: {_shown(text)}")
    return time(int(match[1]), int(match[2]))


def parse_timezone(text: str) -> str:
    """Return `text` if it names an IANA timezone; raise UsageError otherwise."""
    name = text.strip()
    # zone() looks the name up in the IANA list first: no file is opened with what a user typed.
    if len(name) > TIMEZONE_MAX or zone(name) is None:
        raise UsageError(f"not an IANA timezone: {_shown(text)}")
    return name


def parse_page(args: list[str]) -> int:
    """Parse /list's optional 1-based page number; raise UsageError otherwise."""
    if not args:
        return 1
    if len(args) > 1:
        raise UsageError(f"not a page number: {_shown(' '.join(args))}")
    return parse_number(args[0], low=1)


def parse_search(words: list[str]) -> tuple[str, ...]:
    """Return /search's words, if there are 1 to 20 of them, 200 characters in all."""
    query = parse_text(" ".join(words), limit=SEARCH_MAX_CHARS, what="search")
    found = tuple(query.split())
    if not found or len(found) > SEARCH_MAX_WORDS:
        raise UsageError(f"search for 1 to {SEARCH_MAX_WORDS} words: {_shown(query)}")
    return found


def parse_callback(data: str) -> tuple[str, tuple[int, ...]] | None:
    """Decode `action:arg:...` callback data; None when it is malformed or forged."""
    action, *rest = data.split(":")
    if not action or len(rest) > CALLBACK_MAX_ARGS:
        return None
    try:
        return action, tuple(parse_number(r) for r in rest)
    except UsageError:
        return None


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
    if not payload.startswith("a"):
        return None
    try:
        return parse_id(payload[1:])
    except UsageError:
        return None


def deep_link_part(payload: str) -> tuple[str, int] | None:
    """Return (part, article id) of a `/start f<id>` (full text) or `r<id>` (risks) payload."""
    if payload[:1] not in DEEP_LINK_PARTS:
        return None
    try:
        return DEEP_LINK_PARTS[payload[:1]], parse_id(payload[1:])
    except UsageError:
        return None


def parse_channel_add(args: list[str]) -> int | str:
    """Parse `/channel add <@name | id>`: a channel's @username (kept with its @) or its id."""
    if len(args) != 2 or args[0].casefold() != "add":
        raise UsageError("usage: /channel add @name")
    ref = args[1].removeprefix("https://t.me/").removeprefix("t.me/")
    if _USERNAME.fullmatch(ref.removeprefix("@")):
        return "@" + ref.removeprefix("@")
    return parse_chat_id(ref)


def _shown(text: str, limit: int = 40) -> str:
    """Return `text` for an error message: quoted, escaped, and cut short."""
    return repr(text[:limit] + ("…" if len(text) > limit else ""))


def parse_full(args: list[str]) -> tuple[str, int]:
    """Parse /full's `[id] [page]`: the article ref ('' for the newest) and the 1-based page.

    A second word of ASCII digits is the page (`/full 3 2`); otherwise the words are the ref
    as before (`/full some slug` is looked up and not found). Raise UsageError for page 0 or
    a page beyond any article's length.
    """
    if len(args) == 2 and is_number(args[1]):
        return args[0], parse_number(args[1], low=1, high=PAGE_MAX)
    return " ".join(args), 1


# -- inline mode ------------------------------------------------------------------------

INLINE_OFFSET_MAX = 10_000  # an offset past every page an inline answer hands out
INLINE_START_PAYLOAD = "inline"  # /start payload of the "open the bot" button of an answer
_SHARE_PREFIX = "#"  # `@bot #<id>`: the query a share button types, naming one article


@dataclass(frozen=True, slots=True)
class InlineRequest:
    """What an inline query asks for: one article by id, or articles matching words (or all)."""

    article_id: int | None = None
    words: tuple[str, ...] = ()


def parse_inline_query(text: str) -> InlineRequest:
    """Parse an inline query leniently: `#<id>` names one article, other text is search words.

    Never refuses (a half-typed query must still be answered): control characters are
    dropped, and the text is cut to /search's 200 characters and 20 words.
    """
    kept = "".join(c for c in text if unicodedata.category(c) not in {"Cc", "Cs"})
    words = tuple(kept[:SEARCH_MAX_CHARS].split())[:SEARCH_MAX_WORDS]
    if len(words) == 1 and words[0].startswith(_SHARE_PREFIX):
        with contextlib.suppress(UsageError):
            return InlineRequest(article_id=parse_id(words[0][len(_SHARE_PREFIX) :]))
    return InlineRequest(words=words)


def share_query(article_id: int) -> str:
    """Return the inline query that offers exactly this article (a share button types it)."""
    return f"{_SHARE_PREFIX}{article_id}"


def parse_inline_offset(text: str) -> int:
    """Return an inline query's offset (results already shown); 0 when empty or forged."""
    try:
        return parse_number(text, low=0, high=INLINE_OFFSET_MAX) if text else 0
    except UsageError:
        return 0


def article_deep_link(bot_username: str, article_id: int) -> str:
    """Return the t.me link that opens the bot on an article (`/start a<id>`)."""
    return f"https://t.me/{bot_username}?start=a{article_id}"
