"""The values parsing produces: `Article` and its `Point`s."""

from __future__ import annotations

import datetime
from dataclasses import dataclass


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
