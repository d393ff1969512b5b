"""Who may manage a chat: members' roles, read from Telegram and cached briefly.

A group's (or channel's) subscription belongs to its administrators: they alone may stop it
or change its time, timezone, language and topics. Asking Telegram on every command would
cost a round trip each; a role read is kept for ``ROLE_TTL`` seconds, so a demoted
administrator loses the right within a minute. The cache knows nothing of Telegram: the
adapter passes the function that asks it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

ROLE_TTL: Final = 60.0  # seconds a role read from Telegram is trusted
_MAX_ENTRIES: Final = 10_000  # beyond this the oldest reads are dropped

ADMIN_STATUSES: Final = frozenset({"creator", "administrator"})


@dataclass(frozen=True, slots=True)
class MemberRole:
    """A user's (or the bot's) status in one chat, and whether it may post there."""

    status: str  # creator, administrator, member, restricted, left, kicked
    can_post: bool = False  # channels: the administrator right to post messages

    @property
    def is_admin(self) -> bool:
        """Tell whether this is the chat's owner or one of its administrators."""
        return self.status in ADMIN_STATUSES


Fetch = Callable[[int, int], Awaitable[MemberRole]]


class RoleCache:
    """Roles by (chat id, user id), each trusted for `ttl` seconds of `clock`."""

    def __init__(self, ttl: float = ROLE_TTL, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self._clock = clock
        self._roles: dict[tuple[int, int], tuple[float, MemberRole]] = {}

    async def role(self, chat_id: int, user_id: int, fetch: Fetch) -> MemberRole:
        """Return the user's role in the chat, asking `fetch` when none is fresh."""
        key = (chat_id, user_id)
        now = self._clock()
        cached = self._roles.get(key)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        role = await fetch(chat_id, user_id)  # a failure raises and is not cached
        if len(self._roles) >= _MAX_ENTRIES:
            self._roles = {k: v for k, v in self._roles.items() if now - v[0] < self.ttl}
            if len(self._roles) >= _MAX_ENTRIES:
                self._roles.clear()
        self._roles[key] = (now, role)
        return role

    def forget(self, chat_id: int, user_id: int | None = None) -> None:
        """Drop what is known of one member (or of every member) of a chat."""
        if user_id is not None:
            self._roles.pop((chat_id, user_id), None)
            return
        for key in [k for k in self._roles if k[0] == chat_id]:
            del self._roles[key]


FetchAdmins = Callable[[int], Awaitable[frozenset[int]]]


class AdminLists:
    """Each chat's administrators' user ids, as getChatAdministrators told, for `ttl` seconds.

    /channels asks it for every channel: one read per channel serves every person asking
    within the ttl, and a demoted administrator drops off the list within it.
    """

    def __init__(self, ttl: float = ROLE_TTL, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self._clock = clock
        self._admins: dict[int, tuple[float, frozenset[int]]] = {}

    async def admins(self, chat_id: int, fetch: FetchAdmins) -> frozenset[int]:
        """Return the chat's administrators, asking `fetch` when the list is not fresh."""
        now = self._clock()
        cached = self._admins.get(chat_id)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        admins = await fetch(chat_id)  # a failure raises and is not cached
        if len(self._admins) >= _MAX_ENTRIES:
            self._admins.clear()
        self._admins[chat_id] = (now, admins)
        return admins

    def forget(self, chat_id: int) -> None:
        """Drop a chat's list (its members' roles changed)."""
        self._admins.pop(chat_id, None)
