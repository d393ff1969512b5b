"""Tests for bot.splitting: cut preferences, well-formed chunks, and the no-loss property."""

from __future__ import annotations

import html as html_lib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import MarkupError
from bot.markup import Entity, parse_html, utf16_len
from bot.splitting import TELEGRAM_LIMIT, split_html


def visible(chunk: str) -> str:
    return parse_html(chunk).text


def test_text_within_the_limit_is_returned_unchanged() -> None:
    html = "  <b>hello</b>\n\n"
    assert split_html(html) == [html]
    assert split_html("x" * TELEGRAM_LIMIT) == ["x" * TELEGRAM_LIMIT]


def test_text_over_the_limit_is_split_into_chunks_within_it() -> None:
    chunks = split_html("word " * 2000)
    assert len(chunks) == 3
    assert all(utf16_len(visible(c)) <= TELEGRAM_LIMIT for c in chunks)


def test_paragraph_boundary_is_preferred_over_later_line_or_sentence() -> None:
    html = "First para. Still first.\n\nSecond para.\nNext line. More words here"
    assert split_html(html, limit=50) == [
        "First para. Still first.",
        "Second para.\nNext line. More words here",
    ]


def test_line_break_is_preferred_over_sentence_end() -> None:
    html = "One. Two.\nThree four five six"
    assert split_html(html, limit=20) == ["One. Two.", "Three four five six"]


def test_cjk_sentences_split_without_a_following_space() -> None:
    html = "这是第一个句子。这是第二个句子！这是第三个句子？最后"
    assert split_html(html, limit=17) == [
        "这是第一个句子。这是第二个句子！",
        "这是第三个句子？最后",
    ]


def test_ascii_sentence_end_needs_a_space_so_urls_stay_whole() -> None:
    html = "Visit example.com now. Then read the rest"
    assert split_html(html, limit=30) == ["Visit example.com now.", "Then read the rest"]


def test_closing_quote_stays_with_its_sentence() -> None:
    html = "他说：“走吧。”然后我们走了很远很远"
    assert split_html(html, limit=12)[0] == "他说：“走吧。”"


def test_space_is_used_when_no_sentence_end_fits() -> None:
    assert split_html("alpha beta gamma delta", limit=12) == ["alpha beta", "gamma delta"]


def test_unbroken_text_is_cut_anywhere_as_a_last_resort() -> None:
    assert split_html("x" * 25, limit=10) == ["x" * 10, "x" * 10, "x" * 5]


def test_open_tags_are_closed_and_reopened_across_a_cut() -> None:
    chunks = split_html("<b>one two <i>three four</i> five</b>", limit=14)
    assert chunks == ["<b>one two <i>three</i></b>", "<b><i>four</i> five</b>"]


def test_link_href_is_kept_on_both_sides_of_a_cut() -> None:
    href = "https://example.com/a?b=1&amp;c=2"
    chunks = split_html(f'<a href="{href}">alpha beta gamma delta</a>', limit=12)
    assert chunks == [f'<a href="{href}">alpha beta</a>', f'<a href="{href}">gamma delta</a>']
    for chunk in chunks:
        (entity,) = parse_html(chunk).entities
        assert entity.url == "https://example.com/a?b=1&c=2"


def test_blockquote_attributes_are_reopened_as_written() -> None:
    chunks = split_html("<blockquote expandable>aaa bbb ccc ddd</blockquote>", limit=8)
    assert chunks == [
        "<blockquote expandable>aaa bbb</blockquote>",
        "<blockquote expandable>ccc ddd</blockquote>",
    ]


def test_no_cut_inside_an_html_entity() -> None:
    html = "abcd&amp;efgh&lt;ijkl"
    for limit in range(2, 14):
        chunks = split_html(html, limit=limit)
        assert "".join(visible(c) for c in chunks) == "abcd&efgh<ijkl"
        assert all(c.count("&") == c.count("&amp;") + c.count("&lt;") for c in chunks)


def test_literal_ampersand_cannot_become_an_entity_at_a_cut() -> None:
    # "&ltx" is literal for Telegram; a cut after "&lt" must not turn it into "<".
    chunks = split_html("aaaaaaaa&ltxyz", limit=11)
    assert [visible(c) for c in chunks] == ["aaaaaaaa&lt", "xyz"]


def test_emoji_count_two_units_and_are_never_halved() -> None:
    chunks = split_html("😀" * 30, limit=10)
    assert chunks == ["😀" * 5] * 6
    assert split_html("😀" * 6, limit=11) == ["😀" * 5, "😀"]


def test_hard_cut_keeps_skin_tone_modifiers_with_their_emoji() -> None:
    chunks = split_html("👍🏽" * 5, limit=6)
    assert chunks == ["👍🏽", "👍🏽", "👍🏽", "👍🏽", "👍🏽"]


def test_pre_longer_than_the_limit_is_split_at_lines_and_reopened() -> None:
    code = "\n".join(f"line_{n} = {n}" for n in range(40))
    html = f'<pre><code class="language-python">{code}</code></pre>'
    chunks = split_html(html, limit=100)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.startswith('<pre><code class="language-python">line_')
        assert chunk.endswith("</code></pre>")
        parsed = parse_html(chunk)
        assert parsed.entities == (Entity("pre", 0, utf16_len(parsed.text), language="python"),)
    assert "\n".join(visible(c) for c in chunks) == code


def test_whitespace_at_cuts_and_ends_is_dropped_never_making_empty_chunks() -> None:
    html = "\n\n  " + "aaaa\n\n\n\n<b>  </b>\n" + "bbbb   " + " " * 20
    assert split_html(html, limit=6) == ["aaaa", "bbbb"]


def test_tags_in_dropped_whitespace_still_open_for_the_next_chunk() -> None:
    chunks = split_html("aaaa <b> bbbb</b>", limit=6)
    assert chunks == ["aaaa", "<b>bbbb</b>"]
    assert parse_html(chunks[1]).entities == (Entity("bold", 0, 4),)


def test_invalid_html_is_refused() -> None:
    with pytest.raises(MarkupError):
        split_html("<p>" + "x" * 5000 + "</p>")


def test_limit_below_two_units_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        split_html("xyz", limit=1)


# --- property test -------------------------------------------------------------------------

FRAGMENTS = [
    "这是一个句子。",
    "第二句！",
    "真的吗？",
    "中文没有空格的长段落",
    "Hello world. ",
    "It works! ",
    "Really? ",
    "word ",
    "example.com ",
    "😀",
    "👍🏽",
    "🇨🇳",
    "&",
    "<tag>",
    "AT&T ",
    '"quoted" ',
    " ",
    "\n",
    "x" * 120,
    "😀" * 40,
]

OPENERS = [
    ("b", "<b>"),
    ("pre", "<pre>"),
    ("span", '<span class="tg-spoiler">'),
    ("i", "<i>"),
    ("a", '<a href="https://example.com/p?a=1&amp;b=2">'),
    ("code", "<code>"),
    ("blockquote", "<blockquote>"),
    ("blockquote", "<blockquote expandable>"),
]

leaves = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=12).map(
        lambda parts: html_lib.escape("".join(parts), quote=False)
    ),
    # Entities html.escape never writes, and Telegram's semicolon-less form.
    st.sampled_from(["&#128512;", "&#x4e2d;", "&quot;", "&amp", "&lt;&gt;"]),
)


def _wrap(opener: tuple[str, str], children: list[str]) -> str:
    tag, raw = opener
    return f"{raw}{''.join(children)}</{tag}>"


blocks = st.recursive(
    leaves,
    lambda inner: st.builds(_wrap, st.sampled_from(OPENERS), st.lists(inner, max_size=4)),
    max_leaves=12,
)
documents = st.builds(
    lambda paragraphs, copies: "\n\n".join(paragraphs) * copies,
    st.lists(blocks, min_size=1, max_size=12),
    st.integers(min_value=1, max_value=8),
)


def formatting(html: str) -> list[frozenset[tuple[str, str | None, str | None]]]:
    """Return, per UTF-16 unit of the visible text, the set of entities covering it."""
    parsed = parse_html(html)
    units: list[set[tuple[str, str | None, str | None]]] = [
        set() for _ in range(utf16_len(parsed.text))
    ]
    for entity in parsed.entities:
        for unit in range(entity.offset, entity.offset + entity.length):
            units[unit].add((entity.type, entity.url, entity.language))
    # Code inside pre looks like pre: <pre><code>x</code></pre> is one pre entity, so a cut
    # that leaves a code element filling a whole chunk's pre may merge the two.
    return [
        frozenset(u for u in unit if u[0] != "code" or not any(v[0] == "pre" for v in unit))
        for unit in units
    ]


@pytest.mark.slow
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents, limit=st.integers(min_value=50, max_value=TELEGRAM_LIMIT))
def test_chunks_parse_fit_and_concatenate_to_the_original_text(document: str, limit: int) -> None:
    """Every chunk parses and fits; chunks rejoin to the stripped original modulo whitespace
    at the cuts; every character keeps the formatting it had."""
    original = parse_html(document).text
    chunks = split_html(document, limit=limit)
    if utf16_len(original) <= limit or original.isspace():
        assert chunks == [document]
        return
    stripped = original.strip()
    lead = len(original) - len(original.lstrip())
    whole = formatting(document)
    pos = 0
    for index, chunk in enumerate(chunks):
        text = visible(chunk)
        assert 1 <= utf16_len(text) <= limit
        assert text == text.strip()
        if index:
            while pos < len(stripped) and stripped[pos].isspace():
                pos += 1
        assert stripped.startswith(text, pos)
        start = utf16_len(original[: lead + pos])
        assert formatting(chunk) == whole[start : start + utf16_len(text)]
        pos += len(text)
    assert pos == len(stripped)
