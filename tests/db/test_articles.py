"""Article queries: the one push order, newest first or oldest first, undated last."""

from __future__ import annotations

import pytest

from bot.db import articles
from bot.store import Store
from tests.conftest import add_article_named, add_articles


@pytest.mark.parametrize("newest_first", [True, False])
def test_visible_ids_follow_the_push_order_with_undated_last(
    store: Store, newest_first: bool
) -> None:
    """The planner reads this order inside its transaction; the store lists in it too."""
    dated = add_articles(store, 3)  # oldest first
    undated = add_article_named(store, "undated", None)
    later = add_article_named(store, "dated-later")
    store.apply_sync(inserts=[], updates=[], restamps=[], hide=["a2"])
    visible = [dated[0], dated[2], later]
    expected = [*reversed(visible), undated] if newest_first else [*visible, undated]
    with store.write_engine.begin() as c:
        assert articles.visible_ids(c, newest_first=newest_first) == expected
    assert store.visible_article_ids(newest_first=newest_first) == expected
    if newest_first:
        assert [s.id for s in store.list_articles()] == expected
