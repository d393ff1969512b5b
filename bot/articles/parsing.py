"""Parse the text of one article file into an `Article`: the steps in order, then validation."""

from __future__ import annotations

from collections.abc import Iterable

from bot.articles.cleaning import normalize_text, one_line_text
from bot.articles.contents import one_line, paragraphs, points, topics
from bot.articles.front_matter import date_field, split_front_matter, tags_field, text_field
from bot.articles.sections import BODY, ONE_LINE, POINTS, RELATED, RISKS, SUMMARY, route
from bot.errors import ArticleError
from bot.model import Article


def parse_article(text: str, *, name: str, slug: str) -> Article:
    """Parse the text of an article file; name prefixes every error message."""
    meta, content = split_front_matter(normalize_text(text), name)
    title = text_field(meta, "title", name)
    if not title:
        raise ArticleError(f"{name}: missing title in the front matter")
    parts = route(content)
    if SUMMARY not in parts:
        raise ArticleError(f"{name}: no summary section ('## 摘要' or '## Summary')")
    summary = one_line(_lines(parts, ONE_LINE))
    if not summary:
        raise ArticleError(
            f"{name}: no one-line summary (a '**1) 一句话总结**' or 'One-line summary' "
            "sub-heading followed by text)"
        )
    related = topics(_lines(parts, RELATED))
    return Article(
        slug=slug,
        title=title,
        date=date_field(meta, name),
        author=text_field(meta, "author", name),
        source=text_field(meta, "source", name),
        url=text_field(meta, "url", name),
        one_line=summary,
        points=points(_lines(parts, POINTS)),
        risks=points(_lines(parts, RISKS)),
        body=paragraphs("\n".join(parts.get(BODY, ()))),
        tags=_dedupe([*tags_field(meta, name), *related]),
    )


def _lines(parts: dict[str, list[str]], key: str) -> list[str]:
    return "\n".join(parts.get(key, ())).split("\n")


def _dedupe(tags: Iterable[str]) -> tuple[str, ...]:
    """Clean tags and drop empty and repeated ones (case-insensitively), keeping the first."""
    seen: set[str] = set()
    out: list[str] = []
    for raw in tags:
        tag = one_line_text(raw).lstrip("#").strip()
        key = tag.casefold()
        if tag and key not in seen:
            seen.add(key)
            out.append(tag)
    return tuple(out)
