"""Sending replies: the one place that turns rendered chunks and buttons into messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from telegram import Bot, CallbackQuery, Message
from telegram.error import BadRequest

from bot.digest import Button, DigestCache
from bot.i18n import Lang
from bot.rendering import Renderer
from bot.splitting import split_html
from bot.telegram.keyboards import markup

Rows = Sequence[Sequence[Button]]


@dataclass(frozen=True, slots=True)
class Answer:
    """What answerCallbackQuery says: nothing (just stop the spinner), a toast or an alert."""

    key: str | None = None  # catalogue key of the text
    alert: bool = False
    lang: Lang | None = None  # the language to say it in, when not the chat's


UNAVAILABLE = Answer("unavailable", alert=True)


async def send_chunks(
    bot: Bot, chat_id: int, chunks: Sequence[str], rows: Rows = ()
) -> list[Message]:
    """Send the chunks in order, the keyboard under the last one (where a reader ends)."""
    keyboard = markup(rows)
    sent = []
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        sent.append(
            await bot.send_message(chat_id, chunk, reply_markup=keyboard if last else None)
        )
    return sent


@dataclass(frozen=True, slots=True)
class Replier:
    """Replies to one chat in one language, rendered from templates/."""

    bot: Bot
    chat_id: int
    renderer: Renderer
    lang: Lang
    digests: DigestCache  # rendered article parts and buttons, shared by every chat

    async def chunks(self, chunks: Sequence[str], rows: Rows = ()) -> list[Message]:
        """Send already rendered chunks, the keyboard on the last one."""
        return await send_chunks(self.bot, self.chat_id, chunks, rows)

    async def template(
        self, name: str, values: Mapping[str, object], rows: Rows = ()
    ) -> list[Message]:
        """Render templates/<name>.html.j2 with `values` and send it (split when long)."""
        html = self.renderer.render(name, self.lang, **values)
        return await self.chunks(split_html(html), rows)

    async def notice(self, key: str, /, **values: object) -> list[Message]:
        """Send one catalogue sentence (usage, refusal, hint) through the notice template."""
        return await self.template("notice", {"key": key, "values": values})


async def edit_in_place(query: CallbackQuery, text: str, rows: Rows) -> None:
    """Replace the pressed message's text and buttons; an unchanged edit is not an error."""
    try:
        await query.edit_message_text(text, reply_markup=markup(rows))
    except BadRequest as exc:
        # A double tap, or choosing what is already set, renders the same message again;
        # Telegram refuses the no-op edit with "message is not modified".
        if "not modified" not in exc.message:
            raise
