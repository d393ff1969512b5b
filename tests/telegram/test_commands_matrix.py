"""End-to-end matrix: every user command × language × chat kind, stale buttons, the apology.

One real Application (aiohttp backend) polls one loopback Bot API for the whole module; each
case talks in a chat of its own (fresh user and group ids), so the cases stay independent.
Every expected reply is named by its catalogue key in templates/strings.toml and rendered per
language, so a reply in the wrong language fails with the key in the test id.
"""

from __future__ import annotations

import itertools
import logging
import re
import shutil
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field

import pytest
import pytest_asyncio

from bot.fakeapi.models import FakeChat, FakeUser, Fault, SentMessage
from bot.fakeapi.server import LoopbackBotApi
from bot.i18n import Lang
from bot.rendering import Renderer
from tests.conftest import SEEDS
from tests.telegram.conftest import BotHarness, bot_settings, running_bot

pytestmark = pytest.mark.asyncio(loop_scope="module")

RENDERER = Renderer()
LANGUAGE_CODES: dict[Lang, str] = {"zh": "zh-hans", "en": "en"}
CJK = re.compile(r"[\u4e00-\u9fff]")
CUT = "\x00"  # stands in for a placeholder whose value varies (the next push time)
APOLOGIES = [RENDERER.text("error_apology", lang) for lang in LANGUAGE_CODES]
_ids = itertools.count(70_000)


@dataclass(frozen=True)
class Case:
    """One command, the catalogue string its reply must contain, and what it needs first."""

    id: str
    command: str
    key: str
    values: Mapping[str, object] = field(default_factory=dict)
    until: str | None = None  # the marker stops at this placeholder
    subscribe: bool = False  # send /start in the chat first
    group: bool = True  # also run it in a group

    def marker(self, lang: Lang) -> str:
        """Render the expected catalogue string in `lang` (up to `until`)."""
        values = dict(self.values)
        if self.until:
            values[self.until] = CUT
        return RENDERER.text(self.key, lang, **values).split(CUT)[0]


CASES = [
    Case("start", "/start", "welcome_new"),
    Case("help", "/help", "help_intro"),
    Case("latest", "/latest", "button_full"),
    Case("risks", "/risks", "risks_heading"),
    Case("risks-id", "/risks 1", "risks_heading"),
    Case("full", "/full", "original_link"),
    Case("full-id", "/full 1", "original_link"),
    Case("article-id", "/article 1", "button_risks"),
    Case("article-usage", "/article", "usage_article"),
    Case("list", "/list", "list_hint"),
    Case("list-past-end", "/list 2", "list_heading", {"page": 1, "pages": 1, "total": 1}),
    Case("search", "/search 焦虑", "search_heading", {"query": "焦虑", "count": 1}),
    Case("search-empty", "/search", "usage_search"),
    Case("search-nomatch", "/search zebra", "search_none", {"query": "zebra"}),
    Case("settings", "/settings", "settings_heading", subscribe=True),
    Case(
        "time",
        "/time 07:30",
        "time_set",
        {"time": "07:30", "timezone": "Asia/Shanghai"},
        until="when",
        subscribe=True,
    ),
    Case("time-bad", "/time 25:00", "usage_time", subscribe=True),
    Case(
        "timezone",
        "/timezone Europe/Berlin",
        "timezone_set",
        {"timezone": "Europe/Berlin", "time": "08:00"},
        until="when",
        subscribe=True,
    ),
    Case("timezone-bad", "/timezone Mars/X", "usage_timezone", subscribe=True),
    Case("stop", "/stop", "stop_done", subscribe=True),
    Case("unsubscribe", "/unsubscribe", "stop_done", subscribe=True),
    # In a group the bot stays silent on unknown commands: see the group tests below.
    Case("unknown", "/frobnicate", "unknown_command", group=False),
    Case("stats-refused", "/stats", "not_allowed"),
    Case("reload-refused", "/reload", "not_allowed"),
]


def matrix() -> Iterator[object]:
    """Yield (case, lang, kind, addressed); in groups, /cmd@bot and /cmd alternate."""
    for i, case in enumerate(CASES):
        for j, lang in enumerate(LANGUAGE_CODES):
            yield pytest.param(case, lang, "private", False, id=f"{case.id}-{lang}-private")
            if case.group:
                # Alternating on (case, language) tests every command in both forms.
                addressed = (i + j) % 2 == 0
                kind = "group@bot" if addressed else "group"
                yield pytest.param(case, lang, "group", addressed, id=f"{case.id}-{lang}-{kind}")


CHAT_KINDS = [
    pytest.param("private", False, id="private"),
    pytest.param("group", True, id="group@bot"),
    pytest.param("group", False, id="group"),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def matrix_bot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BotHarness]:
    """One bot on the aiohttp backend for the whole module, on a copy of the seeds."""
    root = tmp_path_factory.mktemp("matrix")
    seeds = root / "seeds"
    shutil.copytree(SEEDS, seeds)
    api = LoopbackBotApi()
    async with api, running_bot(api, bot_settings(api, root, seeds, "aiohttp")) as harness:
        yield harness


def fresh_chat(bot: BotHarness, lang: Lang, kind: str) -> tuple[FakeUser, FakeChat]:
    """Return a new user speaking `lang` and a new chat of `kind` nobody has used yet."""
    n = next(_ids)
    user = bot.api.user(n, language_code=LANGUAGE_CODES[lang])
    if kind == "private":
        return user, bot.api.private_chat(user)
    chat = bot.api.group(-n, f"Group {n}")
    bot.api.set_role(chat, user, "creator")  # the group's settings are its owner's to change
    return user, chat


def address(bot: BotHarness, command: str, addressed: bool) -> str:
    """Return `command` as /cmd@<bot username> (arguments kept) when `addressed`."""
    if not addressed:
        return command
    head, sep, rest = command.partition(" ")
    return f"{head}@{bot.app.bot.username}{sep}{rest}"


async def replies(bot: BotHarness, chat: FakeChat, user: FakeUser, text: str) -> list[SentMessage]:
    """Send `text`; wait for a first reply, then until the bot is quiet; return all replies."""
    before = len(bot.api.messages(chat.id))
    bot.api.send_message(chat, user, text)
    await bot.api.wait_sent(chat.id, before + 1)
    await bot.settle()
    return bot.api.messages(chat.id)[before:]


def visible(messages: list[SentMessage]) -> str:
    """Return what a person sees: the texts and the button labels."""
    parts = []
    for message in messages:
        parts.append(message.text)
        parts.extend(button["text"] for row in message.buttons() for button in row)
    return "\n".join(parts)


@pytest.mark.parametrize(("case", "lang", "kind", "addressed"), list(matrix()))
async def test_every_command_is_answered_in_the_users_language_without_an_apology(
    matrix_bot: BotHarness, case: Case, lang: Lang, kind: str, addressed: bool
) -> None:
    bot = matrix_bot
    user, chat = fresh_chat(bot, lang, kind)
    if case.subscribe:
        await bot.say(chat, user, address(bot, "/start", addressed))
    sent = await replies(bot, chat, user, address(bot, case.command, addressed))
    assert len(sent) >= 1
    shown = visible(sent)
    for apology in APOLOGIES:
        assert apology not in shown
    assert case.marker(lang) in shown
    other: Lang = "en" if lang == "zh" else "zh"
    assert case.marker(other) not in shown
    if lang == "zh":
        assert CJK.search(shown)


@pytest.mark.parametrize("lang", list(LANGUAGE_CODES))
async def test_in_a_group_a_plain_unknown_command_gets_no_answer(
    matrix_bot: BotHarness, lang: Lang
) -> None:
    """In a group a /command may be meant for another bot: the bot stays silent."""
    bot = matrix_bot
    user, group = fresh_chat(bot, lang, "group")
    assert await bot.say(group, user, "/frobnicate", expect=0) == []


@pytest.mark.parametrize("lang", list(LANGUAGE_CODES))
async def test_in_a_group_an_unknown_command_addressed_to_the_bot_gets_the_hint(
    matrix_bot: BotHarness, lang: Lang
) -> None:
    bot = matrix_bot
    user, group = fresh_chat(bot, lang, "group")
    sent = await bot.say(group, user, address(bot, "/frobnicate", True), expect=1)
    assert [m.text for m in sent] == [RENDERER.text("unknown_command", lang)]


@pytest.mark.parametrize(("kind", "addressed"), CHAT_KINDS)
@pytest.mark.parametrize("lang", list(LANGUAGE_CODES))
async def test_a_stale_button_says_the_article_is_no_longer_available(
    matrix_bot: BotHarness, lang: Lang, kind: str, addressed: bool
) -> None:
    bot = matrix_bot
    user, chat = fresh_chat(bot, lang, kind)
    [digest] = await bot.say(chat, user, address(bot, "/latest", addressed))
    answer, _ = await bot.press(chat, user, digest, "full:999")
    assert answer.show_alert
    assert answer.text == RENDERER.text("unavailable", lang)
    await bot.settle()
    assert bot.api.messages(chat.id) == [digest]


@pytest.mark.parametrize(("kind", "addressed"), CHAT_KINDS)
@pytest.mark.parametrize("lang", list(LANGUAGE_CODES))
async def test_a_failure_gets_one_apology_in_the_users_language(
    matrix_bot: BotHarness,
    lang: Lang,
    kind: str,
    addressed: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = matrix_bot
    user, chat = fresh_chat(bot, lang, kind)
    bot.api.fail_next("sendMessage", fault=Fault.bad_request("Bad Request: secret internals"))
    [apology] = await bot.say(chat, user, address(bot, "/latest", addressed))
    assert apology.text == RENDERER.text("error_apology", lang)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    await bot.settle()
    assert len(bot.api.messages(chat.id)) == 1
