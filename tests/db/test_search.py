"""Search: the trigram index finds every word literally, ranks, and follows every write."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import delete

from bot.db import articles
from bot.db.engine import MIGRATIONS, create_db_engine, open_database
from bot.db.tables import ARTICLES
from bot.model import Article, ArticleUpsert, FileStamp
from bot.store import Store, utcnow


def article(slug: str, body: str, day: date | None = date(2026, 1, 1), title: str = "") -> Article:
    return Article(
        slug=slug,
        title=title or slug,
        date=day,
        author="",
        source="",
        url="",
        one_line="summary",
        points=(),
        risks=(),
        body=body,
        tags=(),
    )


def upsert(a: Article, ident: int | None = None) -> ArticleUpsert:
    digest = hashlib.sha256(f"{a.slug}:{a.body}".encode()).hexdigest()
    return ArticleUpsert(a, f"/{a.slug}.md", 1, 1, digest, ident)


def put(store: Store, *items: Article) -> dict[str, int]:
    store.apply_sync(inserts=[upsert(a) for a in items], updates=[], restamps=[], hide=[])
    return {s.article.slug: s.id for s in store.list_articles()}


def found(store: Store, *words: str) -> list[str]:
    return [hit.stored.article.slug for hit in store.search_articles(list(words))]


def test_more_occurrences_rank_first_and_ties_go_to_the_newest(store: Store) -> None:
    put(
        store,
        article("once", "模型 training once, filler filler filler", date(2026, 3, 1)),
        article("thrice", "模型 模型 模型 training, filler filler", date(2026, 1, 1)),
        article("tie-old", "模型 same text here", date(2026, 1, 2)),
        article("tie-new", "模型 same text here", date(2026, 2, 2)),
        article("none", "nothing relevant", date(2026, 4, 1)),
    )
    assert found(store, "模型") == ["thrice", "tie-new", "tie-old", "once"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (["焦"], ["a"]),  # one Chinese character
        (["焦虑"], ["a"]),  # two: shorter than a trigram
        (["越来越焦虑"], ["a"]),  # five: through the index
        (["焦虑", "gpu"], ["a"]),  # a short word and an indexed one together
        (["虑越"], []),  # the characters are there, not in this order
        (["gpus"], ["a"]),
        (["GPUs"], ["a"]),  # case-insensitive
        (["Straße"], ["b"]),  # casefolded: matches "STRASSE" as well
        (["ai"], ["a", "b"]),
        (["ai", "zebra"], []),  # every word must be there
    ],
)
def test_chinese_and_english_of_every_length_match_literally(
    store: Store, query: list[str], expected: list[str]
) -> None:
    put(
        store,
        article("a", "说实话，AI 让人越来越焦虑。Buying GPUs.", date(2026, 1, 2)),
        article("b", "AI news from the STRASSE", date(2026, 1, 1)),
    )
    assert sorted(found(store, *query)) == expected


@pytest.mark.parametrize(
    "word",
    ['"', '"x', "*", "a*", "NEAR", "NEAR(a b)", "AND", "OR", "NOT", "title:x", "(", "^abc", "-x",
     "%", "_", "\\", "'; DROP TABLE articles; --", "{a b}", "x" * 200],
)  # fmt: skip
def test_query_syntax_is_searched_literally_and_never_raises(store: Store, word: str) -> None:
    put(store, article("plain", "plain text"), article("odd", f"odd {word} text"))
    assert found(store, word) == ["odd"]


def test_no_words_find_nothing(store: Store) -> None:
    put(store, article("a", "text"))
    assert found(store) == []
    assert found(store, " ") == []


def test_snippet_shows_the_match_in_its_text_marked(store: Store) -> None:
    body = "开头。" * 40 + "说实话，AI 让人越来越焦虑。" + "结尾。" * 40
    put(store, article("a", body))
    [hit] = store.search_articles(["ai", "焦虑"])
    shown = "".join(text for text, _ in hit.snippet.pieces)
    assert "说实话，AI 让人越来越焦虑。" in shown
    assert [text for text, match in hit.snippet.pieces if match] == ["AI", "焦虑"]
    assert hit.snippet.cut_before
    assert hit.snippet.cut_after
    assert len(shown) <= 80


def test_the_index_follows_edit_hide_revive_and_delete(store: Store) -> None:
    ids = put(store, article("a", "old words: 稀有词"), article("b", "other text"))
    store.apply_sync(
        inserts=[], updates=[upsert(article("a", "new words: 新词语"), ids["a"])], restamps=[],
        hide=[],
    )  # fmt: skip
    assert found(store, "稀有词") == []
    assert found(store, "新词语") == ["a"]
    store.apply_sync(inserts=[], updates=[], restamps=[], hide=["a"])
    assert found(store, "新词语") == []  # hidden articles never match
    stamp = FileStamp(
        ids["a"], "/a.md", 2, 1, upsert(article("a", "new words: 新词语")).content_hash, False
    )
    store.apply_sync(inserts=[], updates=[], restamps=[stamp], hide=[])
    assert found(store, "新词语") == ["a"]
    with store.write_engine.begin() as c:
        c.execute(delete(ARTICLES).where(ARTICLES.c.id == ids["a"]))
    assert found(store, "新词语") == []
    assert found(store, "other") == ["b"]


def test_re_import_of_the_same_file_keeps_one_match(store: Store) -> None:
    ids = put(store, article("a", "词语 once"))
    same = upsert(article("a", "词语 once"), ids["a"])
    store.apply_sync(inserts=[], updates=[same], restamps=[], hide=[])
    store.apply_sync(inserts=[], updates=[same], restamps=[], hide=[])
    assert found(store, "词语") == ["a"]
    assert found(store, "once") == ["a"]


def test_migration_from_0006_indexes_the_stored_articles(database_url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = create_db_engine(database_url)
    with engine.begin() as c:
        config.attributes["connection"] = c
        command.upgrade(config, "0006")
        articles.insert_new(
            c, [upsert(article("old", "存量文章 archived")), upsert(article("x", "x"))], utcnow()
        )
        articles.hide(c, ["x"])
    engine.dispose()
    store = Store(open_database(database_url))
    try:
        assert found(store, "存量文章") == ["old"]
        assert found(store, "archived") == ["old"]
        assert found(store, "x") == []  # hidden before the index existed: still not found
    finally:
        store.close()


def _frequencies(i: int) -> str:
    """Return article i's words: each in a different share of the archive."""
    words = ["everyword"]  # every article
    words += ["mostword"] if i % 5 else []  # four in five: found scanning on past the sample
    words += ["someword"] if i % 3 == 0 else []  # one in three
    words += ["oldword"] if i <= 2 else []  # the oldest only: found through the index
    words += ["newword"] if i == 40 else []
    words += ["短词"] if i % 2 else []
    return " ".join([*words, "filler"])


@pytest.mark.parametrize(
    "query",
    [["everyword"], ["mostword"], ["someword"], ["oldword"], ["newword"], ["absentword"],
     ["someword", "mostword"], ["短词"], ["短词", "someword"], ["短词", "oldword"]],
)  # fmt: skip
def test_the_last_imported_matches_are_ranked_however_common_the_words(
    store: Store, monkeypatch: pytest.MonkeyPatch, query: list[str]
) -> None:
    """Every path ranks the same candidates: the last imported matches.

    SQLite: FTS5's doclist, alone or joined for a short word; PostgreSQL: the newest SAMPLE
    ids, a window past them sized by their share of matches, or every match.
    """
    monkeypatch.setattr(articles, "CANDIDATES", 4)
    monkeypatch.setattr(articles, "SAMPLE", 5)
    ids = put(store, *(article(f"a{i:02}", _frequencies(i)) for i in range(1, 41)))
    store.apply_sync(inserts=[], updates=[], restamps=[], hide=["a39"])  # never a candidate
    matches = [
        ident
        for slug, ident in ids.items()
        if slug != "a39" and all(w in _frequencies(int(slug[1:])).split() for w in query)
    ]
    expected = sorted(matches, reverse=True)[:4]
    hits = store.search_articles(query, limit=10)
    assert sorted((h.stored.id for h in hits), reverse=True) == expected


def test_words_of_one_or_two_characters_search_only_the_newest_articles(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(articles, "SAMPLE", 2)
    monkeypatch.setattr(articles, "SHORT_REACH", 4)
    put(
        store,
        article("a1", "焦虑 of the oldest"),
        *(article(f"a{i}", "filler") for i in range(2, 6)),
        article("a6", "焦虑 of the newest"),
    )
    assert found(store, "焦虑") == ["a6"]  # a1 is past the newest four
    assert sorted(found(store, "焦虑", "oldest")) == ["a1"]  # a 3+ character word: the index


@pytest.mark.postgres
def test_postgres_keeps_search_text_in_lz4_beside_an_id_and_trigram_index(pg_url: str) -> None:
    store = Store(open_database(pg_url))
    try:
        put(store, article("a", "一段文字 " * 400))  # over 2 kB: compressed inline
        with store.engine.connect() as c:
            lz4 = c.exec_driver_sql(
                "SELECT 'lz4' = ANY(enumvals) FROM pg_settings"
                " WHERE name = 'default_toast_compression'"
            ).scalar()
            method = c.exec_driver_sql(
                "SELECT pg_column_compression(search_text) FROM articles"
            ).scalar()
            index = c.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_articles_id_search_trgm'"
            ).scalar()
        assert method == ("lz4" if lz4 else "pglz")
        assert index is not None
        assert "gin (id, search_text" in index
    finally:
        store.close()


@pytest.mark.parametrize("word", ["模型", "training"])  # the scan of the newest, the index
def test_the_archive_pages_through_the_search_ranking_within_a_topic(
    store: Store, word: str
) -> None:
    """The web reader's archive is /search's ranking, a page at a time, narrowed to a tag."""
    tagged = [
        replace(article(f"t{n}", " ".join(["模型 training"] * n + ["filler"] * 9)), tags=("ai",))
        for n in (1, 3, 2)
    ]
    ids = put(store, *tagged, article("untagged", "模型 training " * 5))
    with store.engine.connect() as c:
        ranked = [s.id for s in articles.search(c, [word], limit=10)]
        pages = [
            [s.id for s in articles.archive(c, [word], "ai", offset=offset, limit=2)]
            for offset in (0, 2)
        ]
        listed = [s.id for s in articles.archive(c, [], "ai", offset=0, limit=10)]
    assert ranked == [ids[s] for s in ("untagged", "t3", "t2", "t1")]
    assert pages == [[ids["t3"], ids["t2"]], [ids["t1"]]]
    assert sorted(listed) == sorted(ids[s] for s in ("t1", "t2", "t3"))
