"""Article files: find them under a root, name them (slugs) and read them."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from bot.articles.parsing import parse_article
from bot.errors import ArticleError
from bot.model import Article

ARTICLE_SUFFIXES = frozenset({".md", ".txt"})


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


def decode_article(data: bytes, name: str) -> str:
    """Decode an article file's bytes as UTF-8 (a BOM is dropped later); name the file if not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArticleError(
            f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def read_article(path: Path, root: Path) -> Article:
    """Read and parse one article file."""
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArticleError(f"{name}: cannot read: {exc.strerror or exc}") from None
    return parse_article(decode_article(data, name), name=name, slug=slug_for(path, root))
