"""Inline sharing: an inline query (`@bot words`) → the articles offered, as plain values.

The selection reads the store (run it off the event loop); the results are pure: each is the
article's digest as one message (its first part: a message holds 4096 characters) with
buttons that work wherever it is posted — 📖 a deep link that opens the article in the bot,
🔗 the original, ↗️ share again. Callback buttons would not: a press on a message sent via
the bot carries no chat to answer in. The adapter (bot.telegram.inline) turns them into PTB
objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.arguments import InlineRequest, article_deep_link
from bot.digest import Button, DigestCache
from bot.i18n import Lang
from bot.model import StoredArticle
from bot.store import Store

PAGE_SIZE = 20  # results per answer (Telegram allows 50; a client shows ~20 at once)
SEARCH_DEPTH = 200  # matches a word search pages through; deeper pages are never offered
DESCRIPTION_MAX = 120  # characters of the one-line summary shown under a result's title


@dataclass(frozen=True, slots=True)
class InlinePage:
    """The articles one answer offers, and the offset of the next page ("" when none)."""

    articles: tuple[StoredArticle, ...]
    next_offset: str


@dataclass(frozen=True, slots=True)
class InlineResult:
    """One result as plain data: its id, what the list shows, and the message it posts."""

    id: str
    title: str
    description: str
    html: str
    buttons: tuple[Button, ...]


def select_articles(
    store: Store, request: InlineRequest, offset: int, limit: int = PAGE_SIZE
) -> InlinePage:
    """Return the page of articles an inline query offers (newest first when it has no words)."""
    if request.article_id is not None:
        found = None if offset else store.get_article(request.article_id)
        return InlinePage((found,) if found is not None else (), "")
    if request.words:
        if offset >= SEARCH_DEPTH:
            return InlinePage((), "")
        depth = min(offset + limit + 1, SEARCH_DEPTH)
        hits = store.search_articles(request.words, limit=depth - offset, offset=offset)
        matches = [hit.stored for hit in hits]
        more = len(matches) > limit and offset + limit < SEARCH_DEPTH
    else:
        matches = store.list_articles(offset=offset, limit=limit + 1)
        more = len(matches) > limit
    return InlinePage(tuple(matches[:limit]), str(offset + limit) if more else "")


def inline_results(
    digests: DigestCache, articles: Sequence[StoredArticle], lang: Lang, bot_username: str
) -> tuple[InlineResult, ...]:
    """Return one result per article: its digest's first message and shareable buttons."""
    renderer = digests.renderer
    read = renderer.text("button_read_in_bot", lang)
    results = []
    for stored in articles:
        deep_link = Button(read, url=article_deep_link(bot_username, stored.id))
        # 🔗 and ↗️ of the article's usual row; 📖 and ⚠️ are callbacks, useless in another chat.
        portable = tuple(b for b in digests.buttons(stored, lang) if b.callback_data is None)
        results.append(
            InlineResult(
                id=f"a{stored.id}:{lang}",
                title=stored.article.title.strip() or f"#{stored.id}",
                description=_shorten(stored.article.one_line, DESCRIPTION_MAX),
                html=digests.part(stored, "digest", lang)[0],
                buttons=(deep_link, *portable),
            )
        )
    return tuple(results)


def _shorten(text: str, limit: int) -> str:
    """Return `text` on one line, cut at `limit` characters with an ellipsis."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
