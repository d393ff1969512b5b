"""Sync: new, changed, unchanged, vanished and bad files; a bad file never loses data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bot.errors import NotFoundError
from bot.store import Store
from bot.sync import sync_articles
from tests.conftest import REFERENCE

ARTICLE = """---
title: "{title}"
date: 2025-06-0{day}
---

## Summary

**One-line summary**
{title} in one line.

**Key points**
- **A**: first
"""


def write(folder: Path, name: str, title: str, day: int = 1) -> Path:
    path = folder / name
    path.write_text(ARTICLE.format(title=title, day=day), encoding="utf-8")
    return path


def test_first_sync_inserts_every_good_file(store: Store, seeds_dir: Path) -> None:
    write(seeds_dir, "one.md", "One")
    report = sync_articles(store, [seeds_dir])
    assert (report.new, report.updated, report.unchanged, report.hidden, report.failed) == (
        2, 0, 0, 0, 0
    )  # fmt: skip
    assert report.summary() == "imported 2 new, 0 updated, 0 unchanged, 0 hidden, 0 failed"
    assert {s.article.slug for s in store.list_articles()} == {"000_d1b123459f6495d4", "one"}


def test_second_sync_of_unchanged_files_touches_nothing(store: Store, seeds_dir: Path) -> None:
    sync_articles(store, [seeds_dir])
    report = sync_articles(store, [seeds_dir])
    assert (report.new, report.updated, report.unchanged) == (0, 0, 1)


def test_touched_file_with_same_bytes_is_unchanged(store: Store, seeds_dir: Path) -> None:
    sync_articles(store, [seeds_dir])
    target = seeds_dir / REFERENCE.name
    os.utime(target, ns=(1, 1))
    report = sync_articles(store, [seeds_dir])
    assert (report.updated, report.unchanged) == (0, 1)
    assert sync_articles(store, [seeds_dir]).unchanged == 1


def test_changed_file_is_updated_in_place_keeping_its_id(store: Store, seeds_dir: Path) -> None:
    path = write(seeds_dir, "one.md", "One")
    sync_articles(store, [seeds_dir])
    before = store.get_article_by_slug("one")
    assert before is not None
    write(seeds_dir, "one.md", "One, edited")
    os.utime(path, ns=(path.stat().st_mtime_ns + 10**9,) * 2)
    report = sync_articles(store, [seeds_dir])
    after = store.get_article_by_slug("one")
    assert report.updated == 1
    assert after is not None
    assert (after.id, after.article.title) == (before.id, "One, edited")


def test_vanished_file_is_hidden_not_deleted_and_comes_back(store: Store, seeds_dir: Path) -> None:
    path = write(seeds_dir, "one.md", "One")
    sync_articles(store, [seeds_dir])
    kept = store.get_article_by_slug("one")
    assert kept is not None
    moved = path.read_bytes()
    path.unlink()
    report = sync_articles(store, [seeds_dir])
    assert report.hidden == 1
    assert store.get_article_by_slug("one") is None
    hidden = store.get_article(kept.id, include_hidden=True)
    assert hidden is not None
    assert hidden.hidden
    path.write_bytes(moved)
    sync_articles(store, [seeds_dir])
    back = store.get_article_by_slug("one")
    assert back is not None
    assert back.id == kept.id


def test_bad_file_is_reported_and_others_still_import(store: Store, seeds_dir: Path) -> None:
    (seeds_dir / "broken.md").write_text("---\ntitle: [unclosed\n---\nbody\n", encoding="utf-8")
    (seeds_dir / "binary.md").write_bytes(b"---\ntitle: \xff\xfe\n---\n")
    write(seeds_dir, "good.md", "Good")
    report = sync_articles(store, [seeds_dir])
    assert report.new == 2
    assert report.failed == 2
    assert all(f.startswith(str(seeds_dir)) for f in report.failures)
    assert any("broken.md" in f for f in report.failures)
    assert any("binary.md" in f and "UTF-8" in f for f in report.failures)


def test_file_that_turns_bad_keeps_its_last_good_article(store: Store, seeds_dir: Path) -> None:
    path = write(seeds_dir, "one.md", "One")
    sync_articles(store, [seeds_dir])
    path.write_text("no front matter at all", encoding="utf-8")
    report = sync_articles(store, [seeds_dir])
    assert report.failed == 1
    assert report.hidden == 0
    kept = store.get_article_by_slug("one")
    assert kept is not None
    assert kept.article.title == "One"


def test_reference_article_round_trips_through_the_store(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "only"
    folder.mkdir()
    shutil.copy(REFERENCE, folder)
    sync_articles(store, [folder])
    latest = store.latest_article()
    assert latest is not None
    assert latest.article.title == "聊聊如何缓解越来越严重的AI焦虑。"
    assert len(latest.article.points) == 9
    assert latest.article.points[0].label == "焦虑现状"
    assert len(latest.article.risks) == 3
    assert "见字如面。" in latest.article.body


def test_importing_another_folder_or_one_file_hides_nothing_else(
    store: Store, seeds_dir: Path, tmp_path: Path
) -> None:
    sync_articles(store, [seeds_dir], base=seeds_dir)
    other = tmp_path / "other"
    other.mkdir()
    single = write(other, "extra.md", "Extra")
    report = sync_articles(store, [single], base=seeds_dir)
    assert (report.new, report.hidden) == (1, 0)
    # Back to SEEDS_DIR: the article from elsewhere is not SEEDS_DIR's to hide.
    again = sync_articles(store, [seeds_dir], base=seeds_dir)
    assert (again.new, again.hidden, again.unchanged) == (0, 0, 1)
    assert {s.article.slug for s in store.list_articles()} == {"000_d1b123459f6495d4", "extra"}


def test_a_subfolder_of_seeds_keeps_the_identity_it_has_under_seeds(
    store: Store, seeds_dir: Path
) -> None:
    (seeds_dir / "sub").mkdir()
    write(seeds_dir / "sub", "deep.md", "Deep")
    sync_articles(store, [seeds_dir], base=seeds_dir)
    report = sync_articles(store, [seeds_dir / "sub"], base=seeds_dir)
    assert (report.new, report.hidden, report.unchanged) == (0, 0, 1)
    assert store.get_article_by_slug("sub--deep") is not None


def test_a_missing_root_is_named(store: Store, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such file or folder"):
        sync_articles(store, [tmp_path / "nope"])
