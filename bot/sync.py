"""Sync: bring the store in line with the article files (new, changed, unchanged, vanished)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.articles import find_article_files, parse_article, slug_for
from bot.errors import ArticleError
from bot.store import ArticleUpsert, FileStamp, Store

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


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def sync_articles(
    store: Store,
    roots: Sequence[Path],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> SyncReport:
    """Import every article file under `roots` into `store`; hide articles whose file vanished.

    Unchanged files are skipped by mtime and size without reading them; a file whose stamp
    moved is hashed, and parsed only when its content changed. A bad file is reported and
    skipped; it never stops the others, and the article it had stays as it was.
    """
    stamps = store.file_stamps()
    files = [(root, path) for root in roots for path in find_article_files(root)]
    inserts: list[ArticleUpsert] = []
    updates: list[ArticleUpsert] = []
    restamps: list[FileStamp] = []
    failures: list[str] = []
    seen: set[str] = set()
    unchanged = 0
    revived = 0
    for done, (root, path) in enumerate(files, start=1):
        if progress is not None:
            progress(done, len(files))
        name = str(path)
        slug = slug_for(path, root)
        if slug in seen:
            failures.append(f"{name}: another file already has the slug {slug!r}")
            continue
        seen.add(slug)
        try:
            stat = path.stat()
            old = stamps.get(slug)
            if (
                old is not None
                and not old.hidden
                and old.mtime_ns == stat.st_mtime_ns
                and old.size == stat.st_size
                and old.source_path == name
            ):
                unchanged += 1
                continue
            raw = path.read_bytes()
            digest = hashlib.sha256(raw).hexdigest()
            if old is not None and old.content_hash == digest:
                # Same bytes (touched, moved, or back after vanishing): refresh the stamp only.
                restamps.append(FileStamp(old.id, name, stat.st_mtime_ns, len(raw), digest, False))
                revived += old.hidden
                unchanged += not old.hidden
                continue
            article = parse_article(_decode(raw, name), name=name, slug=slug)
        except ArticleError as exc:
            failures.append(str(exc))
            continue
        except OSError as exc:
            failures.append(f"{name}: cannot read ({exc.strerror or exc})")
            continue
        if old is None:
            inserts.append(ArticleUpsert(article, name, stat.st_mtime_ns, len(raw), digest))
        else:
            updates.append(
                ArticleUpsert(article, name, stat.st_mtime_ns, len(raw), digest, old.id)
            )
    # A file that fails to parse is in `seen`, so its last good article stays visible.
    hide = [slug for slug, stamp in stamps.items() if not stamp.hidden and slug not in seen]
    store.apply_sync(inserts=inserts, updates=updates, restamps=restamps, hide=hide)
    report = SyncReport(
        new=len(inserts),
        updated=len(updates) + revived,
        unchanged=unchanged,
        hidden=len(hide),
        failures=tuple(failures),
    )
    log.info("sync: %s", report.summary())
    return report
