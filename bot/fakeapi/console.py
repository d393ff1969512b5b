"""`digestbot console`: the real bot against an in-process loopback Bot API, chatted with here.

Nothing leaves the machine: the loopback server listens on 127.0.0.1 with a fake token, the
Application from ``build_application`` polls it as it would poll Telegram, and the person at
the terminal is one subscriber in a private chat. On a terminal the bot's messages are styled
with rich; when stdin is a pipe the console is a script runner that prints plain text.

The console never touches a configured deployment: it ignores ``DATABASE_URL`` (the chat goes
into a temporary SQLite file, deleted on exit, or the database given with ``--database``) and
the token, so a production ``.env`` in the working directory gains no fake subscriber.

After each line the console waits until the bot has really finished the update (fetched it,
processed it, sent every reply), not merely for a silence: the pacer spaces a long answer's
messages a second apart, so a silence would cut it short and print its tail under the next
line.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import queue
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import SecretStr
from rich.console import Console
from rich.style import Style
from rich.text import Text
from sqlalchemy.engine import make_url

from bot.arguments import is_number
from bot.config import Settings
from bot.fakeapi.models import FakeChat, FakeUser, SentMessage
from bot.fakeapi.server import LoopbackBotApi
from bot.fakeapi.terminal import Shown, button_lines, button_urls, to_rich
from bot.i18n import Lang
from bot.rendering import Renderer
from bot.telegram.app import build_application
from bot.telegram.context import DigestApplication
from bot.telegram.runner import started

__all__ = [
    "DEFAULT_USER_ID",
    "ChatView",
    "LineReader",
    "console_lang",
    "run_console",
    "wait_answered",
]

log = logging.getLogger(__name__)

DEFAULT_USER_ID = 10001
QUIT = frozenset({"/quit", "/exit"})
LANGUAGE_CODES: dict[Lang, str] = {"zh": "zh-hans", "en": "en"}
# Once the bot is idle (no update pending, queued or in progress), it must stay idle this
# long before its answer counts as finished: a safety margin for the moment between PTB taking
# an update off its queue and starting to process it.
QUIET = 0.2
ANSWER_TIMEOUT = 60.0
POLL_INTERVAL = 0.02


def console_lang(value: str | None) -> Lang:
    """Return the chat language for --lang or a locale such as $LANG: zh for zh*, else en."""
    return "zh" if value and value.lower().startswith("zh") else "en"


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
        if isinstance(sys.stdin, io.TextIOWrapper):
            # Bytes that are not UTF-8 (a Latin-1 file piped in) become U+FFFD, not an error
            # that would end the reading thread and leave the console waiting forever.
            sys.stdin.reconfigure(errors="replace")
        self._thread = threading.Thread(target=self._run, name="console-stdin", daemon=True)
        self._thread.start()

    def _read(self) -> str | None:
        try:
            if self._prompt is not None:
                return input(self._prompt)
            line = sys.stdin.readline()
        except EOFError:
            return None
        except (OSError, ValueError) as exc:  # an unreadable or undecodable stdin ends the input
            log.warning("cannot read the console input: %s", exc)
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
    renderer: Renderer = field(default_factory=Renderer)
    lang: Lang = "zh"
    seen: dict[int, int] = field(default_factory=dict)  # message_id → edits shown
    buttons: dict[int, Shown] = field(default_factory=dict)
    callbacks: set[str] = field(default_factory=set)
    inline_query_id: str | None = None  # the inline query whose results numbers choose
    choices: dict[int, str] = field(default_factory=dict)  # number → inline result id

    def act(self, line: str) -> str | None:
        """Send the line, type an inline query (`@ words`), or choose/press what it numbers.

        Return the callback query id of a pressed button.
        """
        if line.startswith("@") or (is_number(line) and self.choices):
            self._inline(line)
            return None
        if is_number(line) and self.buttons:
            button = self.buttons.get(int(line))
            if button is None:
                self.say("console_no_button", number=line, count=len(self.buttons))
                return None
            if button.callback_data is None:
                self.say("console_open_link", url=button.url)
                return None
            return self.api.press_button(
                self.chat, self.user, button.message_id, button.callback_data
            )
        self.api.send_message(self.chat, self.user, line)
        return None

    @property
    def _soft_wrap(self) -> bool:
        # On a terminal rich wraps at word boundaries; a pipe gets each line whole.
        return not self.out.is_terminal

    def say(self, key: str, /, **values: object) -> None:
        """Print a console string (not a bot message) in the chat's language."""
        self.out.print(self.renderer.text(key, self.lang, **values), soft_wrap=self._soft_wrap)

    def show_new(self, query_id: str | None = None) -> None:
        """Print the callback's notice and every message sent or edited since the last call."""
        if query_id is not None:
            answered = self.api.answered_callbacks.get(query_id)
            if answered is not None and answered.text:
                notice = Text(f"({answered.text})", Style(italic=True))
                self.out.print(notice, soft_wrap=self._soft_wrap)
        self._show_inline()
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

    def _inline(self, line: str) -> None:
        """Type an inline query (`@ words` or `@botname words`), or choose a numbered result."""
        if line.startswith("@"):
            text = line[1:]
            if text and not text[0].isspace():
                text = text.partition(" ")[2]  # drop the bot's name
            self.inline_query_id = self.api.inline_query(self.user, text.strip())
            self.choices = {}
            return
        result_id = self.choices.get(int(line))
        if result_id is None or self.inline_query_id is None:
            self.say("console_no_button", number=line, count=len(self.choices))
            return
        self.api.choose_inline_result(self.chat, self.user, self.inline_query_id, result_id)
        self.choices, self.inline_query_id = {}, None

    def _show_inline(self) -> None:
        """List the answer to the inline query just typed, numbered for choosing."""
        if self.inline_query_id is None or self.choices:
            return
        answer = self.api.inline_answers.get(self.inline_query_id)
        if answer is None:
            return
        if not answer.results:
            self.say("console_inline_none")
            self.inline_query_id = None
            return
        self.say("console_inline_results", count=len(answer.results))
        for number, result in enumerate(answer.results, start=1):
            self.choices[number] = str(result["id"])
            line = f"  [{number}] {result.get('title', '')} — {result.get('description', '')}"
            self.out.print(Text(line), soft_wrap=self._soft_wrap)
        self.out.print()

    def _print(self, message: SentMessage, edited: bool, numbered: dict[int, Shown]) -> None:
        header = "🤖 digestbot (edited)" if edited else "🤖 digestbot"
        if message.via_bot:
            header = f"🙂 you via @{self.api.bot_username}"
        self.out.print(Text(header, Style(bold=True, color="green")))
        rows = message.buttons()
        # On a terminal a link is a hyperlink; printed plain, its URL is spelled out once.
        styled = to_rich(
            message.text,
            message.entities,
            spell_urls=not self.out.is_terminal,
            known_urls=button_urls(rows),
        )
        self.out.print(styled, soft_wrap=self._soft_wrap)
        shown, listing = button_lines(rows, message.message_id, len(numbered) + 1)
        numbered.update((b.number, b) for b in shown)
        if shown:
            self.out.print(listing, soft_wrap=self._soft_wrap)
        self.out.print()


def _console_settings(settings: Settings, api: LoopbackBotApi, database_url: str) -> Settings:
    # Offline by design: the loopback's fake token and URL and the console's own database,
    # whatever the environment says, so a production .env is never written to.
    return settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(api.token),
            "telegram_base_url": api.base_url,
            "database_url": database_url,
        }
    )


def is_start(line: str) -> bool:
    """Tell whether an input line is a /start command (with or without a payload)."""
    words = line.split(maxsplit=1)
    return bool(words) and words[0].split("@")[0] == "/start"


def _bot_idle(application: DigestApplication, api: LoopbackBotApi) -> bool:
    """Tell whether every update was fetched, none is queued or being processed, and no reply
    waits in an outbox (handlers queue their replies; a chat's sender sends them later)."""
    outbox = application.bot_data.outbox
    return (
        api.pending_updates == 0
        and application.update_queue.empty()
        and application.update_processor.current_concurrent_updates == 0
        and (outbox is None or outbox.waiting() == 0)
    )


async def wait_answered(
    application: DigestApplication,
    api: LoopbackBotApi,
    *,
    quiet: float = QUIET,
    timeout: float = ANSWER_TIMEOUT,  # noqa: ASYNC109 -- a deadline for the whole wait
) -> None:
    """Wait until the bot has finished every update sent so far, all replies sent."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if _bot_idle(application, api):
            # No call in flight and none for `quiet` s; then the check again, in case an
            # update was between PTB's queue and its processor when the first check ran.
            await api.settle(quiet=quiet, timeout=max(0.0, deadline - loop.time()))
            if _bot_idle(application, api):
                return
        if loop.time() > deadline:
            raise TimeoutError(f"the bot is still busy after {timeout}s")
        await asyncio.sleep(POLL_INTERVAL)


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
    database_url: str | None = None,
    interactive: bool | None = None,
    out: Console | None = None,
) -> None:
    """Chat with the real bot over a loopback Bot API until /quit, Ctrl-D or end of input.

    The chat's database is `database_url`, else a temporary SQLite file deleted on exit.
    """
    # ignore_cleanup_errors: on Windows a file SQLite still holds cannot be deleted.
    with tempfile.TemporaryDirectory(
        prefix="digestbot-console-", ignore_cleanup_errors=True
    ) as scratch:
        await _chat(
            settings,
            lang=lang,
            user_id=user_id,
            database_url=database_url or f"sqlite:///{scratch}/console.sqlite3",
            kept=database_url is not None,
            interactive=interactive,
            out=out,
        )


async def _chat(
    settings: Settings,
    *,
    lang: Lang,
    user_id: int,
    database_url: str,
    kept: bool,
    interactive: bool | None,
    out: Console | None,
) -> None:
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if out is None:
        out = (
            Console(highlight=False)
            if interactive
            else Console(force_terminal=False, color_system=None, highlight=False)
        )
    if interactive:
        with contextlib.suppress(ImportError):  # line editing and history where available
            import readline  # noqa: F401, PLC0415
    reader = LineReader("you> " if interactive else None)
    stop = asyncio.Event()
    _on_signals(stop.set)
    async with LoopbackBotApi() as api:
        user = api.user(user_id, first_name="You", language_code=LANGUAGE_CODES[lang])
        renderer = Renderer(settings.templates_dir)
        view = ChatView(api, api.private_chat(user), user, out, renderer, lang)
        application = build_application(_console_settings(settings, api, database_url))
        async with started(application, poll=True):
            banner = _banner(renderer, lang, database_url if kept else None)
            out.print(Text(banner, Style(dim=True)), soft_wrap=not interactive)
            out.print()
            line, pending = await _opening(reader, stop, interactive=interactive)
            while line is not None and not stop.is_set():
                line = line.strip()
                if line in QUIT:
                    break
                if line:
                    if not interactive:
                        out.print(f"> {line}", soft_wrap=True)
                    await _answer(application, view, view.act(line))
                line = pending.pop() if pending else await _next_line(reader, stop)
            if not stop.is_set():
                # /quit or end of input: whatever is still on its way is printed before exit.
                await _answer(application, view, None)
            if line is None and interactive:
                out.print()  # Ctrl-D or Ctrl-C left the cursor after the prompt


def _banner(renderer: Renderer, lang: Lang, kept_url: str | None) -> str:
    """Return the banner and which database the chat goes to (its password hidden)."""
    banner = renderer.text("console_banner", lang)
    if kept_url is None:
        return banner + "\n" + renderer.text("console_temporary_database", lang)
    shown = make_url(kept_url).render_as_string(hide_password=True)
    return banner + "\n" + renderer.text("console_kept_database", lang, url=shown)


async def _opening(
    reader: LineReader, stop: asyncio.Event, *, interactive: bool
) -> tuple[str | None, list[str | None]]:
    """Return the first line to send and the input lines already read after it.

    The person is a subscriber from the first moment, so the console sends /start; a script
    that begins with /start (perhaps with a payload) sends its own instead of a second one.
    """
    if interactive:
        return "/start", []
    first = await _next_line(reader, stop)
    if first is not None and is_start(first):
        return first, []
    return "/start", [first]


async def _answer(application: DigestApplication, view: ChatView, query_id: str | None) -> None:
    """Wait for the bot to finish answering, then print the answer."""
    try:
        await wait_answered(application, view.api)
    except TimeoutError:
        # Show what arrived; the rest shows after the next line.
        view.say("console_busy", seconds=f"{ANSWER_TIMEOUT:.0f}")
    view.show_new(query_id)


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
