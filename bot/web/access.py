"""Who may read a page: signed expiring links, Telegram Mini App initData, or everyone.

Pure functions over bytes and numbers: no aiohttp, no clock reads (callers pass `now` as Unix
seconds), no settings. Two keys, both derived from the bot token, so nothing else needs to be
configured or kept:

- links: ``?t=<expiry>.<hmac>``, an HMAC-SHA256 of ``<path>|<expiry>`` under
  ``link_key(token)``, so a token opens one page until `expiry` and nothing else;
- Mini App: Telegram signs ``initData`` with ``HMAC_SHA256(key="WebAppData", msg=token)``
  (core.telegram.org/bots/webapps, "Validating data received via the Mini App"): the hash is
  the hex HMAC-SHA256 of the data-check-string, every field but ``hash`` sorted by key as
  ``key=value`` lines. ``auth_date`` must be younger than an age bound.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import parse_qsl

# A link lives at most this long whatever WEB_LINK_TTL says; a bigger expiry is forged.
MAX_LINK_TTL = 366 * 24 * 3600
# initData older than this is refused: it was captured, not just handed over by Telegram.
INIT_DATA_MAX_AGE = 24 * 3600
# Telegram's clock and ours may disagree a little; an auth_date further ahead is forged.
CLOCK_SKEW = 300
_EXPIRY_DIGITS = 12  # Unix seconds until the year 33658: longer is not an expiry
_INIT_DATA_LIMIT = 8192  # bytes; Telegram's initData is a few hundred


@dataclass(frozen=True, slots=True)
class MiniAppUser:
    """The Telegram user a verified initData names."""

    id: int
    language_code: str


def link_key(bot_token: str) -> bytes:
    """Derive the key that signs reader links from the bot token (never the token itself)."""
    return hmac.new(b"digestbot reader links", bot_token.encode(), hashlib.sha256).digest()


def _link_mac(key: bytes, path: str, expiry: int) -> str:
    message = f"{path}|{expiry}".encode()
    # 128 bits are plenty against forgery and keep the URL short.
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def sign_path(key: bytes, path: str, expiry: int) -> str:
    """Return the `t` token that opens `path` until `expiry` (Unix seconds)."""
    return f"{expiry}.{_link_mac(key, path, expiry)}"


def link_expiry(now: int, ttl: int) -> int:
    """Return a link's expiry: `now + ttl`, rounded up to the hour so buttons can be cached."""
    return -(-(now + ttl) // 3600) * 3600


def check_token(key: bytes, path: str, token: str, now: int) -> int | None:
    """Return the expiry of a valid, unexpired `t` token for `path`; None for any other."""
    expiry_text, dot, mac = token.partition(".")
    if not dot or not expiry_text.isascii() or not expiry_text.isdigit():
        return None
    if len(expiry_text) > _EXPIRY_DIGITS:
        return None
    expiry = int(expiry_text)
    if not now < expiry <= now + MAX_LINK_TTL + 3600:
        return None
    if not hmac.compare_digest(mac.encode(), _link_mac(key, path, expiry).encode()):
        return None
    return expiry


def webapp_key(bot_token: str) -> bytes:
    """Return Telegram's initData secret key: HMAC_SHA256(key="WebAppData", msg=token)."""
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def data_check_string(fields: dict[str, str]) -> str:
    """Return the data-check-string: every field but `hash`, sorted, as key=value lines."""
    return "\n".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "hash")


def sign_init_data(bot_token: str, fields: dict[str, str]) -> str:
    """Return the hash Telegram puts into initData with these fields (tests sign with it)."""
    check = data_check_string(fields).encode()
    return hmac.new(webapp_key(bot_token), check, hashlib.sha256).hexdigest()


def verify_init_data(
    bot_token: str, init_data: str, now: int, max_age: int = INIT_DATA_MAX_AGE
) -> MiniAppUser | None:
    """Return the user of a genuine, fresh initData query string; None for any other."""
    if not init_data or len(init_data) > _INIT_DATA_LIMIT:
        return None
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    fields = dict(pairs)
    given = fields.get("hash", "")
    if len(pairs) != len(fields) or not given:
        return None  # a repeated key: which value was signed is ambiguous
    if not hmac.compare_digest(given.encode(), sign_init_data(bot_token, fields).encode()):
        return None
    if not _fresh(fields.get("auth_date", ""), now, max_age):
        return None
    return _user(fields.get("user", ""))


def _fresh(auth_date: str, now: int, max_age: int) -> bool:
    """Tell whether an auth_date (Unix seconds) is at most `max_age` old and not ahead."""
    if not auth_date.isascii() or not auth_date.isdigit() or len(auth_date) > _EXPIRY_DIGITS:
        return False
    return now - max_age <= int(auth_date) <= now + CLOCK_SKEW


def _user(text: str) -> MiniAppUser | None:
    """Return the user object of initData, or None when it has no usable id."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    user_id, language = value.get("id"), value.get("language_code", "")
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
        return None
    return MiniAppUser(user_id, language if isinstance(language, str) else "")


@dataclass(frozen=True, slots=True)
class Grant:
    """Leave to read a page; `expiry` is the link's (None: the reader is public)."""

    expiry: int | None


@dataclass(frozen=True, slots=True)
class Access:
    """The reader's access policy: public, or signed links and Mini App initData."""

    public: bool
    link_key: bytes | None  # None without a bot token: only a public reader opens
    bot_token: str | None  # verifies Mini App initData
    ttl: int  # seconds a link made from initData lives

    def grant(self, path: str, token: str, now: int) -> Grant | None:
        """Return leave to read `path` with this `t` token at `now`; None when refused."""
        if self.public:
            return Grant(None)
        if self.link_key is None or not token:
            return None
        expiry = check_token(self.link_key, path, token, now)
        return None if expiry is None else Grant(expiry)

    def mini_app_user(self, init_data: str, now: int) -> MiniAppUser | None:
        """Return the user of genuine, fresh Mini App initData; None for anything else."""
        if self.bot_token is None:
            return None
        return verify_init_data(self.bot_token, init_data, now)

    def token(self, path: str, grant: Grant) -> str:
        """Return the `t` token for a link to `path` lasting as long as `grant` ("" if none)."""
        if grant.expiry is None or self.link_key is None:
            return ""
        return sign_path(self.link_key, path, grant.expiry)
