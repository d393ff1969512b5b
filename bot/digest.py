"""Digest: an article's template context, rendered and split into Telegram messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from bot.i18n import Lang
from bot.rendering import Renderer, is_http_url
from bot.splitting import split_html
from bot.store import StoredArticle

Part = Literal["digest", "risks", "full"]
PARTS: tuple[Part, ...] = get_args(Part)


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button as plain data: a callback button or a URL button."""

    label: str
    callback_data: str | None = None
    url: str | None = None


def callback(action: str, *args: int) -> str:
    """Encode callback data as `action:arg:arg` (short: Telegram allows 64 bytes)."""
    return ":".join((action, *map(str, args)))


def parse_callback(data: str) -> tuple[str, tuple[int, ...]] | None:
    """Decode `action:arg:...` callback data; None when it is malformed or forged."""
    action, *rest = data.split(":")
    if not action or len(rest) > 3 or not all(r.isdigit() and len(r) < 19 for r in rest):
        return None
    return action, tuple(int(r) for r in rest)


def article_buttons(renderer: Renderer, stored: StoredArticle, lang: Lang) -> tuple[Button, ...]:
    """Return the 📖 full text, ⚠️ risks and (for http(s) links) 🔗 original buttons."""
    buttons = [
        Button(renderer.text("button_full", lang), callback_data=callback("full", stored.id)),
        Button(renderer.text("button_risks", lang), callback_data=callback("risks", stored.id)),
    ]
    if is_http_url(stored.article.url):
        buttons.append(Button(renderer.text("button_original", lang), url=stored.article.url))
    return tuple(buttons)


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
