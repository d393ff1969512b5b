"""`digestbot subscribers import | export` as an operator runs them (subprocesses, SQLite)."""

from __future__ import annotations

import csv
import io
import json
from datetime import time
from pathlib import Path

from bot.db.engine import open_database
from bot.store import Store
from tests.conftest import ROOT, run_digestbot

GOOD_CSV = """chat_id,kind,language,time,timezone,topics
101,private,zh,07:30,Europe/Berlin,ai;health
-1002,supergroup,en,,,
103,private,en,21:00,,
"""


def stored(env: dict[str, str], chat_id: int) -> tuple[str, str, time | None, str | None, bool]:
    store = Store(open_database(env["DATABASE_URL"]))
    try:
        sub = store.get_subscriber(chat_id)
        assert sub is not None
        return sub.chat_type, sub.language, sub.push_time, sub.timezone, sub.active
    finally:
        store.close()


def test_import_csv_then_export_it_back(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """Three CSV rows import (topics ignored); the CSV export reads back the same rows."""
    source = tmp_path / "subs.csv"
    source.write_text(GOOD_CSV, encoding="utf-8")
    result = run_digestbot(ROOT, cli_env, "subscribers", "import", str(source))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "added 3, updated 0, bad rows 0"
    assert stored(cli_env, 101) == ("private", "zh", time(7, 30), "Europe/Berlin", True)
    assert stored(cli_env, -1002) == ("supergroup", "en", None, None, True)
    exported = run_digestbot(ROOT, cli_env, "subscribers", "export")
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [(r["chat_id"], r["kind"], r["time"], r["timezone"]) for r in rows] == [
        ("101", "private", "07:30", "Europe/Berlin"),
        ("-1002", "supergroup", "", ""),
        ("103", "private", "21:00", ""),
    ]


def test_bad_rows_are_reported_by_line_and_the_rest_imported(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """Each bad line is named with its reason on stderr, the good ones are kept, exit 1."""
    source = tmp_path / "subs.csv"
    source.write_text(
        "chat_id,kind,language,time,timezone\n"
        "1,private,zh,08:00,Asia/Shanghai\n"
        "x,private,zh,,\n"
        "3,robot,zh,,\n"
        "4,private,fr,,\n"
        "5,private,en,25:00,\n"
        "6,private,en,,Mars/Olympus\n"
        "7,group,en,,\n",
        encoding="utf-8",
    )
    result = run_digestbot(ROOT, cli_env, "subscribers", "import", str(source))
    assert result.returncode == 1
    assert result.stdout.strip() == "added 2, updated 0, bad rows 5"
    lines = result.stderr.strip().splitlines()
    assert [line.split(":")[1] for line in lines] == ["3", "4", "5", "6", "7"]
    assert "chat_id must be an integer" in lines[0]
    assert "kind must be one of" in lines[1]
    assert "language must be one of" in lines[2]
    assert "time must be HH:MM" in lines[3]
    assert "unknown timezone 'Mars/Olympus'" in lines[4]


def test_json_lines_import_updates_known_chats_and_exports_as_json(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """JSON lines (chat_type accepted for kind) add new chats and update known ones; a
    broken line is reported; --json exports one object per line."""
    first = tmp_path / "a.csv"
    first.write_text(GOOD_CSV, encoding="utf-8")
    assert run_digestbot(ROOT, cli_env, "subscribers", "import", str(first)).returncode == 0
    source = tmp_path / "subs.jsonl"
    source.write_text(
        '{"chat_id": 101, "chat_type": "private", "language": "en", "time": "09:15",'
        ' "timezone": "Asia/Tokyo", "active": false}\n'
        "\n"
        '{"chat_id": 201, "kind": "channel", "language": "zh", "topics": ["ai"]}\n'
        "{not json\n",
        encoding="utf-8",
    )
    result = run_digestbot(ROOT, cli_env, "subscribers", "import", str(source))
    assert result.returncode == 1
    assert result.stdout.strip() == "added 1, updated 1, bad rows 1"
    assert ":4: not JSON" in result.stderr
    assert stored(cli_env, 101) == ("private", "en", time(9, 15), "Asia/Tokyo", False)
    exported = run_digestbot(ROOT, cli_env, "subscribers", "export", "--json")
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [r["chat_id"] for r in records] == [101, -1002, 103, 201]
    assert records[0]["active"] is False
    assert records[3] == {
        "chat_id": 201,
        "kind": "channel",
        "language": "zh",
        "time": "",
        "timezone": "",
        "title": "",
        "active": True,
        "thread": 0,
    }
