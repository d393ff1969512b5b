"""Replies: an edit in place that changes nothing is not an error; other refusals are."""

from __future__ import annotations

from typing import Any, cast

import pytest
from telegram import CallbackQuery
from telegram.error import BadRequest

from bot.digest import Button
from bot.telegram.replies import edit_in_place


class Pressed:
    """The one method of a pressed message's CallbackQuery that edit_in_place calls."""

    def __init__(self, error: BadRequest | None = None) -> None:
        self.error = error
        self.edits: list[tuple[str, Any]] = []

    async def edit_message_text(self, text: str, *, reply_markup: Any = None) -> None:
        self.edits.append((text, reply_markup))
        if self.error is not None:
            raise self.error


async def test_the_text_and_buttons_are_replaced() -> None:
    query = Pressed()
    rows = [[Button("Next", callback_data="list:2")]]
    await edit_in_place(cast("CallbackQuery", query), "page 1", rows)
    [(text, markup)] = query.edits
    assert text == "page 1"
    assert markup.inline_keyboard[0][0].callback_data == "list:2"


async def test_an_unchanged_message_is_not_an_error() -> None:
    error = BadRequest(
        "Message is not modified: specified new message content and reply markup are "
        "exactly the same as a current content and reply markup of the message"
    )
    await edit_in_place(cast("CallbackQuery", Pressed(error)), "same", [])


async def test_any_other_refusal_is_raised() -> None:
    query = Pressed(BadRequest("Message to edit not found"))
    with pytest.raises(BadRequest, match="not found"):
        await edit_in_place(cast("CallbackQuery", query), "gone", [])
