"""The flood guard: the first handler every update meets (handler group -1).

It spends one command of the chat's budget (``bot.flood.CommandBudget``) for every update the
bot would answer: commands, button presses, and free text in a private chat. Within budget, and
not a repeat of a request whose reply is still queued (``Outbox.pending``), the update goes on to
its handler. Otherwise it stops here (``ApplicationHandlerStop``): the first command over budget
gets one "slow down" notice in the chat's language, later ones nothing until the chat calms
down; an ignored button press is still answered, so its spinner stops.
"""

from __future__ import annotations

import dataclasses
import logging

from telegram import Chat, Update
from telegram.ext import ApplicationHandlerStop

from bot.flood import Verdict
from bot.telegram.context import DigestContext, chat_info

log = logging.getLogger(__name__)

GROUP = -1  # before every other handler


def counted(update: Update, username: str) -> bool:
    """Tell whether the bot would answer this update (so it costs the chat's budget)."""
    if update.callback_query is not None:
        return True
    message = update.message
    if message is None or not message.text:
        return False  # edits, service messages, media: never answered
    word = message.text.split(maxsplit=1)[0] if message.text.strip() else ""
    if word.startswith("/"):
        _, at, name = word.partition("@")
        # A group's /cmd@otherbot is not for this bot.
        return not at or name.casefold() == username.casefold()
    return message.chat.type == Chat.PRIVATE


async def guard(update: Update, context: DigestContext) -> None:
    """Let the update through if its chat is within budget and it is no repeat; else stop it."""
    chat = update.effective_chat
    request = context.request
    if chat is None or request is None or not counted(update, context.bot.username or ""):
        return
    verdict = context.bot_data.budget.check(chat.id)
    if verdict is Verdict.ALLOW and not context.outbox.pending(chat.id, request):
        return
    if verdict is Verdict.WARN:
        log.info("chat %s sends too many commands: told to slow down, then ignored", chat.id)
        info = await chat_info(update, context)
        if info is not None:
            # Its own reply, never a duplicate of the flood's queued ones.
            reply = dataclasses.replace(context.reply(info), request=None)
            await reply.notice("slow_down")
    if update.callback_query is not None:
        await update.callback_query.answer()  # the spinner stops even for an ignored press
    raise ApplicationHandlerStop
