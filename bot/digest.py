"""Digest: an article's template context, rendered and split into Telegram messages."""

from __future__ import annotations

from typing import Literal, get_args

from bot.i18n import Lang
from bot.rendering import Renderer
from bot.splitting import split_html
from bot.store import StoredArticle

Part = Literal["digest", "risks", "full"]
PARTS: tuple[Part, ...] = get_args(Part)


def article_context(stored: StoredArticle) -> dict[str, object]:
    """Build the template context for one article (plain values only)."""
    a = stored.article
    return {
        "id": stored.id,
        "title": a.title,
        "date": a.date,
        "author": a.author,
        "source": a.source,
        "url": a.url,
        "one_line": a.one_line,
        "points": a.points,
        "risks": a.risks,
        "paragraphs": [p for p in a.body.split("\n\n") if p.strip()],
        "tags": a.tags,
    }


def render_part(renderer: Renderer, stored: StoredArticle, part: Part, lang: Lang) -> list[str]:
    """Render one part of an article as the Telegram messages a subscriber receives."""
    html = renderer.render(part, lang, **article_context(stored))
    return split_html(html)
