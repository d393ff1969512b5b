"""Losing a channel: the one policy for a channel that refuses the bot, wherever it is noticed.

A channel refuses the bot when it was removed or demoted: a ``my_chat_member`` update says so
to the running bot, and a send (the daily push, ``digestbot push``, "post the latest now")
finds out on its own. Either way the channel becomes inactive (``channel lost``) and the
person who connected it is told once, in private: only the transition from active to lost
tells. :func:`push_sender` is the Sender every push uses, so both push paths notice it alike.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from telegram import Bot
from telegram.error import TelegramError
from telegram.ext import ExtBot

from bot import channels
from bot.i18n import DEFAULT_LANG, Lang, is_lang
from bot.model import Subscriber
from bot.push.sender import Outcome, OutgoingMessage, Sender, SendResult
from bot.rendering import Renderer
from bot.runtime import Runtime
from bot.telegram.sender import TelegramSender

log = logging.getLogger(__name__)


def channel_lang(subscriber: Subscriber) -> Lang:
    """Return the language a channel's digest (and its notices) are written in."""
    return subscriber.language if is_lang(subscriber.language) else DEFAULT_LANG


async def tell(
    bot: Bot, renderer: Renderer, user_id: int, lang: Lang, key: str, **values: object
) -> bool:
    """Send one catalogue sentence to a person's private chat; False if it cannot reach them."""
    text = renderer.render("notice", lang, key=key, values=values)
    try:
        await bot.send_message(user_id, text)
    except TelegramError as exc:
        # They never started the bot, or blocked it: the channel works without the notice.
        log.info("could not tell user %s about a channel: %s", user_id, exc)
        return False
    return True


async def tell_lost(bot: Bot, renderer: Renderer, lost: Subscriber) -> None:
    """Tell the person who connected a channel that the bot can no longer post there."""
    if lost.connected_by is not None:
        lang = channel_lang(lost)
        await tell(bot, renderer, lost.connected_by, lang, "channel_lost", title=lost.title)


async def lose(bot: Bot, runtime: Runtime, chat_id: int) -> None:
    """Mark a channel lost; if it was active, tell the person who connected it (once)."""
    lost = await asyncio.to_thread(runtime.store.lose_channel, chat_id)
    if lost is not None:
        log.info("channel %s lost: the bot may no longer post there", chat_id)
        await tell_lost(bot, runtime.renderer, lost)


class LosingSender:
    """The push's Sender, noticing channels that refuse the bot: they are lost at once.

    It runs before the push records the refusal, so the channel is marked (and its editor
    told) by the one transition from active to lost, never twice.
    """

    def __init__(self, sender: Sender, bot: Bot, runtime: Runtime) -> None:
        self.sender = sender
        self.bot = bot
        self.runtime = runtime

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Send through the wrapped sender; a channel that refused is lost."""
        result = await self.sender.send(message)
        if result.outcome is Outcome.BLOCKED and message.chat_type == channels.CHANNEL:
            await lose(self.bot, self.runtime, message.chat_id)
        return result


def push_sender(bot: ExtBot[Any], runtime: Runtime) -> Sender:
    """Return the Sender of a push through `bot`: paced, and losing channels that refuse it."""
    return LosingSender(TelegramSender(bot), bot, runtime)
