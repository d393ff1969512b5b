"""Subscriber files: a forum's topics are subscriptions of their own, kept apart on import."""

from __future__ import annotations

import csv
import io

from bot.store import Store
from bot.subscriber_files import export_subscribers, import_subscribers

FORUM_CSV = """chat_id,kind,language,time,timezone,thread
-1005,supergroup,en,07:00,,
-1005,supergroup,zh,08:00,,11
-1005,supergroup,en,09:00,,12
"""


def test_a_forums_topics_import_as_separate_subscriptions_and_export_back(store: Store) -> None:
    report = import_subscribers(store, io.StringIO(FORUM_CSV))
    assert (report.added, report.updated, report.errors) == (3, 0, [])
    whole, news, chat = (store.get_subscriber(-1005, t) for t in (0, 11, 12))
    assert whole is not None
    assert news is not None
    assert chat is not None
    assert [s.language for s in (whole, news, chat)] == ["en", "zh", "en"]
    assert len({whole.id, news.id, chat.id}) == 3

    # Importing again updates each topic's row by (chat, thread), never another topic's.
    again = import_subscribers(
        store, io.StringIO("chat_id,kind,language,thread\n-1005,supergroup,en,11\n")
    )
    assert (again.added, again.updated) == (0, 1)
    news = store.get_subscriber(-1005, 11)
    assert news is not None
    assert news.language == "en"
    chat = store.get_subscriber(-1005, 12)
    assert chat is not None
    assert str(chat.push_time) == "09:00:00"

    out = io.StringIO()
    assert export_subscribers(store, out) == 3
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert sorted((r["chat_id"], r["thread"]) for r in rows) == [
        ("-1005", "0"),
        ("-1005", "11"),
        ("-1005", "12"),
    ]


def test_a_thread_that_is_not_a_topic_id_is_a_bad_row(store: Store) -> None:
    report = import_subscribers(
        store, io.StringIO("chat_id,kind,language,thread\n-1005,supergroup,en,general\n")
    )
    assert report.added == 0
    [(line, reason)] = report.errors
    assert line == 2
    assert "thread" in reason
