"""`digestbot console`: the real bot against an in-process loopback Bot API, chatted with here.

Nothing leaves the machine: the loopback server listens on 127.0.0.1 with a fake token, the
Application from ``build_application`` polls it as it would poll Telegram, and the person at
the terminal is one subscriber in a private chat. On a terminal the bot's messages are styled
with rich; when stdin is a pipe the console is a script runner that prints plain text.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import SecretStr
from rich.console import Console
from rich.style import Style
from rich.text import Text

from bot.config import Settings
from bot.i18n import Lang
from bot.telegram.app import build_application
from bot.telegram.loopback_api import FakeChat, FakeUser, LoopbackBotApi, SentMessage
from bot.telegram.runner import started
from bot.telegram.terminal import Shown, button_lines, to_rich

__all__ = ["DEFAULT_USER_ID", "ChatView", "LineReader", "console_lang", "run_console"]

DEFAULT_USER_ID = 10001
QUIT = frozenset({"/quit", "/exit"})
LANGUAGE_CODES: dict[Lang, str] = {"zh": "zh-hans", "en": "en"}
# How long the bot must stay silent before an answer counts as finished. The pipe mode waits
# a little longer: a script has nobody to notice a late message.
QUIET_TERMINAL = 0.3
QUIET_SCRIPT = 0.5
ANSWER_TIMEOUT = 60.0

BANNER: dict[Lang, str] = {
    "zh": (
        "digestbot 控制台 — 离线运行:真正的机器人,连接本机 127.0.0.1 上的模拟 Telegram,"
        "无需令牌、无需网络。\n"
        "试试:/latest,然后输入 1 按下「📖 全文」按钮;/risks;/help 查看全部命令。"
        "输入数字按按钮,/quit 或 Ctrl-D 退出。"
    ),
    "en": (
        "digestbot console — offline: the real bot, talking to a fake Telegram on 127.0.0.1; "
        "no token, no network.\n"
        "Try /latest, then type 1 to press the 📖 Full text button; /risks; /help lists every "
        "command. Type a number to press a button; /quit or Ctrl-D leaves."
    ),
}


def console_lang(value: str | None) -> Lang:
    """Return the chat language for --lang or a locale such as $LANG (zh when unknown)."""
    if not value or value.split(".")[0] in {"C", "POSIX"}:
        return "zh"
    return "zh" if value.lower().startswith("zh") else "en"


class LineReader:
    """Read stdin lines in a daemon thread, so the event loop never blocks on the terminal.

    A daemon thread (not the loop's executor) because a thread stuck in input() must not keep
    the process alive after /quit or a signal.
    """

    def __init__(self, prompt: str | None) -> None:
        self._prompt = prompt
        self._requests: queue.SimpleQueue[
            tuple[asyncio.AbstractEventLoop, asyncio.Future[str | None]]
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="console-stdin", daemon=True)
        self._thread.start()

    def _read(self) -> str | None:
        try:
            if self._prompt is not None:
                return input(self._prompt)
            line = sys.stdin.readline()
        except EOFError:
            return None
        return line.rstrip("\r\n") if line else None

    def _run(self) -> None:
        while True:
            loop, future = self._requests.get()
            line = self._read()
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_resolve, future, line)
            if line is None:
                return

    async def readline(self) -> str | None:
        """Return the next line without its newline, or None at end of input."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str | None] = loop.create_future()
        self._requests.put((loop, future))
        return await future


def _resolve(future: asyncio.Future[str | None], line: str | None) -> None:
    if not future.done():
        future.set_result(line)


@dataclass
class ChatView:
    """What the person has seen of the chat, and the buttons the numbers press now."""

    api: LoopbackBotApi
    chat: FakeChat
    user: FakeUser
    out: Console
    seen: dict[int, int] = field(default_factory=dict)  # message_id → edits shown
    buttons: dict[int, Shown] = field(default_factory=dict)
    callbacks: set[str] = field(default_factory=set)

    def act(self, line: str) -> str | None:
        """Send the line, or press the button it numbers; return the callback query id."""
        if line.isdigit() and self.buttons:
            button = self.buttons.get(int(line))
            if button is None:
                self.out.print(f"(no button [{line}]; numbers go 1..{len(self.buttons)})")
                return None
            if button.callback_data is None:
                self.out.print(f"(🔗 {button.url} — open it in a browser)", soft_wrap=True)
                return None
            return self.api.press_button(
                self.chat, self.user, button.message_id, button.callback_data
            )
        self.api.send_message(self.chat, self.user, line)
        return None

    def show_new(self, query_id: str | None = None) -> None:
        """Print the callback's notice and every message sent or edited since the last call."""
        if query_id is not None:
            answered = self.api.answered_callbacks.get(query_id)
            if answered is not None and answered.text:
                self.out.print(Text(f"({answered.text})", Style(italic=True)), soft_wrap=True)
        fresh: list[tuple[SentMessage, bool]] = []
        for message in self.api.messages(self.chat.id):
            shown = self.seen.get(message.message_id)
            if shown is None or shown != message.edits:
                fresh.append((message, shown is not None))
                self.seen[message.message_id] = message.edits
        numbered: dict[int, Shown] = {}
        for message, edited in fresh:
            self._print(message, edited, numbered)
        if numbered:
            # Numbers press the buttons listed last; older keyboards need a fresh listing.
            self.buttons = numbered

    def _print(self, message: SentMessage, edited: bool, numbered: dict[int, Shown]) -> None:
        header = "🤖 digestbot (edited)" if edited else "🤖 digestbot"
        self.out.print(Text(header, Style(bold=True, color="green")))
        self.out.print(to_rich(message.text, message.entities), soft_wrap=True)
        shown, listing = button_lines(message.buttons(), message.message_id, len(numbered) + 1)
        numbered.update((b.number, b) for b in shown)
        if shown:
            self.out.print(listing, soft_wrap=True)
        self.out.print()


def _console_settings(settings: Settings, api: LoopbackBotApi) -> Settings:
    # Offline by design: the loopback's fake token and URL, whatever the environment says.
    return settings.model_copy(
        update={"telegram_bot_token": SecretStr(api.token), "telegram_base_url": api.base_url}
    )


def _on_signals(callback: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, callback)


async def run_console(
    settings: Settings,
    *,
    lang: Lang,
    user_id: int = DEFAULT_USER_ID,
    interactive: bool | None = None,
    out: Console | None = None,
) -> None:
    """Chat with the real bot over a loopback Bot API until /quit, Ctrl-D or end of input."""
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if out is None:
        out = (
            Console(highlight=False)
            if interactive
            else Console(force_terminal=False, color_system=None, highlight=False)
        )
    quiet = QUIET_TERMINAL if interactive else QUIET_SCRIPT
    if interactive:
        with contextlib.suppress(ImportError):  # line editing and history where available
            import readline  # noqa: F401, PLC0415
    reader = LineReader("you> " if interactive else None)
    stop = asyncio.Event()
    _on_signals(stop.set)
    async with LoopbackBotApi() as api:
        user = api.user(user_id, first_name="You", language_code=LANGUAGE_CODES[lang])
        view = ChatView(api, api.private_chat(user), user, out)
        application = build_application(_console_settings(settings, api))
        async with started(application, poll=True):
            out.print(Text(BANNER[lang], Style(dim=True)), soft_wrap=True)
            out.print()
            line: str | None = "/start"  # the person is a subscriber from the first moment
            while line is not None and not stop.is_set():
                line = line.strip()
                if line in QUIT:
                    break
                if line:
                    if not interactive:
                        out.print(f"> {line}", soft_wrap=True)
                    query_id = view.act(line)
                    try:
                        await api.settle(quiet=quiet, timeout=ANSWER_TIMEOUT)
                    except TimeoutError:
                        # Show what arrived; the rest shows after the next line.
                        out.print(f"(the bot is still busy after {ANSWER_TIMEOUT:.0f}s)")
                    view.show_new(query_id)
                line = await _next_line(reader, stop)
            if line is None and interactive:
                out.print()  # Ctrl-D or Ctrl-C left the cursor after the prompt


async def _next_line(reader: LineReader, stop: asyncio.Event) -> str | None:
    """Return the next input line, or None at end of input or on a stop signal."""
    read = asyncio.ensure_future(reader.readline())
    stopped = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({read, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if read in done:
        return read.result()
    read.cancel()
    return None
