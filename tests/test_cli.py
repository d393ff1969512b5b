"""CLI: import, list and preview as a person runs them (real subprocesses, real SQLite)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bot.markup import parse_html
from tests.conftest import REFERENCE, run_digestbot


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


@pytest.mark.parametrize(
    ("ref", "code", "line"),
    [
        ("99999999999999999999", 2, "digestbot: not an article id: '99999999999999999999' "),
        ("2147483648", 2, "digestbot: not an article id: '2147483648' "),
        ("²", 1, "digestbot: no article '²'"),
        ("a\x01b", 2, "digestbot: not a usable article reference: 'a\\x01b'"),
        ("", 2, "digestbot: no article reference"),
    ],
)
def test_preview_hostile_reference_is_one_line_and_an_exit_code(
    tmp_path: Path, seeds_dir: Path, ref: str, code: int, line: str
) -> None:
    result = run(tmp_path, seeds_dir, "preview", ref)
    assert result.returncode == code
    assert result.stderr.startswith(line)
    assert len(result.stderr.strip().splitlines()) == 1


def test_console_user_id_out_of_range_is_a_usage_error(tmp_path: Path, seeds_dir: Path) -> None:
    result = run(tmp_path, seeds_dir, "console", "--user-id", "99999999999999999999")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


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


def test_a_file_name_that_is_not_utf8_does_not_stop_import_or_list(
    tmp_path: Path, seeds_dir: Path
) -> None:
    raw = os.fsencode(seeds_dir) + b"/\xff\xfe.md"
    with open(raw, "wb") as file:  # noqa: PTH123 -- a bytes path: the name is not UTF-8
        file.write(REFERENCE.read_bytes())
    result = run(tmp_path, seeds_dir, "import")
    assert result.returncode == 1
    assert result.stdout.strip() == "imported 1 new, 0 updated, 0 unchanged, 0 hidden, 1 failed"
    assert (
        result.stderr
        == f"{seeds_dir}/\\xff\\xfe.md: the name is not valid UTF-8; rename the file\n"
    )
    listing = run(tmp_path, seeds_dir, "list", "--json")
    assert listing.returncode == 0, listing.stderr
    assert [row["slug"] for row in json.loads(listing.stdout)] == ["000_d1b123459f6495d4"]
    assert "\\xff\\xfe.md" in listing.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TIMEZONE": "Asia"}, "TIMEZONE='Asia': not an IANA timezone name; e.g. TIMEZONE="),
        ({"PORT": "99999"}, "PORT='99999': must be at most 65535; e.g. PORT=8443"),
        ({"SYNC_INTERVAL": "inf"}, "SYNC_INTERVAL='inf': not a duration"),
        ({"PUSH_TICK": "nan"}, "PUSH_TICK='nan': not a duration"),
        ({"ADMIN_IDS": "@alice"}, "ADMIN_IDS='@alice': '@alice' is not a numeric Telegram"),
        ({"PUSH_TIME": "8am"}, "PUSH_TIME='8am': not a 24-hour time of day; e.g. PUSH_TIME=08:00"),
        ({"WEBHOOK_URL": "notaurl"}, "WEBHOOK_URL='notaurl': not a URL"),
        ({"DATABASE_URL": "mysql://bob:hunter2@db/x"},
         "DATABASE_URL='mysql://bob:***@db/x': mysql:// is not supported"),
        ({"TELEGRAM_BOT_TOKEN": "123:abc def"}, "TELEGRAM_BOT_TOKEN (value hidden): not a bot"),
    ],
)  # fmt: skip
def test_a_bad_variable_is_one_line_naming_it_and_exit_2(
    tmp_path: Path, seeds_dir: Path, env: dict[str, str], expected: str
) -> None:
    result = run(tmp_path, seeds_dir, "list", **env)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("digestbot: invalid configuration: ")
    assert expected in line
    assert "hunter2" not in line
    assert "abc def" not in line


def test_durations_in_hours_and_postgres_style_urls_are_accepted(
    tmp_path: Path, seeds_dir: Path
) -> None:
    result = run(
        tmp_path, seeds_dir, "list", PUSH_GRACE="6h", SYNC_INTERVAL="10m", PUSH_TICK="PT30S"
    )
    assert result.returncode == 0, result.stderr


def test_a_sqlite_folder_that_cannot_be_created_is_one_line_with_the_resolved_path(
    tmp_path: Path, seeds_dir: Path
) -> None:
    (tmp_path / "afile").write_text("not a folder", encoding="utf-8")
    result = run(tmp_path, seeds_dir, "list", DATABASE_URL="sqlite:///afile/sub/db.sqlite3")
    assert result.returncode == 2
    assert result.stderr == (
        f"digestbot: DATABASE_URL: cannot create the folder {tmp_path / 'afile' / 'sub'} for the "
        "SQLite file (Not a directory); e.g. DATABASE_URL=sqlite:///data/digestbot.sqlite3\n"
    )
    not_a_database = run(tmp_path, seeds_dir, "list", DATABASE_URL="sqlite:///afile")
    assert not_a_database.returncode == 2
    assert not_a_database.stderr == (
        f"digestbot: cannot open the database {tmp_path / 'afile'}: file is not a database\n"
    )
