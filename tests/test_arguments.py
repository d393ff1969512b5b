"""Command arguments and payloads: typed times and timezones, archive pages, deep links."""

from __future__ import annotations

from datetime import time

import pytest

from bot.arguments import (
    CHAT_ID_MAX,
    ID_MAX,
    SEARCH_MAX_WORDS,
    SLUG_MAX,
    ArticleRef,
    chat_title,
    deep_link_article,
    is_number,
    page_of,
    parse_article_ref,
    parse_chat_id,
    parse_id,
    parse_number,
    parse_page,
    parse_search,
    parse_time,
    parse_timezone,
)
from bot.errors import UsageError


@pytest.mark.parametrize(("text", "parsed"), [("8:05", time(8, 5)), ("23:59", time(23, 59))])
def test_parse_time_accepts_the_24_hour_clock(text: str, parsed: time) -> None:
    assert parse_time(text) == parsed


@pytest.mark.parametrize("text", ["24:00", "8", "08:60", "noon", "", "-1:00"])
def test_parse_time_refuses_anything_else(text: str) -> None:
    with pytest.raises(UsageError):
        parse_time(text)


def test_parse_timezone_checks_the_iana_database() -> None:
    assert parse_timezone("America/New_York") == "America/New_York"
    for bad in ("Mars/Olympus", "../../etc/passwd", "", "/abs"):
        with pytest.raises(UsageError):
            parse_timezone(bad)


def test_pages_are_clamped_and_parsed() -> None:
    assert parse_page([]) == 1
    assert parse_page(["3"]) == 3
    for bad in (["0"], ["x"], ["1", "2"], ["-1"], ["①"], ["²"], [str(ID_MAX + 1)]):
        with pytest.raises(UsageError):
            parse_page(bad)
    page = page_of(99, 25)
    assert (page.number, page.pages, page.offset) == (3, 3, 20)
    assert page_of(1, 0).pages == 1


def test_deep_link_payloads() -> None:
    assert deep_link_article("a12") == 12
    assert deep_link_article("a") is None
    assert deep_link_article("b12") is None
    assert deep_link_article("a" + "9" * 30) is None


# -- the validators: ASCII digits in the column's range, bounded text (issue 9 §3) ---------


@pytest.mark.parametrize(
    "text", ["²", "①", "٣", "３", "𝟙", "1²", " 1", "+1", "-1", "1\n", "", "0x1"]
)
def test_numbers_are_ascii_digits_only(text: str) -> None:
    assert not is_number(text)
    with pytest.raises(UsageError):
        parse_number(text)


def test_ids_are_range_checked_against_the_integer_column() -> None:
    assert parse_id("1") == 1
    assert parse_id(str(ID_MAX)) == ID_MAX
    for bad in ("0", str(ID_MAX + 1), "9" * 23, "9" * 400):
        with pytest.raises(UsageError):
            parse_id(bad)


def test_chat_ids_are_range_checked_against_bigint() -> None:
    assert parse_chat_id("-1001234567890") == -1001234567890
    assert parse_chat_id(str(CHAT_ID_MAX)) == CHAT_ID_MAX
    for bad in ("0", "-0", str(CHAT_ID_MAX + 1), "--1", "-", "-²"):
        with pytest.raises(UsageError):
            parse_chat_id(bad)


def test_article_refs_are_an_id_a_slug_or_latest() -> None:
    assert parse_article_ref(" 12 ") == ArticleRef(id=12)
    assert parse_article_ref("LATEST").latest
    assert parse_article_ref("²") == ArticleRef(slug="²")  # a slug; not int("²")
    assert parse_article_ref("folder--name") == ArticleRef(slug="folder--name")
    for bad in ("", "2147483648", "9" * 23, "a\x00b", "x" * (SLUG_MAX + 1), "tab\tinside"):
        with pytest.raises(UsageError):
            parse_article_ref(bad)


def test_times_are_strict_ascii_hh_mm() -> None:
    assert parse_time("08:30") == parse_time("8:30") == parse_time("08：30") == time(8, 30)
    for bad in ("０８:３０", "8:3", "08:30:00", "08:30x", "٠٨:٣٠", "8²:30", "08:30\n\n1"):
        with pytest.raises(UsageError):
            parse_time(bad)


@pytest.mark.parametrize(
    "text", ["Asia", "America", "x" * 300, "Asia/" + "x" * 300, "Asia/Shanghai\x00", "."]
)
def test_timezones_are_checked_without_opening_files(text: str) -> None:
    with pytest.raises(UsageError):
        parse_timezone(text)


def test_search_is_bounded_in_words_and_length() -> None:
    assert parse_search(["AI", "焦虑"]) == ("AI", "焦虑")
    assert len(parse_search(["w"] * SEARCH_MAX_WORDS)) == SEARCH_MAX_WORDS
    for bad in ([], ["w"] * (SEARCH_MAX_WORDS + 1), ["w"] * 1500, ["x" * 201], ["a\x00"]):
        with pytest.raises(UsageError):
            parse_search(bad)


def test_deep_links_take_only_ascii_ids_in_range() -> None:
    assert deep_link_article(f"a{ID_MAX}") == ID_MAX
    for bad in ("a²", "a①", "a٣", f"a{ID_MAX + 1}", "a0", "a-1", "a 1"):
        assert deep_link_article(bad) is None


def test_chat_titles_lose_control_characters_and_are_bounded() -> None:
    assert chat_title("G\x00ro\x1bup\u202e") == "Group\u202e"
    assert len(chat_title("x" * 1000)) == 255
