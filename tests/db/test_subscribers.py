"""Subscriber queries: paging active subscribers by id."""

from __future__ import annotations

from bot.db import subscribers
from bot.store import Store
from tests.conftest import seed_subscribers


def test_active_subscribers_page_by_id(store: Store) -> None:
    """Pages of active subscribers (whole, or their ids alone) leave out inactive ones."""
    seed_subscribers(
        store, [{"chat_id": i, "chat_type": "private", "language": "en"} for i in range(1, 26)]
    )
    store.unsubscribe(3)
    with store.engine.connect() as c:
        first = subscribers.active_page(c, limit=10)
        rest = subscribers.active_page(c, after_id=first[-1].id, limit=100)
        ids = subscribers.active_ids(c, limit=10)
        ids += subscribers.active_ids(c, after_id=ids[-1], limit=100)
    chats = [s.chat_id for s in first + rest]
    assert chats == [i for i in range(1, 26) if i != 3]
    assert ids == [s.id for s in first + rest]
