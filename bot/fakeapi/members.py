"""Who is what in each chat: member roles and rights, and the Bot API methods that read them.

getChatMember and getChatAdministrators answer exactly as Telegram shapes ChatMember objects:
ChatMemberOwner (``creator``), ChatMemberAdministrator (``administrator`` with every ``can_*``
right Telegram lists for that kind of chat), ChatMemberMember (``member``), ChatMemberLeft
(``left``) and ChatMemberBanned (``kicked``). A user who wrote in a group is a member unless
the test gave them another role; the bot is a member of every group it was added to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from bot.fakeapi.chats import Chats
from bot.fakeapi.models import FakeChat
from bot.fakeapi.params import ApiError, as_int, bad_request, dumps

STATUSES: Final = frozenset({"creator", "administrator", "member", "left", "kicked"})

# The rights of a ChatMemberAdministrator, by chat type, with what an admin gets by default.
_COMMON_RIGHTS: Final = {
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
}
_GROUP_RIGHTS: Final = {"can_pin_messages": True}
_SUPERGROUP_RIGHTS: Final = {"can_pin_messages": True, "can_manage_topics": False}
_CHANNEL_RIGHTS: Final = {"can_post_messages": True, "can_edit_messages": True}


def admin_rights(chat_type: str) -> dict[str, bool]:
    """Return the rights an administrator of this kind of chat has by default."""
    extra = {
        "group": _GROUP_RIGHTS,
        "supergroup": _SUPERGROUP_RIGHTS,
        "channel": _CHANNEL_RIGHTS,
    }.get(chat_type, {})
    return {**_COMMON_RIGHTS, **extra}


@dataclass(frozen=True, slots=True)
class Role:
    """A user's status in one chat, with an administrator's rights."""

    status: str
    rights: dict[str, bool] = field(default_factory=dict)
    custom_title: str | None = None

    def member_dict(self, user: dict[str, Any], chat_type: str) -> dict[str, Any]:
        """Return the Bot API ChatMember object of this role for `user`."""
        data: dict[str, Any] = {"user": user, "status": self.status}
        if self.status == "creator":
            data["is_anonymous"] = False
        elif self.status == "administrator":
            data.update(can_be_edited=False, is_anonymous=False)
            data.update({**admin_rights(chat_type), **self.rights})
        elif self.status == "kicked":
            data["until_date"] = 0
        if self.custom_title and self.status in ("creator", "administrator"):
            data["custom_title"] = self.custom_title
        return data

    @property
    def is_admin(self) -> bool:
        """Tell whether this role is the owner's or an administrator's."""
        return self.status in ("creator", "administrator")


MEMBER: Final = Role("member")
LEFT: Final = Role("left")


class Members:
    """Keep each chat's roles; answer getChatMember and getChatAdministrators."""

    def __init__(self, chats: Chats, bot_user: dict[str, Any]) -> None:
        self._chats = chats
        self._bot_user = bot_user
        self._roles: dict[int, dict[int, Role]] = {}

    @property
    def bot_id(self) -> int:
        """Return the bot's own user id."""
        return int(self._bot_user["id"])

    def set_role(
        self,
        chat_id: int,
        user_id: int,
        status: str,
        *,
        rights: dict[str, bool] | None = None,
        custom_title: str | None = None,
    ) -> Role:
        """Give a user (or the bot) a role in a chat; `rights` override an admin's defaults."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; one of {sorted(STATUSES)}")
        chat = self._chats.get_chat(chat_id)
        if chat is None:
            raise ValueError(f"chat {chat_id} is not registered")
        if rights:
            unknown = set(rights) - set(admin_rights(chat.type))
            if unknown:
                raise ValueError(f"no such right in a {chat.type}: {sorted(unknown)}")
        role = Role(status, dict(rights or {}), custom_title)
        self._roles.setdefault(chat_id, {})[user_id] = role
        return role

    def joined(self, chat_id: int, user_id: int) -> None:
        """Note that a user wrote in the chat: a member, unless they have a role already."""
        self._roles.setdefault(chat_id, {}).setdefault(user_id, MEMBER)

    def role(self, chat: FakeChat, user_id: int) -> Role:
        """Return a user's role in a chat (the bot is a member of every group by default)."""
        role = self._roles.get(chat.id, {}).get(user_id)
        if role is not None:
            return role
        if chat.type == "private":
            return MEMBER if user_id in (chat.id, self.bot_id) else LEFT
        if user_id == self.bot_id and chat.type in ("group", "supergroup"):
            return MEMBER
        return LEFT

    def can_post(self, chat: FakeChat) -> bool:
        """Tell whether the bot may post in the chat (in a channel: an admin with the right)."""
        role = self.role(chat, self.bot_id)
        if chat.type != "channel":
            return role.status not in ("left", "kicked")
        if role.status == "creator":
            return True
        return role.status == "administrator" and role.rights.get("can_post_messages", True)

    def check_post(self, chat_id: int) -> None:
        """Refuse a message to a channel the bot may not post in, with Telegram's words."""
        chat = self._chats.get_chat(chat_id)
        if chat is None or self.can_post(chat):
            return
        if self.role(chat, self.bot_id).status in ("left", "kicked"):
            raise ApiError(403, "Forbidden: bot is not a member of the channel chat")
        raise bad_request("need administrator rights in the channel chat")

    def change(
        self,
        chat: FakeChat,
        user_id: int,
        by: dict[str, Any],
        status: str,
        *,
        rights: dict[str, bool] | None = None,
        date: int = 0,
    ) -> dict[str, Any]:
        """Change a member's role; return the ChatMemberUpdated Telegram sends about it."""
        old = self.role(chat, user_id)
        new = self.set_role(chat.id, user_id, status, rights=rights)
        user = self._user_dict(user_id)
        return {
            "chat": self._chats.chat_dict(chat),
            "from": by,
            "date": date,
            "old_chat_member": old.member_dict(user, chat.type),
            "new_chat_member": new.member_dict(user, chat.type),
        }

    def _user_dict(self, user_id: int) -> dict[str, Any]:
        if user_id == self.bot_id:
            return self._bot_user
        user = self._chats.get_user(user_id)
        if user is None:
            raise bad_request("user not found")
        return user.to_dict()

    def _chat(self, params: dict[str, Any]) -> FakeChat:
        chat_id, _ = self._chats.resolve(params)
        # resolve() accepts any user's private chat, registered or not.
        chat = self._chats.get_chat(chat_id) or FakeChat(chat_id, "private")
        if chat.type == "channel" and not self.role(chat, self.bot_id).is_admin:
            raise ApiError(403, "Forbidden: bot is not a member of the channel chat")
        return chat

    def get_chat_member(self, params: dict[str, Any]) -> str:
        """Answer getChatMember: the user's ChatMember object in that chat."""
        chat = self._chat(params)
        user_id = as_int(params, "user_id")
        user = self._user_dict(user_id)
        return dumps(self.role(chat, user_id).member_dict(user, chat.type))

    def get_chat_administrators(self, params: dict[str, Any]) -> str:
        """Answer getChatAdministrators: the owner and administrators (bots included)."""
        chat = self._chat(params)
        if chat.type == "private":
            raise bad_request("there are no administrators in the private chat")
        admins = [
            role.member_dict(self._user_dict(user_id), chat.type)
            for user_id, role in self._roles.get(chat.id, {}).items()
            if role.is_admin
        ]
        # Telegram lists the owner first.
        admins.sort(key=lambda member: member["status"] != "creator")
        return dumps(admins)
