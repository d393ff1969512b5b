"""ReadLog: web reader opens, counted in the database, each method one transaction.

Privacy: a page open counts once for the article; only a verified Mini App open also counts
for its Telegram user, so /stats can say how many of the subscribers who received an article
read it. No cookies, no pixels, no IP addresses.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bot.db import articles, reads
from bot.model import ReadRate, StoredArticle
from bot.store import Store, utcnow

# A visible article with the (id, title) of its older and newer neighbours.
ArticleAndNeighbours = tuple[StoredArticle, tuple[int, str] | None, tuple[int, str] | None]


class ReadLog:
    """Reader opens and the article reads the web pages need, over the Store's engines."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record_opens(self, opens: Mapping[int, int], now: datetime | None = None) -> None:
        """Add page opens, by article id, in one transaction."""
        with self.store.write_engine.begin() as c:
            counts = {(article, reads.EVERYONE): n for article, n in opens.items()}
            reads.record(c, counts, now or utcnow())

    def record_open(self, article_id: int, now: datetime | None = None) -> None:
        """Count one open of an article's page."""
        self.record_opens({article_id: 1}, now)

    def record_reader(self, article_id: int, user_id: int, now: datetime | None = None) -> None:
        """Count a verified Mini App open of an article by a Telegram user."""
        with self.store.write_engine.begin() as c:
            reads.record(c, {(article_id, user_id): 1}, now or utcnow())

    def rates(self, limit: int = 5) -> list[ReadRate]:
        """Return how the newest sent or opened articles were read, newest first."""
        with self.store.engine.connect() as c:
            return reads.rates(c, limit=limit)

    def article_with_neighbours(self, article_id: int) -> ArticleAndNeighbours | None:
        """Return a visible article with its older and newer neighbours, in one snapshot."""
        with self.store.engine.connect() as c:
            found = articles.by_id(c, article_id)
            if found is None or found.hidden:
                return None
            older, newer = articles.neighbours(c, found)
        return found, older, newer

    def archive(
        self, words: tuple[str, ...], topic: str, *, offset: int, limit: int
    ) -> list[StoredArticle]:
        """Return one archive page: /search's ranking of the words, else newest first."""
        with self.store.engine.connect() as c:
            return articles.archive(c, words, topic, offset=offset, limit=limit)
