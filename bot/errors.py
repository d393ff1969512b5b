"""The one exception hierarchy of digestbot; translated at the edges (CLI, handlers, logs)."""

from __future__ import annotations


class DigestError(Exception):
    """Base of every error digestbot raises on purpose."""


class ConfigError(DigestError):
    """A setting is missing or malformed."""


class ArticleError(DigestError):
    """An article file cannot be parsed; the message starts with its path."""


class MarkupError(DigestError):
    """Text is not valid Telegram HTML."""


class NotFoundError(DigestError):
    """The referenced article, subscriber or record does not exist."""


class UsageError(DigestError):
    """A command was given arguments it cannot use."""


class DeliveryError(DigestError):
    """A message could not be delivered."""


class DatabaseError(DigestError):
    """The database cannot be used safely (its SQLite file was deleted or replaced)."""


class SendAbandoned(DeliveryError):
    """A message was not sent: the bot is shutting down and its slot came too late."""
