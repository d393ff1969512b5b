"""Preview: what one chat's next push would carry, by the push's own policy."""

from __future__ import annotations

from dataclasses import dataclass

from bot.ledger import Ledger
from bot.model import StoredArticle, Subscriber
from bot.scheduling import PushDefaults, pick_articles
from bot.store import Store


@dataclass(frozen=True, slots=True)
class NextPush:
    """What a chat's next push would bring."""

    articles: list[StoredArticle]
    subscribed: bool


def next_push(store: Store, subscriber: Subscriber | None, defaults: PushDefaults) -> NextPush:
    """Pick the articles this chat's next push would carry (the push's own policy)."""
    ids = store.visible_article_ids(newest_first=defaults.policy == "newest")
    delivered: set[int] = set()
    if subscriber is not None:
        ledger = Ledger(store)
        delivered = {article_id for article_id, _, _ in ledger.deliveries(subscriber.id)}
    picked = pick_articles(defaults.policy, ids, delivered, defaults.max_per_day)
    found = store.get_articles(picked)
    articles = [found[i] for i in picked if i in found]
    return NextPush(articles, subscribed=subscriber is not None and subscriber.active)
