"""Migration 0007_forum: subscriptions keyed by (chat_id, thread_id), existing rows kept."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.db.engine import MIGRATIONS, create_db_engine, open_database
from bot.store import Store


def _upgrade_to(url: str, revision: str) -> None:
    engine = create_db_engine(url)
    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def _seed_0006(url: str) -> None:
    """A 0006 database with a subscriber, its delivery and the topic it follows."""
    engine = create_db_engine(url)
    try:
        with engine.begin() as c:
            c.execute(
                text(
                    "INSERT INTO subscribers (chat_id, chat_type, title, language,"
                    " language_locked, active, subscribed_at, next_push_at) VALUES"
                    " (-100500, 'supergroup', 'Forum', 'zh', false, true,"
                    " '2026-01-01 00:00:00', '1970-01-01 00:00:00')"
                )
            )
            c.execute(
                text(
                    "INSERT INTO articles (slug, title, author, source, url, one_line,"
                    " points, risks, body, tags, search_text, content_hash, source_path,"
                    " file_mtime_ns, file_size, first_imported_at, last_imported_at, hidden)"
                    " VALUES ('a', 'A', '', '', '', 'one', '[]', '[]', '', '[]', '', 'h',"
                    " 'a.md', 0, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00', false)"
                )
            )
            c.execute(
                text(
                    "INSERT INTO deliveries (subscriber_id, article_id, push_date, state,"
                    " attempts, parts_sent, created_at) SELECT s.id, a.id, '2026-01-01', 'sent',"
                    " 1, 1, '2026-01-01 00:00:00' FROM subscribers s, articles a"
                )
            )
            c.execute(text("INSERT INTO topics (name, key) VALUES ('AI', 'ai')"))
            c.execute(
                text(
                    "INSERT INTO follows (subscriber_id, topic_id)"
                    " SELECT s.id, t.id FROM subscribers s, topics t"
                )
            )
    finally:
        engine.dispose()


def test_upgrade_from_0006_keeps_subscribers_as_whole_chats_with_their_history(
    empty_database_url: str,
) -> None:
    _upgrade_to(empty_database_url, "0006")
    _seed_0006(empty_database_url)

    store = Store(open_database(empty_database_url))
    try:
        old = store.get_subscriber(-100500)
        assert old is not None
        assert (old.thread_id, old.language, old.active) == (0, "zh", True)
        # The rebuild of the table (SQLite) must not cascade into its dependents.
        with store.engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM deliveries")).scalar() == 1
        assert [t.name for t in store.followed_topics(-100500)] == ["AI"]

        # A topic of the same forum is a subscription of its own, the chat's row untouched.
        topic = store.subscribe(-100500, chat_type="supergroup", language="en", thread_id=7)
        assert topic.created
        assert topic.subscriber.id != old.id
        assert store.followed_topics(-100500, 7) == []
        again = store.subscribe(-100500, chat_type="supergroup", language="en")
        assert not again.created
        assert again.subscriber.id == old.id
    finally:
        store.close()


def test_the_unique_key_is_chat_and_thread(empty_database_url: str) -> None:
    engine = open_database(empty_database_url)
    row = (
        "INSERT INTO subscribers (chat_id, thread_id, chat_type, title, language,"
        " language_locked, active, subscribed_at) VALUES (-7, {thread}, 'supergroup', '', 'en',"
        " false, true,"
        " '2026-01-01 00:00:00')"
    )
    try:
        with engine.begin() as c:
            c.execute(text(row.format(thread=0)))
            c.execute(text(row.format(thread=3)))
        with pytest.raises(IntegrityError), engine.begin() as c:
            c.execute(text(row.format(thread=3)))
    finally:
        engine.dispose()


def test_downgrade_to_0006_keeps_whole_chats_and_drops_topics(sqlite_url: str) -> None:
    store = Store(open_database(sqlite_url))
    store.subscribe(-9, chat_type="supergroup", language="en")
    store.subscribe(-9, chat_type="supergroup", language="en", thread_id=4)
    store.close()
    engine = create_db_engine(sqlite_url)
    try:
        with engine.begin() as connection:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            command.downgrade(config, "0006")
        with engine.connect() as c:
            rows = c.execute(text("SELECT chat_id FROM subscribers")).scalars().all()
        assert rows == [-9]
    finally:
        engine.dispose()
