"""Tests for bot.markup: Telegram HTML parsing, entities, UTF-16 offsets and refusals."""

from __future__ import annotations

import pytest

from bot.errors import MarkupError
from bot.markup import CHAR, CLOSE, OPEN, Entity, parse_html, tokenize, utf16_len, visible_length


def test_utf16_len_counts_astral_characters_twice() -> None:
    assert utf16_len("") == 0
    assert utf16_len("abc") == 3
    assert utf16_len("中文") == 2
    assert utf16_len("a😀b") == 4
    assert utf16_len("👍🏽") == 4  # emoji + skin tone modifier, both astral


def test_plain_text_has_no_entities() -> None:
    parsed = parse_html("hello, world > all")
    assert parsed.text == "hello, world > all"
    assert parsed.entities == ()


@pytest.mark.parametrize(
    ("tag", "kind"),
    [
        ("b", "bold"),
        ("strong", "bold"),
        ("i", "italic"),
        ("em", "italic"),
        ("u", "underline"),
        ("ins", "underline"),
        ("s", "strikethrough"),
        ("strike", "strikethrough"),
        ("del", "strikethrough"),
        ("tg-spoiler", "spoiler"),
        ("code", "code"),
        ("pre", "pre"),
        ("blockquote", "blockquote"),
    ],
)
def test_every_simple_tag_becomes_its_entity(tag: str, kind: str) -> None:
    parsed = parse_html(f"x <{tag}>yes</{tag}> z")
    assert parsed.text == "x yes z"
    assert parsed.entities == (Entity(kind, 2, 3),)


def test_span_with_tg_spoiler_class_is_a_spoiler() -> None:
    assert parse_html('<span class="tg-spoiler">s</span>').entities == (Entity("spoiler", 0, 1),)


def test_link_keeps_href_with_entities_decoded() -> None:
    parsed = parse_html('<a href="https://e.com/?a=1&amp;b=2">here</a>')
    assert parsed.entities == (Entity("text_link", 0, 4, url="https://e.com/?a=1&b=2"),)


def test_link_href_may_use_single_quotes() -> None:
    parsed = parse_html("<a href='https://e.com/x'>here</a>")
    assert parsed.entities[0].url == "https://e.com/x"


def test_link_without_href_links_its_own_text() -> None:
    parsed = parse_html("<a>https://t.me/x</a>")
    assert parsed.entities == (Entity("text_link", 0, 14, url="https://t.me/x"),)


def test_pre_with_language_code_is_one_pre_entity() -> None:
    parsed = parse_html('<pre><code class="language-python">print(1)</code></pre>')
    assert parsed.text == "print(1)"
    assert parsed.entities == (Entity("pre", 0, 8, language="python"),)


def test_expandable_blockquote() -> None:
    parsed = parse_html("<blockquote expandable>long quote</blockquote>")
    assert parsed.entities == (Entity("expandable_blockquote", 0, 10),)


def test_custom_emoji_keeps_its_id() -> None:
    parsed = parse_html('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>')
    assert parsed.entities == (
        Entity("custom_emoji", 0, 2, custom_emoji_id="5368324170671202286"),
    )


def test_nested_tags_give_nested_entities_sorted_by_offset() -> None:
    parsed = parse_html("<b>bold <i>both</i></b> <u>under</u>")
    assert parsed.text == "bold both under"
    assert parsed.entities == (
        Entity("bold", 0, 9),
        Entity("italic", 5, 4),
        Entity("underline", 10, 5),
    )


def test_tag_and_attribute_names_are_case_insensitive() -> None:
    parsed = parse_html('<B>x</B> <A HREF="https://e.com">y</A>')
    assert parsed.entities == (Entity("bold", 0, 1), Entity("text_link", 2, 1, "https://e.com"))


def test_empty_elements_make_no_entity() -> None:
    assert parse_html("a<b></b>c").entities == ()


def test_unknown_attributes_are_ignored_and_unquoted_values_accepted() -> None:
    parsed = parse_html('<b title="t" data-x=abc>x</b>')
    assert parsed.entities == (Entity("bold", 0, 1),)


def test_known_entities_are_decoded() -> None:
    parsed = parse_html("&lt;b&gt; &amp; &quot;q&quot; &#65;&#x42;&#128512;")
    assert parsed.text == '<b> & "q" AB😀'


def test_unknown_entities_and_bare_ampersands_stay_literal() -> None:
    parsed = parse_html("AT&T &nbsp; &apos; & &#; &#x;")
    assert parsed.text == "AT&T &nbsp; &apos; & &#; &#x;"


def test_entity_semicolon_is_optional_like_telegram() -> None:
    assert parse_html("a &amp b &lt").text == "a & b <"


def test_offsets_are_in_utf16_units_after_emoji() -> None:
    parsed = parse_html("😀😀 <b>中文😀</b> <i>x</i>")
    assert parsed.entities == (Entity("bold", 5, 4), Entity("italic", 10, 1))


def test_offsets_count_decoded_entities_as_their_characters() -> None:
    parsed = parse_html("&amp;&#128512;<b>x</b>")
    assert parsed.entities == (Entity("bold", 3, 1),)


def test_visible_length_is_utf16_length_of_visible_text() -> None:
    assert visible_length('<a href="https://e.com">😀</a> &amp;') == 4


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("a<br>b", 'Unsupported start tag "br" at byte offset 1'),
        ("<p>x</p>", 'Unsupported start tag "p" at byte offset 0'),
        ("中<div>x</div>", 'Unsupported start tag "div" at byte offset 3'),
        ("<br/>", 'Unsupported start tag "br/" at byte offset 0'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("x <", "Unclosed start tag at byte offset 2"),
        ('<a href="x>y', "Unclosed start tag at byte offset 0"),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</i>", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<b bold>x</b>", 'Expected equal sign in declaration of an attribute of the tag "b"'),
        ("<a href=http://e.com>x</a>", "Unexpected end of name token at byte offset 8"),
        ('<tg-emoji emoji-id="abc">x</tg-emoji>', "Invalid custom emoji identifier specified"),
        ("<tg-emoji>x</tg-emoji>", 'Tag "tg-emoji" must have attribute "emoji-id"'),
    ],
)
def test_refuses_what_telegram_refuses_with_its_message(html: str, reason: str) -> None:
    with pytest.raises(MarkupError) as caught:
        parse_html(html)
    assert str(caught.value).startswith("Can't parse entities: " + reason)


def test_error_offsets_are_utf8_bytes_of_the_original() -> None:
    with pytest.raises(MarkupError, match="byte offset 5"):
        parse_html("😀x<ul>")


def test_tokenize_reports_tags_and_encoded_characters_at_visible_positions() -> None:
    text, marks = tokenize('<b>a&amp;b</b> <a href="u">c</a>')
    assert text == "a&b c"
    assert [(m.pos, m.kind, m.raw) for m in marks] == [
        (0, OPEN, "<b>"),
        (1, CHAR, "&amp;"),
        (3, CLOSE, "</b>"),
        (4, OPEN, '<a href="u">'),
        (5, CLOSE, "</a>"),
    ]
