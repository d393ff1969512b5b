"""Topics as readers see them: names, keys, hashtags, suggestions and deep-link payloads.

Articles carry topics (front-matter ``tags`` and ``## 关联主题`` / ``## Related`` wiki links,
parsed into ``Article.tags``). A topic is found by its key, the case-folded name, so ``/follow
ai`` finds "AI"; its short numeric id (``topics.id``) is what buttons and deep links carry.
Pure functions: no database, no Telegram.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Final

DEEP_LINK_PREFIX: Final = "t"  # t.me/<bot>?start=t<id>
_PAYLOAD_MAX: Final = 64  # Telegram's limit on a /start payload
TOPIC_NAME_MAX: Final = 200  # topics.key's column width; a longer name is no topic
_SPACES = re.compile(r"\s+")
# Telegram links #word where word is letters, digits and underscores (any script).
_NOT_HASHTAG = re.compile(r"[^\w]+")


def topic_key(name: str) -> str:
    """Return the key a topic is found by: case-folded, whitespace collapsed."""
    return _SPACES.sub(" ", name).strip().casefold()[:TOPIC_NAME_MAX]


def hashtag(name: str) -> str | None:
    """Return the topic as a tappable hashtag (`#AI`, `#机器学习`), or None if it cannot be one."""
    word = _NOT_HASHTAG.sub("_", name).strip("_")
    if not word or word.replace("_", "").isdigit() or not word.replace("_", ""):
        return None  # Telegram does not link digits-only or empty hashtags
    return f"#{word}"


def hashtags(names: Iterable[str]) -> list[str]:
    """Return the distinct hashtags of an article's topics, in order."""
    seen: dict[str, None] = {}
    for name in names:
        tag = hashtag(name)
        if tag is not None:
            seen.setdefault(tag, None)
    return list(seen)


def suggest(name: str, names: Iterable[str]) -> str | None:
    """Return the known topic name closest to `name` (for "did you mean"), or None."""
    by_key = {topic_key(n): n for n in names}
    key = topic_key(name)
    if not key:
        return None
    contains = [n for k, n in by_key.items() if key in k or k in key]
    if len(contains) == 1:
        return contains[0]
    close = difflib.get_close_matches(key, list(by_key), n=1, cutoff=0.6)
    return by_key[close[0]] if close else None


def deep_link_payload(topic_id: int) -> str:
    """Return the /start payload that subscribes and follows a topic."""
    return f"{DEEP_LINK_PREFIX}{topic_id}"


def deep_link_topic(payload: str) -> int | None:
    """Return the topic id of a `/start t<id>` payload, or None."""
    digits = payload[len(DEEP_LINK_PREFIX) :]
    if (
        payload.startswith(DEEP_LINK_PREFIX)
        and digits.isascii()
        and digits.isdigit()
        and len(payload) <= _PAYLOAD_MAX
        and len(digits) < 19
    ):
        return int(digits)
    return None
