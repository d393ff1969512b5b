"""Sections: sort the Markdown after the front matter into sections and summary parts.

Sections are the "## 摘要" / "## 正文" / "## 关联主题" headings (or their English names); the
summary is further split into parts (one-line summary, key points, risks) opened by bold,
plain or heading lines. The result maps each section or part to its raw text chunks.
"""

from __future__ import annotations

import re

# A heading or code-fence line, found in the whole text at once.
# Both start with a literal "\n" so that re skips ahead with a fast search for it.
_BLOCK_RE = re.compile(r"\n((?:[ \t]*(?:```|~~~)| {0,3}#{1,6}(?=[ \t\n]|\Z))[^\n]*)")
_HEADING_RE = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*))?$")
# "**name**", "**name**: rest", "**name:** rest" (either colon). The name may not contain "*"
# and is greedy (callers strip it), so a failing match backs off one character at a time.
_BOLD_HEAD_RE = re.compile(r"\*\*([^*]+)(?:[:：]\*\*|\*\*[ \t]*[:：]?)[ \t]*(.*)$")
# Leading numbering of a (sub-)heading: "1)", "1.", "1、", "(1)", "一、"; a Chinese numeral
# needs its punctuation, since 一句话总结 starts with 一.
_NUMBERING_RE = re.compile(r"[(（]?(?:\d{1,2}[).、）．]?|[一二三四五六七八九十][).、）．])[ \t]*")
_BULLET_RE = re.compile(r"[ \t]*[*+•-](?:[ \t]|$)")

# Keys of the dict route() returns: sections, then parts of the summary.
SUMMARY, BODY, RELATED, OTHER = "summary", "body", "related", "other"
ONE_LINE, POINTS, RISKS = "one_line", "points", "risks"

# Heading names after _name_key(): lower-cased, without numbering, markers, spaces and hyphens.
_SECTIONS = {
    "摘要": SUMMARY,
    "summary": SUMMARY,
    "正文": BODY,
    "全文": BODY,
    "fulltext": BODY,
    "body": BODY,
    "关联主题": RELATED,
    "related": RELATED,
    "relatedtopics": RELATED,
}
_PARTS = {
    "一句话总结": ONE_LINE,
    "一句话概括": ONE_LINE,
    "一句话摘要": ONE_LINE,
    "onelinesummary": ONE_LINE,
    "onelinesummaries": ONE_LINE,
    "核心要点": POINTS,
    "要点": POINTS,
    "keypoints": POINTS,
    "corepoints": POINTS,
    "风险/隐患": RISKS,
    "风险": RISKS,
    "隐患": RISKS,
    "风险与隐患": RISKS,
    "风险和隐患": RISKS,
    "风险、隐患": RISKS,
    "risks": RISKS,
    "risk": RISKS,
}
_NAME_MARKUP = " \t*_#:："  # stripped around heading names
_MAX_NAME = 48  # longer lines are text, never a heading name: saves work on long paragraphs


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


def route(content: str) -> dict[str, list[str]]:
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
    """The state of route(): the current section and where its text goes."""

    __slots__ = ("parts", "section", "sink")

    def __init__(self) -> None:
        self.parts: dict[str, list[str]] = {}
        self.section = OTHER
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
            self.sink = None if key == SUMMARY else self.parts[key]
            return True
        if self.section == BODY:  # the article's own sub-headings belong to its text
            return False
        self.text(before)
        if self.section == SUMMARY and (opened := _part_heading(title)) is not None:
            self._open(*opened)
        elif level <= 2:  # an unknown section is skipped
            self.section = OTHER
            self.sink = None
        elif self.section == SUMMARY:  # so is an unknown part of the summary
            self.sink = None
        return True

    def text(self, chunk: str) -> None:
        """Pass on text; in the summary, look for parts opened by bold or plain lines."""
        if self.section != SUMMARY:
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
