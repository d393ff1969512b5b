"""Sync: new, changed, unchanged, vanished and bad files; a bad file never loses data."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot import sync
from bot.articles import MAX_ARTICLE_BYTES, parse_article
from bot.errors import NotFoundError
from bot.model import Article
from bot.store import Store
from bot.sync import SyncReport, sync_articles
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


# -- files, folders and links that used to stop the sync ------------------------------------


def slugs(store: Store) -> set[str]:
    return {s.article.slug for s in store.list_articles()}


def test_a_file_name_that_is_not_utf8_is_one_failure_and_the_rest_imports(
    store: Store, seeds_dir: Path
) -> None:
    write(seeds_dir, "good.md", "Good")
    raw = os.fsencode(seeds_dir) + b"/\xff\xfe.md"
    with open(raw, "wb") as file:  # noqa: PTH123 -- a bytes path: the name is not UTF-8
        file.write(ARTICLE.format(title="Latin", day=1).encode())
    report = sync_articles(store, [seeds_dir], base=seeds_dir)
    assert report.failures == (
        f"{seeds_dir}/\\xff\\xfe.md: the name is not valid UTF-8; rename the file",
    )
    assert report.new == 2
    assert slugs(store) == {"000_d1b123459f6495d4", "good"}


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("a\nb.md", "a\\nb.md"),
        ("\x1b[31mred.md", "\\x1b[31mred.md"),
        ("tab\there.md", "tab\\there.md"),
    ],
)
def test_a_file_name_with_a_control_character_is_refused_and_shown_escaped(
    store: Store, seeds_dir: Path, name: str, shown: str
) -> None:
    write(seeds_dir, name, "Odd")
    report = sync_articles(store, [seeds_dir])
    (failure,) = report.failures
    assert failure == f"{seeds_dir}/{shown}: the name holds a control character; rename the file"
    assert report.new == 1


def test_a_bidi_override_in_a_name_is_escaped_in_the_message(
    store: Store, seeds_dir: Path
) -> None:
    write(seeds_dir, "x\u202egnp.md", "RTL")
    (seeds_dir / "x\u202egnp.md").chmod(0o644)
    big = seeds_dir / "\u202ebig.md"
    big.write_bytes(b"x" * (MAX_ARTICLE_BYTES + 1))
    report = sync_articles(store, [seeds_dir])
    assert report.new == 2  # a bidi mark is a legal name; only the message escapes it
    (failure,) = report.failures
    assert failure.startswith(f"{seeds_dir}/\\u202ebig.md: too large")


def unreadable(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make os.scandir fail on `folder` as chmod 000 would (tests run as root)."""
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if Path(path) == folder:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_an_unreadable_folder_is_a_failure_and_never_hides_its_articles(
    store: Store, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = seeds_dir / "locked"
    locked.mkdir()
    write(locked, "inside.md", "Inside")
    sync_articles(store, [seeds_dir], base=seeds_dir)
    assert "locked--inside" in slugs(store)
    unreadable(monkeypatch, locked)
    write(seeds_dir, "later.md", "Later")
    report = sync_articles(store, [seeds_dir], base=seeds_dir)
    assert report.failures == (f"{locked}: cannot list this folder (Permission denied)",)
    assert (report.new, report.hidden) == (1, 0)
    assert slugs(store) == {"000_d1b123459f6495d4", "locked--inside", "later"}


def test_an_unreadable_seeds_dir_hides_nothing(
    store: Store, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_articles(store, [seeds_dir], base=seeds_dir)
    unreadable(monkeypatch, seeds_dir)
    report = sync_articles(store, [seeds_dir], base=seeds_dir)
    assert report.failures == (f"{seeds_dir}: cannot list this folder (Permission denied)",)
    assert report.hidden == 0
    assert slugs(store) == {"000_d1b123459f6495d4"}


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 folder anyway")
def test_a_chmod_000_folder_is_a_failure_and_keeps_its_articles(
    store: Store, seeds_dir: Path
) -> None:
    locked = seeds_dir / "locked"
    locked.mkdir()
    write(locked, "inside.md", "Inside")
    sync_articles(store, [seeds_dir], base=seeds_dir)
    locked.chmod(0)
    try:
        report = sync_articles(store, [seeds_dir], base=seeds_dir)
    finally:
        locked.chmod(0o755)
    assert report.failed == 1
    assert report.hidden == 0
    assert "locked--inside" in slugs(store)


def test_a_link_out_of_seeds_dir_is_refused_and_a_link_inside_is_followed(
    store: Store, seeds_dir: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.md"
    write(tmp_path, "secret.md", "Secret")
    (seeds_dir / "notes.md").symlink_to(secret)
    (seeds_dir / "passwd.md").symlink_to("/etc/passwd")
    (seeds_dir / "outside").symlink_to(tmp_path, target_is_directory=True)
    (seeds_dir / "sub").mkdir()
    write(seeds_dir / "sub", "real.md", "Real")
    (seeds_dir / "alias.md").symlink_to(seeds_dir / "sub" / "real.md")
    (seeds_dir / "mirror").symlink_to("sub", target_is_directory=True)
    report = sync_articles(store, [seeds_dir], base=seeds_dir)
    assert report.failures == (
        f"{seeds_dir}/notes.md: a link to {secret}, outside {seeds_dir}",
        f"{seeds_dir}/outside: a link to {tmp_path}, outside {seeds_dir}",
        f"{seeds_dir}/passwd.md: a link to /etc/passwd, outside {seeds_dir}",
    )
    assert slugs(store) == {"000_d1b123459f6495d4", "alias", "mirror--real", "sub--real"}


def test_link_loops_are_failures_not_hangs(store: Store, seeds_dir: Path) -> None:
    (seeds_dir / "self.md").symlink_to("self.md")
    (seeds_dir / "sub").mkdir()
    (seeds_dir / "sub" / "up").symlink_to("..", target_is_directory=True)
    (seeds_dir / "broken.md").symlink_to("nowhere.md")
    report = sync_articles(store, [seeds_dir], base=seeds_dir)
    assert report.failures == (
        f"{seeds_dir}/broken.md: cannot read (No such file or directory)",
        f"{seeds_dir}/self.md: cannot read (Too many levels of symbolic links)",
        f"{seeds_dir}/sub/up: a link to a folder it is in (a loop)",
    )
    assert report.new == 1


def test_a_folder_named_like_an_article_is_walked(store: Store, seeds_dir: Path) -> None:
    (seeds_dir / "x.md").mkdir()
    write(seeds_dir / "x.md", "inner.md", "Inner")
    report = sync_articles(store, [seeds_dir], base=seeds_dir)
    assert (report.new, report.failed) == (2, 0)
    assert "x.md--inner" in slugs(store)


def in_thread(target: Callable[[], object], seconds: float = 20) -> None:
    """Run target in a thread; fail (rather than hang the suite) if it blocks."""
    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "blocked"


def test_a_fifo_named_like_an_article_is_refused_without_blocking(
    store: Store, seeds_dir: Path
) -> None:
    os.mkfifo(seeds_dir / "pipe.md")
    reports: list[SyncReport] = []
    in_thread(lambda: reports.append(sync_articles(store, [seeds_dir], base=seeds_dir)))
    assert reports[0].failures == (f"{seeds_dir}/pipe.md: not a regular file",)


def test_a_file_replaced_by_a_fifo_after_listing_is_refused_without_blocking(
    store: Store, seeds_dir: Path
) -> None:
    target = write(seeds_dir, "swap.md", "Swap")

    def swap(done: int, _total: int) -> None:
        if done == 1:
            target.unlink()
            os.mkfifo(target)

    reports: list[SyncReport] = []
    in_thread(lambda: reports.append(sync_articles(store, [seeds_dir], progress=swap)))
    assert reports[0].failures == (f"{target}: not a regular file",)


def test_a_file_that_vanishes_between_listing_and_reading_is_one_failure(
    store: Store, seeds_dir: Path
) -> None:
    kept = write(seeds_dir, "kept.md", "Kept")
    sync_articles(store, [seeds_dir])
    os.utime(kept, ns=(1, 1))  # changed stamp: the next sync must read it

    def vanish(done: int, _total: int) -> None:
        if done == 1:
            kept.unlink()

    report = sync_articles(store, [seeds_dir], progress=vanish)
    assert report.failures == (f"{kept}: cannot read (No such file or directory)",)
    assert "kept" in slugs(store)  # the article stays until a sync sees the file gone
    assert sync_articles(store, [seeds_dir]).hidden == 1


def test_a_file_over_2_mb_is_refused(store: Store, seeds_dir: Path) -> None:
    padding = "\n" + "x" * (MAX_ARTICLE_BYTES) + "\n"
    (seeds_dir / "huge.md").write_text(ARTICLE.format(title="Huge", day=1) + padding, "utf-8")
    report = sync_articles(store, [seeds_dir])
    (failure,) = report.failures
    assert failure.startswith(f"{seeds_dir}/huge.md: too large (")
    assert failure.endswith(" bytes; at most 2 MB)")
    fits = ARTICLE.format(title="Fits", day=1)
    (seeds_dir / "huge.md").write_text(fits + "x" * (MAX_ARTICLE_BYTES - len(fits)), "utf-8")
    assert sync_articles(store, [seeds_dir]).failed == 0


def test_a_path_too_long_for_a_slug_is_refused_on_every_database(
    store: Store, seeds_dir: Path
) -> None:
    deep = seeds_dir
    for _ in range(3):
        deep = deep / ("d" * 150)
    deep.mkdir(parents=True)
    write(deep, "post.md", "Deep")
    report = sync_articles(store, [seeds_dir], base=seeds_dir)
    (failure,) = report.failures
    assert "is too long (460 characters; at most 400)" in failure
    assert report.new == 1


def test_a_parser_crash_costs_one_file(
    store: Store, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(seeds_dir, "boom.md", "Boom")

    def parse(text: str, *, name: str, slug: str) -> Article:
        if slug == "boom":
            raise RuntimeError("a bug")
        return parse_article(text, name=name, slug=slug)

    monkeypatch.setattr(sync, "parse_article", parse)
    report = sync_articles(store, [seeds_dir])
    assert report.failures == (
        f"{seeds_dir}/boom.md: unexpected error while reading (see the log)",
    )
    assert report.new == 1


def test_a_fifo_named_on_the_command_line_is_refused(store: Store, tmp_path: Path) -> None:
    pipe = tmp_path / "pipe.md"
    os.mkfifo(pipe)
    reports: list[SyncReport] = []
    in_thread(lambda: reports.append(sync_articles(store, [pipe])))
    assert reports[0].failures == (f"{pipe}: not a regular file",)


def test_a_root_whose_path_is_not_utf8_is_one_failure(store: Store, tmp_path: Path) -> None:
    folder = os.fsencode(tmp_path) + b"/\xff"
    os.mkdir(folder)  # noqa: PTH102 -- a bytes path: the name is not UTF-8
    root = Path(os.fsdecode(folder))
    write(root, "a.md", "A")
    report = sync_articles(store, [root])
    assert report.failures == (f"{tmp_path}/\\xff: the path is not valid UTF-8",)
    assert slugs(store) == set()
