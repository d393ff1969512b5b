"""Command line: `digestbot import | list | preview | ...`; wiring only, no behaviour.

Each command imports what it uses in its body: `digestbot health` (a container's HEALTHCHECK,
every 30 s) and `digestbot --version` then start without Jinja2, aiohttp, rich's progress bars
or the bot, and `--version` without SQLAlchemy (which `health` needs only to check
DATABASE_URL); tests/test_cli_imports.py holds them to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.arguments import CHAT_ID_MAX
from bot.config import Settings, configured_secrets, load_settings
from bot.errors import ConfigError, DigestError, NotFoundError, UsageError
from bot.logging_setup import configure_logging, quiet_libraries
from bot.redaction import protect, redact_streams

if TYPE_CHECKING:
    from rich.console import Console

    from bot.push.reports import PushProgress
    from bot.runtime import Runtime
    from bot.sync import SyncReport

log = logging.getLogger(__name__)

app = typer.Typer(
    name="digestbot",
    help="A Telegram bot that turns a folder of Markdown articles into a daily digest.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: typer's rich panels print `--json <bool>`, as if a flag took a value.
    rich_markup_mode=None,
)

# Files below this count import too fast for a progress bar to help.
PROGRESS_THRESHOLD = 200


@cache
def err() -> Console:
    """Return the console that prints to stderr (made on first use, after the redaction)."""
    from rich.console import Console  # noqa: PLC0415

    return Console(stderr=True)


@contextmanager
def opened(settings: Settings | None = None) -> Iterator[Runtime]:
    """Open the runtime for one command and close it afterwards."""
    from bot.runtime import Runtime  # noqa: PLC0415

    runtime = Runtime.open(settings or load_settings())
    try:
        yield runtime
    finally:
        runtime.close()


@contextmanager
def progress_bar(total_hint: int) -> Iterator[Callable[[int, int], None] | None]:
    """Yield a progress callback drawing a bar on a terminal, or None elsewhere."""
    if not err().is_terminal or total_hint < PROGRESS_THRESHOLD:
        yield None
        return
    from rich.progress import Progress  # noqa: PLC0415

    with Progress(console=err(), transient=True) as bar:
        task = bar.add_task("importing", total=total_hint)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def print_err(text: str) -> None:
    """Print `text` on stderr as is (no markup, no highlighting, no wrapping)."""
    err().print(text, markup=False, highlight=False, soft_wrap=True)


def synced(runtime: Runtime) -> SyncReport:
    """Sync SEEDS_DIR before a command reads articles; report bad files on stderr."""
    return runtime.sync(report_failure=print_err)


def show_version(value: bool) -> None:
    """Print the installed version and exit (the eager --version flag)."""
    if value:
        from importlib import metadata  # noqa: PLC0415

        typer.echo(f"digestbot {metadata.version('digestbot')}")
        raise typer.Exit


@app.callback()
def options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """A Telegram bot that turns a folder of Markdown articles into a daily digest."""


@app.command("import")
def import_(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Article files or folders to import (default: SEEDS_DIR)."),
    ] = None,
) -> None:
    """Import article files into the database (new, changed, vanished)."""
    from bot.sync import sync_articles  # noqa: PLC0415

    with opened() as runtime:
        seeds = runtime.settings.seeds_dir
        roots = paths or [seeds]
        for root in roots:
            if not root.exists():
                raise UsageError(f"{root}: no such file or folder")
        count = sum(1 if root.is_file() else sum(1 for _ in root.rglob("*")) for root in roots)
        with progress_bar(count) as progress:
            report = sync_articles(runtime.store, roots, base=seeds, progress=progress)
    for failure in report.failures:
        print_err(failure)
    typer.echo(report.summary())
    raise typer.Exit(1 if report.failures else 0)


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """List the articles, newest first."""
    with opened() as runtime:
        synced(runtime)
        articles = runtime.store.list_articles()
    if as_json:
        rows = [
            {
                "id": s.id,
                "slug": s.article.slug,
                "title": s.article.title,
                "date": s.article.date.isoformat() if s.article.date else None,
                "author": s.article.author,
                "source": s.article.source,
                "url": s.article.url,
                "tags": list(s.article.tags),
            }
            for s in articles
        ]
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for s in articles:
        day = s.article.date.isoformat() if s.article.date else "----------"
        typer.echo(f"{s.id:>5}  {day}  {s.article.title}")


@app.command()
def preview(
    ref: Annotated[str, typer.Argument(help="Article id, slug, or 'latest'.")] = "latest",
    part: Annotated[str, typer.Option(help="digest, risks or full.")] = "digest",
    lang: Annotated[str, typer.Option(help="zh or en.")] = "zh",
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Print the exact messages a subscriber would receive for an article."""
    from bot.digest import PARTS, Part, render_part  # noqa: PLC0415
    from bot.i18n import is_lang  # noqa: PLC0415

    if part not in PARTS:
        raise UsageError(f"--part must be one of {', '.join(PARTS)}")
    if not is_lang(lang):
        raise UsageError("--lang must be zh or en")
    chosen: Part = part  # narrowed by the PARTS check above
    with opened() as runtime:
        synced(runtime)
        messages = render_part(runtime.renderer, runtime.store.resolve(ref), chosen, lang)
    if as_json:
        typer.echo(json.dumps(messages, ensure_ascii=False, indent=2))
        return
    for number, message in enumerate(messages, start=1):
        if len(messages) > 1:
            typer.echo(f"--- message {number}/{len(messages)} ---")
        typer.echo(message)


@app.command()
def run(
    webhook: Annotated[
        bool,
        typer.Option("--webhook", help="Serve a webhook on PORT (also if WEBHOOK_URL is set)."),
    ] = False,
    listen: Annotated[str, typer.Option(help="Address the webhook server binds to.")] = "0.0.0.0",  # noqa: S104 -- Telegram must reach the webhook
) -> None:
    """Run the bot: long polling, or a webhook with --webhook; stop with Ctrl-C or SIGTERM."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    from bot.telegram import runner  # noqa: PLC0415

    runner.run(settings, webhook=webhook, listen=listen)


@app.command()
def web(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (default: PORT).", min=1, max=65535)
    ] = None,
) -> None:
    """Serve the web reader (article pages and the archive) without the bot; stop with Ctrl-C."""
    settings = load_settings()
    configure_logging(settings.log_level)
    from bot.web.app import check_servable, serve_reader  # noqa: PLC0415

    check_servable(settings)
    with opened(settings) as runtime:
        synced(runtime)
        asyncio.run(serve_reader(runtime, host, port or settings.port))


@app.command()
def console(
    lang: Annotated[
        str | None,
        typer.Option(
            help="Chat language: zh or en (default: zh when $LANG is zh*, else en).",
            envvar="LANG",
            show_envvar=False,
        ),
    ] = None,
    user_id: Annotated[
        int,
        typer.Option(min=1, max=CHAT_ID_MAX, help="Your user id in the offline chat."),
    ] = 10001,
    database: Annotated[
        str | None,
        typer.Option(
            help="Keep the chat in this database URL (default: a temporary file; "
            "DATABASE_URL is never used)."
        ),
    ] = None,
) -> None:
    """Try the bot offline: chat in this terminal with the real bot on a fake Telegram."""
    settings = load_settings()
    # Only warnings: log lines would interleave with the chat.
    configure_logging(
        "DEBUG" if settings.log_level.upper() == "DEBUG" else "WARNING", settings.log_format
    )
    from bot.fakeapi.console import console_lang, run_console  # noqa: PLC0415

    asyncio.run(
        run_console(settings, lang=console_lang(lang), user_id=user_id, database_url=database)
    )


@app.command("fake-api")
def fake_api(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0 picks a free one).")
    ] = 8081,
    strict: Annotated[bool, typer.Option(help="Enforce Telegram's flood limits (429).")] = False,
) -> None:
    """Serve a fake Telegram Bot API on 127.0.0.1 for `digestbot run` to poll.

    It prints base_url, control_url and token. Start the bot on it with
    TELEGRAM_BASE_URL=<base_url> TELEGRAM_BOT_TOKEN=<token> digestbot run, then act as a
    user by sending JSON to control_url (answers are {"ok": true, "result": ...}):

    \b
    POST /message   {"user_id": 7, "text": "/start", "language_code": "en"}
                    (a group: add "chat_id": -5, "chat_type": "group")
    GET  /messages?chat_id=7          what the bot sent to that chat
    POST /press     {"user_id": 7, "message_id": 1, "data": "<callback_data>"}
    POST /block     {"user_id": 7}    the user blocks the bot (403 on the next send)
    POST /migrate   {"chat_id": -5}   the group becomes a supergroup
    POST /fail      {"method": "sendMessage", "fault": {"kind": "retry_after"}}
    POST /settle    {}                wait until the bot has gone quiet
    GET  /stats, /callbacks, /commands

    \b
    For example:
    curl -d '{"user_id": 7, "text": "/latest"}' <control_url>/message
    curl '<control_url>/messages?chat_id=7'
    """
    from bot.fakeapi.models import Limits  # noqa: PLC0415
    from bot.fakeapi.server import LoopbackBotApi, serve  # noqa: PLC0415

    def announce(api: LoopbackBotApi) -> None:
        typer.echo(f"base_url {api.base_url}\ncontrol_url {api.control_url}\ntoken {api.token}")

    api = LoopbackBotApi(limits=Limits() if strict else None)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(api, port=port, ready=announce))


subscribers_app = typer.Typer(
    help="Import or export subscribers (CSV or JSON lines).", no_args_is_help=True
)
app.add_typer(subscribers_app, name="subscribers")


@subscribers_app.command("import")
def subscribers_import(
    file: Annotated[Path, typer.Argument(help="CSV with a header, or JSON lines ('-': stdin).")],
    as_json: Annotated[
        bool | None, typer.Option("--json/--csv", help="The file's format (default: sniffed).")
    ] = None,
) -> None:
    """Add or update subscribers from a file; bad rows are reported by line, the rest kept."""
    from bot.subscriber_files import import_subscribers  # noqa: PLC0415

    with opened() as runtime:
        if str(file) == "-":
            report = import_subscribers(runtime.store, sys.stdin, as_json=as_json)
        else:
            with file.open(encoding="utf-8", newline="") as source:
                report = import_subscribers(runtime.store, source, as_json=as_json)
    for line, reason in report.errors:
        print_err(f"{file}:{line}: {reason}")
    typer.echo(report.summary())
    raise typer.Exit(1 if report.errors else 0)


@subscribers_app.command("export")
def subscribers_export(
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of CSV.")] = False,
) -> None:
    """Write every subscriber, active or not, to stdout (CSV by default)."""
    from bot.subscriber_files import export_subscribers  # noqa: PLC0415

    with opened() as runtime:
        export_subscribers(runtime.store, sys.stdout, as_json=as_json)


@app.command()
def push(
    now: Annotated[
        bool,
        typer.Option("--now", help="Push to every active subscriber now, not only those due."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show who would get what; send nothing.")
    ] = False,
) -> None:
    """Send (or resume) today's push; safe while `digestbot run` uses the same database."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    from bot.telegram.push_run import push_once  # noqa: PLC0415

    with opened(settings) as runtime:
        synced(runtime)
        with push_progress() as progress:
            report = asyncio.run(push_once(runtime, force=now, dry_run=dry_run, progress=progress))
    if dry_run:
        for chat_id, article_id in report.planned:
            typer.echo(f"{chat_id}\t{article_id}")
        typer.echo(f"would send {report.due}, skipped {report.skipped}")
        return
    typer.echo(
        f"sent {report.sent}, failed {report.failed}, blocked {report.blocked}, "
        f"skipped {report.skipped}"
    )


@contextmanager
def push_progress() -> Iterator[Callable[[PushProgress], None] | None]:
    """Yield a push progress callback drawing a bar on a terminal, or None elsewhere."""
    if not err().is_terminal:
        yield None
        return
    from rich.progress import Progress  # noqa: PLC0415

    with Progress(console=err(), transient=True) as bar:
        task = bar.add_task("pushing", total=None)

        def advance(state: PushProgress) -> None:
            bar.update(task, completed=state.done, total=state.total)

        yield advance


@app.command()
def health(
    port: Annotated[
        int | None,
        typer.Option(
            help="Port of the bot's /healthz (default: METRICS_PORT, else PORT with WEBHOOK_URL)."
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address the bot serves /healthz on.")] = "127.0.0.1",
) -> None:
    """Ask a running bot whether it is healthy (GET /healthz): exit 0 if so, else 1."""
    from bot.health import Health, health_port, probe  # noqa: PLC0415

    chosen = port or health_port(load_settings())
    result = (
        probe(f"http://{host}:{chosen}/healthz")
        if chosen
        else Health(
            ok=False,
            detail="no /healthz to ask: set METRICS_PORT (or WEBHOOK_URL: then it is on PORT), "
            "or pass --port",
        )
    )
    typer.echo(result.detail, err=not result.ok)
    raise typer.Exit(0 if result.ok else 1)


@app.command()
def backup(
    path: Annotated[Path, typer.Argument(help="The new file to write the copy to.")],
) -> None:
    """Copy the SQLite database to PATH while the bot runs (PostgreSQL: use pg_dump)."""
    from bot.backup import backup_sqlite  # noqa: PLC0415

    pages = backup_sqlite(load_settings().database_url, path)
    typer.echo(f"backed up {pages} pages to {path}")


EXIT_CODES: dict[type[DigestError], int] = {ConfigError: 2, UsageError: 2, NotFoundError: 1}


def protect_secrets() -> None:
    """Redact the configured token and webhook secret from all this process prints or logs."""
    # First thing, before a command can log or print: typer's own errors, the DEBUG log of
    # loading the settings and a traceback at exit all pass through these streams.
    redact_streams()
    # As given, even when another setting (or the token itself) is invalid.
    for secret in configured_secrets():
        protect(secret)


def main() -> None:
    """Run the CLI; a DigestError becomes one line on stderr and a non-zero exit."""
    protect_secrets()
    # PTB 22 warns on every 429 unless it hands out durations as timedelta, the type it moves
    # to (bot.telegram.pacer reads either form); opt in for this process, unless whoever
    # runs the bot chose otherwise.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    # Every command: no alembic "Context impl ..." lines, no request URLs from httpx.
    quiet_libraries()
    try:
        app()
    except DigestError as exc:
        print_err(f"digestbot: {exc}")
        code = next((c for t, c in EXIT_CODES.items() if isinstance(exc, t)), 1)
        sys.exit(code)
