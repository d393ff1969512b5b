"""Preview: a chat's next push carries what the push's own policy would pick."""

from __future__ import annotations

from dataclasses import replace

from bot.push.preview import next_push
from bot.store import Store
from tests.test_ledger import DEFAULTS, add_articles


def test_newest_policy_previews_the_newest_article_for_a_chat_not_yet_subscribed(
    store: Store,
) -> None:
    ids = add_articles(store, 3)
    upcoming = next_push(store, None, DEFAULTS)
    assert [a.id for a in upcoming.articles] == [ids[-1]]
    assert not upcoming.subscribed


def test_backlog_policy_previews_the_oldest_articles_up_to_the_daily_maximum(
    store: Store,
) -> None:
    ids = add_articles(store, 3)
    backlog = replace(DEFAULTS, policy="backlog", max_per_day=2)
    subscription = store.subscribe(7, chat_type="private", language="en", title="")
    upcoming = next_push(store, subscription.subscriber, backlog)
    assert [a.id for a in upcoming.articles] == ids[:2]
    assert upcoming.subscribed


def test_nothing_to_preview_without_articles(store: Store) -> None:
    assert next_push(store, None, DEFAULTS).articles == []
