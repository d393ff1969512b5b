"""The user side: users and chats a test drives, their messages and presses, what they got.

Everything here is public API of :class:`LoopbackBotApi`; the /_control routes expose it to
other processes.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from bot.markup import utf16_len
from bot.telegram.loopback.commands import scope_key
from bot.telegram.loopback.messages import MessagesMixin
from bot.telegram.loopback.models import FakeChat, FakeUser, SentMessage
from bot.telegram.loopback.params import dumps
from bot.telegram.loopback.updates import UpdatesMixin

_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")


class UsersMixin(MessagesMixin, UpdatesMixin):
    """Play the users: register them and their chats, queue their updates, inspect replies."""

    def user(
        self,
        user_id: int,
        *,
        first_name: str = "Test",
        language_code: str | None = "en",
        username: str | None = None,
    ) -> FakeUser:
        """Register (or update) a user and return it."""
        if user_id <= 0:
            raise ValueError("user ids are positive")
        user = FakeUser(user_id, first_name, language_code, username)
        self._users[user_id] = user
        return user

    def get_user(self, user_id: int) -> FakeUser | None:
        """Return a registered user."""
        return self._users.get(user_id)

    def get_chat(self, chat_id: int) -> FakeChat | None:
        """Return a registered chat."""
        return self._chats.get(chat_id)

    def private_chat(self, user: FakeUser) -> FakeChat:
        """Return the private chat between the bot and `user` (its id is the user's id)."""
        self._users.setdefault(user.id, user)
        chat = FakeChat(user.id, "private", first_name=user.first_name, username=user.username)
        self._register(chat)
        return chat

    def group(self, chat_id: int, title: str = "Group", *, supergroup: bool = False) -> FakeChat:
        """Register a group (negative id) the bot is a member of."""
        if chat_id >= 0:
            raise ValueError("group ids are negative")
        chat = FakeChat(chat_id, "supergroup" if supergroup else "group", title=title)
        self._register(chat)
        return chat

    def _register(self, chat: FakeChat) -> None:
        self._chats[chat.id] = chat
        self._chat_json[chat.id] = chat.to_dict()
        self._chat_str[chat.id] = dumps(self._chat_json[chat.id])
        self._forgotten.discard(chat.id)

    def send_message(self, chat: FakeChat, user: FakeUser, text: str) -> int:
        """Queue a message from `user` in `chat`; return its update_id.

        A leading /command (or /command@bot) gets a bot_command entity, like Telegram. A
        message in a private chat unblocks the bot, as restarting it does in a client.
        """
        if chat.id in self._migrated:
            raise ValueError(f"chat {chat.id} was migrated to {self._migrated[chat.id]}")
        if chat.id not in self._chats:
            self._register(chat)
        self._users.setdefault(user.id, user)
        if chat.type == "private":
            self._blocked.discard(user.id)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat.id),
            "from": user.to_dict(),
            "chat": self._chat_json[chat.id],
            "date": int(time.time()),
            "text": text,
        }
        match = _COMMAND.match(text)
        if match:
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(match.group())}
            ]
        return self._queue_update("message", message)

    def press_button(self, chat: FakeChat, user: FakeUser, message_id: int, data: str) -> str:
        """Queue a callback_query for a button press on a bot message; return the query id."""
        query_id = str(10**17 + self._next_callback)
        self._next_callback += 1
        self._users.setdefault(user.id, user)
        msg = self._find(chat.id, message_id)
        chat_json = self._chat_json.get(chat.id) or chat.to_dict()
        if msg is None or msg.deleted:
            # Telegram sends an InaccessibleMessage (date 0) for messages it no longer has.
            message: dict[str, Any] = {"chat": chat_json, "message_id": message_id, "date": 0}
        else:
            message = self._message_dict(msg, chat_json)
        payload = {
            "id": query_id,
            "from": user.to_dict(),
            "message": message,
            "chat_instance": str(chat.id),
            "data": data,
        }
        self._callbacks[query_id] = (chat.id, message_id, user.id, data)
        self._queue_update("callback_query", payload)
        return query_id

    def messages(self, chat_id: int, *, include_deleted: bool = False) -> list[SentMessage]:
        """Return what the bot sent to the chat, in order, after edits."""
        sent = self._sent.get(chat_id, [])
        return list(sent) if include_deleted else [m for m in sent if not m.deleted]

    def all_sent(self) -> list[SentMessage]:
        """Return every message the bot sent, in order (deleted ones flagged)."""
        return list(self._all)

    def my_commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]]:
        """Return the commands setMyCommands stored for this scope and language."""
        return self.commands.get((scope_key(scope), language_code), [])

    def block(self, user_id: int) -> None:
        """Make the user block the bot: sends to them get 403."""
        self._blocked.add(user_id)

    def unblock(self, user_id: int) -> None:
        """Undo :meth:`block`."""
        self._blocked.discard(user_id)

    def forget_chat(self, chat_id: int) -> None:
        """Make sends to this chat fail with 400 chat not found (a deleted account)."""
        self._forgotten.add(chat_id)

    def migrate_group(self, chat_id: int, *, notify: bool = True) -> int:
        """Upgrade a group to a supergroup; return the new -100… id.

        Later calls on the old id get 400 with parameters.migrate_to_chat_id. With `notify`
        the two service messages Telegram sends are queued as updates.
        """
        old = self._chats.get(chat_id)
        if old is None or old.type != "group":
            raise ValueError(f"chat {chat_id} is not a registered basic group")
        new_id = -(10**12 + self._next_supergroup)
        self._next_supergroup += 1
        new = FakeChat(new_id, "supergroup", title=old.title)
        self._register(new)
        self._migrated[chat_id] = new_id
        if notify:
            now = int(time.time())
            self._queue_update(
                "message",
                {
                    "message_id": self._next_message_id(chat_id),
                    "chat": self._chat_json[chat_id],
                    "date": now,
                    "migrate_to_chat_id": new_id,
                },
            )
            self._queue_update(
                "message",
                {
                    "message_id": self._next_message_id(new_id),
                    "chat": self._chat_json[new_id],
                    "date": now,
                    "migrate_from_chat_id": chat_id,
                },
            )
        return new_id

    @property
    def pending_updates(self) -> int:
        """Return how many queued updates the bot has not confirmed yet."""
        return len(self._updates)

    async def wait_sent(
        self,
        chat_id: int,
        count: int,
        timeout: float = 10.0,  # noqa: ASYNC109 -- the tests' API: a deadline in seconds
    ) -> list[SentMessage]:
        """Wait until the chat has at least `count` messages; return them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            sent = self.messages(chat_id)
            if len(sent) >= count:
                return sent
            if loop.time() > deadline:
                raise TimeoutError(
                    f"chat {chat_id} has {len(sent)} of {count} messages after {timeout}s"
                )
            await asyncio.sleep(0.01)

    async def settle(
        self,
        quiet: float = 0.3,
        timeout: float = 15.0,  # noqa: ASYNC109 -- the tests' API: a deadline in seconds
    ) -> None:
        """Wait until the bot confirmed every update and made no API call for `quiet` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            idle = time.monotonic() - self._last_activity
            if not self._updates and not self._in_flight and idle >= quiet:
                return
            if loop.time() > deadline:
                raise TimeoutError(
                    f"not settled after {timeout}s: {len(self._updates)} updates pending, "
                    f"{self._in_flight} calls in flight"
                )
            await asyncio.sleep(min(0.02, max(0.001, quiet - idle)))
