"""Inline keyboards: plain bot.digest.Button rows turned into Telegram markup.

Callback data is ``action:int:...`` (bot.digest.callback); the actions are:
``full:<id>``, ``risks:<id>`` (also on push messages), ``article:<id>``, ``list:<page>``,
``set:<view>``, ``settime:<hour>:<minute>``, ``settz:<index>``, ``setlang:<index>``; a
channel's (bot.telegram.channels_flow) ``chset``, ``chtime``, ``chtz``, ``chlang`` with the
channel's subscriber id first, ``chopen``, ``chon``, ``choff``, ``chpost``, ``chdrop:<id>``,
``chtopics:<id>:<page>``, ``chtopic:<id>:<topic>:<page>`` and ``chlist``.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from functools import lru_cache

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo

from bot.arguments import Page
from bot.digest import Button, callback
from bot.i18n import LANGS, Lang
from bot.model import StoredArticle
from bot.rendering import Renderer

LABEL_LIMIT = 40  # characters of a title shown on an article button

# The timezones the /settings keyboard offers; any other IANA zone via /timezone Area/City.
# `settz:<index>` indexes this tuple, so append new zones at the end.
TIMEZONES: tuple[str, ...] = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "UTC",
)

# The delivery times the /settings keyboard offers (local hours); any other via /time HH:MM.
PICKER_HOURS: tuple[int, ...] = (6, 7, 8, 9, 10, 12, 18, 20, 21, 22)


class SettingsView(IntEnum):
    """The screens of /settings, carried in `set:<view>` callback data."""

    MAIN = 0
    TIME = 1
    TIMEZONE = 2
    LANGUAGE = 3


def markup(rows: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    """Turn rows of plain buttons into an inline keyboard (None when there are none)."""
    return _markup(tuple(tuple(row) for row in rows if row))


# PTB objects are frozen once built and never changed by sending, so one keyboard can go out
# under any number of messages; building one (~30 µs for the 📖 ⚠️ 🔗 row) is most of a
# reply's keyboard cost, hashing the plain buttons ~1 µs.
@lru_cache(maxsize=512)
def _markup(rows: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup | None:
    keyboard = [
        [
            InlineKeyboardButton(
                b.label,
                callback_data=b.callback_data,
                url=b.url,
                web_app=WebAppInfo(b.web_app) if b.web_app else None,
                switch_inline_query=b.switch_inline_query,
            )
            for b in row
        ]
        for row in rows
    ]
    return InlineKeyboardMarkup(keyboard) if keyboard else None


def article_label(stored: StoredArticle) -> str:
    """Return an article button's label: its id and its (shortened) title."""
    title = stored.article.title
    if len(title) > LABEL_LIMIT:
        title = title[: LABEL_LIMIT - 1] + "…"
    return f"#{stored.id} {title}"


def article_rows(articles: Sequence[StoredArticle]) -> list[list[Button]]:
    """Return one `article:<id>` button per article, one per row."""
    return [[Button(article_label(a), callback_data=callback("article", a.id))] for a in articles]


def list_rows(
    renderer: Renderer, lang: Lang, articles: Sequence[StoredArticle], page: Page
) -> list[list[Button]]:
    """Return the /list keyboard: the page's articles, then ◀ ▶ where there is a page."""
    nav = []
    if page.number > 1:
        previous = callback("list", page.number - 1)
        nav.append(Button(renderer.text("button_prev", lang), callback_data=previous))
    if page.number < page.pages:
        following = callback("list", page.number + 1)
        nav.append(Button(renderer.text("button_next", lang), callback_data=following))
    return [*article_rows(articles), nav]


# A channel's settings, changed from a private chat, carry the channel's subscriber id first.
CHANNEL_SETTINGS: dict[str, str] = {
    "set": "chset",
    "settime": "chtime",
    "settz": "chtz",
    "setlang": "chlang",
}


def _choice(action: str, *args: int, channel: int | None) -> str:
    """Return a settings button's callback data, for this chat or for a channel."""
    if channel is None:
        return callback(action, *args)
    return callback(CHANNEL_SETTINGS[action], channel, *args)


def _back(renderer: Renderer, lang: Lang, channel: int | None) -> list[Button]:
    data = _choice("set", 0, channel=channel)
    return [Button(renderer.text("button_back", lang), callback_data=data)]


def settings_rows(
    renderer: Renderer, lang: Lang, view: SettingsView, *, channel: int | None = None
) -> list[list[Button]]:
    """Return the keyboard of one /settings screen (of a channel's, given its subscriber id)."""
    if view is SettingsView.TIME:
        hours = [
            Button(f"{h:02d}:00", callback_data=_choice("settime", h, 0, channel=channel))
            for h in PICKER_HOURS
        ]
        back = _back(renderer, lang, channel)
        return [hours[i : i + 5] for i in range(0, len(hours), 5)] + [back]
    if view is SettingsView.TIMEZONE:
        zones = [
            Button(name, callback_data=_choice("settz", i, channel=channel))
            for i, name in enumerate(TIMEZONES)
        ]
        return [zones[i : i + 2] for i in range(0, len(zones), 2)] + [
            _back(renderer, lang, channel)
        ]
    if view is SettingsView.LANGUAGE:
        choices = [
            Button(
                renderer.text(f"language_{code}", lang),
                callback_data=_choice("setlang", i, channel=channel),
            )
            for i, code in enumerate(LANGS)
        ]
        return [choices, _back(renderer, lang, channel)]
    return [
        [
            Button(
                renderer.text("button_set_time", lang),
                callback_data=_choice("set", 1, channel=channel),
            ),
            Button(
                renderer.text("button_set_timezone", lang),
                callback_data=_choice("set", 2, channel=channel),
            ),
        ],
        [
            Button(
                renderer.text("button_set_language", lang),
                callback_data=_choice("set", 3, channel=channel),
            )
        ],
    ]


def channel_rows(
    renderer: Renderer, lang: Lang, subscriber_id: int, *, active: bool, can_start: bool
) -> list[list[Button]]:
    """Return a channel screen's own buttons, below its settings.

    Start (confirm or resume) when it may start, else pause when it posts; its topics; post
    the latest now; disconnect; back to the list of channels.
    """
    toggle: list[Button] = []
    if active:
        toggle.append(
            Button(renderer.text("button_channel_pause", lang), callback("choff", subscriber_id))
        )
    elif can_start:
        toggle.append(
            Button(renderer.text("button_channel_start", lang), callback("chon", subscriber_id))
        )
    return [
        toggle,
        [
            Button(
                renderer.text("button_channel_topics", lang),
                callback("chtopics", subscriber_id, 1),
            )
        ],
        [
            Button(renderer.text("button_channel_post", lang), callback("chpost", subscriber_id)),
            Button(renderer.text("button_channel_drop", lang), callback("chdrop", subscriber_id)),
        ],
        [Button(renderer.text("button_channel_list", lang), callback("chlist"))],
    ]
