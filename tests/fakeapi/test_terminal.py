"""Tests for bot.fakeapi.terminal: Telegram entities become rich styles for the console."""

from __future__ import annotations

import io

from rich.console import Console

from bot.fakeapi.terminal import button_lines, button_urls, to_rich, utf16_to_index
from bot.markup import parse_html


def styled(html: str) -> list[tuple[str, str]]:
    """Return (styled text, style) pairs of the rich rendering of html."""
    parsed = parse_html(html)
    text = to_rich(parsed.text, parsed.entities)
    return [(text.plain[s.start : s.end], str(s.style)) for s in text.spans]


def plain(html: str) -> str:
    parsed = parse_html(html)
    return to_rich(parsed.text, parsed.entities).plain


def test_utf16_offsets_map_past_astral_characters() -> None:
    table = utf16_to_index("😀a🔗b")
    # 😀 takes UTF-16 units 0-1, a is 2, 🔗 3-4, b 5.
    assert table[0] == 0
    assert table[2] == 1
    assert table[3] == 2
    assert table[5] == 3
    assert table[6] == 4


def test_bold_italic_underline_strike_code_become_styles() -> None:
    pairs = styled("<b>B</b> <i>I</i> <u>U</u> <s>S</s> <code>C</code>")
    assert ("B", "bold") in pairs
    assert ("I", "italic") in pairs
    assert ("U", "underline") in pairs
    assert ("S", "strike") in pairs
    assert ("C", "cyan") in pairs


def test_styles_after_emoji_land_on_the_right_characters() -> None:
    pairs = styled("📖 全文 🔗 <b>粗体</b> ⚠️ <i>斜体</i>")
    assert ("粗体", "bold") in pairs
    assert ("斜体", "italic") in pairs


def test_link_shows_its_text_then_the_underlined_url() -> None:
    html = '🔗 <a href="https://example.com/a">原文</a> 后'
    assert plain(html) == "🔗 原文 (https://example.com/a) 后"
    pairs = styled(html)
    assert ("原文", "underline blue link https://example.com/a") in pairs
    assert (" (https://example.com/a)", "underline link https://example.com/a") in pairs


def test_link_url_already_on_a_button_is_not_repeated() -> None:
    parsed = parse_html('<b><a href="https://x.org/a">标题</a></b> 后')
    text = to_rich(parsed.text, parsed.entities, known_urls={"https://x.org/a"})
    assert text.plain == "标题 后"
    other = to_rich(parsed.text, parsed.entities, known_urls={"https://x.org/b"})
    assert other.plain == "标题 (https://x.org/a) 后"


def test_without_spelled_urls_a_link_is_only_a_hyperlink_on_its_text() -> None:
    """On a terminal the link text carries the URL as a hyperlink; no long URL is printed."""
    parsed = parse_html('<a href="https://x.org/a">原文</a>')
    text = to_rich(parsed.text, parsed.entities, spell_urls=False)
    assert text.plain == "原文"
    assert [str(s.style) for s in text.spans] == ["underline blue link https://x.org/a"]


def test_button_urls_are_the_url_buttons_urls() -> None:
    rows = [
        [{"text": "📖", "callback_data": "full:1"}],
        [{"text": "🔗", "url": "https://x.org/"}],
    ]
    assert button_urls(rows) == {"https://x.org/"}


def test_link_whose_text_is_its_url_is_not_repeated() -> None:
    assert plain('<a href="https://x.org/">https://x.org/</a>') == "https://x.org/"


def test_blockquote_is_indented_on_lines_of_its_own() -> None:
    assert plain("前<blockquote>一\n二</blockquote>后") == "前\n│ 一\n│ 二\n后"
    assert plain("<blockquote expandable>长</blockquote>") == "│ 长"


def test_bold_around_a_link_does_not_swallow_the_url_suffix() -> None:
    pairs = styled('<b><a href="https://x.org/p">t</a></b>!')
    assert ("t", "bold") in pairs
    assert plain('<b><a href="https://x.org/p">t</a></b>!') == "t (https://x.org/p)!"


def test_link_at_the_very_end_gets_its_url_once() -> None:
    assert plain('a <a href="https://x.org">l</a>') == "a l (https://x.org)"


def test_plain_console_prints_no_escape_codes() -> None:
    parsed = parse_html('<b>粗</b> <a href="https://x.org">l</a>')
    buffer = io.StringIO()
    out = Console(file=buffer, force_terminal=False, color_system=None, width=40)
    out.print(to_rich(parsed.text, parsed.entities))
    assert buffer.getvalue() == "粗 l (https://x.org)\n"


def test_buttons_are_numbered_across_rows_and_url_buttons_show_the_url() -> None:
    rows = [
        [{"text": "📖 全文", "callback_data": "full:1"}, {"text": "⚠️ 风险", "callback_data": "r"}],
        [{"text": "🔗 原文", "url": "https://example.com/"}],
    ]
    shown, listing = button_lines(rows, message_id=7, first=4)
    assert [b.number for b in shown] == [4, 5, 6]
    assert shown[0].callback_data == "full:1"
    assert shown[2].url == "https://example.com/"
    assert shown[0].message_id == 7
    assert listing.plain == "[4] 📖 全文  [5] ⚠️ 风险\n[6] 🔗 原文 https://example.com/"
