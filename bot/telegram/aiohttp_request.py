"""A python-telegram-bot transport on aiohttp, several times faster than the default httpx one.

``AiohttpRequest`` implements PTB's public :class:`telegram.request.BaseRequest`, so it plugs into
``Bot(request=...)`` and ``ApplicationBuilder().request(...)``. It only moves bytes: PTB builds
the URL (``base_url`` included), encodes the parameters, and maps HTTP status codes to
``RetryAfter``/``Forbidden``/``BadRequest``/... in ``BaseRequest._request_wrapper``. Transport
failures are mapped here exactly as ``HTTPXRequest`` maps them.

Timeouts follow PTB's meaning:

- ``connect_timeout``: DNS, TCP and TLS set-up of a new connection.
- ``read_timeout``: the longest silence while waiting for or reading the response.
- ``pool_timeout``: the longest wait for a free connection when all ``connection_pool_size`` are
  busy; exceeding it raises PTB's "Pool timeout" ``TimedOut`` and nothing is sent.
- ``write_timeout``: aiohttp has no per-write timeout. A request without files is a few hundred
  bytes that the kernel buffers at once, so it cannot stall on writing. A request with files
  (which uses ``media_write_timeout`` by default) gets an overall deadline of
  connect + write + read instead, which bounds a stalled upload.

``None`` means "no limit" for each of them, as in PTB.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import Callable
from typing import Final, Literal, TypedDict
from urllib.parse import urlsplit

import aiohttp
import httpx
from aiohttp.payload import BytesPayload

# PTB's own HTTPXRequest uses these two to tell "not passed" from an explicit None; BaseRequest's
# signature is typed with ODVInput, and there is no public alias for either.
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData
from yarl import URL

from bot.errors import ConfigError

POOL_TIMEOUT_MESSAGE: Final = (
    "Pool timeout: All connections in the connection pool are occupied. "
    "Request was *not* sent to Telegram. Consider adjusting the connection "
    "pool size or the pool timeout."
)
_JSON: Final = "application/json"
_PROXY_SCHEMES: Final = frozenset({"http", "https"})
_URL_CACHE_SIZE: Final = 256

Backend = Literal["aiohttp", "httpx"]


def _check_proxy(proxy: str | None) -> URL | None:
    """Parse ``proxy`` once, refusing schemes aiohttp cannot speak by itself."""
    if proxy is None:
        return None
    scheme = urlsplit(proxy).scheme.lower()
    if scheme.startswith("socks"):
        raise ConfigError(
            f"proxy {scheme}:// needs the aiohttp-socks package, which digestbot does not ship; "
            "use an http(s):// proxy or HTTP_BACKEND=httpx with python-telegram-bot[socks]"
        )
    if scheme not in _PROXY_SCHEMES:
        raise ConfigError(f"proxy must be an http:// or https:// URL, not {proxy!r}")
    return URL(proxy)


class AiohttpRequest(BaseRequest):
    """Send Bot API requests over one keep-alive aiohttp session.

    Arguments mean what they mean for :class:`telegram.request.HTTPXRequest`. ``proxy`` accepts
    ``http://`` and ``https://`` URLs only: socks proxies need aiohttp-socks, which digestbot
    does not ship, so a ``socks*://`` URL raises :class:`~bot.errors.ConfigError` here. Proxy
    settings are not read from the environment.
    """

    __slots__ = (
        "_connect_timeout",
        "_default_timeout",
        "_media_timeout",
        "_media_write_timeout",
        "_pool_size",
        "_pool_timeout",
        "_proxy",
        "_read_timeout",
        "_session",
        "_slots",
        "_urls",
        "_write_timeout",
    )

    def __init__(  # noqa: PLR0917 - positional order of PTB's HTTPXRequest, kept for swap-ins
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        proxy: str | None = None,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        if connection_pool_size < 1:
            raise ConfigError(f"connection_pool_size must be >= 1, not {connection_pool_size}")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._proxy = _check_proxy(proxy)
        # Built once: almost every call uses the defaults, so most requests allocate no timeout.
        self._default_timeout = self._client_timeout(read_timeout, write_timeout, connect_timeout)
        self._media_timeout = self._client_timeout(
            read_timeout, media_write_timeout, connect_timeout, files=True
        )
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        # Bot API URLs repeat (one per method), so parse each into a yarl.URL only once.
        self._urls: dict[str, URL] = {}

    @staticmethod
    def _client_timeout(
        read: float | None, write: float | None, connect: float | None, *, files: bool = False
    ) -> aiohttp.ClientTimeout:
        total = None
        if files and read is not None and write is not None and connect is not None:
            total = connect + write + read
        # `connect` also covers waiting for aiohttp's own pool; our semaphore makes that wait 0.
        return aiohttp.ClientTimeout(
            total=total, connect=connect, sock_connect=connect, sock_read=read
        )

    @property
    def read_timeout(self) -> float | None:
        """Return the default read timeout in seconds."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session and its keep-alive connection pool; do nothing if already open."""
        if self._session is not None and not self._session.closed:
            return
        connector = aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": self.USER_AGENT},
            cookie_jar=aiohttp.DummyCookieJar(),  # the Bot API sets no cookies
            timeout=self._default_timeout,
            trust_env=False,
        )
        # PTB's pool timeout needs its own wait: aiohttp folds the pool wait into `connect`.
        self._slots = asyncio.Semaphore(self._pool_size)

    async def shutdown(self) -> None:
        """Close the session and every pooled connection; do nothing if already closed."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def _url(self, url: str) -> URL:
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) >= _URL_CACHE_SIZE:
                self._urls.clear()  # file downloads have one-off URLs; keep the cache small
            parsed = self._urls[url] = URL(url)
        return parsed

    def _timeout(
        self,
        read_timeout: ODVInput[float],
        write_timeout: ODVInput[float],
        connect_timeout: ODVInput[float],
        files: bool,
    ) -> aiohttp.ClientTimeout:
        default = self._media_timeout if files else self._default_timeout
        if (
            isinstance(read_timeout, DefaultValue)
            and isinstance(write_timeout, DefaultValue)
            and isinstance(connect_timeout, DefaultValue)
        ):
            return default
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = (
            self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        )
        if isinstance(write_timeout, DefaultValue):
            write = self._media_write_timeout if files else self._write_timeout
        else:
            write = write_timeout
        return self._client_timeout(read, write, connect, files=files)

    async def do_request(  # noqa: PLR0917 - BaseRequest fixes this signature
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request and return its status code and body."""
        session, slots = self._session, self._slots
        if session is None or slots is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")

        files = request_data is not None and request_data.contains_files
        body: aiohttp.FormData | BytesPayload | None = None
        if request_data is not None:
            if files:
                # Same parts as httpx's data= plus files=: plain fields, then the uploads.
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, (filename, content, mimetype) in request_data.multipart_data.items():
                    form.add_field(name, content, filename=filename, content_type=mimetype)
                body = form
            else:
                # A JSON body, which the Bot API takes for every method: one json.dumps instead
                # of percent-encoding every byte of a long (often CJK) text, as a form would.
                body = BytesPayload(request_data.json_payload, content_type=_JSON)
        timeout = self._timeout(read_timeout, write_timeout, connect_timeout, files)

        if slots.locked():
            wait = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
            try:
                async with asyncio.timeout(wait):
                    await slots.acquire()
            except TimeoutError as exc:
                raise TimedOut(message=POOL_TIMEOUT_MESSAGE) from exc
        else:
            await slots.acquire()
        try:
            async with session.request(
                method, self._url(url), data=body, timeout=timeout, proxy=self._proxy
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            # aiohttp's ServerTimeoutError, ConnectionTimeoutError and SocketTimeoutError are
            # TimeoutErrors too, so they land here, as httpx's TimeoutException does in PTB.
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            # The class name makes an empty message (e.g. ServerDisconnectedError) debuggable.
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {exc}") from exc
        finally:
            slots.release()


@functools.cache
def tls_context() -> ssl.SSLContext:
    """Return the process's one TLS context for httpx clients, built on first use.

    httpx builds a new context per client by default, loading the CA bundle each time: 30 ms
    of CPU for every Bot and Application. This is the context it would build
    (``httpx.create_ssl_context()``: certifi's bundle, SSL_CERT_FILE / SSL_CERT_DIR honoured);
    one context serves any number of connections.
    """
    return httpx.create_ssl_context()


def build_request(
    backend: Backend,
    *,
    pool_size: int,
    read_timeout: float | None = 5.0,
    write_timeout: float | None = 5.0,
    connect_timeout: float | None = 5.0,
    pool_timeout: float | None = 1.0,
    proxy: str | None = None,
    media_write_timeout: float | None = 20.0,
) -> BaseRequest:
    """Build the PTB transport named by ``backend`` (the HTTP_BACKEND setting)."""
    transport: Callable[..., BaseRequest]
    if backend == "aiohttp":
        transport = AiohttpRequest
    elif backend == "httpx":
        transport = functools.partial(HTTPXRequest, httpx_kwargs={"verify": tls_context()})
    else:
        raise ConfigError(f"HTTP_BACKEND must be 'aiohttp' or 'httpx', not {backend!r}")
    return transport(
        connection_pool_size=pool_size,
        read_timeout=read_timeout,
        write_timeout=write_timeout,
        connect_timeout=connect_timeout,
        pool_timeout=pool_timeout,
        proxy=proxy,
        media_write_timeout=media_write_timeout,
    )


class BotRequests(TypedDict):
    """A Bot's two PTB transports, as the keyword arguments of ``Bot`` and ``ExtBot``."""

    request: BaseRequest
    get_updates_request: BaseRequest


def bot_requests(
    backend: Backend, *, pool_size: int, read_timeout: float | None = 5.0
) -> BotRequests:
    """Return the transports of a Bot built without an Application.

    `pool_size` connections for its calls and one for getUpdates: left out, PTB would build a
    default httpx client for it (loading a CA bundle) even on a bot that never polls.
    """
    return BotRequests(
        request=build_request(backend, pool_size=pool_size, read_timeout=read_timeout),
        get_updates_request=build_request(backend, pool_size=1, read_timeout=read_timeout),
    )
