"""Articles: Markdown files with YAML front matter under SEEDS_DIR, parsed into `Article` values.

An article file looks like this (Chinese or English keys and headings)::

    ---
    title: "..."
    发布日期: 2025-05-30          # or date:
    作者: "..."                   # or author:
    来源: "..."                   # or source:
    原文链接: "https://..."       # or url: / link:
    tags: [a, b]                  # optional
    ---
    ## 摘要                        # or ## Summary
    **1) 一句话总结**               # or One-line summary
    ...
    **2) 核心要点**                 # or Key points
    *   **label**：text            # or **label**: text
    **3) 风险/隐患**                # or Risks (optional)
    *   **label**：text
    ## 正文                        # or ## Full text / ## Body (optional)
    ...
    ## 关联主题                     # or ## Related (optional)
    - [[00-元语/AI]]

Parsing never renders Markdown and never escapes: the templates do that. It only guarantees
that no field holds a BOM, a carriage return or another control character except newline
and tab.
"""

from __future__ import annotations

import datetime
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from frontmatter.default_handlers import YAMLHandler

from bot.errors import ArticleError

ARTICLE_SUFFIXES = frozenset({".md", ".txt"})

# python-frontmatter's YAML handler already loads with yaml.CSafeLoader when libyaml is present.
_FRONT_MATTER = YAMLHandler()

# C0 controls except \t and \n, DEL, C1 controls and the BOM: invisible, rejected by YAML and
# by Telegram, so they never reach a field. \r is handled before this (it is a line break).
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff]")

# A heading or code-fence line, found in the whole text at once.
# Both start with a literal "\n" so that re skips ahead with a fast search for it.
_BLOCK_RE = re.compile(r"\n((?:[ \t]*(?:```|~~~)| {0,3}#{1,6}(?=[ \t\n]|\Z))[^\n]*)")
_BLANK_LINES_RE = re.compile(r"\n\n\n+")
_HEADING_RE = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*))?$")
# "**name**", "**name**: rest", "**name:** rest" (either colon). The name may not contain "*"
# and is greedy (callers strip it), so a failing match backs off one character at a time.
_BOLD_HEAD_RE = re.compile(r"\*\*([^*]+)(?:[:：]\*\*|\*\*[ \t]*[:：]?)[ \t]*(.*)$")
# Leading numbering of a (sub-)heading: "1)", "1.", "1、", "(1)", "一、"; a Chinese numeral
# needs its punctuation, since 一句话总结 starts with 一.
_NUMBERING_RE = re.compile(r"[(（]?(?:\d{1,2}[).、）．]?|[一二三四五六七八九十][).、）．])[ \t]*")
# A list item: "*", "-", "+", "•", "1.", "1)" followed by a space (or nothing), or "1、".
_ITEM_RE = re.compile(r"[ \t]*(?:(?:[*+•-]|\d{1,3}[.)）])(?=[ \t]|$)|\d{1,3}、)[ \t]*(.*)$")
_BULLET_RE = re.compile(r"[ \t]*[*+•-](?:[ \t]|$)")
# "**label**: text", "**label:** text", with a half- or full-width colon.
_LABEL_RE = re.compile(r"\*\*([^*]+)(?:[:：]\*\*|\*\*[ \t]*[:：])[ \t]*(.*)$")
# [[path/to/topic]], [[path|alias]], [[path#heading]]; the classes do not overlap: no backtracking.
_WIKILINK_RE = re.compile(r"\[\[([^\[\]|#]*)(?:[|#][^\[\]]*)?\]\]")
_TAG_SPLIT_RE = re.compile(r"[,，、]")
_DATE_RE = re.compile(
    r"(\d{4})[ \t]*[-/.年][ \t]*(\d{1,2})[ \t]*[-/.月][ \t]*(\d{1,2})[ \t]*日?"
    r"(?:(?:[ \t]+|T)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?[ \t]*(?:Z|[+-]\d{2}:?\d{2})?)?"
)

_SUMMARY, _BODY, _RELATED, _OTHER = "summary", "body", "related", "other"
_ONE_LINE, _POINTS, _RISKS = "one_line", "points", "risks"

# Heading names after _name_key(): lower-cased, without numbering, markers, spaces and hyphens.
_SECTIONS = {
    "摘要": _SUMMARY,
    "summary": _SUMMARY,
    "正文": _BODY,
    "全文": _BODY,
    "fulltext": _BODY,
    "body": _BODY,
    "关联主题": _RELATED,
    "related": _RELATED,
    "relatedtopics": _RELATED,
}
_PARTS = {
    "一句话总结": _ONE_LINE,
    "一句话概括": _ONE_LINE,
    "一句话摘要": _ONE_LINE,
    "onelinesummary": _ONE_LINE,
    "onelinesummaries": _ONE_LINE,
    "核心要点": _POINTS,
    "要点": _POINTS,
    "keypoints": _POINTS,
    "corepoints": _POINTS,
    "风险/隐患": _RISKS,
    "风险": _RISKS,
    "隐患": _RISKS,
    "风险与隐患": _RISKS,
    "风险和隐患": _RISKS,
    "风险、隐患": _RISKS,
    "risks": _RISKS,
    "risk": _RISKS,
}
_NAME_MARKUP = " \t*_#:："  # stripped around heading names
_LABEL_TRIM = " \t:："  # "**label: **" keeps no colon in the label
_MAX_NAME = 48  # longer lines are text, never a heading name: saves work on long paragraphs

# Field → accepted front-matter keys (compared case-insensitively), first present wins.
_KEYS: dict[str, tuple[str, ...]] = {
    "title": ("title", "标题"),
    "date": ("date", "发布日期", "日期"),
    "author": ("author", "作者"),
    "source": ("source", "来源"),
    "url": ("url", "link", "原文链接", "链接"),
    "tags": ("tags", "标签"),
}


@dataclass(frozen=True, slots=True)
class Point:
    """One core point or risk: an optional bold label and its text."""

    label: str  # "" when the point has no **label**
    text: str


@dataclass(frozen=True, slots=True)
class Article:
    """A parsed article file: front matter, summary, full text and topics."""

    slug: str
    title: str
    date: datetime.date | None  # None when the front matter has none
    author: str  # "" when missing
    source: str  # "" when missing
    url: str  # "" when missing; kept as written, templates decide whether to link it
    one_line: str
    points: tuple[Point, ...]
    risks: tuple[Point, ...]
    body: str  # paragraphs joined by "\n\n", no trailing whitespace
    tags: tuple[str, ...]  # front-matter tags, then topics from ## 关联主题; deduplicated


def find_article_files(root: Path) -> list[Path]:
    """Return the *.md and *.txt files under root, recursively and sorted, skipping hidden ones."""
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        # Pruning in place keeps os.walk out of .git, .obsidian and the like.
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        base = Path(dirpath)
        for filename in filenames:
            if filename.startswith("."):
                continue
            path = base / filename
            if path.suffix.lower() in ARTICLE_SUFFIXES:
                found.append((path.relative_to(root).as_posix(), path))
    found.sort()
    return [path for _, path in found]


def slug_for(path: Path, root: Path) -> str:
    """Return the slug of an article file: its path under root without extension, "/" → "--"."""
    try:
        relative = path.relative_to(root)
    except ValueError:
        raise ArticleError(f"{path}: not under {root}") from None
    # NFC, so that a file copied from macOS (NFD names) keeps its identity.
    return unicodedata.normalize("NFC", relative.with_suffix("").as_posix().replace("/", "--"))


def read_article(path: Path, root: Path) -> Article:
    """Read and parse one article file."""
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArticleError(f"{name}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArticleError(
            f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    return parse_article(text, name=name, slug=slug_for(path, root))


def parse_article(text: str, *, name: str, slug: str) -> Article:
    """Parse the text of an article file; name prefixes every error message."""
    text = _CONTROL_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    meta, content = _front_matter(text, name)
    title = _text_field(meta, "title", name)
    if not title:
        raise ArticleError(f"{name}: missing title in the front matter")
    parts = _route(content)
    if _SUMMARY not in parts:
        raise ArticleError(f"{name}: no summary section ('## 摘要' or '## Summary')")
    one_line = _one_line(_lines(parts, _ONE_LINE))
    if not one_line:
        raise ArticleError(
            f"{name}: no one-line summary (a '**1) 一句话总结**' or 'One-line summary' "
            "sub-heading followed by text)"
        )
    topics = _topics(_lines(parts, _RELATED))
    return Article(
        slug=slug,
        title=title,
        date=_date_field(meta, name),
        author=_text_field(meta, "author", name),
        source=_text_field(meta, "source", name),
        url=_text_field(meta, "url", name),
        one_line=one_line,
        points=_points(_lines(parts, _POINTS)),
        risks=_points(_lines(parts, _RISKS)),
        body=_paragraphs("\n".join(parts.get(_BODY, ()))),
        tags=_dedupe([*_tags_field(meta, name), *topics]),
    )


# -- front matter ----------------------------------------------------------------------------


def _front_matter(text: str, name: str) -> tuple[dict[str, tuple[str, object]], str]:
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
            f"{name}: broken YAML front matter: {_one_line_text(exc.problem or str(exc))}{where}"
        ) from None
    # ValueError/OverflowError: PyYAML builds dates such as 2025-02-30 without catching them;
    # RecursionError: absurdly nested flow collections.
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as exc:
        problem = _one_line_text(str(exc))
        raise ArticleError(f"{name}: broken YAML front matter: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ArticleError(f"{name}: front matter is not a 'key: value' mapping")
    meta: dict[str, tuple[str, object]] = {}
    for key, value in data.items():
        written = _one_line_text(str(key))
        meta.setdefault(written.casefold(), (written, value))
    return meta, content


def _lookup(meta: dict[str, tuple[str, object]], field: str) -> tuple[str, object] | None:
    for key in _KEYS[field]:
        found = meta.get(key)
        if found is not None and found[1] is not None:
            return found
    return None


def _scalar_text(key: str, value: object, name: str) -> str:
    if isinstance(value, str):
        return _one_line_text(value)
    if isinstance(value, bool | int | float | datetime.date):
        return str(value)
    kind = "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict) else ""
    kind = kind or type(value).__name__
    raise ArticleError(f"{name}: front matter field '{key}' must be a single value, not {kind}")


def _text_field(meta: dict[str, tuple[str, object]], field: str, name: str) -> str:
    found = _lookup(meta, field)
    return "" if found is None else _scalar_text(found[0], found[1], name)


def _date_field(meta: dict[str, tuple[str, object]], name: str) -> datetime.date | None:
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


def _tags_field(meta: dict[str, tuple[str, object]], name: str) -> list[str]:
    found = _lookup(meta, "tags")
    if found is None:
        return []
    key, value = found
    if isinstance(value, list):
        return [_scalar_text(key, item, name) for item in value if item is not None]
    return _TAG_SPLIT_RE.split(_scalar_text(key, value, name))


# -- Markdown sections -----------------------------------------------------------------------


def _name_key(text: str) -> str:
    """Reduce a heading to a key of _SECTIONS/_PARTS: '**1) One-line summary:**' → 'onelin…'."""
    text = text.strip(_NAME_MARKUP)
    match = _NUMBERING_RE.match(text)
    if match is not None and match.end() < len(text):
        text = text[match.end() :].strip(_NAME_MARKUP)
    return text.casefold().replace(" ", "").replace("-", "").replace("\t", "")


def _part_heading(text: str) -> tuple[str, str] | None:
    """Return (part, text after the heading) when text opens a part of the summary."""
    text = text.strip()
    match = _BOLD_HEAD_RE.match(text)
    if match is not None:
        head, rest = match[1], match[2]
        if len(head) <= _MAX_NAME and (part := _PARTS.get(_name_key(head))) is not None:
            return part, rest
    if len(text) <= _MAX_NAME and (part := _PARTS.get(_name_key(text))) is not None:
        return part, ""
    return None


def _route(content: str) -> dict[str, list[str]]:
    """Sort the text after the front matter into sections and summary parts."""
    router = _Router()
    content = "\n" + content  # every line, the first one too, now follows a "\n"
    pos = 0
    fence = ""  # the open code fence ("```" or "~~~"): headings inside it are text
    # Only heading and fence lines need a decision, so a regex finds them and the text between
    # them is passed on in chunks: far cheaper than a Python loop over every line of the body.
    for match in _BLOCK_RE.finditer(content):
        marker = match[1].lstrip()[:3]
        if fence:
            if marker == fence:
                fence = ""
        elif marker in ("```", "~~~"):
            fence = marker
        elif router.heading(match[1], content[pos : match.start()]):
            pos = match.end()
    router.text(content[pos:])
    return router.parts


class _Router:
    """The state of _route: the current section and where its text goes."""

    __slots__ = ("parts", "section", "sink")

    def __init__(self) -> None:
        self.parts: dict[str, list[str]] = {}
        self.section = _OTHER
        self.sink: list[str] | None = None  # where text goes; None drops it

    def heading(self, line: str, before: str) -> bool:
        """Handle a heading line after passing on the text before it; False if it is text."""
        match = _HEADING_RE.match(line)
        if match is None:
            return False
        level, title = len(match[1]), match[2] or ""
        key = _SECTIONS.get(_name_key(title)) if level <= 3 else None
        if key is not None and key not in self.parts:
            self.text(before)
            self.parts[key] = []
            self.section = key
            # The summary's own text is dropped until a part (one-line, points...) opens.
            self.sink = None if key == _SUMMARY else self.parts[key]
            return True
        if self.section == _BODY:  # the article's own sub-headings belong to its text
            return False
        self.text(before)
        if self.section == _SUMMARY and (opened := _part_heading(title)) is not None:
            self._open(*opened)
        elif level <= 2:  # an unknown section is skipped
            self.section = _OTHER
            self.sink = None
        elif self.section == _SUMMARY:  # so is an unknown part of the summary
            self.sink = None
        return True

    def text(self, chunk: str) -> None:
        """Pass on text; in the summary, look for parts opened by bold or plain lines."""
        if self.section != _SUMMARY:
            if self.sink is not None:
                self.sink.append(chunk)
            return
        for line in chunk.split("\n"):
            stripped = line.strip()
            if (
                stripped
                and _BULLET_RE.match(line) is None
                and (opened := _part_heading(stripped)) is not None
            ):
                self._open(*opened)
            elif self.sink is not None:
                self.sink.append(line)

    def _open(self, part: str, rest: str) -> None:
        self.sink = self.parts.setdefault(part, [])
        if rest:
            self.sink.append(rest)


# -- section contents ------------------------------------------------------------------------


def _one_line(lines: Iterable[str]) -> str:
    """Join the lines of the one-line summary with spaces, dropping a leading list marker."""
    words: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        item = _ITEM_RE.match(line) if not words else None
        text = (item[1] if item is not None else line).strip()
        if text:
            words.append(text)
    return " ".join(words)


def _points(lines: Iterable[str]) -> tuple[Point, ...]:
    """Parse list items (continuation lines joined with a space) into labelled points."""
    items: list[list[str]] = []
    current: list[str] | None = None
    marked = False  # the current item started with a list marker
    gap = False  # a blank line came after the current item's last line
    for line in lines:
        stripped = line.strip()
        if not stripped:
            gap = True
            continue
        item = _ITEM_RE.match(line)
        if item is not None:
            current = [item[1].strip()]
            items.append(current)
            marked = True
        elif current is not None and (line[0] in " \t" or (marked and not gap)):
            current.append(stripped)
        else:  # unmarked lines: each one is a point of its own
            current = [stripped]
            items.append(current)
            marked = False
        gap = False
    points = (_point(" ".join(word for word in item if word)) for item in items)
    return tuple(point for point in points if point.text or point.label)


def _point(text: str) -> Point:
    match = _LABEL_RE.match(text)
    if match is not None and (label := match[1].strip(_LABEL_TRIM)):
        return Point(label=label, text=match[2].strip())
    return Point(label="", text=text)


def _paragraphs(text: str) -> str:
    """Strip trailing spaces and leave exactly one blank line between paragraphs."""
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_LINES_RE.sub("\n\n", text).strip("\n")


def _topics(lines: Iterable[str]) -> list[str]:
    """Return the last path segment of every [[wikilink]] in the related-topics section."""
    topics: list[str] = []
    for line in lines:
        if "[[" in line:
            topics.extend(m[1].rsplit("/", 1)[-1] for m in _WIKILINK_RE.finditer(line))
    return topics


# -- helpers ---------------------------------------------------------------------------------


def _lines(parts: dict[str, list[str]], key: str) -> list[str]:
    return "\n".join(parts.get(key, ())).split("\n")


def _one_line_text(value: str) -> str:
    """Return value on one line: controls removed, whitespace runs (newlines too) → one space."""
    return " ".join(_CONTROL_RE.sub("", value.replace("\r", " ")).split())


def _dedupe(tags: Iterable[str]) -> tuple[str, ...]:
    """Clean tags and drop empty and repeated ones (case-insensitively), keeping the first."""
    seen: set[str] = set()
    out: list[str] = []
    for raw in tags:
        tag = _one_line_text(raw).lstrip("#").strip()
        key = tag.casefold()
        if tag and key not in seen:
            seen.add(key)
            out.append(tag)
    return tuple(out)
