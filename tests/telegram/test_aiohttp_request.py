"""AiohttpRequest, driven through a real telegram.Bot against a small fake Bot API on loopback.

Where PTB maps failures itself (status codes), both backends are run side by side to show the
aiohttp transport raises the same exception types with the same messages as PTB's httpx one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import socket
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.web_request import FileField
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import ApplicationBuilder
from telegram.request import BaseRequest, HTTPXRequest

from bot.errors import ConfigError
from bot.telegram.aiohttp_request import POOL_TIMEOUT_MESSAGE, AiohttpRequest, build_request

TOKEN = "123456:TEST-token"  # noqa: S105 - a fake token for the fake server
BACKENDS = ["aiohttp", "httpx"]

# chat_id → (HTTP status, Bot API error body) the fake answers sendMessage with.
ERRORS: dict[int, tuple[int, dict[str, Any]]] = {
    429: (
        429,
        {"description": "Too Many Requests: retry after 7", "parameters": {"retry_after": 7}},
    ),
    403: (403, {"description": "Forbidden: bot was blocked by the user"}),
    400: (400, {"description": "Bad Request: chat not found"}),
    1001: (
        400,
        {
            "description": "Bad Request: group chat was upgraded",
            "parameters": {"migrate_to_chat_id": -100777},
        },
    ),
    409: (409, {"description": "Conflict: terminated by other getUpdates request"}),
    502: (502, {"description": "Bad Gateway"}),
}
SLOW_CHAT = 5  # the fake waits `delay` seconds before answering this chat


@dataclass
class FakeApi:
    """What the fake Bot API saw, and knobs for how it answers."""

    base_url: str = ""
    delay: float = 0.0
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    slow_arrived: asyncio.Event = field(default_factory=asyncio.Event)


API_KEY = web.AppKey("api", FakeApi)


def _ok(result: object) -> web.Response:
    return web.json_response({"ok": True, "result": result})


async def _handle(request: web.Request) -> web.Response:
    api = request.app[API_KEY]
    method = request.match_info["method"]
    form: dict[str, Any] = {}
    if request.content_type == "application/json":
        # As Telegram reads it: nested values are JSON, scalars their JSON spelling.
        for name, value in (await request.json()).items():
            form[name] = value if isinstance(value, str) else json.dumps(value)
    else:
        for name, value in (await request.post()).items():
            form[name] = (
                (value.filename, value.file.read()) if isinstance(value, FileField) else value
            )
    api.calls.append((method, form))
    api.hosts.append(request.host)
    if request.match_info["token"] != TOKEN:
        return web.json_response(
            {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
        )
    if method == "getMe":
        return _ok({"id": 123456, "is_bot": True, "first_name": "Fake", "username": "fake_bot"})
    chat_id = int(form.get("chat_id", 0))
    if chat_id in ERRORS:
        status, body = ERRORS[chat_id]
        return web.json_response({"ok": False, "error_code": status, **body}, status=status)
    if chat_id == SLOW_CHAT:
        api.slow_arrived.set()
        # Teardown sets `release`, so a request the client gave up on does not hold cleanup.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(api.release.wait(), api.delay)
    message: dict[str, Any] = {
        "message_id": len(api.calls),
        "date": 1_700_000_000,
        "chat": {"id": chat_id, "type": "private"},
    }
    if method == "sendMessage":
        message["text"] = form["text"]
        if "reply_markup" in form:
            message["reply_markup"] = json.loads(form["reply_markup"])
    elif method == "sendDocument":
        filename, _ = form["document"]
        message["caption"] = form.get("caption")
        message["document"] = {"file_id": "f1", "file_unique_id": "u1", "file_name": filename}
    return _ok(message)


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeApi]:
    api = FakeApi()
    app = web.Application()
    app[API_KEY] = api
    app.router.add_post("/bot{token}/{method}", _handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    api.base_url = f"http://127.0.0.1:{port}/bot"
    yield api
    api.release.set()
    await runner.cleanup()


def _bot(api_url: str, request: BaseRequest, token: str = TOKEN) -> Bot:
    return Bot(token, base_url=api_url, request=request, get_updates_request=AiohttpRequest())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_get_me_and_send_message_round_trip(fake_api: FakeApi) -> None:
    """get_me works and nested reply_markup JSON and awkward text reach the server intact."""
    markup = InlineKeyboardMarkup(
        [[InlineKeyboardButton("Read ➜", callback_data="read:42&x=1+2")]]
    )
    text = "Héllo & <b>welcome</b> = 100% + 😀"
    async with _bot(fake_api.base_url, AiohttpRequest()) as bot:
        assert (await bot.get_me()).username == "fake_bot"
        message = await bot.send_message(chat_id=77, text=text, reply_markup=markup)
    assert message.text == text
    assert message.reply_markup == markup
    method, form = fake_api.calls[-1]
    assert method == "sendMessage"
    assert form["chat_id"] == "77"
    assert form["text"] == text
    assert json.loads(form["reply_markup"]) == markup.to_dict()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_both_backends_send_the_same_values(fake_api: FakeApi, backend: str) -> None:
    """The aiohttp transport (JSON body) sends exactly the values the httpx one (form) does."""
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("a", url="https://example.org/?a=1")]])
    request = build_request(backend, pool_size=4)  # type: ignore[arg-type]
    async with _bot(fake_api.base_url, request) as bot:
        await bot.send_message(chat_id=9, text="x y&z", reply_markup=markup, protect_content=True)
    assert fake_api.calls[-1][1] == {
        "chat_id": "9",
        "text": "x y&z",
        "reply_markup": json.dumps(markup.to_dict()),
        "protect_content": "true",
    }


@pytest.mark.parametrize("backend", BACKENDS)
async def test_files_are_sent_as_multipart(fake_api: FakeApi, backend: str) -> None:
    """A request with an input file goes out as multipart with its plain fields alongside."""
    request = build_request(backend, pool_size=4)  # type: ignore[arg-type]
    async with _bot(fake_api.base_url, request) as bot:
        message = await bot.send_document(
            chat_id=8, document=b"%PDF-1.4 body", filename="digest.pdf", caption="today"
        )
    assert message.caption == "today"
    _, form = fake_api.calls[-1]
    assert form["document"] == ("digest.pdf", b"%PDF-1.4 body")
    assert form["caption"] == "today"
    assert form["chat_id"] == "8"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "case",
    [
        (429, RetryAfter, "Flood control exceeded. Retry in 0:00:07"),
        (403, Forbidden, "Forbidden: bot was blocked by the user"),
        (400, BadRequest, "Chat not found"),
        (1001, ChatMigrated, "Group migrated to supergroup. New chat id: -100777"),
        (409, Conflict, "Conflict: terminated by other getUpdates request"),
        (502, NetworkError, "Bad Gateway"),
    ],
)
async def test_error_responses_map_like_ptb(
    fake_api: FakeApi,
    backend: str,
    case: tuple[int, type[TelegramError], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bot API error statuses raise the same PTB exception and message on both backends."""
    # PTB 22 warns on RetryAfter's int form unless opted in to timedelta, as the app does.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    chat_id, error, message = case
    request = build_request(backend, pool_size=4)  # type: ignore[arg-type]
    async with _bot(fake_api.base_url, request) as bot:
        with pytest.raises(TelegramError) as info:
            await bot.send_message(chat_id=chat_id, text="hi")
    assert type(info.value) is error
    assert str(info.value) == message


@pytest.mark.parametrize("backend", BACKENDS)
async def test_rejected_token_raises_invalid_token(fake_api: FakeApi, backend: str) -> None:
    """A 401 from the server surfaces as InvalidToken, as PTB's transport does."""
    request = build_request(backend, pool_size=4)  # type: ignore[arg-type]
    bot = _bot(fake_api.base_url, request, token="999:wrong")  # noqa: S106 - fake
    with pytest.raises(InvalidToken, match="was rejected by the server"):
        async with bot:
            pass


@pytest.mark.parametrize("backend", BACKENDS)
async def test_slow_server_beyond_read_timeout_times_out(fake_api: FakeApi, backend: str) -> None:
    """A response slower than the default read timeout raises TimedOut."""
    fake_api.delay = 5.0
    request = build_request(backend, pool_size=4, read_timeout=0.1)  # type: ignore[arg-type]
    async with _bot(fake_api.base_url, request) as bot:
        with pytest.raises(TimedOut) as info:
            await bot.send_message(chat_id=SLOW_CHAT, text="hi")
    assert type(info.value) is TimedOut
    assert str(info.value) == "Timed out"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_explicit_timeouts_override_the_defaults(fake_api: FakeApi, backend: str) -> None:
    """A per-call read_timeout (a number, or None for no limit) replaces the instance default."""
    fake_api.delay = 0.3
    request = build_request(backend, pool_size=4, read_timeout=0.05)  # type: ignore[arg-type]
    async with _bot(fake_api.base_url, request) as bot:
        assert (await bot.send_message(chat_id=SLOW_CHAT, text="a", read_timeout=5)).text == "a"
        assert (await bot.send_message(chat_id=SLOW_CHAT, text="b", read_timeout=None)).text
        with pytest.raises(TimedOut):
            await bot.send_message(chat_id=SLOW_CHAT, text="c")


@pytest.mark.parametrize("backend", BACKENDS)
async def test_full_pool_raises_pool_timeout(fake_api: FakeApi, backend: str) -> None:
    """With every connection busy past pool_timeout, the next call fails without being sent."""
    fake_api.delay = 0.5
    request = build_request(backend, pool_size=1, pool_timeout=0.05)  # type: ignore[arg-type]
    async with _bot(fake_api.base_url, request) as bot:
        first = asyncio.create_task(bot.send_message(chat_id=SLOW_CHAT, text="first"))
        await fake_api.slow_arrived.wait()  # the first call holds the only connection
        with pytest.raises(TimedOut) as info:
            await bot.send_message(chat_id=SLOW_CHAT, text="second")
        assert (await first).text == "first"
    assert str(info.value) == POOL_TIMEOUT_MESSAGE
    assert [form["text"] for _, form in fake_api.calls[1:]] == ["first"]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_connection_refused_raises_network_error(backend: str) -> None:
    """Nothing listening on the port gives a NetworkError naming the transport's exception."""
    request = build_request(backend, pool_size=4)  # type: ignore[arg-type]
    bot = _bot(f"http://127.0.0.1:{_free_port()}/bot", request)
    with pytest.raises(NetworkError) as info:
        async with bot:
            pass
    assert type(info.value) is NetworkError
    assert str(info.value).startswith(f"{backend}.")


@pytest.mark.parametrize("backend", BACKENDS)
async def test_server_closing_the_connection_raises_network_error(backend: str) -> None:
    """A server that hangs up without answering gives a NetworkError, not a TimedOut."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        request = build_request(backend, pool_size=4)  # type: ignore[arg-type]
        async with request:
            bot = _bot(f"http://127.0.0.1:{port}/bot", request)
            with pytest.raises(NetworkError) as info:
                await bot.get_me()
    finally:
        server.close()
        await server.wait_closed()
    assert type(info.value) is NetworkError
    assert str(info.value).startswith(f"{backend}.")


async def test_initialize_and_shutdown_are_idempotent_and_leak_nothing(
    fake_api: FakeApi,
) -> None:
    """initialize/shutdown may repeat, a shut-down request can reopen, and no session leaks."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        request = AiohttpRequest()
        await request.shutdown()  # before initialize: nothing to close
        await request.initialize()
        await request.initialize()
        await request.shutdown()
        await request.shutdown()
        with pytest.raises(RuntimeError, match="not initialized"):
            await request.do_request(f"{fake_api.base_url}{TOKEN}/getMe", "POST")
        async with _bot(fake_api.base_url, request) as bot:  # reopens after a shutdown
            assert (await bot.get_me()).username == "fake_bot"
        del request, bot
        gc.collect()
    assert [str(w.message) for w in caught] == []


async def test_read_timeout_property_reports_the_default() -> None:
    """BaseRequest.read_timeout is the instance default, None meaning no limit."""
    assert AiohttpRequest(read_timeout=7.5).read_timeout == 7.5
    assert AiohttpRequest(read_timeout=None).read_timeout is None


@pytest.mark.parametrize("proxy", ["socks5://127.0.0.1:1080", "socks4://h:1", "ftp://h:21"])
def test_unsupported_proxies_are_refused_at_construction(proxy: str) -> None:
    """Socks and other non-http proxies fail fast with ConfigError, not on the first send."""
    with pytest.raises(ConfigError):
        AiohttpRequest(proxy=proxy)


async def test_http_proxy_carries_the_requests(fake_api: FakeApi) -> None:
    """With an http proxy set, requests for an unreachable host go through the proxy."""
    proxy = fake_api.base_url.removesuffix("/bot")
    async with _bot("http://api.telegram.invalid/bot", AiohttpRequest(proxy=proxy)) as bot:
        assert (await bot.send_message(chat_id=3, text="via proxy")).text == "via proxy"
    assert fake_api.hosts[-1] == "api.telegram.invalid"


def test_build_request_picks_the_backend() -> None:
    """build_request returns the transport named by HTTP_BACKEND, and refuses others."""
    assert isinstance(build_request("aiohttp", pool_size=8), AiohttpRequest)
    assert isinstance(build_request("httpx", pool_size=8), HTTPXRequest)
    with pytest.raises(ConfigError):
        build_request("curl", pool_size=8)  # type: ignore[arg-type]


async def test_application_runs_on_aiohttp_requests(fake_api: FakeApi) -> None:
    """An Application on AiohttpRequest for both requests initializes, sends, shuts down."""
    builder = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(fake_api.base_url)
        .request(AiohttpRequest(connection_pool_size=8))
        .get_updates_request(AiohttpRequest(connection_pool_size=1))
    )
    with pytest.raises(RuntimeError, match="request instance"):
        builder.connection_pool_size(4)  # PTB forbids pool settings next to a custom request
    application = builder.build()
    await application.initialize()
    try:
        assert application.bot.username == "fake_bot"
        assert (await application.bot.send_message(chat_id=1, text="hi")).text == "hi"
    finally:
        await application.shutdown()
