"""The bot's typed PTB context: BotState in bot_data, and shortcuts handlers use."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, TypeAlias

from telegram import Chat, Update
from telegram.ext import Application, CallbackContext, ExtBot, JobQueue

from bot.config import Settings
from bot.i18n import Lang, is_lang, language_for
from bot.rendering import Renderer
from bot.runtime import Runtime
from bot.store import Store, Subscriber
from bot.telegram.replies import Replier


class BotState:
    """What every handler shares: settings and the Runtime that post_init opened."""

    def __init__(self) -> None:
        # PTB builds bot_data with no arguments; build_application fills these in.
        self.settings: Settings | None = None
        self.runtime: Runtime | None = None
        self.owns_runtime = False  # post_shutdown closes only what post_init opened
        self.ready = False  # post_init has run

    def require_runtime(self) -> Runtime:
        """Return the open Runtime (post_init opens it before any update is handled)."""
        if self.runtime is None:
            raise RuntimeError("the bot's Runtime is not open (post_init has not run)")
        return self.runtime


class DigestContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotState]):
    """CallbackContext with shortcuts to the runtime, store, renderer and settings."""

    @property
    def runtime(self) -> Runtime:
        """Return the open Runtime."""
        return self.bot_data.require_runtime()

    @property
    def store(self) -> Store:
        """Return the Store."""
        return self.runtime.store

    @property
    def renderer(self) -> Renderer:
        """Return the Renderer."""
        return self.runtime.renderer

    @property
    def settings(self) -> Settings:
        """Return the Settings the application was built with."""
        return self.runtime.settings

    def reply(self, chat: ChatInfo, lang: Lang | None = None) -> Replier:
        """Return a Replier for this chat, in its language unless `lang` is given."""
        return Replier(self.bot, chat.id, self.renderer, lang or chat.lang)


DigestApplication: TypeAlias = Application[
    ExtBot[None], DigestContext, dict[Any, Any], dict[Any, Any], BotState, JobQueue[DigestContext]
]


@dataclass(frozen=True, slots=True)
class ChatInfo:
    """The chat an update came from, who sent it, and the language to answer in."""

    id: int
    type: str
    title: str
    user_id: int | None
    user_lang: Lang  # from the sender's Telegram language_code
    subscriber: Subscriber | None

    @property
    def lang(self) -> Lang:
        """Return the reply language: the chat's chosen one, else the sender's."""
        return lang_of(self.subscriber, self.user_lang)

    @property
    def is_private(self) -> bool:
        """Tell whether this is a one-to-one chat with the bot."""
        return self.type == Chat.PRIVATE


def lang_of(subscriber: Subscriber | None, fallback: Lang) -> Lang:
    """Return a subscriber's locked language (set in /settings), else `fallback`."""
    if subscriber is not None and subscriber.language_locked and is_lang(subscriber.language):
        return subscriber.language
    return fallback


async def chat_info(update: Update, context: DigestContext) -> ChatInfo | None:
    """Describe the update's chat (None for updates without one, such as inline queries)."""
    chat = update.effective_chat
    if chat is None:
        return None
    user = update.effective_user
    subscriber = await asyncio.to_thread(context.store.get_subscriber, chat.id)
    return ChatInfo(
        id=chat.id,
        type=chat.type,
        title=chat.title or chat.full_name or "",
        user_id=user.id if user else None,
        user_lang=language_for(user.language_code if user else None),
        subscriber=subscriber,
    )
