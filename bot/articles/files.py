"""Article files: find them under a root, name them (slugs) and read them.

Nothing a folder holds stops the others from being read: a name that is not UTF-8, a folder
that cannot be listed, a link that leaves the root, a FIFO, a huge file each become one
refused path with its reason, and the caller reports it and keeps the article it had.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from bot.articles.parsing import parse_article
from bot.errors import ArticleError
from bot.model import Article

ARTICLE_SUFFIXES = frozenset({".md", ".txt"})
# Larger than any article (the reference one is 12 KB); bounds memory and hashing time.
MAX_ARTICLE_BYTES = 2 * 1024 * 1024
# The articles.slug column is VARCHAR(400): PostgreSQL would refuse a longer slug.
MAX_SLUG_LENGTH = 400

# C0 and C1 controls, and the invisible marks that reorder text on a terminal.
_UNSAFE_RE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class Listing:
    """What a walk under a root found: the article files, and the paths it had to refuse."""

    files: tuple[Path, ...]
    # (file or folder, why): the articles under a refused path are kept as they were.
    refused: tuple[tuple[Path, str], ...] = ()


def shown_path(path: Path | str) -> str:
    """Return a path as one printable line: undecodable bytes and control characters escaped."""
    text = str(path)
    try:
        # File names that are not UTF-8 arrive as surrogate escapes; show their bytes as \xff.
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _UNSAFE_RE.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


def name_problem(name: str) -> str | None:
    """Return why a file or folder name cannot name an article, or None when it can."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "the name is not valid UTF-8; rename the file"
    if _CONTROL_RE.search(name):
        return "the name holds a control character; rename the file"
    return None


def find_article_files(root: Path) -> Listing:
    """Return the *.md and *.txt files under root, recursively and sorted, skipping hidden ones.

    Links are followed only while they stay under root; a folder that cannot be listed, a
    link that leaves root or loops, and an article name that is not a regular file or not
    UTF-8 are refused (reported by the caller), never skipped silently.
    """
    walk = _Walk(root, os.path.realpath(root))
    walk.run()
    walk.found.sort()
    return Listing(tuple(path for _, path in walk.found), tuple(sorted(walk.refused)))


@dataclass(slots=True)
class _Walk:
    """One walk under a root: what it found and refused so far."""

    root: Path
    real_root: str
    found: list[tuple[str, Path]] = field(default_factory=list)
    refused: list[tuple[Path, str]] = field(default_factory=list)

    def run(self) -> None:
        """Walk every folder under the root."""
        # An explicit stack, not recursion: a deep folder tree must not hit the recursion
        # limit. Each folder carries the real paths of the folders it is in (link loops).
        stack: list[tuple[Path, tuple[str, ...]]] = [(self.root, (self.real_root,))]
        while stack:
            folder, chain = stack.pop()
            try:
                with os.scandir(folder) as listing:
                    entries = list(listing)
            except OSError as exc:
                self.refused.append((folder, f"cannot list this folder ({_reason(exc)})"))
                continue
            for entry in entries:
                if not entry.name.startswith("."):  # .git, .obsidian, editor files
                    stack.extend(self.visit(entry, folder / entry.name, chain))

    def visit(
        self, entry: os.DirEntry[str], path: Path, chain: tuple[str, ...]
    ) -> list[tuple[Path, tuple[str, ...]]]:
        """Note one folder entry as found or refused; return it if it is a folder to walk."""
        article_like = Path(entry.name).suffix.lower() in ARTICLE_SUFFIXES
        try:
            kind, real = _kind(entry)
        except OSError as exc:
            if article_like:
                self.refused.append((path, f"cannot read ({_reason(exc)})"))
            return []
        if kind != "folder" and not article_like:
            return []
        if real is not None and not _inside(real, self.real_root):
            where = f"a link to {shown_path(real)}, outside {shown_path(self.root)}"
            self.refused.append((path, where))
            return []
        problem = name_problem(entry.name)
        if problem is None and real is not None and real in chain:
            problem = "a link to a folder it is in (a loop)"
        if problem is None and kind == "other":
            problem = "not a regular file"
        if problem is not None:
            self.refused.append((path, problem))
            return []
        if kind == "folder":
            return [(path, (*chain, real or str(Path(chain[-1], entry.name))))]
        self.found.append((path.relative_to(self.root).as_posix(), path))
        return []


def _kind(entry: os.DirEntry[str]) -> tuple[str, str | None]:
    """Return what an entry is ("folder", "file" or "other") and, for a link, its real path."""
    if entry.is_symlink():
        # stat() follows the link: it raises for a broken link and a loop (ELOOP) alike.
        mode = Path(entry.path).stat().st_mode
        kind = "folder" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"
        return kind, os.path.realpath(entry.path)
    # The directory entry's type, without a stat call per file where the OS provides it.
    if entry.is_dir(follow_symlinks=False):
        return "folder", None
    return ("file" if entry.is_file(follow_symlinks=False) else "other"), None


def _inside(real: str, real_root: str) -> bool:
    top = real_root.rstrip(os.sep)
    return real == real_root or real.startswith(top + os.sep)


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def slug_for(path: Path, root: Path) -> str:
    """Return the slug of an article file: its path under root without extension, "/" → "--"."""
    try:
        relative = path.relative_to(root)
    except ValueError:
        raise ArticleError(f"{shown_path(path)}: not under {shown_path(root)}") from None
    # NFC, so that a file copied from macOS (NFD names) keeps its identity.
    slug = unicodedata.normalize("NFC", relative.with_suffix("").as_posix().replace("/", "--"))
    if len(slug) > MAX_SLUG_LENGTH:
        raise ArticleError(
            f"{shown_path(path)}: the path under {shown_path(root)} is too long "
            f"({len(slug)} characters; at most {MAX_SLUG_LENGTH})"
        )
    return slug


def decode_article(data: bytes, name: str) -> str:
    """Decode an article file's bytes as UTF-8 (a BOM is dropped later); name the file if not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArticleError(
            f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


def read_article_bytes(path: Path, name: str) -> tuple[bytes, os.stat_result]:
    """Return an article file's bytes and stat; refuse anything but a regular file ≤ 2 MB."""
    # O_NONBLOCK: opening a FIFO that took a file's place must not wait for a writer.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ArticleError(f"{name}: cannot read ({_reason(exc)})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ArticleError(f"{name}: not a regular file")
        data = (
            _read_at_most(fd, MAX_ARTICLE_BYTES + 1) if info.st_size <= MAX_ARTICLE_BYTES else b""
        )
    except OSError as exc:
        raise ArticleError(f"{name}: cannot read ({_reason(exc)})") from None
    finally:
        os.close(fd)
    if info.st_size > MAX_ARTICLE_BYTES or len(data) > MAX_ARTICLE_BYTES:
        raise ArticleError(
            f"{name}: too large ({max(info.st_size, len(data))} bytes; "
            f"at most {MAX_ARTICLE_BYTES // (1024 * 1024)} MB)"
        )
    return data, info


def _read_at_most(fd: int, limit: int) -> bytes:
    """Read up to `limit` bytes; one past the article limit tells a file that grew after fstat."""
    chunks: list[bytes] = []
    left = limit
    while left > 0 and (chunk := os.read(fd, left)):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_article(path: Path, root: Path) -> Article:
    """Read and parse one article file."""
    name = shown_path(path)
    data, _ = read_article_bytes(path, name)
    return parse_article(decode_article(data, name), name=name, slug=slug_for(path, root))
