"""Digest: an article's template context, rendered and split into Telegram messages."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import Generic, Literal, TypeVar, get_args

from bot.arguments import share_query
from bot.i18n import Lang
from bot.model import StoredArticle
from bot.rendering import Renderer, is_http_url
from bot.splitting import split_html

Part = Literal["digest", "risks", "full"]
PARTS: tuple[Part, ...] = get_args(Part)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button as plain data: a callback, URL, Mini App (web_app) or share button."""

    label: str
    callback_data: str | None = None
    url: str | None = None
    web_app: str | None = None  # the https URL a Mini App button opens (private chats only)
    # A share button: the user picks a chat, where `@bot <this query>` is typed for them.
    switch_inline_query: str | None = None


def callback(action: str, *args: int) -> str:
    """Encode callback data as `action:arg:arg` (short: Telegram allows 64 bytes)."""
    return ":".join((action, *map(str, args)))


def article_buttons(renderer: Renderer, stored: StoredArticle, lang: Lang) -> tuple[Button, ...]:
    """Return 📖 full text, ⚠️ risks (when there are any), 🔗 original (http) and ↗️ share."""
    buttons = [
        Button(renderer.text("button_full", lang), callback_data=callback("full", stored.id))
    ]
    if stored.article.risks:
        risks = callback("risks", stored.id)
        buttons.append(Button(renderer.text("button_risks", lang), callback_data=risks))
    if is_http_url(stored.article.url):
        buttons.append(Button(renderer.text("button_original", lang), url=stored.article.url))
    share = share_query(stored.id)
    buttons.append(Button(renderer.text("button_share", lang), switch_inline_query=share))
    return tuple(buttons)


def article_context(stored: StoredArticle) -> dict[str, object]:
    """Build the template context for one article: its fields, its id, its paragraphs."""
    article = stored.article
    context: dict[str, object] = {f.name: getattr(article, f.name) for f in fields(article)}
    context["id"] = stored.id
    context["paragraphs"] = [p for p in article.body.split("\n\n") if p.strip()]
    return context


def render_part(renderer: Renderer, stored: StoredArticle, part: Part, lang: Lang) -> list[str]:
    """Render one part of an article as the Telegram messages a subscriber receives."""
    html = renderer.render(part, lang, **article_context(stored))
    return split_html(html)


class _Memo(Generic[T]):
    """A bounded LRU map whose entries remember the article they were made from."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[object, ...], tuple[StoredArticle, T]] = OrderedDict()

    def get(self, key: tuple[object, ...], stored: StoredArticle) -> T | None:
        entry = self._entries.get(key)
        # Equality, not the key alone: a re-import that changed the article (same id) must
        # never be served the old text. Comparing is a few memcmp()s, far cheaper than hashing
        # the whole article or rendering it again.
        if entry is None or entry[0] != stored:
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: tuple[object, ...], stored: StoredArticle, value: T) -> T:
        self._entries[key] = (stored, value)
        self._entries.move_to_end(key)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)


class DigestCache:
    """render_part and article_buttons, remembered per (article, part, language).

    Many chats ask for the same few articles (/latest, the buttons of today's push), and
    rendering (Jinja, then split_html parsing the HTML) is most of a reply's own cost. An entry
    is served only to an article equal to the one it was rendered from, so changed content is
    rendered afresh. Results are tuples: callers cannot change what others will be given.
    """

    def __init__(self, renderer: Renderer, size: int = 256) -> None:
        self.renderer = renderer
        self._parts: _Memo[tuple[str, ...]] = _Memo(size)
        self._buttons: _Memo[tuple[Button, ...]] = _Memo(size)

    def part(self, stored: StoredArticle, part: Part, lang: Lang) -> tuple[str, ...]:
        """Return render_part(stored, part, lang), rendering only on a miss."""
        key = (stored.id, part, lang)
        found = self._parts.get(key, stored)
        if found is None:
            found = self._parts.put(
                key, stored, tuple(render_part(self.renderer, stored, part, lang))
            )
        return found

    def buttons(self, stored: StoredArticle, lang: Lang) -> tuple[Button, ...]:
        """Return article_buttons(stored, lang), building them only on a miss."""
        key = (stored.id, lang)
        found = self._buttons.get(key, stored)
        if found is None:
            found = self._buttons.put(key, stored, article_buttons(self.renderer, stored, lang))
        return found

    def __len__(self) -> int:
        """Return how many rendered parts are kept."""
        return len(self._parts)
