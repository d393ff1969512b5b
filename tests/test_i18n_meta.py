"""Meta-tests: every command, catalogue key and template exists in Chinese and English."""

from __future__ import annotations

import re
import string
import tomllib
from datetime import date

import pytest

from bot.i18n import LANGS, Lang
from bot.markup import parse_html
from bot.model import Article, Point, ReadRate, SearchHit, Snippet, StoredArticle
from bot.rendering import Renderer, default_templates
from bot.telegram.commands import COMMANDS, help_lines, menu_commands

CATALOGUE = tomllib.loads((default_templates() / "strings.toml").read_text(encoding="utf-8"))

_ARTICLE: dict[str, object] = {
    "id": 7,
    "title": "A <title> & more",
    "date": date(2025, 5, 30),
    "author": "作者",
    "source": "Blog",
    "url": "https://example.com/?a=1&b=2",
    "one_line": "One line.",
    "points": (Point("Label", "text"), Point("", "plain")),
    "risks": (Point("Risk", "text"),),
    "paragraphs": ["First <p>.", "Second."],
    "tags": ("x",),
}
_HIT_ARTICLE = Article("s", "A <title>", date(2025, 5, 30), "", "", "", "x <", (), (), "", ())
_SCHEDULE: dict[str, object] = {
    "push_time": "08:00",
    "timezone": "Asia/Shanghai",
    "next_push": "2025-06-01 08:00",
    "custom_time": False,
    "custom_timezone": True,
}
_STATS: dict[str, object] = {
    "articles": 3,
    "hidden": 1,
    "active": 10,
    "inactive": 2,
    "topics": [("AI", 3), ("<b>", 1)],
}

# One or more sample contexts per template; a new template needs a sample here.
SAMPLES: dict[str, list[dict[str, object]]] = {
    "digest": [_ARTICLE, {**_ARTICLE, "url": "", "points": (), "date": None}],
    "risks": [_ARTICLE, {**_ARTICLE, "risks": ()}],
    "error_report": [
        {"summary": "ValueError: <x>", "where": "chat 7", "details": "<x>", "suppressed": 3},
        {"summary": "KeyError", "where": "", "details": "", "suppressed": 0},
    ],
    "full": [_ARTICLE, {**_ARTICLE, "paragraphs": []}],
    "notice": [
        {"key": "not_found", "values": {"ref": "<x>"}},
        {"key": "hint", "values": {}},
        {"key": "unknown_command", "values": {}},
    ],
    "welcome": [
        {"status": status, "group": group, "topic": topic, **_SCHEDULE}
        for status in ("new", "back", "already")
        for group, topic in ((False, False), (True, False), (True, True))
    ],
    "help": [{"commands": [{"usage": "/article <id>", "text": "one article"}]}],
    "list": [
        {
            "page": 1,
            "pages": 2,
            "total": 11,
            "articles": [{"id": 1, "title": "T <1>", "date": date(2025, 1, 1)}],
            "topic": None,
        },
        {
            "page": 2,
            "pages": 2,
            "total": 11,
            "articles": [{"id": 2, "title": "T", "date": None}],
            "topic": "A <b>",
        },
    ],
    "search": [
        {
            "query": "a <b>",
            "count": 2,
            "hits": [
                SearchHit(
                    StoredArticle(1, _HIT_ARTICLE),
                    Snippet((("x <", False), ("b", True)), cut_before=True, cut_after=True),
                ),
                SearchHit(StoredArticle(2, _HIT_ARTICLE), Snippet((), False, False)),
            ],
            "reach": None,
        },
        {"query": "焦虑", "count": 0, "hits": [], "reach": 20_000},
    ],
    "settings": [
        {"view": view, "language": lang, "language_locked": True, **_SCHEDULE}
        for view in ("main", "time", "timezone", "language")
        for lang in LANGS
    ],
    "channel": [
        {
            "view": view,
            "language": "zh",
            "language_locked": False,
            "title": "News <b>",
            "state": state,
            "intro": intro,
            "topics": topics,
            **_SCHEDULE,
        }
        for topics in ([], ["AI", "<b>"])
        for view, state, intro in (
            ("main", "active", ""),
            ("main", "unconfirmed", "channel_added"),
            ("time", "paused", ""),
            ("language", "lost", "channel_connected"),
            ("timezone", "disconnected", ""),
        )
    ],
    "channel_topics": [
        {"title": "N <b>", "page": 1, "pages": 2, "total": 12, "following": ["AI", "<b>"]},
        {"title": "N", "page": 2, "pages": 2, "total": 12, "following": []},
    ],
    "channels": [
        {"channels": [{"title": "A <i>", "state": "active"}, {"title": "B", "state": "lost"}]}
    ],
    "stats": [_STATS, {**_STATS, "topics": []}],
    "reader_offer": [{"title": "T <x>"}],
    "read_rates": [{"rates": [ReadRate(1, "T <x>", 3, 4, 1), ReadRate(2, "U", 0, 0, 0)]}],
    "topics": [
        {"page": 1, "pages": 2, "total": 12, "following": ["AI", "<b>"]},
        {"page": 2, "pages": 2, "total": 12, "following": []},
    ],
    "reload": [
        {"new": 1, "updated": 0, "unchanged": 2, "hidden": 0, "failed": 0, "failures": []},
        {"new": 0, "updated": 0, "unchanged": 2, "hidden": 0, "failed": 1, "failures": ["a: b"]},
    ],
    "push_stats": [
        {**_STATS, "last_push": None},
        {
            **_STATS,
            "last_push": {
                "key": "2025-06-01",
                "started": "2025-06-01 08:00",
                "due": 5,
                "sent": 3,
                "pending": 1,
                "failed": 1,
                "blocked": 0,
                "duration": "12 s",
            },
        },
    ],
}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_every_command_has_help_text_and_a_menu_entry_in_both_languages(
    command: object, renderer: Renderer
) -> None:
    name = command.name  # type: ignore[attr-defined]
    assert re.fullmatch(r"[a-z0-9_]{1,32}", name)
    for lang in LANGS:
        description = renderer.text(f"cmd_{name}", lang)
        assert 3 <= len(description) <= 256  # Telegram's BotCommand limits
        assert renderer.text(f"help_{name}", lang)
        if command.args:  # type: ignore[attr-defined]
            assert renderer.text(command.args, lang)  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", LANGS)
def test_menu_and_help_list_the_commands_in_each_language(lang: Lang, renderer: Renderer) -> None:
    menu = menu_commands(renderer, lang)
    assert [c.command for c in menu] == [c.name for c in COMMANDS if c.menu]
    everyone = help_lines(renderer, lang, admin=False)
    admins = help_lines(renderer, lang, admin=True)
    assert len(admins) == len(COMMANDS)
    assert len(everyone) == len([c for c in COMMANDS if not c.admin])


@pytest.mark.parametrize("key", sorted(CATALOGUE))
def test_every_catalogue_key_exists_in_chinese_and_english(key: str) -> None:
    entry = CATALOGUE[key]
    assert set(entry) == set(LANGS)
    assert all(isinstance(entry[lang], str) and entry[lang] for lang in LANGS)
    fields = [
        {name for _, name, _, _ in string.Formatter().parse(entry[lang]) if name} for lang in LANGS
    ]
    assert fields[0] == fields[1]


def test_chinese_strings_are_chinese() -> None:
    """A zh value copied from en by mistake shows up as pure ASCII letters."""
    ascii_only = {
        "meta_separator",
        "label_colon",
        "button_prev",
        "button_next",
        "language_en",
        "arg_time",
    }
    for key, entry in CATALOGUE.items():
        if key in ascii_only or key.startswith("language_"):
            continue
        assert re.search(r"[\u4e00-\u9fff]", entry["zh"]), key


def test_every_template_has_a_sample(renderer: Renderer) -> None:
    assert set(renderer.template_names()) <= set(SAMPLES), "add a sample context to SAMPLES"


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_template_renders_valid_telegram_html_in_both_languages(
    name: str, lang: Lang, renderer: Renderer
) -> None:
    if name not in renderer.template_names():
        pytest.skip(f"{name}.html.j2 is not in this tree")
    for context in SAMPLES[name]:
        html = renderer.render(name, lang, **context)
        assert parse_html(html).text.strip(), context
        assert "<x>" not in html  # values are escaped


def test_chinese_full_width_punctuation_has_no_space_before_it() -> None:
    """A space before （ or ： (e.g. "08:00 （默认）") looks wrong in Chinese text."""
    for key, entry in CATALOGUE.items():
        assert not re.search(r" [（：，；。]", entry["zh"]), key


@pytest.mark.parametrize("custom", [False, True])
def test_chinese_settings_mark_the_default_without_a_space(
    custom: bool, renderer: Renderer
) -> None:
    context = {**_SCHEDULE, "custom_time": custom, "custom_timezone": not custom}
    html = renderer.render("settings", "zh", view="main", language="zh", **context)
    assert "（默认）" in html
    assert " （" not in html
