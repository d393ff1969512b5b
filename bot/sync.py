"""Sync: bring the store in line with the article files (new, changed, unchanged, vanished)."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.articles import (
    Listing,
    decode_article,
    find_article_files,
    parse_article,
    read_article_bytes,
    shown_path,
    slug_for,
)
from bot.errors import ArticleError, NotFoundError
from bot.model import ArticleUpsert, FileStamp
from bot.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one sync did; `failures` are one-line `path: reason` messages."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    hidden: int = 0
    failures: tuple[str, ...] = field(default=())

    @property
    def failed(self) -> int:
        """Return how many files could not be imported."""
        return len(self.failures)

    def summary(self) -> str:
        """Return the one-line summary the CLI prints."""
        return (
            f"imported {self.new} new, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.hidden} hidden, {self.failed} failed"
        )


def _article_files(root: Path) -> Listing:
    """Return the article files a root names: the root itself if not a folder, else its files."""
    if root.is_dir():
        return find_article_files(root)
    if not os.path.lexists(root):
        raise NotFoundError(f"{shown_path(root)}: no such file or folder")
    # A file, or a FIFO or a broken link named on the command line: the reader says which.
    return Listing((root,))


def _within(source_path: str, root: Path) -> bool:
    """Tell whether a stored (absolute) source path lies in `root` (a folder or one file)."""
    top = str(root)
    return source_path == top or source_path.startswith(top.rstrip(os.sep) + os.sep)


@dataclass(slots=True)
class _Changes:
    """What one sync will write, gathered file by file."""

    inserts: list[ArticleUpsert] = field(default_factory=list)
    updates: list[ArticleUpsert] = field(default_factory=list)
    restamps: list[FileStamp] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    unchanged: int = 0
    revived: int = 0

    def add(self, path: Path, name: str, slug: str, old: FileStamp | None) -> None:
        """Compare one file with what the store has for its slug; note what must change."""
        source = str(path)
        try:
            stat = path.stat()
            if (
                old is not None
                and not old.hidden
                and (old.mtime_ns, old.size, old.source_path)
                == (stat.st_mtime_ns, stat.st_size, source)
            ):
                self.unchanged += 1
                return
            raw, stat = read_article_bytes(path, name)
            digest = hashlib.sha256(raw).hexdigest()
            if old is not None and old.content_hash == digest:
                # Same bytes (touched, moved, or back after vanishing): refresh the stamp only.
                stamp = FileStamp(old.id, source, stat.st_mtime_ns, len(raw), digest, False)
                self.restamps.append(stamp)
                self.revived += old.hidden
                self.unchanged += not old.hidden
                return
            article = parse_article(decode_article(raw, name), name=name, slug=slug)
        except ArticleError as exc:
            self.failures.append(str(exc))
            return
        except OSError as exc:
            self.failures.append(f"{name}: cannot read ({exc.strerror or type(exc).__name__})")
            return
        except Exception:
            # A parser bug must cost one file, not the sync (and with it the bot's start).
            log.exception("sync: unexpected error reading %s", name)
            self.failures.append(f"{name}: unexpected error while reading (see the log)")
            return
        upsert = ArticleUpsert(
            article, source, stat.st_mtime_ns, len(raw), digest, None if old is None else old.id
        )
        (self.inserts if old is None else self.updates).append(upsert)


def _identity(path: Path, root: Path, root_abs: Path, base: Path | None) -> tuple[str, str]:
    """Return a file's name for messages (as the person spelled its folder) and its slug."""
    name = _spelled(path, root, root_abs)
    folder = path.parent if path == root_abs else root_abs  # the root named one file
    if base is not None and path.is_relative_to(base):
        folder = base
    return name, slug_for(path, folder)


def _spelled(path: Path, root: Path, root_abs: Path) -> str:
    """Return a path under `root_abs` as the person spelled `root`, printable on one line."""
    if path == root_abs:
        return shown_path(root)
    return shown_path(root / path.relative_to(root_abs))


def sync_articles(
    store: Store,
    roots: Sequence[Path],
    *,
    base: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SyncReport:
    """Import the article files under `roots` (folders or files) into `store`.

    An article's identity (its slug) is its path under `base` (SEEDS_DIR) when the file is
    there, else under the root it was found in; so importing a file from another folder, or
    SEEDS_DIR by another spelling, never duplicates an article. Articles whose file was under
    a synced root and is gone are hidden; articles from elsewhere are left alone.

    Unchanged files are skipped by mtime and size without reading them; a file whose stamp
    moved is hashed, and parsed only when its content changed. A bad file is reported and
    skipped; it never stops the others, and the article it had stays as it was.
    """
    stamps = store.file_stamps()
    base_abs = _real(base) if base is not None else None
    resolved = [_real(root) for root in roots]
    changes = _Changes()
    # Paths that could not be read as a whole (a folder, a refused file): what the store has
    # from under them stays as it was, never hidden.
    kept: list[Path] = []
    files: list[tuple[Path, Path, Path]] = []
    for root, root_abs in zip(roots, resolved, strict=True):
        listing = (
            _article_files(root_abs)
            if _encodable(str(root_abs))
            else Listing((), ((root_abs, "the path is not valid UTF-8"),))
        )
        files.extend((root, root_abs, path) for path in listing.files)
        for path, reason in listing.refused:
            kept.append(path)
            changes.failures.append(f"{_spelled(path, root, root_abs)}: {reason}")
    seen: set[str] = set()
    for done, (root, root_abs, path) in enumerate(files, start=1):
        if progress is not None:
            progress(done, len(files))
        try:
            name, slug = _identity(path, root, root_abs, base_abs)
        except ArticleError as exc:
            kept.append(path)
            changes.failures.append(str(exc))
            continue
        if slug in seen:
            changes.failures.append(f"{name}: another file already has the slug {slug!r}")
            continue
        seen.add(slug)
        changes.add(path, name, slug, stamps.get(slug))
    # A file that fails to parse is in `seen`, so its last good article stays visible.
    hide = [
        slug
        for slug, stamp in stamps.items()
        if not stamp.hidden
        and slug not in seen
        and any(_within(stamp.source_path, root_abs) for root_abs in resolved)
        and not any(_within(stamp.source_path, path) for path in kept)
    ]
    # Another process syncing the same files may insert some of ours first: the store
    # settles those against its rows, and the report counts them as that makes them.
    written = store.apply_sync(
        inserts=changes.inserts, updates=changes.updates, restamps=changes.restamps, hide=hide
    )
    report = SyncReport(
        new=written.inserted,
        updated=len(changes.updates) + changes.revived + written.taken_updated,
        unchanged=changes.unchanged + written.taken_unchanged,
        hidden=len(hide),
        failures=tuple(changes.failures),
    )
    log.info("sync: %s", report.summary())
    return report


def _encodable(text: str) -> bool:
    """Tell whether a path can be stored: a name that is not UTF-8 holds surrogate escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _real(path: Path) -> Path:
    """Return the absolute path with links resolved; never raises, even on a link loop."""
    # Path.resolve() raises RuntimeError on a loop (Python 3.11); os.path.realpath does not.
    return Path(os.path.realpath(path))
