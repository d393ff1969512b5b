"""Reader links for the bot: signed page URLs and the 📖 button that opens them.

Pure: the bot passes `now` (Unix seconds) and whether the chat is private. A private chat
gets a Mini App (``web_app``) button, where Telegram also hands the page a signed initData;
groups and channels get a URL button carrying a signed, expiring ``?t=`` token (Telegram
allows web_app buttons only in private chats, and only over https).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.config import Settings
from bot.digest import Button, callback
from bot.web.access import link_expiry, link_key, sign_path


def article_path(article_id: int) -> str:
    """Return an article page's path below the reader's base."""
    return f"/a/{article_id}"


@dataclass(frozen=True, slots=True)
class ReaderLinks:
    """How to link to the reader: its public base, the link key, the links' lifetime."""

    base_url: str  # no trailing slash
    key: bytes | None  # None when WEB_PUBLIC: links carry no token
    ttl: int  # seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> ReaderLinks | None:
        """Return the reader's links when WEB_URL is set (and a token or WEB_PUBLIC allows)."""
        if not settings.web_url:
            return None
        ttl = int(settings.web_link_ttl.total_seconds())
        if settings.web_public:
            return cls(settings.web_url, None, ttl)
        token = settings.telegram_bot_token
        if token is None:
            return None  # nothing to sign links with, and the pages are not public
        return cls(settings.web_url, link_key(token.get_secret_value()), ttl)

    @property
    def https(self) -> bool:
        """Tell whether the reader is served over https (a Mini App needs it)."""
        return urlsplit(self.base_url).scheme.lower() == "https"

    def article_url(self, article_id: int, now: int) -> str:
        """Return the public URL of an article page, signed unless the reader is public."""
        path = article_path(article_id)
        if self.key is None:
            return self.base_url + path
        return f"{self.base_url}{path}?t={sign_path(self.key, path, link_expiry(now, self.ttl))}"


def full_text_button(
    label: str, links: ReaderLinks | None, article_id: int, *, private: bool, now: int
) -> Button:
    """Return the 📖 button: the reader (Mini App in private chats) or, without it, in-chat."""
    if links is None:
        return Button(label, callback_data=callback("full", article_id))
    url = links.article_url(article_id, now)
    if private and links.https:
        return Button(label, web_app=url)
    return Button(label, url=url)


def with_reader(
    buttons: tuple[Button, ...],
    links: ReaderLinks | None,
    article_id: int,
    *,
    private: bool,
    now: int,
) -> tuple[Button, ...]:
    """Return an article's buttons with 📖 turned into a reader button when there is a reader."""
    if links is None:
        return buttons
    full = callback("full", article_id)
    return tuple(
        full_text_button(b.label, links, article_id, private=private, now=now)
        if b.callback_data == full
        else b
        for b in buttons
    )


def is_private_chat(chat_id: int) -> bool:
    """Tell whether a chat id is a one-to-one chat (users are positive, groups negative)."""
    return chat_id > 0
