"""The push's digests: load each claimed article and render each (article, language) once a run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass

from bot.channels import CHANNEL, channel_buttons
from bot.digest import Button, article_buttons, render_part
from bot.i18n import DEFAULT_LANG, Lang, is_lang
from bot.model import Claim, StoredArticle
from bot.rendering import Renderer
from bot.store import Store
from bot.web.links import ReaderLinks, with_reader


@dataclass(frozen=True, slots=True)
class Digest:
    """One article's digest in one language, as /latest shows it: its parts and buttons."""

    parts: tuple[str, ...]
    buttons: tuple[Button, ...]


class DigestRenders:
    """Every digest one push sends, rendered once per (article, language) and kept for the run.

    A run pushes a handful of articles to thousands of chats: the articles are loaded in one
    query per claimed batch, and each digest is rendered the first time a claim needs it.
    """

    def __init__(
        self,
        store: Store,
        renderer: Renderer,
        *,
        reader: ReaderLinks | None = None,
        bot_username: str | None = None,
    ) -> None:
        self.store = store
        self.renderer = renderer
        self.reader = reader
        self.bot_username = bot_username
        self.count = 0  # digests rendered this run
        self._articles: dict[int, StoredArticle | None] = {}
        self._digests: dict[tuple[int, Lang], Digest | None] = {}

    async def prepare(self, claims: Iterable[Claim]) -> None:
        """Load and render every (article, language) of `claims` not rendered yet this run."""
        claims = list(claims)
        missing = sorted({c.article_id for c in claims} - self._articles.keys())
        if missing:
            found = await asyncio.to_thread(self.store.get_articles, missing)
            for article_id in missing:
                self._articles[article_id] = found.get(article_id)
        for claim in claims:
            key = (claim.article_id, _lang(claim.language))
            if key in self._digests:
                continue
            stored = self._articles.get(claim.article_id)
            if stored is None or stored.hidden:
                self._digests[key] = None
                continue
            parts = tuple(render_part(self.renderer, stored, "digest", key[1]))
            self._digests[key] = Digest(parts, article_buttons(self.renderer, stored, key[1]))
            self.count += 1

    def digest(self, claim: Claim) -> Digest | None:
        """Return the claim's digest; None when its article is hidden, deleted or unprepared."""
        found = self._digests.get((claim.article_id, _lang(claim.language)))
        if found is None:
            return None
        buttons = found.buttons
        if self.reader is not None:
            # 📖 opens the web reader: a Mini App in private chats, a signed link elsewhere.
            buttons = with_reader(
                buttons,
                self.reader,
                claim.article_id,
                private=claim.chat_type == "private",
                now=int(time.time()),
            )
        if claim.chat_type == CHANNEL and self.bot_username:
            buttons = channel_buttons(buttons, self.bot_username, claim.article_id)
        return found if buttons is found.buttons else Digest(found.parts, buttons)


def _lang(value: str) -> Lang:
    return value if is_lang(value) else DEFAULT_LANG
