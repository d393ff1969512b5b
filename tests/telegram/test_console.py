"""`digestbot console`: the real bot on an in-process loopback Bot API, driven through a pipe."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram.console import ChatView, console_lang
from bot.telegram.loopback_api import LoopbackBotApi

TITLE = "聊聊如何缓解越来越严重的AI焦虑。"
SUMMARY_START = "AI自媒体博主卡兹克深度剖析了"
FULL_TEXT = "见字如面"
RISK_LABEL = "舆论加剧焦虑"
ANSI = re.compile(r"\x1b\[")


def console(
    tmp_path: Path, env: dict[str, str], script: str, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "console", *args],
        input=script,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


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


@pytest.mark.parametrize(
    ("value", "lang"),
    [
        (None, "zh"),
        ("", "zh"),
        ("C.UTF-8", "zh"),
        ("POSIX", "zh"),
        ("zh", "zh"),
        ("zh_CN.UTF-8", "zh"),
        ("en", "en"),
        ("en_US.UTF-8", "en"),
        ("de_DE.UTF-8", "en"),
    ],
)
def test_console_language_comes_from_lang_or_defaults_to_chinese(
    value: str | None, lang: str
) -> None:
    assert console_lang(value) == lang


async def test_chat_view_shows_new_and_edited_messages_and_numbers_buttons(
    loopback_api: LoopbackBotApi,
) -> None:
    """Edits show as updated messages; numbers press the buttons listed last."""
    user = loopback_api.user(10001, language_code="zh-hans")
    chat = loopback_api.private_chat(user)
    buffer = io.StringIO()
    out = Console(file=buffer, force_terminal=False, color_system=None, width=200)
    view = ChatView(loopback_api, chat, user, out)
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("◀", callback_data="list:1")],
            [InlineKeyboardButton("🔗 原文", url="https://example.com/a")],
        ]
    )
    async with Bot(loopback_api.token, base_url=loopback_api.base_url) as bot:
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
