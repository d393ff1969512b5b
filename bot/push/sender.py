"""The Sender contract: an `OutgoingMessage` (a whole digest) in, a `SendResult` out."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from bot.digest import Button


class Outcome(Enum):
    """What became of one send."""

    SENT = "sent"
    RETRY = "retry"  # transient: timeout, 5xx, or 429 the sender chose not to wait out
    BLOCKED = "blocked"  # 403, chat or forum topic gone or closed: the subscriber goes inactive
    MIGRATED = "migrated"  # the group became a supergroup: resend to new_chat_id
    FAILED = "failed"  # permanent: the row fails with the reason


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One push as plain data: the digest's parts in order, its buttons, and where it goes.

    A long digest is split into several Telegram messages (`parts`, as /latest sends them);
    the buttons go under the last part, where a reader ends. Only `parts[start:stop]` is
    sent: the push sends one part at a time, so the ledger records each part's progress.
    """

    chat_id: int
    chat_type: str
    parts: tuple[str, ...]
    buttons: tuple[Button, ...] = ()
    paid: bool = False
    start: int = 0  # the first part to send (the ones before reached the chat earlier)
    stop: int | None = None  # one past the last part to send (None: through the end)
    thread_id: int = 0  # the forum topic to post into (message_thread_id); 0: the chat itself

    @property
    def window(self) -> range:
        """Return the indexes of the parts to send now."""
        return range(len(self.parts))[self.start : self.stop]


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of sending one digest, and how many of its parts reached the chat.

    `outcome` is SENT only when every part of the message's window went out. Otherwise it is
    the failure of the window's part number `delivered` (0-based): the parts before it were
    delivered and must not be sent again to that chat.
    """

    outcome: Outcome
    delivered: int = 0  # parts of the window that reached the chat, in order
    message_ids: tuple[int, ...] = ()  # Telegram's ids of the delivered parts
    retry_after: float | None = None  # set for a 429 the engine should wait out (no attempt)
    new_chat_id: int | None = None
    error: str | None = None

    @property
    def message_id(self) -> int | None:
        """Return the id of the digest's first message (where it starts), if any went out."""
        return self.message_ids[0] if self.message_ids else None


class Sender(Protocol):
    """Sends one digest part by part, pacing itself, and maps transport errors to an Outcome."""

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Send the parts of `message.window` in order; stop at the first failure, report it.

        Never raise for Bot API errors. Raise a DigestError (such as ConfigError for a token
        the Bot API refuses) only when no message can go out: the push stops and hands its
        unsent rows back.
        """
        ...
