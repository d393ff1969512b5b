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

The modules, in the order a file goes through them: `files` (finding, naming and reading
files), `parsing` (one text → one `Article`), `front_matter` (the YAML header and its fields),
`sections` (the Markdown after it, sorted into sections and summary parts), `contents` (each
part → one-line summary, points, body, topics), `cleaning` (control characters, one-line
values). `Article` and `Point` live in `bot.model`.
"""

from __future__ import annotations

from bot.articles.files import (
    ARTICLE_SUFFIXES,
    MAX_ARTICLE_BYTES,
    MAX_SLUG_LENGTH,
    Listing,
    decode_article,
    find_article_files,
    name_problem,
    read_article,
    read_article_bytes,
    shown_path,
    slug_for,
)
from bot.articles.parsing import parse_article

__all__ = [
    "ARTICLE_SUFFIXES",
    "MAX_ARTICLE_BYTES",
    "MAX_SLUG_LENGTH",
    "Listing",
    "decode_article",
    "find_article_files",
    "name_problem",
    "parse_article",
    "read_article",
    "read_article_bytes",
    "shown_path",
    "slug_for",
]
