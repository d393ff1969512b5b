"""The users and chats the server knows, and whether the bot may write to a chat."""

from __future__ import annotations

from typing import Any

from bot.fakeapi.models import FakeChat, FakeUser
from bot.fakeapi.params import ApiError, bad_request, dumps


class Chats:
    """Register users and chats; block, forget and migrate them; check the bot's chat_id.

    Private chats with any positive id are accepted (as if that user had started the bot)
    unless `strict`; groups must be registered with :meth:`group`.
    """

    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict
        self._users: dict[int, FakeUser] = {}
        self._chats: dict[int, FakeChat] = {}
        # Each chat's Chat object, as a dict for updates and pre-encoded for responses.
        self._json: dict[int, dict[str, Any]] = {}
        self._str: dict[int, str] = {}
        self._blocked: set[int] = set()
        self._forgotten: set[int] = set()
        self._migrated: dict[int, int] = {}
        self._next_supergroup = 1
        self._channels: set[int] = set()
        self._by_username: dict[str, int] = {}  # public chats by lower-case @username

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

    def remember(self, user: FakeUser) -> None:
        """Register `user` unless a user with its id is known already."""
        self._users.setdefault(user.id, user)

    def get_user(self, user_id: int) -> FakeUser | None:
        """Return a registered user."""
        return self._users.get(user_id)

    def get_chat(self, chat_id: int) -> FakeChat | None:
        """Return a registered chat."""
        return self._chats.get(chat_id)

    def private_chat(self, user: FakeUser) -> FakeChat:
        """Return the private chat between the bot and `user` (its id is the user's id)."""
        self.remember(user)
        chat = FakeChat(user.id, "private", first_name=user.first_name, username=user.username)
        self.register(chat)
        return chat

    def group(
        self, chat_id: int, title: str = "Group", *, supergroup: bool = False, forum: bool = False
    ) -> FakeChat:
        """Register a group (negative id) the bot is a member of; a forum is a supergroup."""
        if chat_id >= 0:
            raise ValueError("group ids are negative")
        kind = "supergroup" if supergroup or forum else "group"
        chat = FakeChat(chat_id, kind, title=title, is_forum=forum)
        self.register(chat)
        return chat

    def channel(self, chat_id: int, title: str, *, username: str | None = None) -> FakeChat:
        """Register a channel (a -100… id); the bot is not in it until given a role."""
        if chat_id >= 0:
            raise ValueError("channel ids are negative")
        chat = FakeChat(chat_id, "channel", title=title, username=username)
        self.register(chat)
        return chat

    def is_channel(self, chat_id: int) -> bool:
        """Tell whether the chat is a registered channel."""
        return chat_id in self._channels

    def register(self, chat: FakeChat) -> None:
        """Make `chat` known (again, if it was forgotten)."""
        self._chats[chat.id] = chat
        if chat.type == "channel":
            self._channels.add(chat.id)
        if chat.username and chat.type != "private":
            self._by_username[chat.username.lower()] = chat.id
        self._json[chat.id] = chat.to_dict()
        self._str[chat.id] = dumps(self._json[chat.id])
        self._forgotten.discard(chat.id)

    def chat_dict(self, chat: FakeChat) -> dict[str, Any]:
        """Return the Bot API Chat object of `chat`, as registered when it is."""
        return self._json.get(chat.id) or chat.to_dict()

    def block(self, user_id: int) -> None:
        """Make the user block the bot: sends to them get 403."""
        self._blocked.add(user_id)

    def unblock(self, user_id: int) -> None:
        """Undo :meth:`block`."""
        self._blocked.discard(user_id)

    def forget(self, chat_id: int) -> None:
        """Make sends to this chat fail with 400 chat not found (a deleted account)."""
        self._forgotten.add(chat_id)

    def migrated_to(self, chat_id: int) -> int | None:
        """Return the supergroup a migrated group became, or None."""
        return self._migrated.get(chat_id)

    def migrate(self, chat_id: int) -> int:
        """Upgrade a basic group to a registered supergroup; return the new -100… id."""
        old = self._chats.get(chat_id)
        if old is None or old.type != "group":
            raise ValueError(f"chat {chat_id} is not a registered basic group")
        new_id = -(10**12 + self._next_supergroup)
        self._next_supergroup += 1
        self.register(FakeChat(new_id, "supergroup", title=old.title))
        self._migrated[chat_id] = new_id
        return new_id

    def get_chat_info(self, params: dict[str, Any]) -> str:
        """Return a chat's ChatFullInfo (is_forum for a forum): getChat."""
        chat_id, _ = self.resolve(params)
        chat = self._chats.get(chat_id)
        data = chat.to_dict() if chat is not None else {"id": chat_id, "type": "private"}
        data.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        return dumps(data)

    def resolve(self, params: dict[str, Any]) -> tuple[int, str]:
        """Return the call's chat id and the chat's JSON, or refuse the chat as Telegram does."""
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            # Public groups and channels may be named by @username instead of their id.
            found = self._by_username.get(raw[1:].lower())
            if found is None:
                raise bad_request("chat not found")
            raw = found
        try:
            chat_id = int(raw)
        except (TypeError, ValueError) as exc:
            raise bad_request("chat not found") from exc
        if chat_id in self._migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self._migrated[chat_id]},
            )
        chat = self._str.get(chat_id)
        if chat is None:
            if chat_id <= 0 or self.strict:
                raise bad_request("chat not found")
            chat = f'{{"id":{chat_id},"type":"private","first_name":"User"}}'
        if self._forgotten and chat_id in self._forgotten:
            raise bad_request("chat not found")
        if self._blocked and chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id, chat
