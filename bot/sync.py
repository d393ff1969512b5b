"""Sync: bring the store in line with the article files (new, changed, unchanged, vanished)."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.articles import decode_article, find_article_files, parse_article, slug_for
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


def _article_files(root: Path) -> list[Path]:
    """Return the article files a root names: the root itself if it is a file, else its files."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise NotFoundError(f"{root}: no such file or folder")
    return find_article_files(root)


def _within(source_path: str, root: Path) -> bool:
    """Tell whether a stored (absolute) source path lies in `root` (a folder or one file)."""
    top = str(root)
    return source_path == top or source_path.startswith(top + os.sep)


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
            raw = path.read_bytes()
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
            self.failures.append(f"{name}: cannot read ({exc.strerror or exc})")
            return
        upsert = ArticleUpsert(
            article, source, stat.st_mtime_ns, len(raw), digest, None if old is None else old.id
        )
        (self.inserts if old is None else self.updates).append(upsert)


def _identity(path: Path, root: Path, root_abs: Path, base: Path | None) -> tuple[str, str]:
    """Return a file's name for messages (as the person spelled its folder) and its slug."""
    if path == root_abs:  # the root named one file
        name, folder = str(root), path.parent
    else:
        name, folder = str(root / path.relative_to(root_abs)), root_abs
    if base is not None and path.is_relative_to(base):
        folder = base
    return name, slug_for(path, folder)


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
    base_abs = base.resolve() if base is not None else None
    resolved = [root.resolve() for root in roots]
    files = [
        (root, root_abs, path)
        for root, root_abs in zip(roots, resolved, strict=True)
        for path in _article_files(root_abs)
    ]
    changes = _Changes()
    seen: set[str] = set()
    for done, (root, root_abs, path) in enumerate(files, start=1):
        if progress is not None:
            progress(done, len(files))
        name, slug = _identity(path, root, root_abs, base_abs)
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
