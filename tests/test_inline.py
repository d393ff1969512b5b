"""Inline sharing's domain: which articles a query offers, and the results built from them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.arguments import (
    InlineRequest,
    article_deep_link,
    parse_inline_offset,
    parse_inline_query,
    share_query,
)
from bot.digest import DigestCache, render_part
from bot.inline import PAGE_SIZE, SEARCH_DEPTH, inline_results, select_articles
from bot.markup import parse_html, utf16_len
from bot.model import Point
from bot.rendering import Renderer
from bot.store import Store
from tests.conftest import add_articles


def titles(store: Store, request: InlineRequest, offset: int = 0) -> list[str]:
    return [a.article.title for a in select_articles(store, request, offset).articles]


def test_an_empty_query_pages_through_every_article_newest_first(store: Store) -> None:
    add_articles(store, 45)
    first = select_articles(store, InlineRequest(), 0)
    assert [a.article.title for a in first.articles][:2] == ["Article 45", "Article 44"]
    assert len(first.articles) == PAGE_SIZE
    assert first.next_offset == "20"
    second = select_articles(store, InlineRequest(), 20)
    assert second.next_offset == "40"
    last = select_articles(store, InlineRequest(), 40)
    assert [a.article.title for a in last.articles] == [f"Article {i}" for i in range(5, 0, -1)]
    assert last.next_offset == ""
    assert select_articles(store, InlineRequest(), 45).articles == ()


def test_words_match_like_search_and_page(store: Store) -> None:
    add_articles(store, 30)
    request = parse_inline_query("summary 2")
    found = titles(store, request)
    # /search's matches in /search's order (relevance, then the newest).
    assert found == [
        hit.stored.article.title for hit in store.search_articles(["summary", "2"], limit=50)
    ]
    assert sorted(found) == sorted(
        ["Article 2", "Article 12", *(f"Article {n}" for n in range(20, 30))]
    )
    page = select_articles(store, request, 0, limit=5)
    assert page.next_offset == "5"
    pages = [select_articles(store, request, at, limit=5).articles for at in (0, 5, 10)]
    assert [a.article.title for p in pages for a in p] == found
    assert titles(store, parse_inline_query("nothing-matches-this")) == []
    assert select_articles(store, request, SEARCH_DEPTH).articles == ()


def test_a_share_query_offers_exactly_that_article(store: Store) -> None:
    ids = add_articles(store, 3)
    assert titles(store, parse_inline_query(share_query(ids[0]))) == ["Article 1"]
    assert titles(store, parse_inline_query(share_query(ids[0])), offset=20) == []
    assert titles(store, parse_inline_query("#999999")) == []


@pytest.mark.parametrize(
    ("text", "request_"),
    [
        ("", InlineRequest()),
        ("  AI   焦虑 ", InlineRequest(words=("AI", "焦虑"))),
        ("#12", InlineRequest(article_id=12)),
        ("#12 more", InlineRequest(words=("#12", "more"))),
        ("#0", InlineRequest(words=("#0",))),
        ("#99999999999", InlineRequest(words=("#99999999999",))),
        ("#①", InlineRequest(words=("#①",))),
        ("a\x00b\x1bc", InlineRequest(words=("abc",))),
        ("<b>x</b> &amp;", InlineRequest(words=("<b>x</b>", "&amp;"))),
        ("🔥 🧪", InlineRequest(words=("🔥", "🧪"))),
    ],
)
def test_inline_queries_are_parsed_leniently(text: str, request_: InlineRequest) -> None:
    assert parse_inline_query(text) == request_


def test_a_long_query_is_cut_to_search_limits() -> None:
    assert len(" ".join(parse_inline_query("x" * 400).words)) == 200
    assert len(parse_inline_query(" ".join(["w"] * 50)).words) == 20


@pytest.mark.parametrize(
    ("text", "offset"),
    [("", 0), ("20", 20), ("-5", 0), ("abc", 0), ("[]", 0), ("²", 0), ("10001", 0)],
)
def test_offsets_are_numbers_or_the_first_page(text: str, offset: int) -> None:
    assert parse_inline_offset(text) == offset


def test_results_are_the_digest_with_buttons_that_work_in_any_chat(
    sqlite_store: Store, renderer: Renderer
) -> None:
    [article_id] = add_articles(sqlite_store, 1)
    stored = sqlite_store.get_article(article_id)
    assert stored is not None
    long = replace(stored, article=replace(stored.article, one_line="word " * 100))
    for lang, read in (("en", "📖 Read in the bot"), ("zh", "📖 在机器人中读全文")):
        [result] = inline_results(DigestCache(renderer), [long], lang, "some_bot")
        assert result.id == f"a{article_id}:{lang}"
        assert result.title == "Article 1"
        assert len(result.description) == 120
        assert result.description.endswith("…")
        assert result.html == render_part(renderer, long, "digest", lang)[0]
        deep, original, share = result.buttons
        assert (deep.label, deep.url) == (read, article_deep_link("some_bot", article_id))
        assert original.url == "https://example.com/1"
        assert share.switch_inline_query == share_query(article_id)
        assert all(b.callback_data is None for b in result.buttons)


def test_a_long_digest_offers_its_first_message(sqlite_store: Store, renderer: Renderer) -> None:
    [article_id] = add_articles(sqlite_store, 1)
    stored = sqlite_store.get_article(article_id)
    assert stored is not None
    many = tuple(Point(f"P{i}", "很长的要点。" * 120) for i in range(12))
    huge = replace(stored, article=replace(stored.article, points=many))
    [result] = inline_results(DigestCache(renderer), [huge], "zh", "some_bot")
    assert len(render_part(renderer, huge, "digest", "zh")) > 1
    assert 0 < utf16_len(parse_html(result.html).text) <= 4096
