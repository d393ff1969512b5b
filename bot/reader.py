"""The web reader's pages as plain values: an article page and the archive.

`bot.web` turns these into HTML through ``templates/web/``; nothing here knows HTTP. Article
text stays text: templates autoescape every field, and only http(s) URLs become links.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from bot.i18n import Lang
from bot.model import Point, StoredArticle
from bot.rendering import is_http_url

ARCHIVE_PAGE_SIZE = 30
QUERY_LIMIT = 200  # characters of a search box worth looking at
MAX_WORDS = 8
# A text is Chinese when at least this share of its letters are CJK ideographs.
CJK_SHARE = 0.2


@dataclass(frozen=True, slots=True)
class Neighbour:
    """A linked article: its id and title (previous/next, archive entries)."""

    id: int
    title: str


@dataclass(frozen=True, slots=True)
class ArticlePage:
    """Everything the article page shows, in reading order."""

    id: int
    lang: Lang
    title: str
    date: str  # ISO date or ""
    author: str
    source: str
    url: str  # "" unless an http(s) link
    one_line: str
    points: tuple[Point, ...]
    risks: tuple[Point, ...]
    paragraphs: tuple[str, ...]
    tags: tuple[str, ...]
    older: Neighbour | None
    newer: Neighbour | None


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """One line of the archive."""

    id: int
    lang: Lang
    title: str
    date: str
    one_line: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ArchivePage:
    """One page of the archive (newest first, or ranked by a search) and the search made."""

    entries: tuple[ArchiveEntry, ...]
    query: str
    topic: str
    page: int
    has_more: bool
    reach: int | None = None  # how many of the newest articles the words searched (None: all)


@dataclass(frozen=True, slots=True)
class ArchiveQuery:
    """What the archive was asked for, cleaned: words, one topic, a page number."""

    query: str
    words: tuple[str, ...]
    topic: str
    page: int

    @property
    def offset(self) -> int:
        """Return how many entries earlier pages show."""
        return (self.page - 1) * ARCHIVE_PAGE_SIZE


def text_lang(text: str) -> Lang:
    """Guess a text's language: zh when CJK ideographs are a good share of its letters."""
    letters = cjk = 0
    for ch in text[:4000]:
        if ch.isalpha():
            letters += 1
            if unicodedata.east_asian_width(ch) == "W":
                cjk += 1
    return "zh" if letters and cjk / letters >= CJK_SHARE else "en"


def article_lang(stored: StoredArticle) -> Lang:
    """Return the language an article is written in (its page's `lang`)."""
    a = stored.article
    return text_lang(" ".join((a.title, a.one_line, a.body[:3000])))


def article_page(
    stored: StoredArticle, older: Neighbour | None, newer: Neighbour | None
) -> ArticlePage:
    """Build the article page of one stored article and its neighbours."""
    a = stored.article
    return ArticlePage(
        id=stored.id,
        lang=article_lang(stored),
        title=a.title,
        date=a.date.isoformat() if a.date else "",
        author=a.author,
        source=a.source,
        url=a.url if is_http_url(a.url) else "",
        one_line=a.one_line,
        points=a.points,
        risks=a.risks,
        paragraphs=tuple(p for p in a.body.split("\n\n") if p.strip()),
        tags=a.tags,
        older=older,
        newer=newer,
    )


def parse_archive_query(q: str, topic: str, page: str) -> ArchiveQuery:
    """Clean the archive's query parameters: bounded words, one topic, a sane page number."""
    query = " ".join(q[:QUERY_LIMIT].split())
    words = tuple(dict.fromkeys(w.casefold() for w in query.split()))[:MAX_WORDS]
    number = int(page) if page.isascii() and page.isdigit() and len(page) < 6 else 1
    return ArchiveQuery(query, words, " ".join(topic[:QUERY_LIMIT].split()), max(number, 1))


def archive_page(
    found: list[StoredArticle], asked: ArchiveQuery, *, has_more: bool, reach: int | None = None
) -> ArchivePage:
    """Build one archive page from the articles found for it."""
    entries = tuple(
        ArchiveEntry(
            id=s.id,
            lang=text_lang(f"{s.article.title} {s.article.one_line}"),
            title=s.article.title,
            date=s.article.date.isoformat() if s.article.date else "",
            one_line=s.article.one_line,
            tags=s.article.tags,
        )
        for s in found
    )
    return ArchivePage(entries, asked.query, asked.topic, asked.page, has_more, reach)


def parse_article_id(text: str) -> int | None:
    """Return the article id in a URL segment: ASCII digits of a sane length, else None."""
    # str.isdigit accepts "²" and other digits int() refuses or reads differently.
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        return None
    return int(text)
