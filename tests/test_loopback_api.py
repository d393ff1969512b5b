"""The loopback Bot API, driven over real HTTP by the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import datetime as dtm
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from bot.telegram.loopback_api import Fault, Limits, LoopbackBotApi

KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("📖 Full text", callback_data="full:1")]])


@pytest.fixture(autouse=True)
def _timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 warns on RetryAfter unless it may use timedelta; warnings are errors here.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@asynccontextmanager
async def bot_for(api: LoopbackBotApi, token: str | None = None) -> AsyncIterator[Bot]:
    """Yield an initialized PTB Bot talking to `api`, shut down after."""
    bot = Bot(token or api.token, base_url=api.base_url)
    async with bot:
        yield bot


@asynccontextmanager
async def running(app: Application[Any, Any, Any, Any, Any, Any]) -> AsyncIterator[None]:
    """Run a PTB Application with polling for the duration of the block."""
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=5))
        try:
            yield
        finally:
            await app.updater.stop()
            await app.stop()


# ----------------------------------------------------------------- basics


async def test_get_me_returns_the_bot_user(loopback_api: LoopbackBotApi) -> None:
    async with bot_for(loopback_api) as bot:
        me = await bot.get_me()
    assert me.id == 123456789
    assert me.is_bot
    assert me.username == "digest_test_bot"
    assert loopback_api.stats.calls["getMe"] >= 1


async def test_wrong_token_raises_invalid_token(loopback_api: LoopbackBotApi) -> None:
    bot = Bot("987654321:WRONG", base_url=loopback_api.base_url)
    with pytest.raises(InvalidToken):
        await bot.initialize()
    await bot.shutdown()


async def test_unknown_method_answers_404_like_telegram(loopback_api: LoopbackBotApi) -> None:
    url = f"{loopback_api.base_url}{loopback_api.token}/noSuchMethod"
    async with aiohttp.ClientSession() as session, session.post(url) as resp:
        assert resp.status == 404
        assert await resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    async with bot_for(loopback_api) as bot:
        with pytest.raises(EndPointNotFound):
            await bot.do_api_request("noSuchMethod")


async def test_json_bodies_are_accepted(loopback_api: LoopbackBotApi) -> None:
    url = f"{loopback_api.base_url}{loopback_api.token}/sendMessage"
    body = {
        "chat_id": 7,
        "text": "<i>json</i>",
        "parse_mode": "HTML",
        "reply_markup": {"inline_keyboard": [[{"text": "go", "callback_data": "x"}]]},
    }
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
        data = await resp.json()
    assert data["ok"]
    assert data["result"]["text"] == "json"
    assert data["result"]["entities"] == [{"type": "italic", "offset": 0, "length": 4}]
    assert loopback_api.messages(7)[0].buttons() == [[{"text": "go", "callback_data": "x"}]]


# ----------------------------------------------------------------- getUpdates


async def test_get_updates_offset_confirms_earlier_updates(loopback_api: LoopbackBotApi) -> None:
    user = loopback_api.user(11, language_code="zh-hans")
    chat = loopback_api.private_chat(user)
    ids = [loopback_api.send_message(chat, user, f"/start {n}") for n in range(3)]
    async with bot_for(loopback_api) as bot:
        first = await bot.get_updates(limit=2)
        assert [u.update_id for u in first] == ids[:2]
        again = await bot.get_updates()
        assert [u.update_id for u in again] == ids  # nothing confirmed yet
        rest = await bot.get_updates(offset=ids[1] + 1)
        assert [u.update_id for u in rest] == ids[2:]
        assert await bot.get_updates(offset=ids[2] + 1) == ()
    assert loopback_api.pending_updates == 0
    message = rest[0].message
    assert message is not None
    assert message.from_user is not None
    assert message.from_user.language_code == "zh-hans"
    assert message.text == "/start 2"
    assert message.entities[0].type == "bot_command"
    assert message.entities[0].length == len("/start")


async def test_negative_offset_keeps_only_the_last_updates(loopback_api: LoopbackBotApi) -> None:
    user = loopback_api.user(12)
    chat = loopback_api.private_chat(user)
    ids = [loopback_api.send_message(chat, user, "hi") for _ in range(4)]
    async with bot_for(loopback_api) as bot:
        last = await bot.get_updates(offset=-1)
    assert [u.update_id for u in last] == ids[-1:]


async def test_long_poll_wakes_as_soon_as_an_update_is_queued(
    loopback_api: LoopbackBotApi,
) -> None:
    user = loopback_api.user(13)
    chat = loopback_api.private_chat(user)
    async with bot_for(loopback_api) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=30, read_timeout=40))
        await asyncio.sleep(0.1)
        assert not poll.done()
        update_id = loopback_api.send_message(chat, user, "wake up")
        # Far below the 30 s poll timeout: the poll returned because of the update.
        async with asyncio.timeout(10):
            updates = await poll
    assert [u.update_id for u in updates] == [update_id]


async def test_allowed_updates_drops_other_update_types(loopback_api: LoopbackBotApi) -> None:
    user = loopback_api.user(14)
    chat = loopback_api.private_chat(user)
    loopback_api.send_message(chat, user, "text")
    pressed = loopback_api.press_button(chat, user, 1, "data")
    async with bot_for(loopback_api) as bot:
        updates = await bot.get_updates(allowed_updates=["callback_query"])
    assert len(updates) == 1
    assert updates[0].callback_query is not None
    assert updates[0].callback_query.id == pressed


async def test_a_newer_poll_ends_the_older_with_conflict(loopback_api: LoopbackBotApi) -> None:
    async with bot_for(loopback_api) as first, bot_for(loopback_api) as second:
        old = asyncio.create_task(first.get_updates(timeout=20, read_timeout=30))
        await asyncio.sleep(0.1)
        assert await second.get_updates(timeout=0) == ()
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await old


# ----------------------------------------------------------------- sendMessage


async def test_send_message_records_html_text_entities_and_buttons(
    loopback_api: LoopbackBotApi,
) -> None:
    async with bot_for(loopback_api) as bot:
        sent = await bot.send_message(
            21,
            "<b>Title</b>\n<a href='https://example.org'>link</a>",
            parse_mode="HTML",
            reply_markup=KEYBOARD,
        )
    assert sent.message_id == 1
    assert sent.chat.id == 21
    assert sent.text == "Title\nlink"
    assert [e.type for e in sent.entities] == ["bold", "text_link"]
    assert sent.reply_markup == KEYBOARD
    [stored] = loopback_api.messages(21)
    assert stored.html.startswith("<b>Title</b>")
    assert stored.text == "Title\nlink"
    assert stored.entities[1]["url"] == "https://example.org"
    assert stored.buttons()[0][0]["callback_data"] == "full:1"
    assert stored.parse_mode == "HTML"
    assert loopback_api.all_sent() == [stored]


@pytest.mark.parametrize(
    ("text", "kwargs", "reason"),
    [
        ("a" * 4097, {}, "message is too long"),
        ("<b>" + "é" * 4096 + "</b>", {"parse_mode": "HTML"}, None),  # 4096 visible: allowed
        ("😀" * 2049, {}, "message is too long"),  # 4098 UTF-16 units
        ("<b>bold", {"parse_mode": "HTML"}, "can't parse entities"),
        ("a<br>b", {"parse_mode": "HTML"}, "can't parse entities"),
        ("   ", {}, "message text is empty"),
        ("<b> </b>", {"parse_mode": "HTML"}, "message text is empty"),
        (
            "ok",
            {
                "reply_markup": InlineKeyboardMarkup(
                    [[InlineKeyboardButton("x", callback_data="d" * 65)]]
                )
            },
            "button_data_invalid",
        ),
        (
            "ok",
            {
                "reply_markup": InlineKeyboardMarkup(
                    [[InlineKeyboardButton("x", url="javascript:alert(1)")]]
                )
            },
            "inline keyboard button url 'javascript:alert(1)' is invalid",
        ),
    ],
)
async def test_send_message_refuses_what_telegram_refuses(
    loopback_api: LoopbackBotApi, text: str, kwargs: dict[str, Any], reason: str | None
) -> None:
    async with bot_for(loopback_api) as bot:
        if reason is None:
            await bot.send_message(22, text, **kwargs)
            assert len(loopback_api.messages(22)) == 1
            return
        with pytest.raises(BadRequest) as caught:
            await bot.send_message(22, text, **kwargs)
    assert reason in str(caught.value).lower()
    assert loopback_api.messages(22) == []


async def test_blocked_user_raises_forbidden_until_they_write_again(
    loopback_api: LoopbackBotApi,
) -> None:
    user = loopback_api.user(23)
    chat = loopback_api.private_chat(user)
    loopback_api.block(23)
    async with bot_for(loopback_api) as bot:
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(23, "hello")
        loopback_api.send_message(chat, user, "/start")
        await bot.send_message(23, "welcome back")
        loopback_api.block(23)
        loopback_api.unblock(23)
        await bot.send_message(23, "again")
    assert [m.text for m in loopback_api.messages(23)] == ["welcome back", "again"]


async def test_unknown_chats_raise_chat_not_found() -> None:
    async with LoopbackBotApi(strict_chats=True) as api, bot_for(api) as bot:
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(-500, "group never registered")
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(31, "user never seen")
        api.private_chat(api.user(31))
        await bot.send_message(31, "now known")
        api.forget_chat(31)
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(31, "account deleted")


async def test_migrated_group_raises_chat_migrated_with_the_new_id(
    loopback_api: LoopbackBotApi,
) -> None:
    loopback_api.group(-400, "Readers")
    async with bot_for(loopback_api) as bot:
        await bot.send_message(-400, "before")
        new_id = loopback_api.migrate_group(-400)
        with pytest.raises(ChatMigrated) as caught:
            await bot.send_message(-400, "after")
        assert caught.value.new_chat_id == new_id
        sent = await bot.send_message(new_id, "after")
        updates = await bot.get_updates()
    assert str(new_id).startswith("-100")
    assert sent.chat.type == "supergroup"
    assert sent.chat.title == "Readers"
    service = [u.message for u in updates if u.message]
    assert service[0].migrate_to_chat_id == new_id
    assert service[1].migrate_from_chat_id == -400


# ----------------------------------------------------------------- faults


async def test_injected_retry_after_raises_retry_after_once(
    loopback_api: LoopbackBotApi,
) -> None:
    loopback_api.fail_next("sendMessage", fault=Fault.retry_after(2))
    async with bot_for(loopback_api) as bot:
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(41, "first")
        await bot.send_message(41, "second")
    assert caught.value.retry_after == dtm.timedelta(seconds=2)
    assert loopback_api.stats.too_many_requests == 1
    assert [m.text for m in loopback_api.messages(41)] == ["second"]


@pytest.mark.parametrize(
    ("fault", "error", "match"),
    [
        (Fault.forbidden(), Forbidden, "bot was blocked"),
        (Fault.bad_request("Bad Request: odd"), BadRequest, "Odd"),
        (Fault.chat_not_found(), BadRequest, "Chat not found"),
        (Fault.server_error(), NetworkError, "Bad Gateway"),
        (Fault.drop(), NetworkError, "disconnected"),
    ],
)
async def test_injected_faults_map_to_ptb_exceptions(
    loopback_api: LoopbackBotApi, fault: Fault, error: type[Exception], match: str
) -> None:
    loopback_api.fail_next("sendMessage", 2, fault=fault)
    async with bot_for(loopback_api) as bot:
        for _ in range(2):
            with pytest.raises(error, match=match):
                await bot.send_message(42, "x")
        await bot.send_message(42, "through")
    assert [m.text for m in loopback_api.messages(42)] == ["through"]


async def test_hang_fault_times_the_client_out_but_the_message_is_sent(
    loopback_api: LoopbackBotApi,
) -> None:
    loopback_api.fail_next("sendMessage", fault=Fault.hang(0.5))
    async with bot_for(loopback_api) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(43, "slow", read_timeout=0.1)
        await loopback_api.settle(quiet=0.05)
    assert [m.text for m in loopback_api.messages(43)] == ["slow"]


async def test_random_faults_hit_some_calls_reproducibly(loopback_api: LoopbackBotApi) -> None:
    loopback_api.fail_randomly("sendMessage", 0.3, lambda: Fault.retry_after(1), seed=7)
    failed = 0
    async with bot_for(loopback_api) as bot:
        for n in range(30):
            try:
                await bot.send_message(44 + n, "x")
            except RetryAfter:
                failed += 1
    assert 0 < failed < 30
    assert loopback_api.stats.too_many_requests == failed
    assert loopback_api.stats.sent == 30 - failed


# ----------------------------------------------------------------- edits and buttons


async def test_edit_delete_and_not_modified(loopback_api: LoopbackBotApi) -> None:
    async with bot_for(loopback_api) as bot:
        sent = await bot.send_message(51, "<b>v1</b>", parse_mode="HTML", reply_markup=KEYBOARD)
        edited = await bot.edit_message_text(
            "<i>v2</i>",
            chat_id=51,
            message_id=sent.message_id,
            parse_mode="HTML",
            reply_markup=KEYBOARD,
        )
        assert isinstance(edited, object)
        with pytest.raises(BadRequest, match="Message is not modified"):
            await bot.edit_message_text(
                "<i>v2</i>",
                chat_id=51,
                message_id=sent.message_id,
                parse_mode="HTML",
                reply_markup=KEYBOARD,
            )
        await bot.edit_message_reply_markup(chat_id=51, message_id=sent.message_id)
        with pytest.raises(BadRequest, match="Message is not modified"):
            await bot.edit_message_reply_markup(chat_id=51, message_id=sent.message_id)
        with pytest.raises(BadRequest, match="Message to edit not found"):
            await bot.edit_message_text("x", chat_id=51, message_id=99)
        [message] = loopback_api.messages(51)
        assert (message.text, message.edits, message.buttons()) == ("v2", 2, [])
        await bot.send_chat_action(51, "typing")
        assert await bot.delete_message(51, sent.message_id)
        with pytest.raises(BadRequest, match="Message to delete not found"):
            await bot.delete_message(51, sent.message_id)
    assert loopback_api.messages(51) == []
    assert loopback_api.messages(51, include_deleted=True)[0].deleted


async def test_button_press_reaches_the_application_and_is_answered(
    loopback_api: LoopbackBotApi,
) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("menu", reply_markup=KEYBOARD)

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        assert query.message is not None
        await query.answer(f"got {query.data}")
        await context.bot.send_message(query.message.chat.id, f"pressed {query.data}")

    app = ApplicationBuilder().token(loopback_api.token).base_url(loopback_api.base_url).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(button))
    user = loopback_api.user(61, language_code="zh")
    chat = loopback_api.private_chat(user)
    group = loopback_api.group(-610, "Group")
    async with running(app):
        loopback_api.send_message(chat, user, "/start")
        [menu] = await loopback_api.wait_sent(61, 1)
        query_id = loopback_api.press_button(chat, user, menu.message_id, "full:1")
        await loopback_api.wait_sent(61, 2)
        loopback_api.send_message(group, user, "/start@digest_test_bot")
        loopback_api.send_message(group, user, "/start@someone_else_bot")
        await loopback_api.settle(quiet=0.2)
    answered = loopback_api.answered_callbacks[query_id]
    assert (answered.text, answered.data, answered.user_id) == ("got full:1", "full:1", 61)
    assert [m.text for m in loopback_api.messages(61)] == ["menu", "pressed full:1"]
    assert [m.text for m in loopback_api.messages(-610)] == ["menu"]
    async with bot_for(loopback_api) as bot:
        with pytest.raises(BadRequest, match="Query is too old"):
            await bot.answer_callback_query(query_id)


async def test_set_my_commands_keeps_scope_and_language(loopback_api: LoopbackBotApi) -> None:
    en = [BotCommand("latest", "Newest article"), BotCommand("help", "Help")]
    zh = [BotCommand("latest", "最新文章")]
    async with bot_for(loopback_api) as bot:
        assert await bot.set_my_commands(en)
        assert await bot.set_my_commands(zh, language_code="zh")
        assert await bot.set_my_commands(en[:1], scope=BotCommandScopeAllGroupChats())
        assert await bot.get_my_commands(language_code="zh") == tuple(zh)
        assert await bot.get_my_commands() == tuple(en)
        assert await bot.get_my_commands(scope=BotCommandScopeAllPrivateChats()) == ()
        with pytest.raises(BadRequest, match="Bot_command_invalid"):
            await bot.set_my_commands([BotCommand("Bad-Name", "x")])
        assert await bot.delete_my_commands(language_code="zh")
        assert await bot.get_my_commands(language_code="zh") == ()
    assert loopback_api.my_commands()[0] == {"command": "latest", "description": "Newest article"}
    assert loopback_api.my_commands({"type": "all_group_chats"}) == [
        {"command": "latest", "description": "Newest article"}
    ]


# ----------------------------------------------------------------- rate limits


async def test_strict_limits_answer_429_past_the_per_chat_burst() -> None:
    async with LoopbackBotApi(limits=Limits()) as api, bot_for(api) as bot:
        for n in range(3):  # a burst of three is tolerated
            await bot.send_message(71, f"burst {n}")
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(71, "one too many")
        await bot.send_message(72, "another chat is fine")
    assert caught.value.retry_after >= dtm.timedelta(seconds=1)  # type: ignore[operator]
    assert api.stats.too_many_requests == api.stats.rate_limited == 1
    assert not api.stats.clean()
    assert api.stats.violations == {}
    assert api.stats.max_per_chat_per_second == 3


async def test_strict_limits_cap_groups_per_minute_and_all_chats_per_second() -> None:
    loose_chats = Limits(per_chat_per_second=1000, per_chat_burst=1000, per_group_per_minute=4)
    async with LoopbackBotApi(limits=loose_chats) as api, bot_for(api) as bot:
        api.group(-700)
        for _ in range(4):
            await bot.send_message(-700, "ok")
        with pytest.raises(RetryAfter):
            await bot.send_message(-700, "fifth in a minute")
    assert api.stats.max_per_group_per_minute == 4
    few = Limits(global_per_second=3, paid_broadcast_per_second=5)
    async with LoopbackBotApi(limits=few) as api, bot_for(api) as bot:
        for n in range(3):
            await bot.send_message(800 + n, "ok")
        with pytest.raises(RetryAfter):
            await bot.send_message(810, "fourth this second")
        await bot.send_message(811, "paid", allow_paid_broadcast=True)
    assert api.messages(811)[0].allow_paid_broadcast
    assert api.stats.rate_limited == 1


async def test_without_enforcement_stats_count_violations(loopback_api: LoopbackBotApi) -> None:
    async with bot_for(loopback_api) as bot:
        for _ in range(5):
            await bot.send_message(90, "flood")
        await bot.send_message(91, "calm")
    stats = loopback_api.stats
    assert stats.too_many_requests == 0
    assert stats.violations == {90: 2}  # the default burst of 3 is not a violation
    assert stats.max_per_chat_per_second == 5
    assert stats.sent == 6
    assert not stats.clean()


# ----------------------------------------------------------------- webhook


async def test_webhook_delivery_with_secret_and_retry(loopback_api: LoopbackBotApi) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []
    attempts = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            return web.Response(status=500)  # the first delivery fails and is retried
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response()

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    runner = web.AppRunner(receiver)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        user = loopback_api.user(95)
        chat = loopback_api.private_chat(user)
        async with bot_for(loopback_api) as bot:
            assert await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cr_t")  # noqa: S106 -- a test secret
            update_id = loopback_api.send_message(chat, user, "/start")
            with pytest.raises(Conflict, match="webhook is active"):
                await bot.get_updates()
            await loopback_api.settle(quiet=0.05, timeout=10)
            info = await bot.get_webhook_info()
            assert info.url == f"http://127.0.0.1:{port}/hook"
            assert info.pending_update_count == 0
            assert info.last_error_message is not None
            assert await bot.delete_webhook()
            assert await bot.get_updates() == ()
    finally:
        await runner.cleanup()
    assert attempts == 2
    assert received == [("s3cr_t", {"update_id": update_id, "message": received[0][1]["message"]})]
    assert received[0][1]["message"]["text"] == "/start"


async def test_delete_webhook_can_drop_pending_updates(loopback_api: LoopbackBotApi) -> None:
    user = loopback_api.user(96)
    loopback_api.send_message(loopback_api.private_chat(user), user, "old")
    async with bot_for(loopback_api) as bot:
        await bot.delete_webhook(drop_pending_updates=True)
        assert await bot.get_updates() == ()


# ----------------------------------------------------------------- waiting helpers


async def test_settle_times_out_while_nobody_fetches_updates(
    loopback_api: LoopbackBotApi,
) -> None:
    user = loopback_api.user(97)
    loopback_api.send_message(loopback_api.private_chat(user), user, "hello?")
    with pytest.raises(TimeoutError, match="1 updates pending"):
        await loopback_api.settle(quiet=0.01, timeout=0.1)
    with pytest.raises(TimeoutError, match="0 of 1 messages"):
        await loopback_api.wait_sent(97, 1, timeout=0.1)


# ----------------------------------------------------------------- control API


async def test_control_api_round_trip(loopback_api: LoopbackBotApi) -> None:
    control = loopback_api.control_url
    async with aiohttp.ClientSession() as session, bot_for(loopback_api) as bot:
        async with session.post(
            f"{control}/message",
            json={"chat_id": 98, "user_id": 98, "text": "/latest", "language_code": "zh"},
        ) as resp:
            assert (await resp.json())["result"]["update_id"] == 1
        [update] = await bot.get_updates()
        assert update.effective_user is not None
        assert update.effective_user.language_code == "zh"
        sent = await bot.send_message(
            98, "<b>digest</b>", parse_mode="HTML", reply_markup=KEYBOARD
        )

        async with session.post(
            f"{control}/press",
            json={"chat_id": 98, "user_id": 98, "message_id": sent.message_id, "data": "full:1"},
        ) as resp:
            query_id = (await resp.json())["result"]["callback_query_id"]
        [update] = await bot.get_updates(offset=update.update_id + 1)
        assert update.callback_query is not None
        assert update.callback_query.id == query_id
        await bot.answer_callback_query(query_id, text="ok")

        async with session.get(f"{control}/messages", params={"chat_id": "98"}) as resp:
            [message] = (await resp.json())["result"]
        assert message["text"] == "digest"
        assert message["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "full:1"

        async with session.post(
            f"{control}/fail",
            json={"method": "sendMessage", "fault": {"kind": "retry_after", "seconds": 3}},
        ) as resp:
            assert resp.status == 200
        with pytest.raises(RetryAfter):
            await bot.send_message(98, "x")

        async with session.post(f"{control}/block", json={"user_id": 98}) as resp:
            assert resp.status == 200
        with pytest.raises(Forbidden):
            await bot.send_message(98, "x")

        async with session.post(f"{control}/group_that_does_not_exist") as resp:
            assert resp.status == 404
        async with session.post(f"{control}/migrate", json={"chat_id": -1}) as resp:
            assert resp.status == 400
        async with session.get(f"{control}/callbacks") as resp:
            assert (await resp.json())["result"][0]["text"] == "ok"
        async with session.get(f"{control}/stats") as resp:
            stats = (await resp.json())["result"]
    assert stats["calls"]["sendMessage"] == 3
    assert stats["too_many_requests"] == 1
    assert stats["sent"] == 1


async def test_module_runs_standalone_and_prints_its_base_url() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.telegram.loopback_api",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            line = (await proc.stdout.readline()).decode()
        assert line.startswith("base_url http://127.0.0.1:")
        base_url = line.split()[1]
        bot = Bot("123456789:TESTTOKEN-loopback-api-00000000000", base_url=base_url)
        async with bot:
            assert bot.username == "digest_test_bot"
    finally:
        proc.terminate()
        async with asyncio.timeout(30):
            await proc.wait()
    assert proc.returncode == 0
