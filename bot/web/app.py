"""The reader's aiohttp routes: GET /a/<id>, GET /, POST /a/<id>/read.

Mini App flow (no telegram-web-app.js): the 📖 button opens a signed link, so the page reads
without JavaScript. Inside Telegram the URL fragment also carries the signed ``initData``;
the page's inline script POSTs it to ``/a/<id>/read``, where it is verified (HMAC with the bot
token, age-bounded) before the open counts for that user. A page opened with no valid link
answers 403; inside Telegram its script makes the same POST and, once initData is verified,
is sent on to a freshly signed link. Bad input gets a friendly 403/404 page, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot.config import Settings
from bot.errors import ConfigError
from bot.i18n import Lang, language_for
from bot.reader import (
    ARCHIVE_PAGE_SIZE,
    Neighbour,
    archive_page,
    article_page,
    parse_archive_query,
    parse_article_id,
)
from bot.readlog import ReadLog
from bot.rendering import Renderer
from bot.runtime import Runtime
from bot.web.access import Access, Grant, link_key
from bot.web.links import article_path

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
INIT_DATA_LIMIT = 8192  # bytes of a POSTed initData; Telegram's is a few hundred
FLUSH_INTERVAL = 1.0  # seconds between writes of counted page opens
NEIGHBOUR_TITLE = 60  # characters of a previous/next title


def access_for(settings: Settings) -> Access:
    """Return the reader's access policy from settings."""
    token = settings.telegram_bot_token
    secret = token.get_secret_value() if token is not None else None
    return Access(
        public=settings.web_public,
        link_key=link_key(secret) if secret else None,
        bot_token=secret,
        ttl=int(settings.web_link_ttl.total_seconds()),
    )


def base_path(web_url: str | None) -> str:
    """Return the path the reader lives under: WEB_URL's path (a proxy keeps it), or ""."""
    return urlsplit(web_url).path.rstrip("/") if web_url else ""


class ReaderSite:
    """The reader's pages over a ReadLog and a Renderer, under a base path."""

    def __init__(
        self,
        reads: ReadLog,
        renderer: Renderer,
        access: Access,
        *,
        base: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.reads = reads
        self.renderer = renderer
        self.access = access
        self.base = base
        self._clock = clock
        # Page opens wait here and are written once a second in one transaction: a write per
        # page view would cost every reader a database commit (~4 ms measured on SQLite).
        self._opens: Counter[int] = Counter()
        self._flusher: asyncio.Task[None] | None = None

    def add_routes(self, app: web.Application) -> None:
        """Add the reader's routes, and its error pages for them, to an aiohttp app."""
        app.router.add_get(self.base + "/", self.archive)
        app.router.add_get(self.base + "/a/{id}", self.article)
        app.router.add_post(self.base + "/a/{id}/read", self.read)
        app.middlewares.append(self._errors)
        app.on_startup.append(self._start_flushing)
        app.on_cleanup.append(self._stop_flushing)

    async def flush(self) -> None:
        """Write the page opens counted since the last flush."""
        if not self._opens:
            return
        opens, self._opens = self._opens, Counter()
        try:
            await asyncio.to_thread(self.reads.record_opens, opens)
        except SQLAlchemyError:
            # Counting is a nicety: a locked or read-only database must not cost the reader.
            log.warning("reader: could not count %d page opens", opens.total(), exc_info=True)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            await self.flush()

    async def _start_flushing(self, _app: web.Application) -> None:
        self._flusher = asyncio.ensure_future(self._flush_forever())

    async def _stop_flushing(self, _app: web.Application) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()

    # -- pages ----------------------------------------------------------------------------

    async def article(self, request: web.Request) -> web.Response:
        """Serve one article on one page."""
        article_id = parse_article_id(request.match_info["id"])
        if article_id is None:
            return self._error(request, 404)
        path = article_path(article_id)
        grant = self.access.grant(path, request.query.get("t", ""), self._now())
        if grant is None:
            return self._error(request, 403, read_href=self._href(path + "/read"))
        found = await asyncio.to_thread(self.reads.article_with_neighbours, article_id)
        if found is None:
            return self._error(request, 404)
        self._opens[article_id] += 1
        stored, older, newer = found
        page = article_page(stored, _neighbour(older), _neighbour(newer))
        nonce = secrets.token_urlsafe(16)
        body = self.renderer.render(
            "web/page",
            page.lang,
            page=page,
            page_lang=page.lang,
            older_href=self._article_href(older[0], grant) if older else "",
            newer_href=self._article_href(newer[0], grant) if newer else "",
            topic_hrefs={tag: self._archive_href(grant, topic=tag) for tag in page.tags},
            read_href=self._href(path + "/read"),
            **self._chrome(grant, nonce),
        )
        return _html(body, 200, nonce)

    async def archive(self, request: web.Request) -> web.Response:
        """Serve the archive: newest first, or /search's ranking of ?q=, and a topic (?topic=)."""
        grant = self.access.grant("/", request.query.get("t", ""), self._now())
        if grant is None:
            return self._error(request, 403)
        asked = parse_archive_query(
            request.query.get("q", ""),
            request.query.get("topic", ""),
            request.query.get("page", ""),
        )
        found = await asyncio.to_thread(
            self.reads.archive,
            asked.words,
            asked.topic,
            offset=asked.offset,
            limit=ARCHIVE_PAGE_SIZE + 1,
        )
        page = archive_page(
            found[:ARCHIVE_PAGE_SIZE],
            asked,
            has_more=len(found) > ARCHIVE_PAGE_SIZE,
            reach=self.reads.store.search_reach(asked.words),
        )
        lang = _request_lang(request)
        keep = {"q": asked.query, "topic": asked.topic}
        tags = {tag for entry in page.entries for tag in entry.tags[:4]}
        nonce = secrets.token_urlsafe(16)
        body = self.renderer.render(
            "web/archive",
            lang,
            archive=page,
            page_lang=lang,
            token=self.access.token("/", grant),
            entry_hrefs={e.id: self._article_href(e.id, grant) for e in page.entries},
            topic_hrefs={tag: self._archive_href(grant, topic=tag) for tag in tags},
            clear_href=self._archive_href(grant, q=asked.query),
            newer_href=self._archive_href(grant, **keep, page=str(asked.page - 1))
            if asked.page > 1
            else "",
            older_href=self._archive_href(grant, **keep, page=str(asked.page + 1))
            if page.has_more
            else "",
            read_href="",
            **self._chrome(grant, nonce),
        )
        return _html(body, 200, nonce)

    async def read(self, request: web.Request) -> web.Response:
        """Count a verified Mini App open; answer a freshly signed link to the page."""
        article_id = parse_article_id(request.match_info["id"])
        if article_id is None or (request.content_length or 0) > INIT_DATA_LIMIT:
            return web.json_response({"ok": False}, status=404 if article_id is None else 413)
        raw = await request.content.read(INIT_DATA_LIMIT + 1)
        now = self._now()
        user = self.access.mini_app_user(raw.decode("utf-8", "replace"), now)
        if user is None:
            return web.json_response({"ok": False}, status=403)
        if not await asyncio.to_thread(self._count_reader, article_id, user.id):
            return web.json_response({"ok": False}, status=404)
        path = article_path(article_id)
        grant = Grant(None if self.access.public else now + self.access.ttl)
        token = self.access.token(path, grant)
        href = self._href(path) + (f"?t={token}" if token else "")
        return web.json_response({"ok": True, "href": href})

    # -- helpers ------------------------------------------------------------------------

    def _count_reader(self, article_id: int, user_id: int) -> bool:
        if self.reads.article_with_neighbours(article_id) is None:
            return False
        try:
            self.reads.record_reader(article_id, user_id)
        except SQLAlchemyError:
            log.warning("could not count a Mini App open of %s", article_id, exc_info=True)
        return True

    def _now(self) -> int:
        return int(self._clock())

    def _href(self, path: str) -> str:
        return self.base + path

    def _article_href(self, article_id: int, grant: Grant) -> str:
        path = article_path(article_id)
        token = self.access.token(path, grant)
        return self._href(path) + (f"?t={token}" if token else "")

    def _archive_href(self, grant: Grant, **query: str) -> str:
        params = {k: v for k, v in query.items() if v}
        token = self.access.token("/", grant)
        if token:
            params["t"] = token
        return self._href("/") + (f"?{urlencode(params)}" if params else "")

    def _chrome(self, grant: Grant, nonce: str) -> dict[str, object]:
        return {"home_href": self._archive_href(grant), "gate": False, "nonce": nonce}

    def _error(self, request: web.Request, status: int, *, read_href: str = "") -> web.Response:
        lang = _request_lang(request)
        nonce = secrets.token_urlsafe(16)
        reason = "web_forbidden" if status == 403 else "web_not_found"
        body = self.renderer.render(
            "web/error",
            lang,
            reason=reason,
            page_lang=lang,
            home_href=self._href("/"),
            read_href=read_href,
            gate=bool(read_href),
            nonce=nonce,
        )
        return _html(body, status, nonce)

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Answer unknown reader paths with the 404 page and failures with a plain 500."""
        try:
            return await handler(request)
        except web.HTTPNotFound:
            if request.method == "GET" and request.path.startswith(self.base + "/"):
                return self._error(request, 404)
            raise
        except web.HTTPException:
            raise
        except Exception:  # a page must never show a traceback; the log keeps it
            log.exception("reader: failed to serve %s", request.path)
            return web.Response(status=500, text="Sorry, something went wrong.")


def _neighbour(pair: tuple[int, str] | None) -> Neighbour | None:
    if pair is None:
        return None
    title = pair[1] if len(pair[1]) <= NEIGHBOUR_TITLE else pair[1][: NEIGHBOUR_TITLE - 1] + "…"
    return Neighbour(pair[0], title)


def _request_lang(request: web.Request) -> Lang:
    return language_for(request.headers.get("Accept-Language", "")[:8])


def _html(body: str, status: int, nonce: str) -> web.Response:
    response = web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
    response.headers.update(
        {
            # Defence in depth: templates already escape every article value.
            "Content-Security-Policy": (
                f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
                "connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'"
            ),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "private, no-store",
        }
    )
    return response


def reader_site(runtime: Runtime) -> ReaderSite:
    """Build the reader over an open Runtime, under WEB_URL's path."""
    settings = runtime.settings
    return ReaderSite(
        ReadLog(runtime.store),
        runtime.renderer,
        access_for(settings),
        base=base_path(settings.web_url),
    )


def mount_reader(app: web.Application, runtime: Runtime) -> bool:
    """Add the reader to another aiohttp app (the webhook's) when WEB_URL is set."""
    if not runtime.settings.web_url:
        return False
    reader_site(runtime).add_routes(app)
    return True


def check_servable(settings: Settings) -> None:
    """Refuse to serve a reader nobody could open: no token to sign links and not public."""
    if settings.telegram_bot_token is None and not settings.web_public:
        raise ConfigError(
            "the web reader needs TELEGRAM_BOT_TOKEN (to sign links) or WEB_PUBLIC=true"
        )


async def serve_reader(runtime: Runtime, host: str, port: int) -> None:
    """Serve the reader on host:port until SIGINT or SIGTERM."""
    check_servable(runtime.settings)
    app = web.Application()
    reader_site(runtime).add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        log.info(
            "reader: serving on http://%s:%s%s/", host, port, base_path(runtime.settings.web_url)
        )
        await stop.wait()
    finally:
        await runner.cleanup()
