"""CLI: import, list and preview as a person runs them (real subprocesses, real SQLite)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bot.markup import parse_html
from tests.conftest import run_digestbot


def run(tmp_path: Path, seeds: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'db.sqlite3'}",
        "SEEDS_DIR": str(seeds),
        **env,
    }
    return run_digestbot(tmp_path, environ, *args)


def test_preview_latest_shows_title_summary_and_all_nine_points(
    tmp_path: Path, seeds_dir: Path
) -> None:
    result = run(tmp_path, seeds_dir, "preview", "latest", "--json")
    assert result.returncode == 0, result.stderr
    (message,) = json.loads(result.stdout)
    text = parse_html(message).text
    assert "聊聊如何缓解越来越严重的AI焦虑。" in text
    assert "AI自媒体博主卡兹克深度剖析了自身" in text
    labels = ["焦虑现状", "焦虑根源（攀比心理）", "焦虑根源（生存恐惧）", "视角差异",
              "关键决策（内容方向）", "关键决策（团队协作）", "行动建议（明确自我）",
              "行动建议（转变心态）", "自我定位"]  # fmt: skip
    for label in labels:
        assert f"• {label}：" in text


def test_preview_full_text_in_english_splits_into_valid_messages(
    tmp_path: Path, seeds_dir: Path
) -> None:
    result = run(tmp_path, seeds_dir, "preview", "1", "--part", "full", "--lang", "en", "--json")
    assert result.returncode == 0, result.stderr
    messages = json.loads(result.stdout)
    assert "见字如面。" in parse_html(messages[0]).text
    assert "共勉。" in parse_html(messages[-1]).text


def test_preview_unknown_reference_is_one_line_error(tmp_path: Path, seeds_dir: Path) -> None:
    result = run(tmp_path, seeds_dir, "preview", "no-such-article")
    assert result.returncode == 1
    assert result.stderr.strip() == "digestbot: no article 'no-such-article'"


def test_preview_bad_part_is_a_usage_error(tmp_path: Path, seeds_dir: Path) -> None:
    result = run(tmp_path, seeds_dir, "preview", "latest", "--part", "nope")
    assert result.returncode == 2
    assert "--part must be one of digest, risks, full" in result.stderr
    assert "Traceback" not in result.stderr


def test_import_reports_bad_files_and_exits_1(tmp_path: Path, seeds_dir: Path) -> None:
    (seeds_dir / "bad.md").write_text("no front matter\n", encoding="utf-8")
    result = run(tmp_path, seeds_dir, "import")
    assert result.returncode == 1
    assert result.stdout.strip() == "imported 1 new, 0 updated, 0 unchanged, 0 hidden, 1 failed"
    assert result.stderr.startswith(str(seeds_dir / "bad.md") + ": ")
    assert "Traceback" not in result.stderr
    (seeds_dir / "bad.md").unlink()
    again = run(tmp_path, seeds_dir, "import")
    assert again.returncode == 0
    assert again.stdout.strip() == "imported 0 new, 0 updated, 1 unchanged, 0 hidden, 0 failed"


def test_list_json_has_the_documented_fields(tmp_path: Path, seeds_dir: Path) -> None:
    result = run(tmp_path, seeds_dir, "list", "--json")
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert set(row) >= {"id", "slug", "title", "date", "author", "source", "url", "tags"}
    assert row["date"] == "2025-05-30"
    assert row["tags"] == ["数字生命卡兹克", "AI", "llm"]


@pytest.mark.parametrize(
    ("env", "needle"),
    [({"TIMEZONE": "Mars/Olympus"}, "TIMEZONE"), ({"DATABASE_URL": "nonsense"}, "DATABASE_URL")],
)
def test_bad_configuration_is_one_line_and_exit_2(
    tmp_path: Path, seeds_dir: Path, env: dict[str, str], needle: str
) -> None:
    result = run(tmp_path, seeds_dir, "list", **env)
    assert result.returncode == 2
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_missing_seeds_dir_is_a_configuration_error(tmp_path: Path) -> None:
    result = run(tmp_path, tmp_path / "no-such-folder", "list")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("is not a folder")
    assert "SEEDS_DIR" in result.stderr


def test_import_takes_single_files_from_anywhere(tmp_path: Path, seeds_dir: Path) -> None:
    elsewhere = tmp_path / "drafts"
    elsewhere.mkdir()
    draft = elsewhere / "draft.md"
    draft.write_text(
        "---\ntitle: Draft\n---\n## Summary\n**One-line summary**\nA draft.\n", encoding="utf-8"
    )
    result = run(tmp_path, seeds_dir, "import", str(draft))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported 1 new, 0 updated, 0 unchanged, 0 hidden, 0 failed"
    listing = run(tmp_path, seeds_dir, "list", "--json")
    assert {row["slug"] for row in json.loads(listing.stdout)} == {"000_d1b123459f6495d4", "draft"}
    missing = run(tmp_path, seeds_dir, "import", str(tmp_path / "nope.md"))
    assert missing.returncode == 2
    assert "no such file or folder" in missing.stderr


def test_an_unknown_log_level_is_a_configuration_error(tmp_path: Path, seeds_dir: Path) -> None:
    result = run(tmp_path, seeds_dir, "list", LOG_LEVEL="verbose")
    assert result.returncode == 2
    assert "LOG_LEVEL" in result.stderr
    assert "Traceback" not in result.stderr
