"""Channels: the states of a channel subscription, and the buttons a channel post carries.

A channel is a subscriber whose ``chat_type`` is ``channel``. It is connected by one of its
administrators (``connected_by``), paused until that person confirms it when the bot was
simply added, and lost when the bot may no longer post there. Its inactive reason tells
these states apart, so the one ``active`` flag stays what the push reads. Pure: no Telegram,
no database.
"""

from __future__ import annotations

from typing import Final

from bot.arguments import DEEP_LINK_PARTS
from bot.digest import Button, callback

CHANNEL: Final = "channel"  # subscribers.chat_type of a channel

# Why a channel is inactive (subscribers.inactive_reason).
UNCONFIRMED: Final = "unconfirmed"  # the bot was added; an administrator has not confirmed
PAUSED: Final = "paused"  # an administrator paused it
DISCONNECTED: Final = "disconnected"  # an administrator disconnected it
LOST: Final = "channel lost"  # the bot was removed or may no longer post

# Deep-link payload prefixes of a channel post's buttons, by part (f<id>, r<id>).
PART_PREFIXES: Final = {part: prefix for prefix, part in DEEP_LINK_PARTS.items()}


def readd_state(reason: str | None) -> str | None:
    """Return the inactive reason a channel has once the bot is a posting admin again.

    None means active. A lost channel comes back as it was (its settings are kept); a paused
    one stays paused; one never confirmed, or disconnected, waits for a confirmation.
    """
    if reason is None:
        return None
    if reason == PAUSED:
        return PAUSED
    if reason in (UNCONFIRMED, DISCONNECTED):
        return UNCONFIRMED
    return None


def resumable(reason: str | None) -> bool:
    """Tell whether an administrator may (re)start posting: paused or awaiting confirmation."""
    return reason in (PAUSED, UNCONFIRMED)


def part_payload(part: str, article_id: int) -> str:
    """Return the /start payload that delivers one part of an article in a private chat."""
    return f"{PART_PREFIXES[part]}{article_id}"


def deep_link(bot_username: str, payload: str) -> str:
    """Return the t.me link that opens the bot with /start <payload>."""
    return f"https://t.me/{bot_username}?start={payload}"


def channel_buttons(
    buttons: tuple[Button, ...], bot_username: str, article_id: int
) -> tuple[Button, ...]:
    """Return a digest's buttons for a channel: 📖 and ⚠️ become deep links into the bot.

    A button press in a channel would answer into the channel, which the bot never does; a
    deep link opens the reader's own private chat with the bot instead. URL buttons stay.
    """
    links = {
        callback(part, article_id): deep_link(bot_username, part_payload(part, article_id))
        for part in PART_PREFIXES
    }
    return tuple(
        Button(b.label, url=links[b.callback_data]) if b.callback_data in links else b
        for b in buttons
    )


def state_of(active: bool, reason: str | None) -> str:
    """Return a channel's state as its screen names it: active, paused, unconfirmed, ..."""
    if active:
        return "active"
    return {PAUSED: "paused", UNCONFIRMED: "unconfirmed", DISCONNECTED: "disconnected"}.get(
        reason or "", "lost"
    )
