"""A long full text in pages, and /full's `[id] [page]` arguments."""

from __future__ import annotations

import pytest

from bot.arguments import parse_full
from bot.errors import UsageError
from bot.fulltext import full_page

CHUNKS = [f"part {i}" for i in range(1, 26)]


def test_pages_hold_at_most_size_messages_and_name_the_next_page() -> None:
    first = full_page(CHUNKS, 1, 10)
    assert first.chunks == tuple(CHUNKS[:10])
    assert (first.number, first.pages, first.next) == (1, 3, 2)
    last = full_page(CHUNKS, 3, 10)
    assert last.chunks == tuple(CHUNKS[20:])
    assert last.next is None


def test_every_message_is_on_exactly_one_page() -> None:
    pages = full_page(CHUNKS, 1, 7).pages
    sent = [c for n in range(1, pages + 1) for c in full_page(CHUNKS, n, 7).chunks]
    assert sent == CHUNKS


def test_a_short_text_is_one_page() -> None:
    page = full_page(["only"], 1, 10)
    assert (page.chunks, page.pages, page.next) == (("only",), 1, None)


@pytest.mark.parametrize("number", [0, -1, 4, 10**12])
def test_a_page_out_of_range_is_a_usage_error(number: int) -> None:
    with pytest.raises(UsageError):
        full_page(CHUNKS, number, 10)


@pytest.mark.parametrize(
    ("args", "parsed"),
    [
        ([], ("", 1)),
        (["3"], ("3", 1)),
        (["3", "2"], ("3", 2)),
        (["latest", "2"], ("latest", 2)),
        (["some", "slug"], ("some slug", 1)),
        (["3", "²"], ("3 ²", 1)),  # not an ASCII page: the words are the ref, as before
    ],
)
def test_parse_full(args: list[str], parsed: tuple[str, int]) -> None:
    assert parse_full(args) == parsed


@pytest.mark.parametrize("page", ["0", "00", "9" * 30])
def test_parse_full_refuses_page_zero_and_absurd_pages(page: str) -> None:
    with pytest.raises(UsageError):
        parse_full(["3", page])
