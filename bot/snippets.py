"""Snippets: a short piece of an article around where the searched words occur.

Computed from the article's own text (not the casefolded search column), so the snippet
shows the words as written; the template marks the matches. Pure: no database.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.model import Article, Snippet

WIDTH = 80  # characters of text a snippet shows
LEAD = 20  # of which at most this many come before the first match
_SPACES = re.compile(r"\s+")


def _texts(article: Article) -> list[str]:
    """Return the article's texts in the order a snippet prefers them (the title is shown)."""
    texts = [article.one_line, article.body]
    for point in (*article.points, *article.risks):
        texts.append(f"{point.label} {point.text}".strip())
    texts.extend((article.title, " ".join(article.tags)))
    return [_SPACES.sub(" ", t).strip() for t in texts if t]


def snippet(article: Article, terms: Sequence[str]) -> Snippet:
    """Return about WIDTH characters of the article around the first of `terms` it holds."""
    texts = _texts(article) or [""]
    pattern = (
        re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.I)
        if terms
        else None
    )
    text, found = texts[0], None
    for candidate in texts:
        found = pattern.search(candidate) if pattern else None
        if found:
            text = candidate
            break
    start = 0 if found is None else max(0, found.start() - LEAD)
    end = min(len(text), start + WIDTH)
    start = max(0, min(start, end - WIDTH))
    # Whitespace at a cut edge would show as a gap beside the "…".
    window = text[start:end].strip()
    pieces: list[tuple[str, bool]] = []
    at = 0
    for match in pattern.finditer(window) if pattern and found else ():
        if match.start() > at:
            pieces.append((window[at : match.start()], False))
        pieces.append((match.group(), True))
        at = match.end()
    if at < len(window):
        pieces.append((window[at:], False))
    return Snippet(tuple(pieces), cut_before=start > 0, cut_after=end < len(text))
