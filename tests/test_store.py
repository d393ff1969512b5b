"""Store: article reads, search, and subscriber lifecycle on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import time as clock
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date, time
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import OperationalError

from bot.db import articles, subscribers
from bot.db.engine import open_database
from bot.errors import DatabaseError, NotFoundError, UsageError
from bot.ledger import Ledger
from bot.model import Article, ArticleUpsert, Point, SyncWrites
from bot.store import Store, utcnow
from tests.conftest import NOW, while_another_writer


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
    assert [s.stored.article.slug for s in store.search_articles(["alpha", "gpus"])] == ["x"]
    assert [s.stored.article.slug for s in store.search_articles(["100%"])] == ["x"]
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


# -- several instances on one database ----------------------------------------------------


def _subscribe_as_another_instance(c: Connection) -> None:
    subscribers.insert_new(c, 42, chat_type="private", language="en", title="", now=utcnow())


def test_start_of_a_chat_another_instance_is_subscribing_joins_its_row(
    database_url: str, store: Store
) -> None:
    # Two webhook instances each handle a /start of the same new chat.
    joined = while_another_writer(
        database_url,
        _subscribe_as_another_instance,
        lambda: store.subscribe(42, chat_type="private", language="zh"),
    )
    assert (joined.created, joined.reactivated) == (False, False)
    assert joined.subscriber.language == "zh"
    assert store.counts().active_subscribers == 1


def test_group_migration_gives_way_to_a_supergroup_row_another_instance_adds(
    database_url: str, store: Store
) -> None:
    store.subscribe(-5, chat_type="group", language="en", title="G")

    def supergroup_starts(c: Connection) -> None:
        subscribers.insert_new(
            c, -1005, chat_type="supergroup", language="en", title="G", now=utcnow()
        )

    while_another_writer(database_url, supergroup_starts, lambda: store.migrate_chat(-5, -1005))
    assert store.get_subscriber(-5) is not None
    assert store.get_subscriber(-1005) is not None


def test_a_chat_move_onto_a_taken_chat_gives_way_and_keeps_the_transaction(store: Store) -> None:
    store.subscribe(-5, chat_type="group", language="en")
    store.subscribe(-1005, chat_type="supergroup", language="en")
    with store.writing() as c:
        assert not subscribers.move_chat(c, -5, -1005)
        assert subscribers.unsubscribe(c, -5, 0, reason="moved", now=utcnow())
    assert store.counts().active_subscribers == 1


def _upsert(a: Article, content_hash: str | None = None) -> ArticleUpsert:
    return ArticleUpsert(a, f"/seeds/{a.slug}.md", 2, 2, content_hash or a.slug)


def _sync_inserts(store: Store, *items: ArticleUpsert) -> SyncWrites:
    return store.apply_sync(inserts=list(items), updates=[], restamps=[], hide=[])


def test_inserts_another_process_made_first_count_as_unchanged_or_updated(store: Store) -> None:
    same, changed, hidden = (article(s, s.upper(), date(2026, 1, 1)) for s in ("s", "c", "h"))
    put(store, same, changed, hidden)
    ids = {a.slug: store.resolve(a.slug).id for a in (same, changed, hidden)}
    store.apply_sync(inserts=[], updates=[], restamps=[], hide=["h"])
    # This sync read the stamps before another process inserted these three slugs.
    written = _sync_inserts(
        store,
        _upsert(same),
        _upsert(replace(changed, title="Changed"), content_hash="new bytes"),
        _upsert(hidden),
        _upsert(article("n", "New", date(2026, 1, 2))),
    )
    assert written == SyncWrites(inserted=1, taken_updated=2, taken_unchanged=1)
    assert store.resolve("c").article.title == "Changed"
    assert {a: store.resolve(a).id for a in ids} == ids
    stamps = store.file_stamps()
    assert (stamps["s"].mtime_ns, stamps["h"].hidden) == (2, False)


def test_sync_of_the_same_files_while_another_process_inserts_them_stores_each_once(
    database_url: str, store: Store
) -> None:
    items = [_upsert(article(f"a{i}", f"A{i}", date(2026, 1, 1))) for i in range(50)]

    def other_imports(c: Connection) -> None:
        articles.insert_new(c, items[:30], utcnow())

    written = while_another_writer(
        database_url, other_imports, lambda: _sync_inserts(store, *items)
    )
    assert written == SyncWrites(inserted=20, taken_updated=0, taken_unchanged=30)
    assert store.count_articles() == 50


def _terminate_the_backend_waiting_for_a_lock(url: str) -> None:
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    waiting = text(
        "SELECT pid FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    try:
        with admin.connect() as c:
            for _ in range(300):
                pid = c.execute(waiting).scalar()
                if pid is not None:
                    c.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                    return
                clock.sleep(0.01)
        raise AssertionError("the sync never waited for the lock")
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_a_sync_whose_connection_dies_mid_write_leaves_nothing_and_the_next_one_works(
    pg_url: str,
) -> None:
    store = Store(open_database(pg_url))
    other = create_engine(pg_url)
    try:
        old = article("old", "Old", date(2026, 1, 1))
        put(store, old)
        old_id = store.resolve("old").id
        new = [_upsert(article(f"n{i}", f"N{i}", date(2026, 1, 2))) for i in range(20)]
        changed = replace(_upsert(replace(old, title="Changed"), "new bytes"), id=old_id)

        def sync() -> SyncWrites:
            return store.apply_sync(inserts=new, updates=[changed], restamps=[], hide=[])

        with ThreadPoolExecutor(1) as pool, other.begin() as c:
            # Hold the row the sync rewrites: it inserts the new rows, then waits here.
            c.execute(text("SELECT id FROM articles WHERE slug = 'old' FOR UPDATE"))
            dying = pool.submit(sync)
            _terminate_the_backend_waiting_for_a_lock(pg_url)
            with pytest.raises(OperationalError):
                dying.result(timeout=30)
        assert store.count_articles() == 1  # the dead transaction left nothing behind
        assert sync() == SyncWrites(inserted=20)  # a fresh connection from the pool
        assert store.resolve("old").article.title == "Changed"
    finally:
        other.dispose()
        store.close()


# -- a SQLite file deleted or replaced under the process ----------------------------------


def _db_file(store: Store) -> Path:
    assert store.engine.url.database is not None
    return Path(store.engine.url.database)


def test_a_deleted_database_file_refuses_writes_and_logs_one_error(
    sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    sqlite_store.subscribe(1, chat_type="private", language="en")
    sqlite_store.check_database()  # the file the store opened: fine
    path = _db_file(sqlite_store)
    path.unlink()
    with caplog.at_level(logging.ERROR, logger="bot.store"):
        with pytest.raises(DatabaseError, match="was deleted"):
            sqlite_store.check_database()
        with pytest.raises(DatabaseError, match=str(path)):
            sqlite_store.subscribe(2, chat_type="private", language="en")
        with pytest.raises(DatabaseError):
            Ledger(sqlite_store).start_run("k", NOW)
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert not path.exists()  # no write recreated an empty file under the name


def test_a_replaced_database_file_refuses_writes(sqlite_store: Store, tmp_path: Path) -> None:
    path = _db_file(sqlite_store)
    open_database(f"sqlite:///{tmp_path / 'other.sqlite3'}").dispose()
    (tmp_path / "other.sqlite3").replace(path)
    with pytest.raises(DatabaseError, match="was replaced"):
        sqlite_store.check_database()
    with pytest.raises(DatabaseError):
        sqlite_store.set_language(1, "en")


@pytest.mark.postgres
def test_a_postgresql_store_always_passes_the_database_check(pg_url: str) -> None:
    store = Store(open_database(pg_url))
    try:
        store.check_database()
    finally:
        store.close()
