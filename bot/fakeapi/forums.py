"""Forum supergroups' topics: created, closed, reopened and deleted on the user side.

A topic's id (``message_thread_id``) is the id of its ``forum_topic_created`` service message,
as in Telegram. A message sent into a topic carries ``message_thread_id`` and
``is_topic_message``; one in the General topic carries neither. Telegram refuses a send into a
deleted (or never created) topic with 400 "message thread not found", into a closed one with
400 "TOPIC_CLOSED".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from bot.fakeapi.params import bad_request

# The colours Telegram lets a topic's icon have (createForumTopic's icon_color).
ICON_COLORS: Final = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)

THREAD_NOT_FOUND: Final = "message thread not found"
TOPIC_CLOSED: Final = "TOPIC_CLOSED"


@dataclass(slots=True)
class FakeTopic:
    """One topic of a forum, in its current state."""

    chat_id: int
    thread_id: int
    name: str
    icon_color: int
    creator_id: int  # the user who created it (its service message's sender)
    closed: bool = False
    deleted: bool = False

    def created_dict(self) -> dict[str, Any]:
        """Return the ForumTopicCreated object of its service message."""
        return {"name": self.name, "icon_color": self.icon_color}

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready view for the control API."""
        return {
            "chat_id": self.chat_id,
            "message_thread_id": self.thread_id,
            "name": self.name,
            "icon_color": self.icon_color,
            "closed": self.closed,
            "deleted": self.deleted,
        }


class Forums:
    """The topics of every forum, and the check of a send's ``message_thread_id``."""

    def __init__(self) -> None:
        self._topics: dict[int, dict[int, FakeTopic]] = {}

    def create(self, chat_id: int, thread_id: int, name: str, creator_id: int) -> FakeTopic:
        """Record a new topic whose service message has id `thread_id`."""
        topics = self._topics.setdefault(chat_id, {})
        color = ICON_COLORS[len(topics) % len(ICON_COLORS)]
        topic = topics[thread_id] = FakeTopic(chat_id, thread_id, name, color, creator_id)
        return topic

    def topic(self, chat_id: int, thread_id: int) -> FakeTopic:
        """Return a topic that exists (closed or not); raise ValueError otherwise."""
        topic = self._topics.get(chat_id, {}).get(thread_id)
        if topic is None or topic.deleted:
            raise ValueError(f"chat {chat_id} has no topic {thread_id}")
        return topic

    def topics(self, chat_id: int) -> list[FakeTopic]:
        """Return every topic of the forum ever created, deleted ones flagged."""
        return list(self._topics.get(chat_id, {}).values())

    def thread_for_send(self, chat_id: int, params: dict[str, Any]) -> int:
        """Return the topic a send goes to (0: none), or refuse it as Telegram does."""
        raw = params.get("message_thread_id")
        if raw is None or raw in ("", 0, "0"):
            return 0
        try:
            thread_id = int(raw)
        except (TypeError, ValueError) as exc:
            raise bad_request(THREAD_NOT_FOUND) from exc
        topic = self._topics.get(chat_id, {}).get(thread_id)
        if topic is None or topic.deleted:
            raise bad_request(THREAD_NOT_FOUND)
        if topic.closed:
            raise bad_request(TOPIC_CLOSED)
        return thread_id
