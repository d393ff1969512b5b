"""Command arguments and payloads: typed times and timezones, archive pages, deep links."""

from __future__ import annotations

from datetime import time

import pytest

from bot.arguments import deep_link_article, page_of, parse_page, parse_time, parse_timezone
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
    for bad in (["0"], ["x"], ["1", "2"], ["-1"]):
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
