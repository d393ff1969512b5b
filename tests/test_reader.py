"""The reader's page contexts: ids from URLs, languages, archive queries."""

from __future__ import annotations

import pytest

from bot.reader import (
    ARCHIVE_PAGE_SIZE,
    MAX_WORDS,
    parse_archive_query,
    parse_article_id,
    text_lang,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", 12),
        ("007", 7),
        ("", None),
        ("²", None),
        ("１２", None),
        ("1" * 13, None),
        ("-1", None),
    ],
)
def test_only_ascii_digits_of_a_sane_length_are_article_ids(
    text: str, expected: int | None
) -> None:
    assert parse_article_id(text) == expected


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("聊聊如何缓解越来越严重的AI焦虑", "zh"),
        ("How to ease AI anxiety", "en"),
        ("", "en"),
        ("An English text quoting 一句", "en"),
    ],
)
def test_the_page_language_follows_the_text(text: str, lang: str) -> None:
    assert text_lang(text) == lang


def test_archive_queries_are_bounded_and_sane() -> None:
    asked = parse_archive_query("  AI   焦虑 ai " + "x " * 50, " 投资  ", "3")
    assert asked.words[:2] == ("ai", "焦虑")
    assert len(asked.words) <= MAX_WORDS
    assert asked.topic == "投资"
    assert asked.offset == 2 * ARCHIVE_PAGE_SIZE
    for page in ("", "0", "-2", "²", "9" * 20):
        assert parse_archive_query("", "", page).page == 1
