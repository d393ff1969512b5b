"""Keyboards: plain Button rows become PTB inline keyboards, built once per distinct rows."""

from __future__ import annotations

from bot.digest import Button
from bot.telegram.keyboards import markup

ROW = [Button("📖", callback_data="full:1"), Button("🔗", url="https://example.com")]


def test_equal_rows_share_one_keyboard_and_empty_rows_give_none() -> None:
    first = markup([ROW, []])
    assert first is not None
    assert markup((tuple(ROW),)) is first
    assert [[b.text for b in row] for row in first.inline_keyboard] == [["📖", "🔗"]]
    assert first.inline_keyboard[0][1].url == "https://example.com"
    assert markup([]) is None
    assert markup([[]]) is None


def test_different_buttons_give_a_different_keyboard() -> None:
    other = markup([[Button("📖", callback_data="full:2")]])
    assert other is not None
    assert other.inline_keyboard[0][0].callback_data == "full:2"
    assert other is not markup([ROW])
