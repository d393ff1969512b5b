"""`digestbot console`: the real bot on an in-process loopback Bot API, driven through a pipe."""

from __future__ import annotations

import io
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.fakeapi.console import ChatView, console_lang, is_start
from bot.fakeapi.server import LoopbackBotApi
from tests.conftest import run_digestbot
from tests.fakeapi.conftest import bot_for
from tests.telegram.conftest import article_file

TITLE = "聊聊如何缓解越来越严重的AI焦虑。"
SUMMARY_START = "AI自媒体博主卡兹克深度剖析了"
FULL_TEXT = "见字如面"
RISK_LABEL = "舆论加剧焦虑"
ANSI = re.compile(r"\x1b\[")


def console(
    tmp_path: Path, env: dict[str, str], script: str, *args: str
) -> subprocess.CompletedProcess[str]:
    return run_digestbot(tmp_path, env, "console", *args, stdin=script)


@pytest.mark.slow
def test_console_script_reads_latest_presses_full_text_and_shows_risks(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """A newcomer's first session, piped: plain text replies, exit 0, nothing on stderr."""
    env = {**cli_env, "LANG": "zh_CN.UTF-8"}
    result = console(tmp_path, env, "/latest\n1\n/risks\n/quit\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert TITLE in out
    assert SUMMARY_START in out
    assert FULL_TEXT in out
    assert RISK_LABEL in out
    assert "[1] 📖 全文" in out
    assert "离线" in out  # the banner says it runs offline
    assert not ANSI.search(out)
    assert "Traceback" not in result.stderr
    # Order: the digest, then the full text the button brought, then the risks.
    assert out.index(SUMMARY_START) < out.index(FULL_TEXT) < out.index(RISK_LABEL)


@pytest.mark.slow
def test_console_exits_cleanly_at_end_of_input_without_quit(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    result = console(tmp_path, cli_env, "/help\n", "--lang", "en")
    assert result.returncode == 0, result.stderr
    assert "offline" in result.stdout
    assert "/latest" in result.stdout
    assert "Traceback" not in result.stderr
    assert not ANSI.search(result.stdout)


@pytest.mark.slow
def test_console_reads_input_that_is_not_utf8_and_ends_at_its_end(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """Latin-1 bytes on stdin become U+FFFD; the console answers and exits, never hangs."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "console", "--lang", "en"],
        input=b"/help\n/search caf\xe9 \xff\xfe\n\xff\n",
        capture_output=True,
        env=cli_env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "/latest" in result.stdout.decode()  # /help was answered
    assert "caf\ufffd" in result.stdout.decode()  # the search echoes what it understood


def long_article(paragraphs: int) -> str:
    """Return the newest article in the seeds, its full text several Telegram messages long."""
    body = "\n\n".join(f"Paragraph {i:02d}. " + "words " * 80 for i in range(paragraphs))
    return article_file(1, title="A long read", body=body).replace(
        "date: 2024-01-02", "date: 2030-01-01"
    )


@pytest.mark.slow
def test_console_script_prints_a_long_answer_under_its_own_line_and_all_of_it_before_exit(
    tmp_path: Path, cli_env: dict[str, str], seeds_dir: Path
) -> None:
    """The pacer spaces a long answer's messages 1 s apart: no reply slips under a later line."""
    paragraphs = 40  # about 20 000 characters: /full needs at least 4 messages
    (seeds_dir / "long.md").write_text(long_article(paragraphs), encoding="utf-8")
    result = console(tmp_path, cli_env, "/full\n/help\n/full\n", "--lang", "en")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    last = f"Paragraph {paragraphs - 1:02d}."
    first_full, help_line, second_full = (
        out.index("> /full"),
        out.index("> /help"),
        out.index("> /full", out.index("> /help")),
    )
    assert first_full < help_line < second_full
    # The first answer: every message between its line and the next.
    answer = out[first_full:help_line]
    assert answer.count("🤖 digestbot") >= 3
    assert "Paragraph 00." in answer
    assert last in answer
    # /help's answer under its own line, nothing of /full's there.
    help_answer = out[help_line:second_full]
    assert "/latest" in help_answer
    assert "Paragraph" not in help_answer
    # The last command's answer is printed in full before the console exits.
    final = out[second_full:]
    assert final.count("🤖 digestbot") >= 3
    positions = [final.index(p) for p in ("Paragraph 00.", "Paragraph 20.", last)]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    ("value", "lang"),
    [
        (None, "en"),
        ("", "en"),
        ("C", "en"),
        ("C.UTF-8", "en"),
        ("POSIX", "en"),
        ("zh", "zh"),
        ("zh_CN.UTF-8", "zh"),
        ("zh_TW", "zh"),
        ("en", "en"),
        ("en_US.UTF-8", "en"),
        ("de_DE.UTF-8", "en"),
    ],
)
def test_console_language_is_chinese_for_zh_locales_else_english(
    value: str | None, lang: str
) -> None:
    assert console_lang(value) == lang


@pytest.mark.parametrize(
    ("line", "start"),
    [("/start", True), ("/start ref42", True), ("/start@digestbot", True), ("/started", False),
     ("/latest", False), ("", False)],
)  # fmt: skip
def test_is_start_recognises_the_start_command(line: str, start: bool) -> None:
    assert is_start(line) is start


@pytest.mark.slow
def test_console_leaves_the_configured_database_untouched(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """A production DATABASE_URL and token in the environment: the console uses neither."""
    production = tmp_path / "production.sqlite3"
    with sqlite3.connect(production) as db:
        db.execute("CREATE TABLE precious (x INTEGER)")
    before = production.read_bytes()
    env = {
        **cli_env,
        "DATABASE_URL": f"sqlite:///{production}",
        "TELEGRAM_BOT_TOKEN": "123456:production-token",
        "LANG": "C",
    }
    Path(cli_env["DATABASE_URL"].removeprefix("sqlite:///")).unlink()  # the fixture's own
    result = console(tmp_path, env, "/start\n/latest\n")
    assert result.returncode == 0, result.stderr
    assert production.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if "sqlite3" in p.name) == [
        "production.sqlite3"
    ]
    assert "Database: a temporary file" in result.stdout  # LANG=C speaks English
    # The script's own /start is the only one: not doubled by the console's automatic one.
    assert result.stdout.count("> /start") == 1
    assert result.stdout.count("You are subscribed") == 1


@pytest.mark.slow
def test_console_keeps_its_chat_in_the_database_given(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    kept = tmp_path / "kept" / "console.sqlite3"
    result = console(tmp_path, cli_env, "/help\n", "--database", f"sqlite:///{kept}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("> /start") == 1  # sent by the console, before the script
    with sqlite3.connect(kept) as db:
        assert db.execute("SELECT count(*) FROM subscribers").fetchone() == (1,)


async def test_chat_view_on_a_terminal_wraps_at_word_boundaries(
    loopback_api: LoopbackBotApi,
) -> None:
    user = loopback_api.user(10001)
    chat = loopback_api.private_chat(user)
    buffer = io.StringIO()
    out = Console(file=buffer, force_terminal=True, color_system=None, width=30)
    view = ChatView(loopback_api, chat, user, out)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda"
    async with bot_for(loopback_api) as bot:
        await bot.send_message(chat.id, words)
    view.show_new()
    lines = [line.rstrip() for line in buffer.getvalue().splitlines()[1:] if line.strip()]
    assert len(lines) > 1
    assert all(len(line) <= 30 for line in lines)
    assert " ".join(lines) == words  # every break fell between words


async def test_chat_view_shows_new_and_edited_messages_and_numbers_buttons(
    loopback_api: LoopbackBotApi,
) -> None:
    """Edits show as updated messages; numbers press the buttons listed last."""
    user = loopback_api.user(10001, language_code="zh-hans")
    chat = loopback_api.private_chat(user)
    buffer = io.StringIO()
    out = Console(file=buffer, force_terminal=False, color_system=None, width=200)
    view = ChatView(loopback_api, chat, user, out, lang="en")
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("◀", callback_data="list:1")],
            [InlineKeyboardButton("🔗 原文", url="https://example.com/a")],
        ]
    )
    async with bot_for(loopback_api) as bot:
        sent = await bot.send_message(chat.id, "<b>第一页</b>", parse_mode="HTML")
        await bot.send_message(chat.id, "列表", reply_markup=keyboard)
        view.show_new()
        first = buffer.getvalue()
        assert "第一页" in first
        assert "[1] ◀" in first
        assert "[2] 🔗 原文 https://example.com/a" in first

        view.show_new()
        assert buffer.getvalue() == first  # nothing new, nothing printed

        await bot.edit_message_text("<i>第二页</i>", chat.id, sent.message_id, parse_mode="HTML")
        view.show_new()
        update = buffer.getvalue()[len(first) :]
        assert "(edited)" in update
        assert "第二页" in update
        assert "列表" not in update

    assert view.act("1") is not None  # a callback query for list:1
    assert loopback_api.pending_updates == 1
    assert view.act("2") is None  # a URL button is shown, not pressed
    assert "open it in a browser" in buffer.getvalue()
    assert view.act("9") is None
    assert "no button [9]" in buffer.getvalue()
    # Digits of other kinds are text to send, never a button number (int("²") would raise).
    before = loopback_api.pending_updates
    for odd in ("²", "①", "٣", "１"):
        assert view.act(odd) is None
    assert loopback_api.pending_updates == before + 4
    assert view.act("9" * 40) is None
    assert "no button [" + "9" * 40 in buffer.getvalue()


@pytest.mark.parametrize(
    ("lang", "no_button", "open_link"),
    [
        (
            "zh",
            "（没有按钮 [9]；可用的编号是 1..1）",
            "（🔗 https://example.com/a — 请在浏览器中打开）",
        ),
        (
            "en",
            "(no button [9]; numbers go 1..1)",
            "(🔗 https://example.com/a — open it in a browser)",
        ),
    ],
)
async def test_chat_view_speaks_the_console_language(
    loopback_api: LoopbackBotApi, lang: str, no_button: str, open_link: str
) -> None:
    """The console's own lines come from the string catalogue, in --lang."""
    user = loopback_api.user(10001)
    chat = loopback_api.private_chat(user)
    buffer = io.StringIO()
    out = Console(file=buffer, force_terminal=False, color_system=None, width=200)
    view = ChatView(loopback_api, chat, user, out, lang=lang)  # type: ignore[arg-type]
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("🔗", url="https://example.com/a")]])
    async with bot_for(loopback_api) as bot:
        await bot.send_message(chat.id, "x", reply_markup=keyboard)
    view.show_new()
    assert view.act("9") is None
    assert view.act("1") is None
    assert no_button in buffer.getvalue()
    assert open_link in buffer.getvalue()


async def test_chat_view_prints_a_link_url_once_per_message(
    loopback_api: LoopbackBotApi,
) -> None:
    """A title linking to the URL its 🔗 button also shows prints the URL only on the button."""
    url = "https://example.com/" + "long/" * 30
    user = loopback_api.user(10001)
    chat = loopback_api.private_chat(user)
    buffer = io.StringIO()
    out = Console(file=buffer, force_terminal=False, color_system=None, width=200)
    view = ChatView(loopback_api, chat, user, out)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("🔗 原文", url=url)]])
    async with bot_for(loopback_api) as bot:
        await bot.send_message(
            chat.id, f'<b><a href="{url}">标题</a></b>', parse_mode="HTML", reply_markup=keyboard
        )
        await bot.send_message(chat.id, f'<a href="{url}">原文</a>', parse_mode="HTML")
    view.show_new()
    printed = buffer.getvalue()
    # Once on the first message's button line, once after the second message's link text.
    assert printed.count(url) == 2
    assert "标题\n" in printed
    assert f"[1] 🔗 原文 {url}" in printed
    assert f"原文 ({url})" in printed


async def test_chat_view_on_a_terminal_makes_links_hyperlinks_without_the_url_text(
    loopback_api: LoopbackBotApi,
) -> None:
    user = loopback_api.user(10001)
    chat = loopback_api.private_chat(user)
    buffer = io.StringIO()
    out = Console(file=buffer, force_terminal=True, color_system="standard", width=200)
    view = ChatView(loopback_api, chat, user, out)
    async with bot_for(loopback_api) as bot:
        await bot.send_message(chat.id, '<a href="https://x.org/p">原文</a>', parse_mode="HTML")
    view.show_new()
    printed = buffer.getvalue()
    assert "\x1b]8;" in printed  # an OSC 8 terminal hyperlink
    assert "原文" in printed
    assert "(https://x.org/p)" not in printed


@pytest.mark.slow
def test_console_types_an_inline_query_and_posts_a_result(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """`@ words` lists the inline results; a number posts that digest via the bot."""
    result = console(
        tmp_path, cli_env, "@digest_test_bot\n1\n@ zzqq-none\n/quit\n", "--lang", "en"
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "(inline results: 1 — type a number to post one here)" in out
    assert f"[1] {TITLE} — {SUMMARY_START}" in out
    assert "🙂 you via @digest_test_bot" in out
    assert "📖 Read in the bot https://t.me/digest_test_bot?start=a1" in out
    assert "(no inline results match)" in out
    assert out.index("you via") > out.index("inline results: 1")
