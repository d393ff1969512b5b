"""Sending replies: the one place that turns rendered chunks and buttons into messages.

A handler's reply is rendered at once and queued in its chat's outbox
(``bot.telegram.outbox``), so the handler never waits for the chat's pace; the chat's sender
sends it. Edits of the pressed message (``edit_in_place``) are made at once: one message the
user is looking at, and the command budget (``bot.flood``) bounds how many a chat can start.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from telegram import Bot, CallbackQuery, Message
from telegram.error import BadRequest

from bot.digest import Button, DigestCache
from bot.i18n import Lang
from bot.rendering import Renderer
from bot.splitting import split_html
from bot.telegram.keyboards import markup
from bot.telegram.outbox import Outbox, Request

Rows = Sequence[Sequence[Button]]


@dataclass(frozen=True, slots=True)
class Answer:
    """What answerCallbackQuery says: nothing (just stop the spinner), a toast or an alert."""

    key: str | None = None  # catalogue key of the text
    alert: bool = False
    lang: Lang | None = None  # the language to say it in, when not the chat's


UNAVAILABLE = Answer("unavailable", alert=True)


async def send_chunks(
    bot: Bot, chat_id: int, chunks: Sequence[str], rows: Rows = (), thread_id: int = 0
) -> list[Message]:
    """Send the chunks in order, the keyboard under the last one (where a reader ends).

    `thread_id` is the forum topic to send into (0: the chat itself, or a forum's General).
    """
    keyboard = markup(rows)
    sent = []
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        sent.append(
            await bot.send_message(
                chat_id,
                chunk,
                reply_markup=keyboard if last else None,
                message_thread_id=thread_id or None,
            )
        )
    return sent


@dataclass(frozen=True, slots=True)
class Replier:
    """Replies to one chat (one forum topic of it) in one language, queued in its outbox."""

    bot: Bot
    chat_id: int
    renderer: Renderer
    lang: Lang
    digests: DigestCache  # rendered article parts and buttons, shared by every chat
    outbox: Outbox
    request: Request | None = None  # what the replies answer (None: never a duplicate)
    thread_id: int = 0  # the forum topic the replies go to (0: the chat itself)

    async def chunks(self, chunks: Sequence[str], rows: Rows = ()) -> None:
        """Queue already rendered chunks as one reply, the keyboard on the last one."""
        send = functools.partial(
            send_chunks, self.bot, self.chat_id, tuple(chunks), rows, self.thread_id
        )
        self.outbox.put(self.chat_id, send, self.request)

    async def template(self, name: str, values: Mapping[str, object], rows: Rows = ()) -> None:
        """Render templates/<name>.html.j2 with `values` and queue it (split when long)."""
        html = self.renderer.render(name, self.lang, **values)
        await self.chunks(split_html(html), rows)

    async def notice(self, key: str, /, **values: object) -> None:
        """Queue one catalogue sentence (usage, refusal, hint) through the notice template."""
        await self.template("notice", {"key": key, "values": values})


async def edit_in_place(query: CallbackQuery, text: str, rows: Rows) -> None:
    """Replace the pressed message's text and buttons; an unchanged edit is not an error."""
    try:
        await query.edit_message_text(text, reply_markup=markup(rows))
    except BadRequest as exc:
        # A double tap, or choosing what is already set, renders the same message again;
        # Telegram refuses the no-op edit with "message is not modified".
        if "not modified" not in exc.message:
            raise
