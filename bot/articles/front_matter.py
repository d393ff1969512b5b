"""Front matter: split the YAML header off an article and validate its fields.

Values are `object` until checked here; every problem is an `ArticleError` naming the file and
the key as written.
"""

from __future__ import annotations

import datetime
import re
from typing import TypeAlias

import yaml
from frontmatter.default_handlers import YAMLHandler

from bot.articles.cleaning import one_line_text
from bot.errors import ArticleError

# Case-folded key → (key as written, value).
Meta: TypeAlias = dict[str, tuple[str, object]]

# python-frontmatter's YAML handler already loads with yaml.CSafeLoader when libyaml is present.
_FRONT_MATTER = YAMLHandler()

_TAG_SPLIT_RE = re.compile(r"[,，、]")
_DATE_RE = re.compile(
    r"(\d{4})[ \t]*[-/.年][ \t]*(\d{1,2})[ \t]*[-/.月][ \t]*(\d{1,2})[ \t]*日?"
    r"(?:(?:[ \t]+|T)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?[ \t]*(?:Z|[+-]\d{2}:?\d{2})?)?"
)

# Field → accepted front-matter keys (compared case-insensitively), first present wins.
_KEYS: dict[str, tuple[str, ...]] = {
    "title": ("title", "标题"),
    "date": ("date", "发布日期", "日期"),
    "author": ("author", "作者"),
    "source": ("source", "来源"),
    "url": ("url", "link", "原文链接", "链接"),
    "tags": ("tags", "标签"),
}


def split_front_matter(text: str, name: str) -> tuple[Meta, str]:
    """Split off and load the front matter; keys are case-folded, values keep the written key."""
    stripped = text.lstrip()
    skipped_lines = text.count("\n", 0, len(text) - len(stripped))
    if not _FRONT_MATTER.detect(stripped):
        raise ArticleError(f"{name}: no front matter (the file must start with a '---' line)")
    try:
        raw, content = _FRONT_MATTER.split(stripped)
    except ValueError:
        raise ArticleError(f"{name}: front matter is not closed by a '---' line") from None
    try:
        data = _FRONT_MATTER.load(raw)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1 + skipped_lines})" if mark is not None else ""
        raise ArticleError(
            f"{name}: broken YAML front matter: {one_line_text(exc.problem or str(exc))}{where}"
        ) from None
    # ValueError/OverflowError: PyYAML builds dates such as 2025-02-30 without catching them;
    # RecursionError: absurdly nested flow collections.
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as exc:
        problem = one_line_text(str(exc))
        raise ArticleError(f"{name}: broken YAML front matter: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ArticleError(f"{name}: front matter is not a 'key: value' mapping")
    meta: Meta = {}
    for key, value in data.items():
        written = one_line_text(_text(key, name))
        meta.setdefault(written.casefold(), (written, value))
    return meta, content


def text_field(meta: Meta, field: str, name: str) -> str:
    """Return a single-valued field on one line, "" when it is missing."""
    found = _lookup(meta, field)
    return "" if found is None else _scalar_text(found[0], found[1], name)


def date_field(meta: Meta, name: str) -> datetime.date | None:
    """Return the date field as a date (YAML date or one of the written forms), or None."""
    found = _lookup(meta, "date")
    if found is None:
        return None
    key, value = found
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    written = _scalar_text(key, value, name)
    if not written:
        return None
    match = _DATE_RE.fullmatch(written)
    if match is not None:
        try:
            return datetime.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            pass
    raise ArticleError(
        f"{name}: front matter field '{key}' is not a date: {written[:40]!r} "
        "(expected 2025-06-08, 2025/06/08, 2025.06.08 or 2025年6月8日)"
    )


def tags_field(meta: Meta, name: str) -> list[str]:
    """Return the tags as written: a YAML list, or one value split on (full-width) commas."""
    found = _lookup(meta, "tags")
    if found is None:
        return []
    key, value = found
    if isinstance(value, list):
        return [_scalar_text(key, item, name) for item in value if item is not None]
    return _TAG_SPLIT_RE.split(_scalar_text(key, value, name))


def _lookup(meta: Meta, field: str) -> tuple[str, object] | None:
    for key in _KEYS[field]:
        found = meta.get(key)
        if found is not None and found[1] is not None:
            return found
    return None


def _text(value: object, name: str) -> str:
    try:
        return str(value)
    except ValueError:
        # A hexadecimal YAML integer loads at any length, but str() refuses > 4300 digits.
        raise ArticleError(f"{name}: front matter holds a number too long to read") from None


def _scalar_text(key: str, value: object, name: str) -> str:
    if isinstance(value, str):
        return one_line_text(value)
    if isinstance(value, bool | int | float | datetime.date):
        return _text(value, name)
    kind = "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict) else ""
    kind = kind or type(value).__name__
    raise ArticleError(f"{name}: front matter field '{key}' must be a single value, not {kind}")
