"""The Sender contract: an `OutgoingMessage` in, a `SendResult` with its `Outcome` out."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from bot.digest import Button


class Outcome(Enum):
    """What became of one send."""

    SENT = "sent"
    RETRY = "retry"  # transient: timeout, 5xx, or 429 the sender chose not to wait out
    BLOCKED = "blocked"  # 403 or chat not found: the subscriber goes inactive
    MIGRATED = "migrated"  # the group became a supergroup: resend to new_chat_id
    FAILED = "failed"  # permanent: the row fails with the reason


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One push message as plain data: HTML text, inline buttons, and where it goes."""

    chat_id: int
    chat_type: str
    html: str
    buttons: tuple[Button, ...] = ()
    paid: bool = False


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of sending one message."""

    outcome: Outcome
    message_id: int | None = None
    retry_after: float | None = None  # set for a 429 the engine should wait out (no attempt)
    new_chat_id: int | None = None
    error: str | None = None


class Sender(Protocol):
    """Sends one message, pacing itself, and maps transport errors to an Outcome."""

    async def send(self, message: OutgoingMessage) -> SendResult:
        """Send `message` and report what happened (never raise for Bot API errors).

        Raise a DigestError (such as ConfigError for a token the Bot API refuses) only when
        no message can go out: the push stops and hands its unsent rows back.
        """
        ...
