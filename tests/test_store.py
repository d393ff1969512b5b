"""Store: article reads, search, and subscriber lifecycle on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, time

import pytest

from bot.errors import NotFoundError, UsageError
from bot.model import Article, ArticleUpsert, Point
from bot.store import Store


def article(slug: str, title: str, day: date | None, body: str = "") -> Article:
    return Article(
        slug=slug,
        title=title,
        date=day,
        author="",
        source="",
        url="",
        one_line=f"{title} summary",
        points=(Point("Label", "point text"),),
        risks=(),
        body=body,
        tags=("AI",),
    )


def put(store: Store, *articles: Article) -> None:
    store.apply_sync(
        inserts=[ArticleUpsert(a, f"/seeds/{a.slug}.md", 1, 1, a.slug) for a in articles],
        updates=[],
        restamps=[],
        hide=[],
    )


def test_latest_is_newest_dated_article_and_undated_sorts_last(store: Store) -> None:
    put(
        store,
        article("old", "Old", date(2024, 1, 1)),
        article("undated", "Undated", None),
        article("new", "New", date(2025, 1, 1)),
    )
    latest = store.latest_article()
    assert latest is not None
    assert latest.article.title == "New"
    assert [s.article.slug for s in store.list_articles()] == ["new", "old", "undated"]
    assert [s.article.slug for s in store.list_articles(offset=1, limit=1)] == ["old"]
    assert store.count_articles() == 3


def test_empty_store_has_no_latest_and_resolve_says_so(store: Store) -> None:
    assert store.latest_article() is None
    with pytest.raises(NotFoundError, match="no articles"):
        store.resolve("latest")


def test_resolve_by_id_slug_and_latest(store: Store) -> None:
    put(store, article("a-slug", "A", date(2025, 1, 1)))
    found = store.resolve("a-slug")
    assert store.resolve(str(found.id)) == found == store.resolve("latest")
    with pytest.raises(NotFoundError, match="'nope'"):
        store.resolve("nope")
    with pytest.raises(NotFoundError):
        store.resolve("999")


@pytest.mark.parametrize("ref", ["2147483648", "9" * 23, "a\x00b", "", "x" * 401])
def test_resolve_refuses_what_no_id_or_slug_column_can_hold(store: Store, ref: str) -> None:
    with pytest.raises(UsageError):
        store.resolve(ref)


@pytest.mark.parametrize("ref", ["²", "①", "٣", "-1", "x" * 400])
def test_resolve_takes_odd_digits_for_a_slug(store: Store, ref: str) -> None:
    with pytest.raises(NotFoundError):
        store.resolve(ref)


def test_hidden_articles_are_not_listed_or_resolved(store: Store) -> None:
    put(store, article("a", "A", date(2025, 1, 1)), article("b", "B", date(2025, 2, 1)))
    store.apply_sync(inserts=[], updates=[], restamps=[], hide=["b"])
    assert [s.article.slug for s in store.list_articles()] == ["a"]
    assert store.get_article_by_slug("b") is None
    assert store.counts().hidden_articles == 1


def test_search_matches_every_word_case_insensitively(store: Store) -> None:
    put(
        store,
        article("x", "Alpha Release", date(2025, 1, 1), body="talks about GPUs and 100% load"),
        article("y", "Beta", date(2025, 1, 2), body="nothing here"),
    )
    assert [s.article.slug for s in store.search_articles(["alpha", "gpus"])] == ["x"]
    assert [s.article.slug for s in store.search_articles(["100%"])] == ["x"]
    assert store.search_articles(["_"]) == []  # LIKE wildcards are matched literally
    assert store.search_articles(["missing"]) == []


def test_subscribe_twice_never_duplicates_and_reactivates(store: Store) -> None:
    first = store.subscribe(42, chat_type="private", language="zh")
    assert first.created
    again = store.subscribe(42, chat_type="private", language="zh")
    assert (again.created, again.reactivated) == (False, False)
    assert store.unsubscribe(42)
    assert not store.unsubscribe(42)
    back = store.subscribe(42, chat_type="private", language="en")
    assert back.reactivated
    assert back.subscriber.id == first.subscriber.id
    assert store.counts().active_subscribers == 1


def test_locked_language_survives_a_new_start(store: Store) -> None:
    store.subscribe(7, chat_type="private", language="en")
    store.set_language(7, "zh")
    sub = store.subscribe(7, chat_type="private", language="en").subscriber
    assert (sub.language, sub.language_locked) == ("zh", True)


def test_settings_are_stored_per_chat(store: Store) -> None:
    store.subscribe(7, chat_type="private", language="en")
    store.set_push_time(7, time(21, 30))
    sub = store.set_timezone(7, "Europe/London")
    assert sub is not None
    assert (sub.push_time, sub.timezone) == (time(21, 30), "Europe/London")
    assert store.set_timezone(8, "Europe/London") is None


def test_group_migration_moves_the_subscriber(store: Store) -> None:
    store.subscribe(-5, chat_type="group", language="en", title="G")
    store.migrate_chat(-5, -1005)
    assert store.get_subscriber(-5) is None
    moved = store.get_subscriber(-1005)
    assert moved is not None
    assert moved.chat_type == "supergroup"
